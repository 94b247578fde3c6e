"""Per-dataset summaries of a profile, and their renderings (table, markdown, CSV, JSON).

Statistics are over examples: ``sd`` is the population standard deviation (the paper's),
``p90``/``p99`` interpolate linearly between order statistics (numpy's default). ``ratio``
is mean(instruction) / mean(output), the number the paper reports; ``median_ratio`` is the
median of per-example ratios over the examples whose output is not empty (an empty output
has no ratio; ``output_empty`` counts the examples whose every assistant turn is empty).
Both are null when no output has any length.

``quality`` is the data-quality section: duplicates, empty turns, assistant-first
conversations, repeated roles, length outliers (Tukey's far-out rule, with their ids) and
the skipped records by reason; its counts are the ones the warnings on stderr give.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from imdata.data.tables import csv_table, markdown_table, num, text_table

if TYPE_CHECKING:
    import polars as pl

    from imdata.choices import Unit
    from imdata.data.dataset import SkipLog

#: the units a profile measures in (declared here, a light module, so the CLI can use it)

_STATS = ("mean", "sd", "median", "p90", "p99", "max", "sum")
_MEASURES = ("instruction", "output", "total", "template", "turns")


@dataclass(frozen=True, slots=True)
class Stats:
    """The spread of one per-example column."""

    mean: float
    sd: float
    median: float
    p90: float
    p99: float
    max: int
    sum: int  # the dataset's size in the unit, e.g. its total tokens

    def to_dict(self) -> dict[str, float | int]:
        """``{"mean", "sd", "median", "p90", "p99", "max", "sum"}``, floats to 4 decimals."""
        return {k: (getattr(self, k) if k in ("max", "sum") else round(getattr(self, k), 4)) for k in _STATS}


@dataclass(frozen=True)
class DatasetSummary:
    """One dataset's profile in one unit."""

    name: str
    path: str
    fingerprint: str
    format: str
    unit: str
    examples: int
    instruction: Stats
    output: Stats
    total: Stats
    template: Stats
    turns: Stats
    ratio: float | None
    median_ratio: float | None
    output_empty: int
    trained_it: int
    trained_im: int
    im_over_it: float | None
    max_length: int | None
    truncated: int | None
    truncated_tokens: int | None
    lost_it: int | None
    lost_im: int | None
    skipped: Mapping[str, int]
    warnings: Mapping[str, int]
    quality: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of one dataset (see the README for every key)."""
        trunc = None
        if self.max_length is not None:
            trunc = {
                "max_length": self.max_length,
                "examples": self.truncated,
                "tokens": self.truncated_tokens,
                "lost_it": self.lost_it,
                "lost_im": self.lost_im,
            }
        out: dict[str, Any] = {
            "name": self.name, "path": self.path, "fingerprint": self.fingerprint,
            "format": self.format, "unit": self.unit, "examples": self.examples,
            "ratio": _r(self.ratio), "median_ratio": _r(self.median_ratio),
            "output_empty": self.output_empty,
            "trained": {"it": self.trained_it, "im": self.trained_im,
                        "im_over_it": _r(self.im_over_it)},
            "truncation": trunc,
            "skipped": {"total": sum(self.skipped.values()), "reasons": dict(self.skipped)},
            "warnings": {"total": sum(self.warnings.values()), "reasons": dict(self.warnings)},
            "quality": dict(self.quality),
        }  # fmt: skip
        for m in _MEASURES:
            out[m] = getattr(self, m).to_dict()
        return out

    def flat(self) -> dict[str, Any]:
        """One flat row (CSV, the store): ``instruction_mean``, ``trained_it``, ..."""
        row: dict[str, Any] = {"name": self.name, "unit": self.unit, "examples": self.examples}
        for m in _MEASURES:
            for k, v in getattr(self, m).to_dict().items():
                row[f"{m}_{k}"] = v
        row |= {
            "ratio": _r(self.ratio), "median_ratio": _r(self.median_ratio),
            "output_empty": self.output_empty, "trained_it": self.trained_it,
            "trained_im": self.trained_im, "im_over_it": _r(self.im_over_it),
            "max_length": self.max_length, "truncated": self.truncated,
            "truncated_tokens": self.truncated_tokens, "lost_it": self.lost_it,
            "lost_im": self.lost_im,
            "skipped": sum(self.skipped.values()), "warnings": sum(self.warnings.values()),
            "path": self.path, "fingerprint": self.fingerprint, "format": self.format,
        }  # fmt: skip
        row |= {f"quality_{k}": v for k, v in quality_counts(self.quality).items()}
        return row


@dataclass(frozen=True, eq=False)
class ProfileReport:
    """Per-example lengths (``examples``, a polars frame) and one summary per dataset."""

    unit: Unit
    template: str
    template_fingerprint: str
    tokenizer: str | None
    tokenizer_fingerprint: str | None
    max_length: int | None
    datasets: tuple[DatasetSummary, ...]
    examples: pl.DataFrame
    #: what loading left out, per dataset (for a rejects file); counts are in the summaries
    skip_logs: tuple[SkipLog, ...] = field(default=(), repr=False)

    def to_dict(self) -> dict[str, Any]:
        """``{"datasets": [...], "unit", "template", "tokenizer", ...}``, JSON-ready."""
        return report_dict(self)

    def to_json(self) -> str:
        """Stable JSON: sorted keys, two-space indent."""
        import orjson

        return orjson.dumps(self.to_dict(), option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2).decode()

    def render(self, fmt: str = "table") -> str:
        """The report as ``table``, ``json``, ``csv`` or ``markdown``."""
        if fmt == "json":
            return self.to_json()
        return render_summaries(self, fmt)


def _r(x: float | None, nd: int = 4) -> float | None:
    return None if x is None else round(x, nd)


def _stats(col: pl.Series) -> Stats:
    return Stats(
        mean=float(col.mean()),  # type: ignore[arg-type]
        sd=float(col.std(ddof=0)),  # type: ignore[arg-type]
        median=float(col.median()),  # type: ignore[arg-type]
        p90=float(col.quantile(0.9, "linear")),  # type: ignore[arg-type]
        p99=float(col.quantile(0.99, "linear")),  # type: ignore[arg-type]
        max=int(col.max()),  # type: ignore[arg-type]
        sum=int(col.sum()),
    )


def summarise(
    frame: pl.DataFrame,
    *,
    name: str,
    path: str,
    fingerprint: str,
    format: str,
    unit: str,
    log: SkipLog,
    max_length: int | None,
) -> DatasetSummary:
    """Summarise one dataset's per-example frame (columns of :data:`imdata.profiling.profiler.COLUMNS`)."""
    instr, out = _stats(frame["instruction"]), _stats(frame["output"])
    ratios = frame["ratio"].drop_nulls()
    it, im = int(frame["trained_it"].sum()), int(frame["trained_im"].sum())
    trunc = frame["truncated"] if max_length is not None else None
    return DatasetSummary(
        name=name, path=path, fingerprint=fingerprint, format=format, unit=unit,
        examples=frame.height, instruction=instr, output=out, total=_stats(frame["total"]),
        template=_stats(frame["template"]), turns=_stats(frame["turns"]),
        ratio=instr.mean / out.mean if out.mean else None,
        median_ratio=float(ratios.median()) if len(ratios) else None,  # type: ignore[arg-type]
        output_empty=_empty_outputs(frame, len(ratios)),
        trained_it=it, trained_im=im, im_over_it=im / it if it else None,
        max_length=max_length,
        truncated=None if trunc is None else int((trunc > 0).sum()),
        truncated_tokens=None if trunc is None else int(trunc.sum()),
        lost_it=None if trunc is None else int(frame["lost_it"].sum()),
        lost_im=None if trunc is None else int(frame["lost_im"].sum()),
        skipped=log.counts, warnings=log.warning_counts,
        quality=quality(frame, log),
    )  # fmt: skip


