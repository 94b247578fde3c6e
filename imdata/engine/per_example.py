"""The per-example stage ``--engine ray`` runs on its workers: a batch of raw records -> rows.

It reads each record with the functions ``--engine local`` reads it with
(:mod:`imdata.data.reading`) and measures or exports the examples with the local code
(:func:`imdata.profiling.profiler.measure`, :func:`imdata.export.exporter.span_rows`). Its
table holds the per-example rows (a profile's lengths, or a span export's JSON lines with
their counts), keyed by input, record and example, plus log rows (records skipped, kept with
warnings); ids are made unique on the driver (:mod:`imdata.engine.rows`), where every
earlier record is known.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from imdata.engine.batches import records_of
from imdata.errors import DataError

if TYPE_CHECKING:
    import polars as pl
    import pyarrow as pa

    from imdata.data.records import Example, Role


@dataclass(frozen=True)
class StageSpec:
    """Everything a worker needs, as plain picklable values (tokenizer and template by name)."""

    task: Literal["profile", "spans"]
    name: str
    path: str
    fmt: str
    role_map: tuple[tuple[str, str], ...]
    template: str
    tokenizer: str | None
    unit: str = "tokens"
    max_length: int | None = None
    mode: str = "im"
    to: str = "spans"
    batch_size: int = 256
    prov: bytes = b""
    #: ``--input-format auto``: each record is read in the format its fields show, and one whose
    #: fields show none in ``fmt`` if it comes at or after ``fmt_from`` (the first record that told it)
    detect: bool = False
    fmt_from: int = 0
    #: ``--eot`` and ``--date``, as the template takes them
    eot: str | None = None
    date: str | None = None


#: the columns that place a row: input, record number, example within the record
KEYS = ("_path", "_index", "_sub")
LOG_SCHEMA = {
    "_path": "String", "_index": "Int64", "_sub": "Int64", "_log": "String", "_reason": "String",
    "_where": "String", "_message": "String", "_raw": "Binary",
}  # fmt: skip
Key = tuple[str, int, int, str, bool, str]  # input, record, example, content id, own id?, record's place
SPAN_STATS = ("line", "tokens", "trained", "truncated", "truncated_trained", "straddling", "zero", "marker",
              "no_eot", "specials")  # fmt: skip


def _tools(spec: StageSpec) -> tuple[Any, Any]:
    return _loaded(spec.template, spec.tokenizer, spec.eot, spec.date)


@functools.lru_cache(maxsize=4)
def _loaded(template: str, tokenizer: str | None, eot: str | None, date: str | None) -> tuple[Any, Any]:
    from imdata.labels.tokens import load_tokenizer, resolve_template

    tok = load_tokenizer(tokenizer) if tokenizer else None
    return resolve_template(template, tok, eot=eot, date=date), tok


def stage(batch: pa.Table, spec: StageSpec) -> pa.Table:
    """The per-example stage: raw records -> per-example rows and log rows (one table)."""
    from imdata.data.formats import DEFAULT_ROLE_MAP
    from imdata.data.reading import format_of, record_examples, record_warnings
    from imdata.data.records import content_id

    roles: Mapping[str, Role] = dict(spec.role_map) or DEFAULT_ROLE_MAP  # type: ignore[arg-type]
    given: Any = None if spec.detect else spec.fmt
    examples: list[Example] = []
    keys: list[Key] = []
    logs: list[dict[str, Any]] = []
    for p, rec, raw in records_of(batch):
        path = spec.path or p
        try:
            found: Any = spec.fmt if rec.index >= spec.fmt_from else None
            fmt = format_of(rec, given, found, path, None)
            made = record_examples(rec, fmt, path=path, role_map=roles, fields=None)
        except DataError as err:
            logs.append(_log(p, rec.index, 0, "skip", err, raw))
            continue
        named, ids = [], []
        for ex in made:
            cid = content_id(ex.messages)
            named.append(ex if ex.id else replace(ex, id=cid))
            ids.append((cid, bool(ex.id)))
        refused = _refused(named, spec, path, rec.where)
        if refused is not None:  # the record is left out whole, as --engine local leaves it
            logs.append(_log(p, rec.index, 0, "skip", refused, raw))
            continue
        keys.extend((p, rec.index, sub, cid, own, rec.where) for sub, (cid, own) in enumerate(ids))
        logs.extend(_log(p, rec.index, k, "warn", w, None) for k, w in record_warnings(named, path, rec.where))
        examples.extend(named)
    rows = _profile_rows(examples, spec) if spec.task == "profile" else _span_rows(examples, spec)
    return _with_keys(rows, keys, logs)


def _refused(examples: list[Example], spec: StageSpec, path: str, where: str) -> DataError | None:
    """For a span export, why the chat template refuses one of a record's examples (else None)."""
    if spec.task != "spans":
        return None
    from imdata.data.dataset import check_example

    tpl, _ = _tools(spec)
    try:
        for ex in examples:
            check_example(tpl.render, ex, path, where)
    except DataError as err:
        return err
    return None


