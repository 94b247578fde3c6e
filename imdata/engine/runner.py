"""Where the per-example stage runs: in this process (``local``) or on Ray Data (``ray``).

The per-example stage is one function over a batch of raw records (``_path``, ``_index``,
``where``, ``raw`` = the pickled value as the loaders read it) returning a pyarrow table
of per-example rows (a profile's lengths, or a span export's JSON lines with their
counts) plus log rows (records skipped, kept with warnings). ``ray`` reads the inputs with a
Ray datasource (any path Ray can read: local files, ``s3://``, ``gs://``; JSONL, JSON,
Parquet, CSV, ``.gz``/``.zst``), runs the stage as ``map_batches`` and writes Parquet; the
summary stage, on the driver, reads those rows back in input order, renames repeated ids
``<id>-k`` exactly as the local loader does, and summarises them with the same code as ``local``.
So both engines give the same rows and summaries, byte for byte.

Ray is imported only here and only for ``engine="ray"``. Point it at a cluster with
``RAY_ADDRESS`` (``ray://head:10001`` or ``auto``); without it a local Ray instance starts.
"""

from __future__ import annotations

import functools
import os
import pickle
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from imdata.choices import ENGINES, EngineName
from imdata.data import files
from imdata.data.dataset import FormatChoice, OnError, SkipLog, dataset_name, no_examples
from imdata.data.ray_runtime import ray_init
from imdata.errors import DataError, ImdataError, OptionError

if TYPE_CHECKING:
    import polars as pl
    import pyarrow as pa

    from imdata.data.records import Example, Role
    from imdata.profiling.summary import ProfileReport


_ORDER = ["_path", "_index", "_sub"]
_RAW_ROWS = 2048  # raw records per block a Ray read task yields


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


# --- reading: the same raw records the local loaders yield ---------------------------------


def raw_records(fh: Any, path: str) -> Iterator[files.RawRecord]:
    """The raw records of one stream of stored bytes: the local reader's own code (:mod:`imdata.data.readers`)."""
    from imdata.data.readers import decompressed, read_records

    kind = files.kind_of(path) if os.path.exists(path) else _kind_from_name(path)
    yield from read_records(decompressed(fh, path), path, kind)


def _kind_from_name(path: str) -> str:
    name = path.lower().removesuffix(".gz").removesuffix(".zst")
    for suffix, kind in ((".jsonl", "jsonl"), (".ndjson", "jsonl"), (".json", "json"), (".csv", "csv")):
        if name.endswith(suffix):
            return kind
    return "parquet"


def _raw_table(path: str, records: list[files.RawRecord]) -> pa.Table:
    import pyarrow as pa

    return pa.table(
        {
            "_path": pa.array([path] * len(records), pa.string()),
            "_index": pa.array([r.index for r in records], pa.int64()),
            "where": pa.array([r.where for r in records], pa.string()),
            "raw": pa.array([pickle.dumps(r.value, protocol=5) for r in records], pa.binary()),
        }
    )


def _raw_blocks(path: str) -> Iterator[pa.Table]:
    batch: list[files.RawRecord] = []
    for rec in files.iter_raw(path):
        batch.append(rec)
        if len(batch) >= _RAW_ROWS:
            yield _raw_table(path, batch)
            batch = []
    if batch:
        yield _raw_table(path, batch)


def _datasource(paths: list[str]) -> Any:
    from ray.data.datasource import FileBasedDatasource

    class ImdataRecords(FileBasedDatasource):  # type: ignore[misc, unused-ignore]
        """Raw records of JSONL/JSON/Parquet/CSV files, with where each was found."""

        def resolve_compression(self, path: str, open_args: dict[str, Any]) -> str | None:
            return None  # the stored bytes: imdata.data.readers decompresses, as for --engine local

        def _read_stream(self, f: Any, path: str) -> Iterator[pa.Table]:
            batch: list[files.RawRecord] = []
            for rec in raw_records(f, path):
                batch.append(rec)
                if len(batch) >= _RAW_ROWS:
                    yield _raw_table(path, batch)
                    batch = []
            if batch:
                yield _raw_table(path, batch)

    return ImdataRecords(paths)