def _empty_outputs(frame: pl.DataFrame, with_ratio: int) -> int:
    if "empty_output" in frame.columns:
        return int(frame["empty_output"].sum())
    return frame.height - with_ratio


#: Tukey's far-out fence: a length above Q3 + 3 * IQR is an outlier
OUTLIER_IQR = 3.0
_SHOWN_IDS = 5


def quality(frame: pl.DataFrame, log: SkipLog) -> dict[str, Any]:
    """The data-quality section of one dataset (see the module docstring)."""
    warn = log.warning_counts
    flags = {c: int(frame[c].sum()) for c in ("empty_output", "assistant_first", "repeated_role") if c in frame.columns}
    return {
        "duplicate_records": warn.get("duplicate-record", 0),
        "duplicate_ids": warn.get("duplicate-id", 0),
        "empty_turns": {k: v for k, v in warn.items() if k.startswith("empty-")},
        "empty_outputs": flags.get("empty_output", 0),
        "assistant_first": flags.get("assistant_first", 0),
        "repeated_roles": flags.get("repeated_role", 0),
        "outliers": {m: _outliers(frame, m) for m in ("instruction", "output")},
        "skipped": dict(log.counts),
    }


def _outliers(frame: pl.DataFrame, col: str) -> dict[str, Any]:
    import polars as pl

    if frame.height == 0:
        return {"above": None, "count": 0, "longest": []}
    q1, q3 = frame[col].quantile(0.25, "linear"), frame[col].quantile(0.75, "linear")
    fence = float(q3 + OUTLIER_IQR * (q3 - q1))  # type: ignore[operator]
    far = frame.filter(pl.col(col) > fence).sort([col, "id"], descending=[True, False])
    longest = [{"id": i, "length": int(v)} for i, v in far.select("id", col).head(_SHOWN_IDS).iter_rows()]
    return {"above": round(fence, 2), "count": far.height, "longest": longest}


