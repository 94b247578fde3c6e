"""Render a memorisation report: text tables, JSON, CSV, markdown, and the report folder."""

from __future__ import annotations

import html
import json
from collections import Counter
from pathlib import Path
from typing import Any

from imdata.choices import ReportFormat
from imdata.data import files
from imdata.data.tables import csv_table, markdown_table, num, text_table
from imdata.errors import OutputError
from imdata.memorisation.memorization import MemorizationReport, RunReport

_RUN_HEAD = (
    "run",
    "pairs",
    "mean",
    "median",
    "p90",
    ">50",
    ">80",
    "corpus",
    "exact",
    "max overlap",
    "left out",
    "train unmatched",
)
_CMP_HEAD = (
    "run",
    "baseline",
    "shared",
    "mean run",
    "mean base",
    "difference",
    "CI low",
    "CI high",
    "real?",
)


def _f(x: float | None) -> str:
    return num(x, 2, missing="", grouping=False)


#: problems that flag a scored output rather than leave it out
FLAGGED_ONLY = frozenset({"empty-output", "no-shared-token"})


def _left_out(r: RunReport) -> int:
    return sum(v for k, v in r.problems.items() if k not in FLAGGED_ONLY)


def run_rows(report: MemorizationReport) -> list[tuple[str, ...]]:
    """One row per run, as the tables print it."""
    return [
        (
            r.name,
            str(r.pairs),
            _f(r.bleu.mean),
            _f(r.bleu.median),
            _f(r.bleu.p90),
            f"{r.bleu.above_50:.1%}",
            f"{r.bleu.above_80:.1%}",
            _f(r.corpus_bleu),
            str(r.exact_matches),
            str(r.overlap_max),
            str(_left_out(r)),
            # with --match nearest, "unmatched" only means "nobody's nearest": not worth a column
            "-" if report.match == "nearest" else str(r.unmatched_train),
        )
        for r in report.runs
    ]


def comparison_rows(report: MemorizationReport) -> list[tuple[str, ...]]:
    """One row per comparison with the baseline."""
    return [
        (
            c.run,
            c.baseline,
            str(c.shared),
            _f(c.mean_run),
            _f(c.mean_baseline),
            _f(c.difference),
            _f(c.ci_low),
            _f(c.ci_high),
            "yes" if c.significant else "no",
        )
        for c in report.comparisons
    ]


#: a run's summary numbers, the one list of them: the CSV report writes all but ``records`` and
#: ``overlap_mean``; the store's ``memo_runs`` all but ``left_out``, in this order (BLEU ones as ``bleu_*``)
RUN_NUMBERS = (
    "records",
    "pairs",
    "mean",
    "median",
    "p90",
    "above_50",
    "above_80",
    "corpus_bleu",
    "exact_matches",
    "overlap_mean",
    "overlap_max",
    "left_out",
    "unmatched_train",
)
_NOT_IN_CSV = ("records", "overlap_mean")


def run_numbers(r: RunReport) -> dict[str, Any]:
    """``{name: value}`` over :data:`RUN_NUMBERS` for one run."""
    b = r.bleu
    values = (r.records, r.pairs, b.mean, b.median, b.p90, b.above_50, b.above_80, r.corpus_bleu,
              r.exact_matches, r.overlap_mean, r.overlap_max, _left_out(r), r.unmatched_train)  # fmt: skip
    return dict(zip(RUN_NUMBERS, values, strict=True))