# --- the per-example stage ---------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _tools(template: str, tokenizer: str | None) -> tuple[Any, Any]:
    from imdata.labels.tokens import load_tokenizer
    from imdata.templates.builtin import get_template

    tok = load_tokenizer(tokenizer) if tokenizer else None
    tpl = get_template(template, eos=tok.eos, bos=tok.bos) if tok is not None else get_template(template)
    return tpl, tok


def stage(batch: pa.Table, spec: StageSpec) -> pa.Table:
    """The per-example stage: raw records -> per-example rows and log rows (one table)."""
    import polars as pl

    from imdata.data.formats import DEFAULT_ROLE_MAP, empty_turns, nonfinite_numbers, record_format, to_examples
    from imdata.data.records import Example, content_id

    roles: Mapping[str, Role] = dict(spec.role_map) or DEFAULT_ROLE_MAP  # type: ignore[arg-type]
    examples: list[Example] = []
    keys: list[tuple[str, int, int, str]] = []
    logs: list[dict[str, Any]] = []
    cols = batch.to_pydict()
    for p, index, where, raw in zip(cols["_path"], cols["_index"], cols["where"], cols["raw"], strict=True):
        value = pickle.loads(raw)
        path = spec.path if spec.path else p
        try:
            if files.is_bad(value):
                raise files.bad_to_error(path, files.RawRecord(where, index, value))
            fmt: Any = spec.fmt
            if spec.detect:
                fmt = record_format(value, spec.fmt if index >= spec.fmt_from else None, None, path, where)  # type: ignore[arg-type]
            made = list(to_examples(value, fmt, path=path, where=where, index=index, role_map=roles))
            for sub, ex in enumerate(made):
                cid = content_id(ex.messages)
                ident = ex.id or cid
                examples.append(ex if ident == ex.id else Example(ident, ex.messages, ex.source, ex.meta))
                keys.append((p, index, sub, cid))
                for w in empty_turns(ex, path, where) + (nonfinite_numbers(ex, path, where) if not sub else []):
                    logs.append(_log(p, index, sub, "warn", w, None))
        except DataError as err:
            logs.append(_log(p, index, 0, "skip", err, raw))
    rows = _profile_rows(examples, spec) if spec.task == "profile" else _span_rows(examples, spec)
    rows = rows.with_columns(
        pl.Series("_path", [k[0] for k in keys], pl.String),
        pl.Series("_index", [k[1] for k in keys], pl.Int64),
        pl.Series("_sub", [k[2] for k in keys], pl.Int64),
        pl.Series("_content", [k[3] for k in keys], pl.String),
    )
    schema = {k: getattr(pl, v) for k, v in _LOG_SCHEMA.items()}
    log_frame = pl.DataFrame(logs, schema=schema)
    return pl.concat([rows, log_frame], how="diagonal_relaxed").to_arrow()


_LOG_SCHEMA = {
    "_path": "String", "_index": "Int64", "_sub": "Int64", "_log": "String", "_reason": "String",
    "_where": "String", "_message": "String", "_raw": "Binary",
}  # fmt: skip


def _log(path: str, index: int, sub: int, kind: str, err: DataError, raw: bytes | None) -> dict[str, Any]:
    return {"_path": path, "_index": index, "_sub": sub, "_log": kind, "_reason": err.reason,
            "_where": err.where, "_message": str(err), "_raw": raw}  # fmt: skip


def _profile_rows(examples: list[Example], spec: StageSpec) -> pl.DataFrame:
    from imdata.profiling.profiler import Columns, measure

    tpl, tok = _tools(spec.template, spec.tokenizer)
    cols = Columns(spec.max_length is not None)
    for ex, lengths, it, im, lost in measure(examples, tpl, spec.unit, tok, spec.max_length, spec.batch_size):  # type: ignore[arg-type]
        cols.add(ex, lengths, it, im, lost)
    return cols.frame(spec.name)