def quality_counts(q: Mapping[str, Any]) -> dict[str, int]:
    """The quality section as flat counts (CSV columns, the table)."""
    if not q:
        return {}
    return {
        "duplicates": q["duplicate_records"] + q["duplicate_ids"],
        "empty_turns": sum(q["empty_turns"].values()),
        "empty_outputs": q["empty_outputs"],
        "assistant_first": q["assistant_first"],
        "repeated_roles": q["repeated_roles"],
        "instruction_outliers": q["outliers"]["instruction"]["count"],
        "output_outliers": q["outliers"]["output"]["count"],
        "skipped": sum(q["skipped"].values()),
    }


def report_dict(report: ProfileReport) -> dict[str, Any]:
    """The whole report as JSON-ready data: ``{"datasets": [...], "unit", ...}``."""
    from imdata import __version__

    return {
        "datasets": [d.to_dict() for d in report.datasets],
        "unit": report.unit,
        "template": report.template,
        "template_fingerprint": report.template_fingerprint,
        "tokenizer": report.tokenizer,
        "tokenizer_fingerprint": report.tokenizer_fingerprint,
        "max_length": report.max_length,
        "imdata_version": __version__,
    }


# --- text renderings ----------------------------------------------------------------------


def _main_rows(report: ProfileReport, md: bool) -> tuple[list[str], list[list[str]]]:
    pm = " ± " if md else " ±"
    head = ["dataset", "examples", "instruction", "output", "total", "instr/output", "median ratio",
            "trained IT", "trained IM", "IM/IT"]  # fmt: skip
    trunc = report.max_length is not None
    if trunc:
        head += [f"truncated @{report.max_length}", "lost IT", "lost IM"]
    head += ["skipped"]
    rows = []
    for d in report.datasets:
        row = [d.name, num(d.examples),
               f"{num(d.instruction.mean)}{pm}{num(d.instruction.sd)}",
               f"{num(d.output.mean)}{pm}{num(d.output.sd)}",
               f"{num(d.total.mean)}{pm}{num(d.total.sd)}",
               num(d.ratio, 4), num(d.median_ratio, 4),
               num(d.trained_it), num(d.trained_im), num(d.im_over_it)]  # fmt: skip
        if trunc:
            row += [num(d.truncated), num(d.lost_it), num(d.lost_im)]
        row += [num(sum(d.skipped.values()))]
        rows.append(row)
    return head, rows