def _with_keys(rows: pl.DataFrame, keys: list[Key], logs: list[dict[str, Any]]) -> pa.Table:
    import polars as pl

    names = {"_path": pl.String, "_index": pl.Int64, "_sub": pl.Int64, "_content": pl.String, "_own": pl.Boolean,
             "_at": pl.String}  # fmt: skip
    rows = rows.with_columns(
        pl.Series(name, [k[i] for k in keys], dtype) for i, (name, dtype) in enumerate(names.items())
    )
    log_frame = pl.DataFrame(logs, schema={k: getattr(pl, v) for k, v in LOG_SCHEMA.items()})
    return pl.concat([rows, log_frame], how="diagonal_relaxed").to_arrow()


def _log(path: str, index: int, sub: int, kind: str, err: DataError, raw: bytes | None) -> dict[str, Any]:
    return {"_path": path, "_index": index, "_sub": sub, "_log": kind, "_reason": err.reason,
            "_where": err.where, "_message": str(err), "_raw": raw}  # fmt: skip


def _profile_rows(examples: list[Example], spec: StageSpec) -> pl.DataFrame:
    from imdata.profiling.profiler import Columns, measure

    tpl, tok = _tools(spec)
    cols = Columns(spec.max_length is not None)
    for ex, lengths, it, im, lost in measure(examples, tpl, spec.unit, tok, spec.max_length, spec.batch_size):  # type: ignore[arg-type]
        cols.add(ex, lengths, it, im, lost)
    return cols.frame(spec.name)


def _span_rows(examples: list[Example], spec: StageSpec) -> pl.DataFrame:
    import orjson
    import polars as pl

    from imdata.data.records import json_default
    from imdata.export.exporter import DUMP, ExportStats, span_rows

    tpl, tok = _tools(spec)
    prov = orjson.loads(spec.prov)
    names = {ex.source: spec.name for ex in examples}
    stats = ExportStats()
    out: dict[str, list[Any]] = {k: [] for k in SPAN_STATS}
    before = (0, 0, 0, 0, 0, 0, 0, 0, 0)
    rows = span_rows(examples, tpl, tok, spec.mode, spec.max_length, spec.to, names, prov, stats, spec.batch_size)  # type: ignore[arg-type]
    for row in rows:
        now = (stats.tokens, stats.trained, stats.truncated, stats.truncated_trained, stats.straddling,
               len(stats.zero_trained), len(stats.markers), stats.without_eot, stats.content_specials)  # fmt: skip
        for k, a, b in zip(SPAN_STATS[1:], before, now, strict=True):
            out[k].append(b - a)
        out["line"].append(orjson.dumps(row, option=DUMP, default=json_default))
        before = now
    out["id"] = [ex.id for ex in examples]
    return pl.DataFrame(out, schema={"line": pl.Binary, **{k: pl.Int64 for k in SPAN_STATS[1:]}, "id": pl.String})


__all__ = ["KEYS", "LOG_SCHEMA", "SPAN_STATS", "StageSpec", "stage"]