def _span_rows(examples: list[Example], spec: StageSpec) -> pl.DataFrame:
    import orjson
    import polars as pl

    from imdata.export.exporter import DUMP, ExportStats, json_default, span_rows

    tpl, tok = _tools(spec.template, spec.tokenizer)
    prov = orjson.loads(spec.prov)
    names = {ex.source: spec.name for ex in examples}
    stats = ExportStats()
    out: dict[str, list[Any]] = {k: [] for k in _SPAN_STATS}
    before = (0, 0, 0, 0, 0, 0, 0, 0, 0)
    rows = span_rows(examples, tpl, tok, spec.mode, spec.max_length, spec.to, names, prov, stats, spec.batch_size)  # type: ignore[arg-type]
    for row in rows:
        now = (stats.tokens, stats.trained, stats.truncated, stats.truncated_trained, stats.straddling,
               len(stats.zero_trained), len(stats.markers), stats.without_eot, stats.content_specials)  # fmt: skip
        for k, a, b in zip(_SPAN_STATS[1:], before, now, strict=True):
            out[k].append(b - a)
        out["line"].append(orjson.dumps(row, option=DUMP, default=json_default))
        before = now
    out["id"] = [ex.id for ex in examples]
    return pl.DataFrame(out, schema={"line": pl.Binary, **{k: pl.Int64 for k in _SPAN_STATS[1:]}, "id": pl.String})


_SPAN_STATS = ("line", "tokens", "trained", "truncated", "truncated_trained", "straddling", "zero", "marker",
               "no_eot", "specials")  # fmt: skip


# --- running it: local (in this process) or on Ray ------------------------------------------


def run_stage(path: str, spec: StageSpec, *, engine: EngineName, spill: str | None = None) -> tuple[pl.DataFrame, str]:
    """Run the per-example stage over one input: its rows in input order, and the format found.

    ``local`` streams batches through the stage here; ``ray`` runs it as ``map_batches``
    and writes Parquet to ``spill`` (default: a temporary folder), which is read back.
    """
    import polars as pl

    if engine == "ray":
        return _run_ray(path, spec, spill)
    if engine != "local":
        raise OptionError(f"--engine {engine!r}: expected one of {', '.join(ENGINES)}")
    spec = _with_format(spec, files.iter_raw(path), path)
    parts: list[pl.DataFrame] = []
    batch: list[files.RawRecord] = []
    for rec in files.iter_raw(path):
        batch.append(rec)
        if len(batch) >= _RAW_ROWS:
            parts.append(pl.from_arrow(stage(_raw_table(path, batch), spec)))  # type: ignore[arg-type]
            batch = []
    if batch or not parts:
        parts.append(pl.from_arrow(stage(_raw_table(path, batch), spec)))  # type: ignore[arg-type]
    return pl.concat(parts, how="diagonal_relaxed"), spec.fmt


def _with_format(spec: StageSpec, records: Any, path: str) -> StageSpec:
    """Under ``auto``, the format of the first record that tells one, as the local loader finds it."""
    if spec.fmt != "auto":
        return spec
    from imdata.data.formats import detect_format

    for rec in records:
        value = rec.value if isinstance(rec, files.RawRecord) else pickle.loads(rec["raw"])
        fmt = None if files.is_bad(value) else detect_format(value)
        if fmt is not None:
            return replace(
                spec, fmt=fmt, detect=True, fmt_from=rec.index if isinstance(rec, files.RawRecord) else rec["_index"]
            )
    return replace(spec, fmt="auto", detect=True, fmt_from=1 << 62)  # no record tells one: each is a bad record


def _run_ray(path: str, spec: StageSpec, spill: str | None) -> tuple[pl.DataFrame, str]:
    import polars as pl
    import ray.data

    ray_init()
    kind = files.kind_of(path) if os.path.exists(path) else _kind_from_name(path)
    if kind == "hub":
        raise OptionError(f"{path}: --engine ray reads files and `datasets` folders, not the hub; use --engine local")
    if kind == "dataset-folder":  # read here by the local reader, in blocks, then staged on Ray
        ds: Any = ray.data.from_arrow(list(_raw_blocks(path)) or [_raw_table(path, [])])
    else:
        ds = ray.data.read_datasource(_datasource([path]))
    try:
        # a local file's first record is read here; elsewhere Ray reads it (whole first block)
        first = files.iter_raw(path) if os.path.exists(path) else ds.limit(64).iter_rows()
        spec = _with_format(spec, first, path)
        rows = ds.map_batches(stage, batch_format="pyarrow", fn_kwargs={"spec": spec}, batch_size=_RAW_ROWS)
        out = spill or tempfile.mkdtemp(prefix="imdata-ray-")
        rows.write_parquet(out)
    except Exception as e:  # a Ray error wrapping ours becomes ours again
        raise _cause(e) from None
    frame = pl.read_parquet(out if "://" in out else os.path.join(out, "*.parquet"))
    return frame.sort(_ORDER, maintain_order=True), spec.fmt