def _spread_rows(report: ProfileReport) -> tuple[list[str], list[list[str]]]:
    head = ["dataset"]
    for short in ("instr", "output", "total"):
        head += [f"{short} {stat}" for stat in ("median", "p90", "p99", "max")]
    rows = []
    for d in report.datasets:
        row = [d.name]
        for m in ("instruction", "output", "total"):
            s: Stats = getattr(d, m)
            row += [num(s.median, 1), num(s.p90, 1), num(s.p99, 1), num(s.max)]
        rows.append(row)
    return head, rows


def _notes(report: ProfileReport) -> list[str]:
    notes = []
    for d in report.datasets:
        if d.skipped:
            n = sum(d.skipped.values())
            parts = ", ".join(f"{k} {v}" for k, v in d.skipped.items())
            notes.append(f"{d.name}: skipped {n:,} {_records(n)} ({parts}); not profiled")
        if d.warnings:
            n = sum(d.warnings.values())
            parts = ", ".join(f"{k} {v}" for k, v in d.warnings.items())
            notes.append(f"{d.name}: kept {n:,} {_records(n)} with warnings ({parts})")
        if d.output_empty:
            notes.append(f"{d.name}: {d.output_empty:,} examples have an empty output; no per-example ratio")
    return notes


def _quality_rows(report: ProfileReport) -> tuple[list[str], list[list[str]]]:
    head = ["dataset", "duplicates", "empty turns", "empty outputs", "assistant first", "repeated roles",
            "long instructions", "long outputs", "skipped"]  # fmt: skip
    rows = []
    for d in report.datasets:
        c = quality_counts(d.quality)
        rows.append([d.name, *(num(v) for v in c.values())])
    return head, rows


def _outlier_notes(report: ProfileReport) -> list[str]:
    notes = []
    for d in report.datasets:
        for m, o in d.quality.get("outliers", {}).items():
            if o["count"]:
                ids = ", ".join(f"{x['id']} ({x['length']:,})" for x in o["longest"])
                notes.append(f"{d.name}: {o['count']:,} {m}s longer than {o['above']:,} {report.unit}; longest: {ids}")
    return notes


def _records(n: int) -> str:
    return "record" if n == 1 else "records"


def _caption(report: ProfileReport) -> str:
    unit = report.unit
    tok = f", tokenizer {report.tokenizer}" if report.tokenizer else ""
    return (f"lengths in {unit} (mean ± population sd), template {report.template}{tok}; "
            f"instr/output = mean instruction / mean output (the paper's ratio); "
            f"trained = {unit} each loss mode trains, summed")  # fmt: skip


def render_summaries(report: ProfileReport, fmt: str) -> str:
    """``table`` (aligned text), ``markdown`` (paste-ready) or ``csv`` (one row per dataset)."""
    if fmt == "csv":
        rows = [d.flat() for d in report.datasets]
        head = list(rows[0])
        return csv_table(head, [[r.get(k) for k in head] for r in rows])
    md = fmt == "markdown"
    table = markdown_table if md else text_table
    notes = _notes(report)
    parts = [_caption(report) + (":" if not md else "."), "", table(*_main_rows(report, md)), "",
             f"spread in {report.unit}:" if not md else f"Spread in {report.unit}.", "",
             table(*_spread_rows(report))]  # fmt: skip
    if any(d.quality for d in report.datasets):
        title = "data quality (examples; long = length above Q3 + 3 IQR)"
        parts += ["", title + (":" if not md else "."), "", table(*_quality_rows(report))]
        notes += _outlier_notes(report)
    if notes:
        parts += ["", *[("- " if md else "") + n for n in notes]]
    return "\n".join(parts)