def _text_table(head: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    return text_table(head, rows, rule=False)


def _md_table(head: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    return markdown_table(head, rows)


def notes(report: MemorizationReport) -> list[str]:
    """Plain sentences about what a reader must know: left-out records, uneven runs, the winner."""
    out = []
    sizes = Counter(r.pairs for r in report.runs)
    if len(sizes) > 1:
        usual = sizes.most_common(1)[0][0]
        odd = ", ".join(f"{r.name} {r.pairs}" for r in report.runs if r.pairs != usual)
        out.append(
            f"Runs differ in size: {odd} pairs, the others {usual}; differences use only the examples both runs share."
        )
    for r in report.runs:
        for reason, n in r.problems.items():
            out.append(f"{r.name}: {n} × {reason} — {r.messages.get(reason, '')}")
    for reason, n in {**report.train.skipped, **report.train.problems}.items():
        out.append(f"training side: {n} × {reason} — {report.train.messages.get(reason, '')}")
    if report.most_memorized:
        best = max(report.runs, key=lambda r: r.bleu.mean if r.pairs else -1)
        out.append(
            f"Most memorised: {best.name} (mean sentence BLEU {best.bleu.mean:.2f}, "
            f"{best.bleu.above_50:.1%} of pairs above 50)."
        )
    if report.nearest_scored is not None:
        out.append(
            f"Nearest matching scored {report.nearest_scored:,} pairs exactly instead of all {report.all_pairs:,}."
        )
    return out


def render(report: MemorizationReport, fmt: ReportFormat = "table") -> str:
    """The report as text in ``fmt``; JSON has sorted keys, CSV is the runs table."""
    if fmt == "json":
        return json.dumps(report.to_dict(), sort_keys=True, indent=2, ensure_ascii=False)
    if fmt == "csv":
        head = ["run", *(k for k in RUN_NUMBERS if k not in _NOT_IN_CSV)]
        rows = [[r.name, *(v for k, v in run_numbers(r).items() if k not in _NOT_IN_CSV)] for r in report.runs]
        return csv_table(head, rows)
    table = _md_table if fmt == "markdown" else _text_table
    parts = [
        f"match: {report.match}; sentence BLEU: {report.signatures.sentence}; corpus BLEU: {report.signatures.corpus}",
        table(_RUN_HEAD, run_rows(report)),
    ]
    if report.comparisons:
        parts.append(table(_CMP_HEAD, comparison_rows(report)))
    parts += [("- " if fmt == "markdown" else "") + n for n in notes(report)]
    return "\n\n".join(parts)


def _clip(text: str | None, limit: int = 700) -> str:
    text = text or ""
    return html.escape(text if len(text) <= limit else text[:limit] + " […]").replace("\n", "<br>")


def _examples(report: MemorizationReport, top: int) -> list[str]:
    out = [f"## Most memorised examples (top {top} per run by sentence BLEU)", ""]
    for r in sorted(report.runs, key=lambda r: -r.bleu.mean):
        if not r.pairs:
            continue
        best = r.pairs_frame.sort(["bleu", "overlap_words"], descending=True).head(top)
        out.append(f"### {r.name}")
        out.append("")
        for row in best.iter_rows(named=True):
            out.append(
                f"**BLEU {row['bleu']:.1f}**, longest verbatim overlap "
                f"{row['overlap_words']} words, exact match: {'yes' if row['exact'] else 'no'}; "
                f"output `{row['where']}`, training example `{row['train_id']}`. "
                f"Instruction: {_clip(row['instruction'], 200)}"
            )
            out.append("")
            out.append(
                '<table><tr><th width="50%">model output</th>'
                '<th width="50%">training output</th></tr>'
                f'<tr><td valign="top">{_clip(row["output"])}</td>'
                f'<td valign="top">{_clip(row["reference"])}</td></tr></table>'
            )
            out.append("")
    return out


def write_report(report: MemorizationReport, directory: str, *, top: int = 3, force: bool = False) -> list[str]:
    """Write ``report.md``, the PNG figures and ``pairs.csv`` (every pair) to ``directory``."""
    d = Path(directory)
    if d.exists() and not d.is_dir():
        raise OutputError(f"--report {directory}: is a file; give a folder")
    if (d / "report.md").exists() and not force:
        raise OutputError(f"--report {directory}: already holds a report; pass --force to overwrite it")
    d.mkdir(parents=True, exist_ok=True)
    figures = _figures(report, d)
    _pairs_csv(report, d / "pairs.csv")
    with files.atomic_output(d / "report.md", force=True) as fh:
        fh.write("\n".join(_markdown(report, figures, top)) + "\n")
    return [str(d / f) for f in ("report.md", *figures, "pairs.csv")]


def _figures(report: MemorizationReport, d: Path) -> list[str]:
    from imdata.memorisation import plots as memo_plots

    figures = ["bleu_distributions.png", "bleu_cdf.png"]
    memo_plots.plot_distributions(report, d / figures[0], force=True)
    memo_plots.plot_cdf(report, d / figures[1], force=True)
    if report.comparisons:
        figures.append("bleu_differences.png")
        memo_plots.plot_differences(report, d / figures[2], force=True)
    return figures


def _pairs_csv(report: MemorizationReport, path: Path) -> None:
    import polars as pl

    from imdata.data.escape import csv_safe_frame

    frames = [r.pairs_frame.with_columns(pl.lit(r.name).alias("run")) for r in report.runs]
    with files.atomic_output(path, force=True) as fh:
        if frames:
            # pairs hold the model's and the data's text: no cell may run as a spreadsheet formula
            fh.write(csv_safe_frame(pl.concat(frames).select("run", pl.exclude("run"))).write_csv())


def _markdown(report: MemorizationReport, figures: list[str], top: int) -> list[str]:
    t = report.train
    train_files = ", ".join(f"`{p}` (sha256 {f[:12]})" for p, f in zip(t.paths, t.fingerprints, strict=True))
    lines = [
        "# Memorisation report",
        "",
        f"Training side: {train_files}, {t.size:,} examples. Pairing: `--match {report.match}`.",
        "",
        f"Sentence BLEU: sacrebleu `{report.signatures.sentence}`; "
        f"corpus BLEU: `{report.signatures.corpus}`. "
        f"Differences: paired bootstrap, {report.bootstrap} resamples, seed {report.seed}, "
        f"{report.confidence:.0%} interval.",
        "",
        "## Runs",
        "",
        _md_table(_RUN_HEAD, run_rows(report)),
        "",
        "`>50`/`>80`: share of pairs with sentence BLEU above 50/80; `exact`: outputs equal to "
        "the training output up to whitespace; `max overlap`: longest verbatim run of words "
        "shared with the training output; `left out`: outputs not scored (see Notes).",
        "",
    ]
    if report.comparisons:
        lines += [
            f"## Differences from {report.comparisons[0].baseline}",
            "",
            _md_table(_CMP_HEAD, comparison_rows(report)),
            "",
            "`real?`: the confidence interval of the difference excludes zero.",
            "",
        ]
    lines += ["## Notes", "", *[f"- {n}" for n in notes(report)], "", "## Figures", ""]
    lines += [f"![{f}]({f})" for f in figures] + [""]
    return lines + _examples(report, top)