def _cause(e: BaseException) -> BaseException:
    """Our own error inside Ray's wrappers (whose text carries a remote traceback), else ``e``."""
    todo: list[BaseException] = [e]
    seen: set[int] = set()
    while todo:
        x = todo.pop(0)
        if id(x) in seen:
            continue
        seen.add(id(x))
        if isinstance(x, ImdataError) and type(x).__module__.startswith("imdata."):
            return x
        todo.extend(c for c in (getattr(x, "cause", None), x.__cause__, x.__context__) if isinstance(c, BaseException))
    return e


# --- the summary stage -------------------------------------------------------------------


def split_rows(frame: pl.DataFrame, path: str, on_error: OnError, fmt: str) -> tuple[pl.DataFrame, SkipLog]:
    """The kept rows (repeated ids renamed ``<id>-k``, as the loader does) and the log of what was left out."""
    import polars as pl

    from imdata.data.dataset import Rejected

    log = SkipLog(format=fmt)
    rows = frame.filter(pl.col("_log").is_null()) if "_log" in frame.columns else frame
    events: list[tuple[tuple[str, int, int], str, Rejected]] = []
    if "_log" in frame.columns:
        for r in frame.filter(pl.col("_log").is_not_null()).iter_rows(named=True):
            raw = pickle.loads(r["_raw"]) if r["_raw"] is not None else None
            rej = Rejected(path, r["_where"], r["_reason"], r["_message"], raw)
            events.append(((r["_path"], r["_index"], r["_sub"]), r["_log"], rej))
    rows, renamed = _unique_ids(rows, path, on_error, events)
    events.sort(key=lambda e: e[0])
    for _key, kind, rej in events:
        if kind == "skip":
            if on_error == "raise":
                raise ImdataError(rej.message)
            log.rejected.append(rej)
        else:
            log.warnings.append(rej)
    return rows, log


def _unique_ids(rows: pl.DataFrame, path: str, on_error: OnError, events: list[Any]) -> tuple[pl.DataFrame, int]:
    """Repeated ids renamed ``<id>-k`` in file order, as the loader does (exact duplicates are data)."""
    import orjson
    import polars as pl

    from imdata.data.dataset import Rejected
    from imdata.export.exporter import DUMP

    ids, contents = rows["id"].to_list(), rows["_content"].to_list()
    seen: dict[str, str] = {}
    changed: dict[int, str] = {}
    for i, (ident, content) in enumerate(zip(ids, contents, strict=True)):
        if ident not in seen:
            seen[ident] = content
            continue
        reason = "duplicate-record" if seen[ident] == content else "duplicate-id"
        r = rows.row(i, named=True)
        where = _where_of(path, r["_index"])
        explicit = ident != content
        if reason == "duplicate-id" and on_error == "raise":
            raise DataError(path, where, "id", f"{ident!r} was already used by an earlier record",
                            "give each record its own id, or keep both under new ids with --on-error skip",
                            reason=reason)  # fmt: skip
        k = 2
        while f"{ident}-{k}" in seen:
            k += 1
        new = f"{ident}-{k}"
        seen[new] = content
        changed[i] = new
        what = f"{ident!r} was already used by an earlier record" if explicit else "repeats an earlier record exactly"
        err = DataError(path, where, "id" if explicit else "", f"{what}; kept as {new!r}", "", reason=reason)
        events.append(((r["_path"], r["_index"], r["_sub"]), "warn", Rejected(path, where, reason, str(err), None)))
    if not changed:
        return rows, 0
    new_ids = [changed.get(i, x) for i, x in enumerate(ids)]
    out = rows.with_columns(pl.Series("id", new_ids, dtype=pl.String))
    if "line" in rows.columns:
        lines = rows["line"].to_list()
        for i, new in changed.items():
            row = orjson.loads(lines[i])
            row["id"] = new
            lines[i] = orjson.dumps(row, option=DUMP)
        out = out.with_columns(pl.Series("line", lines, dtype=pl.Binary))
    return out, len(changed)


