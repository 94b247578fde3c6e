"""Where profile and span export run: in this process (``local``) or on Ray Data (``ray``).

``local`` is :func:`imdata.profiling.profiler.profile` and :func:`imdata.export.exporter.spans`
themselves. ``ray`` runs the per-example stage (:mod:`imdata.engine.per_example`) on Ray
Data (:mod:`imdata.engine.ray_engine`) over the local reader's records, and the summary
stage, here on the driver, reads its rows back in input order, makes ids unique as the
local loader does (:mod:`imdata.engine.rows`) and summarises them with the same code as
``local``. Both engines read each record with the same functions
(:mod:`imdata.data.reading`), so they give the same rows and summaries, byte for byte.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from imdata.choices import ENGINES, EngineName
from imdata.data import files
from imdata.data.dataset import FormatChoice, OnError, SkipLog, dataset_name, no_examples
from imdata.engine.per_example import SPAN_STATS, StageSpec
from imdata.engine.ray_engine import run_on_ray
from imdata.engine.rows import split_rows
from imdata.errors import OptionError

if TYPE_CHECKING:
    import polars as pl

    from imdata.data.records import Role
    from imdata.profiling.summary import ProfileReport


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
                         batch_size=batch_size, eot=options.get("eot"), date=options.get("date"))  # fmt: skip
        rows, log = _rows(i, path, spec, spill, on_error)
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
    eot: str | None = None,
    date: str | None = None,
) -> tuple[Any, list[SkipLog]]:
    """:func:`imdata.export.exporter.spans` with the per-example stage on Ray: the same JSONL bytes.

    Returns the :class:`~imdata.export.exporter.ExportReport` and what loading left out per input.
    """
    import orjson

    from imdata.data.atomic import check_destinations
    from imdata.data.output_names import container
    from imdata.export.exporter import provenance
    from imdata.labels.tokens import load_tokenizer, resolve_template

    if container(output) not in ("jsonl", "json"):
        raise OptionError(
            f"{output}: --engine ray writes JSONL; name the output *.jsonl or *.jsonl.gz (or use --engine local)"
        )
    if to == "hf" and tokenizer is None:
        raise OptionError("--to hf writes token ids and labels, so it needs --tokenizer")
    if max_length is not None and tokenizer is None:
        raise OptionError("--max-length counts tokens, so it needs --tokenizer")
    check_destinations({"-o": output, "manifest": output + ".manifest.json"}, force=force)
    tok = load_tokenizer(tokenizer) if tokenizer else None
    tmpl = resolve_template(template, tok, eot=eot, date=date)
    names = [dataset_name(p) for p in paths]
    inputs = {n: files.fingerprint(p) for n, p in zip(names, paths, strict=True)}
    prov = provenance(tmpl, tok, inputs, eot=eot, date=date)
    roles = tuple(sorted((role_map or {}).items()))
    frames, logs = [], []
    for i, (path, name) in enumerate(zip(paths, names, strict=True)):
        spec = StageSpec("spans", name, path, format, roles, template, tokenizer, max_length=max_length, mode=mode,
                         to=to, batch_size=batch_size, prov=orjson.dumps(prov), eot=eot, date=date)  # fmt: skip
        rows, log = _rows(i, path, spec, spill, on_error)
        frames.append(rows)
        logs.append(log)
    mode_shown = mode if tok is not None or to == "axolotl" else None
    report = _span_report(frames, logs, output=output, to=to, mode=mode_shown, template=tmpl.name,
                          tokenizer=tok.name if tok else None, provenance=prov)  # fmt: skip
    _write_spans(frames, report, output, force)
    return report, logs


def _rows(i: int, path: str, spec: StageSpec, spill: str | None, on_error: OnError) -> tuple[pl.DataFrame, SkipLog]:
    """The kept rows of the ``i``-th input and what loading it left out (rows spilled under ``spill``)."""
    sub = None if spill is None else f"{spill.rstrip('/')}/{i:04d}-{spec.name}"
    found, detected = run_on_ray(path, spec, sub)
    return split_rows(found, path, on_error, detected)


def _span_report(frames: list[pl.DataFrame], logs: list[SkipLog], **fields: Any) -> Any:
    """The export's report from the stage's per-example counts (``fields``: output, to, mode, ... as given)."""
    from imdata.export.exporter import ExportReport, merge_reports

    ids = [x for rows in frames for x in rows["id"]]
    tot = {k: sum(int(rows[k].sum()) for rows in frames) for k in SPAN_STATS[1:]}
    flagged = {k: [x for rows in frames for x in rows.filter(rows[k] > 0)["id"]] for k in ("zero", "marker", "no_eot")}
    return ExportReport(
        examples=len(ids), tokens=tot["tokens"], trained_tokens=tot["trained"],
        zero_trained=flagged["zero"], truncated_examples=tot["truncated"],
        truncated_trained_tokens=tot["truncated_trained"], straddling_tokens=tot["straddling"],
        marker_examples=flagged["marker"], skipped=merge_reports(g.counts for g in logs),
        warnings=merge_reports(g.warning_counts for g in logs), turns_without_eot=tot["no_eot"],
        examples_without_eot=flagged["no_eot"][:100], content_special_tokens=tot["specials"], **fields,
    )  # fmt: skip


def _write_spans(frames: list[pl.DataFrame], report: Any, output: str, force: bool) -> None:
    import orjson

    from imdata.data.atomic import Outputs

    with Outputs(force=force) as group:
        fh = group.file(output, binary=True)
        for rows in frames:
            for line in rows["line"]:
                fh.write(line)
        group.file(output + ".manifest.json", binary=True).write(
            orjson.dumps(report.to_dict(), option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2)
        )


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


__all__ = ["ENGINES", "EngineName", "profile", "spans"]
