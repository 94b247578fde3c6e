"""The driver's half of ``--engine ray``: the stage's rows back in input order, ids made unique, the skip log.

Ids depend on every earlier record, so they are assigned here, in record order, by the
loader's own :class:`imdata.data.reading.Ids`; the log holds the same entries, in the same
order, as :func:`imdata.data.dataset.iter_examples` would have written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from imdata.data.dataset import OnError, Rejected, SkipLog
from imdata.data.reading import Ids
from imdata.engine import wire
from imdata.errors import ImdataError

if TYPE_CHECKING:
    import polars as pl

#: (input, record, example), 0 for the loader's id warnings and 1 for the stage's, entry kind, entry
Event = tuple[tuple[str, int, int], int, str, Rejected]


def split_rows(frame: pl.DataFrame, path: str, on_error: OnError, fmt: str) -> tuple[pl.DataFrame, SkipLog]:
    """The kept rows (repeated ids renamed ``<id>-k``, as the loader does) and the log of what was left out."""
    import polars as pl

    logged = "_log" in frame.columns
    rows = frame.filter(pl.col("_log").is_null()) if logged else frame
    events = _events(frame.filter(pl.col("_log").is_not_null()), path) if logged else []
    skips = [e[0] for e in events if e[2] == "skip"]
    stop = min(skips) if skips and on_error == "raise" else None
    rows = _unique_ids(rows, path, on_error, events, stop)
    log = SkipLog(format=fmt)
    for _key, _phase, kind, rej in sorted(events, key=lambda e: (e[0][:2], e[1])):
        if kind == "skip" and on_error == "raise":
            raise ImdataError(rej.message)
        (log.rejected if kind == "skip" else log.warnings).append(rej)
    return rows, log


def _events(logged: pl.DataFrame, path: str) -> list[Event]:
    out: list[Event] = []
    for r in logged.iter_rows(named=True):
        raw = wire.decode(r["_raw"]) if r["_raw"] is not None else None
        out.append(((r["_path"], r["_index"], r["_sub"]), 1, r["_log"],
                    Rejected(path, r["_where"], r["_reason"], r["_message"], raw)))  # fmt: skip
    return out


def _unique_ids(
    rows: pl.DataFrame, path: str, on_error: OnError, events: list[Event], stop: tuple[str, int, int] | None
) -> pl.DataFrame:
    """``rows`` with repeated ids renamed, the loader's warnings added to ``events``.

    Under ``on_error="raise"`` only rows before the first bad record (``stop``) are looked
    at, as the loader stops there.
    """
    import polars as pl

    ids = Ids()
    changed: dict[int, str] = {}
    renamed: dict[tuple[str, int, int], tuple[str, str]] = {}
    cols = ("id", "_content", "_own", "_at", "_path", "_index", "_sub")
    for i, (ident, content, own, where, *key) in enumerate(rows.select(cols).iter_rows()):
        place = (key[0], key[1], key[2])
        if stop is not None and place > stop:
            break
        new, warning = ids.assign(ident, own, content, path, where, on_error)
        if warning is None:
            continue
        changed[i] = new
        renamed[place] = (ident, new)
        events.append((place, 0, "warn", Rejected(path, where, warning.reason, str(warning), None)))
    _rename_in_warnings(events, renamed)
    if not changed:
        return rows
    new_ids = [changed.get(i, x) for i, x in enumerate(rows["id"].to_list())]
    out = rows.with_columns(pl.Series("id", new_ids, dtype=pl.String))
    return _renamed_lines(out, changed) if "line" in rows.columns else out


def _rename_in_warnings(events: list[Event], renamed: dict[tuple[str, int, int], tuple[str, str]]) -> None:
    """The stage's warnings name the id it saw; the loader's name the id kept (see ``empty_turns``)."""
    if not renamed:
        return
    for n, (key, phase, kind, rej) in enumerate(events):
        if key in renamed and phase == 1 and kind == "warn":
            old, new = renamed[key]
            message = rej.message.replace(f"(id {old})", f"(id {new})")
            events[n] = (key, phase, kind, Rejected(rej.path, rej.where, rej.reason, message, rej.raw))


def _renamed_lines(rows: pl.DataFrame, changed: dict[int, str]) -> pl.DataFrame:
    import orjson
    import polars as pl

    from imdata.export.exporter import DUMP

    lines: list[Any] = rows["line"].to_list()
    for i, new in changed.items():
        row = orjson.loads(lines[i])
        row["id"] = new
        lines[i] = orjson.dumps(row, option=DUMP)
    return rows.with_columns(pl.Series("line", lines, dtype=pl.Binary))


__all__ = ["split_rows"]