def _where_of(path: str, index: int) -> str:
    kind = files.kind_of(path) if os.path.exists(path) else _kind_from_name(path)
    return {"jsonl": "line", "json": "record"}.get(kind, "row") + f" {index}"


def profile(
    datasets: str | Sequence[str],
    *,
    engine: EngineName = "local",
    spill: str | None = None,
    names: Sequence[str] | None = None,
    format: FormatChoice = "auto",
    role_map: Mapping[str, Role] | None = None,
    on_error: OnError = "skip",
    batch_size: int = 256,
    fields: Mapping[str, str] | None = None,
    **options: Any,
) -> ProfileReport:
    """:func:`imdata.profiling.profiler.profile` on an engine: same arguments, same report.

    ``engine="local"`` is :func:`imdata.profiling.profiler.profile` itself (streamed, encoding on all
    cores); ``engine="ray"`` runs the per-example stage on Ray Data and summarises the rows
    it wrote to ``spill`` (a folder or ``s3://...``; default: a temporary folder).
    """
    from imdata.profiling.profiler import profile as local_profile

    paths = [datasets] if isinstance(datasets, str) else list(datasets)
    if engine == "local":
        return local_profile(paths, names=names, format=format, role_map=role_map, on_error=on_error,
                            batch_size=batch_size, fields=fields, **options)  # fmt: skip
    if fields:
        raise OptionError("--field is read by --engine local only; convert the columns first or drop --engine ray")
    return _ray_profile(paths, spill, names, format, role_map, on_error, batch_size, options)


def _ray_profile(
    paths: list[str],
    spill: str | None,
    names: Sequence[str] | None,
    fmt: FormatChoice,
    role_map: Mapping[str, Role] | None,
    on_error: OnError,
    batch_size: int,
    options: dict[str, Any],
) -> ProfileReport:
    import polars as pl

    from imdata.profiling.profiler import COLUMNS
    from imdata.profiling.summary import summarise

    # validate options and resolve unit/template exactly as local does, on a tiny dataset
    probe = _probe_report(options)
    summaries, frames, logs = [], [], []
    roles = tuple(sorted((role_map or {}).items()))
    for i, path in enumerate(paths):
        name = names[i] if names else dataset_name(path)
        spec = StageSpec("profile", name, path, fmt, roles, options.get("template", "tulu"),
                         _tok_spec(options.get("tokenizer")), probe.unit, probe.max_length,
                         batch_size=batch_size)  # fmt: skip
        sub = None if spill is None else f"{spill.rstrip('/')}/{i:04d}-{name}"
        found, detected = run_stage(path, spec, engine="ray", spill=sub)
        rows, log = split_rows(found, path, on_error, detected)
        if rows.is_empty():
            raise no_examples(path, log)
        frame = rows.select(COLUMNS)
        fp = files.fingerprint(path)
        summaries.append(summarise(frame, name=name, path=path, fingerprint=fp, format=log.format,
                                   unit=probe.unit, log=log, max_length=probe.max_length))  # fmt: skip
        frames.append(frame)
        logs.append(log)
    return replace(probe, datasets=tuple(summaries), examples=pl.concat(frames), skip_logs=tuple(logs))


def spans(
    paths: Sequence[str],
    *,
    output: str,
    spill: str | None = None,
    template: str = "tulu",
    tokenizer: str | None = None,
    mode: str = "im",
    to: str = "spans",
    max_length: int | None = None,
    force: bool = False,
    format: FormatChoice = "auto",
    role_map: Mapping[str, Role] | None = None,
    on_error: OnError = "skip",
    batch_size: int = 256,
) -> tuple[Any, list[SkipLog]]:
    """:func:`imdata.export.exporter.spans` with the per-example stage on Ray: the same JSONL bytes.

    Returns the :class:`~imdata.export.exporter.ExportReport` and what loading left out per input.
    """
    import orjson

    from imdata import __version__
    from imdata.data.atomic import Outputs, check_destinations
    from imdata.export.exporter import ExportReport, merge_reports, resolve_template
    from imdata.labels.tokens import load_tokenizer

    if not output.lower().endswith((".jsonl", ".json", ".ndjson")):
        raise OptionError(f"{output}: --engine ray writes JSONL; name the output *.jsonl (or use --engine local)")
    if to == "hf" and tokenizer is None:
        raise OptionError("--to hf writes token ids and labels, so it needs --tokenizer")
    if max_length is not None and tokenizer is None:
        raise OptionError("--max-length counts tokens, so it needs --tokenizer")
    manifest = output + ".manifest.json"
    check_destinations({"-o": output, "manifest": manifest}, force=force)
    tok = load_tokenizer(tokenizer) if tokenizer else None
    tmpl = resolve_template(template, tok)
    names = [dataset_name(p) for p in paths]
    from imdata.templates.jinja import DEFAULT_DATE

    prov = {"imdata": __version__, "template": tmpl.name, "template_fingerprint": tmpl.fingerprint,
            "template_date": DEFAULT_DATE, "eot": None,
            "tokenizer": tok.name if tok else None, "tokenizer_fingerprint": tok.fingerprint if tok else None,
            "inputs": {n: files.fingerprint(p) for n, p in zip(names, paths, strict=True)}}  # fmt: skip
    roles = tuple(sorted((role_map or {}).items()))
    frames, logs = [], []
    for i, (path, name) in enumerate(zip(paths, names, strict=True)):
        spec = StageSpec("spans", name, path, format, roles, template, tokenizer, max_length=max_length,
                         mode=mode, to=to, batch_size=batch_size, prov=orjson.dumps(prov))  # fmt: skip
        sub = None if spill is None else f"{spill.rstrip('/')}/{i:04d}-{name}"
        found, detected = run_stage(path, spec, engine="ray", spill=sub)
        rows, log = split_rows(found, path, on_error, detected)
        frames.append(rows)
        logs.append(log)
    ids = [x for rows in frames for x in rows["id"]]
    tot = {k: sum(int(rows[k].sum()) for rows in frames) for k in _SPAN_STATS[1:]}
    flagged = {k: [x for rows in frames for x in rows.filter(rows[k] > 0)["id"]] for k in ("zero", "marker", "no_eot")}
    report = ExportReport(
        output=output, to=to, mode=mode if tok is not None or to == "axolotl" else None, template=tmpl.name,
        tokenizer=tok.name if tok else None, examples=len(ids), tokens=tot["tokens"], trained_tokens=tot["trained"],
        zero_trained=flagged["zero"], truncated_examples=tot["truncated"],
        truncated_trained_tokens=tot["truncated_trained"], straddling_tokens=tot["straddling"],
        marker_examples=flagged["marker"], skipped=merge_reports(g.counts for g in logs),
        warnings=merge_reports(g.warning_counts for g in logs), provenance=prov, turns_without_eot=tot["no_eot"],
        examples_without_eot=flagged["no_eot"][:100], content_special_tokens=tot["specials"],
    )  # fmt: skip
    with Outputs(force=force) as group:
        fh = group.file(output, binary=True)
        for rows in frames:
            for line in rows["line"]:
                fh.write(line)
        group.file(manifest, binary=True).write(
            orjson.dumps(report.to_dict(), option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2)
        )
    return report, logs


def _tok_spec(tokenizer: Any) -> str | None:
    if tokenizer is None or isinstance(tokenizer, str):
        return tokenizer
    raise OptionError("--engine ray loads the tokenizer on each worker; pass its path or hub id, not an object")


def _probe_report(options: dict[str, Any]) -> ProfileReport:
    from imdata.data.dataset import Dataset
    from imdata.data.records import Example
    from imdata.profiling.profiler import profile as local_profile

    ex = Example.from_pairs("probe", [("user", "a"), ("assistant", "b")])
    probe = Dataset("probe", "probe", "messages", (ex,), "", SkipLog())
    # the probe only resolves the options; it is not the user's data, so it shows no progress
    return local_profile(probe, **{k: v for k, v in options.items() if k != "on_progress"})


__all__ = [
    "ENGINES",
    "EngineName",
    "StageSpec",
    "profile",
    "raw_records",
    "run_stage",
    "spans",
    "split_rows",
    "stage",
]
