"""Render a loss report: table, JSON, CSV, markdown on stdout, and the report folder."""

from __future__ import annotations

import json
from pathlib import Path

from imdata.choices import ReportFormat
from imdata.data import files
from imdata.data.tables import csv_table, markdown_table, num, text_table
from imdata.errors import OutputError
from imdata.evaluation.losses import LossReport

FIGURE = "loss.png"
_LOSS_HEAD = ("dataset", "kind", "model", "examples", "tokens", "loss", "CI low", "CI high", "ppl")
_DIFF_HEAD = ("dataset", "kind", "model", "baseline", "examples", "difference", "CI low", "CI high", "real?")
CSV_COLUMNS = (
    "measure",
    "model",
    "baseline",
    "dataset",
    "kind",
    "examples",
    "tokens",
    "value",
    "ppl",
    "ci_low",
    "ci_high",
)


def _f(x: float | None) -> str:
    return num(x, 4, missing="", grouping=False)


def _ppl(x: float | None) -> str:
    return "" if x is None else f"{x:,.2f}" if x < 1e6 else f"{x:.3e}"


def _signed(x: float | None) -> str:
    return "" if x is None else f"{x:+.4f}"


def loss_rows(report: LossReport) -> list[tuple[str, ...]]:
    """One row per set, kind group and model: the models side by side for each kind."""
    sets = list(dict.fromkeys(r.dataset for r in report.results))
    return [
        (
            r.dataset,
            g.name,
            r.model,
            f"{r.examples:,}",
            f"{v.tokens:,}",
            _f(v.loss),
            _f(v.ci_low),
            _f(v.ci_high),
            _ppl(v.ppl),
        )
        for s in sets
        for g in report.kinds
        for r in report.results
        if r.dataset == s
        for v in (r.kinds[g.name],)
    ]


def difference_rows(report: LossReport) -> list[tuple[str, ...]]:
    """One row per set, kind group and model other than the baseline."""
    return [
        (
            d.dataset,
            d.kind,
            d.model,
            d.baseline,
            f"{d.examples:,}",
            _signed(d.difference),
            _signed(d.ci_low),
            _signed(d.ci_high),
            "yes" if d.significant else "no",
        )
        for d in report.differences
    ]


def header(report: LossReport) -> str:
    """What the numbers are, in one sentence."""
    pct = f"{report.confidence:.0%}"
    return (
        f"mean token loss (nats) over each kind's tokens, template {report.template}; "
        f"{pct} bootstrap interval over examples ({report.bootstrap} resamples, seed {report.seed}); "
        f"{report.device}, {report.dtype}"
    )


def render(report: LossReport, fmt: ReportFormat = "table") -> str:
    """The report as text in ``fmt``; JSON has sorted keys, CSV is one long table (see :data:`CSV_COLUMNS`)."""
    if fmt == "json":
        return json.dumps(report.to_dict(), sort_keys=True, indent=2, ensure_ascii=False)
    if fmt == "csv":
        return _csv(report)
    table = _md_table if fmt == "markdown" else _text_table
    parts = [header(report), table(_LOSS_HEAD, loss_rows(report))]
    if report.differences:
        parts.append(table(_DIFF_HEAD, difference_rows(report)))
    parts += [("- " if fmt == "markdown" else "") + n for n in report.notes]
    return "\n\n".join(parts)


def _csv(report: LossReport) -> str:
    rows: list[list[object]] = [
        ["loss", r.model, "", r.dataset, k, r.examples, v.tokens, v.loss, v.ppl, v.ci_low, v.ci_high]
        for r in report.results
        for k, v in r.kinds.items()
    ]
    rows += [
        ["difference", d.model, d.baseline, d.dataset, d.kind, d.examples, "", d.difference, "", d.ci_low, d.ci_high]
        for d in report.differences
    ]
    return csv_table(CSV_COLUMNS, rows)


def _left(head: tuple[str, ...]) -> int:
    """The name columns, left-aligned: dataset, kind, model (and baseline)."""
    return 4 if "baseline" in head else 3


def _text_table(head: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    return text_table(head, rows, left=_left(head))


def _md_table(head: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    return markdown_table(head, rows, left=_left(head))


def write_report(report: LossReport, directory: str, *, force: bool = False) -> list[str]:
    """Write ``report.md``, ``loss.png``, ``report.json`` and ``examples.csv`` to ``directory``."""
    from imdata.evaluation.figure import plot_losses

    d = check_report_dir(directory, force=force)
    d.mkdir(parents=True, exist_ok=True)
    plot_losses(report, d / FIGURE, force=True)
    with files.atomic_output(d / "report.json", force=True) as fh:
        fh.write(render(report, "json") + "\n")
    with files.atomic_output(d / "examples.csv", force=True) as fh:
        fh.write(report.examples.write_csv())
    with files.atomic_output(d / "report.md", force=True) as fh:
        fh.write("\n".join(_markdown(report)) + "\n")
    return [str(d / f) for f in ("report.md", FIGURE, "report.json", "examples.csv")]


def check_report_dir(directory: str, *, force: bool = False) -> Path:
    """The report folder, refused before any work if it is a file or holds a report (without ``force``)."""
    d = Path(directory)
    if d.exists() and not d.is_dir():
        raise OutputError(f"--report {directory}: is a file; give a folder")
    if (d / "report.md").exists() and not force:
        raise OutputError(f"--report {directory}: already holds a report; pass --force to overwrite it")
    return d


def _markdown(report: LossReport) -> list[str]:
    models = ", ".join(f"`{c.name}` ({c.source}, fingerprint {c.fingerprint})" for c in report.checkpoints)
    sets = ", ".join(f"`{s['name']}` ({s['examples']:,} examples, {s['path']})" for s in report.datasets)
    kinds = "; ".join(f"`{g.name}` = {' + '.join(sorted(g.kinds))}" for g in report.kinds)
    lines = [
        "# Loss per span kind",
        "",
        f"Models: {models}. Sets: {sets}. Kinds: {kinds}.",
        "",
        header(report).capitalize() + ".",
        "",
        "## Loss",
        "",
        _md_table(_LOSS_HEAD, loss_rows(report)),
        "",
    ]
    if report.differences:
        lines += [
            "## Differences (paired, same examples)",
            "",
            _md_table(_DIFF_HEAD, difference_rows(report)),
            "",
            "`real?`: the interval of the difference excludes zero.",
            "",
        ]
    if report.notes:
        lines += ["## Notes", "", *[f"- {n}" for n in report.notes], ""]
    lines += ["## Figure", "", f"![loss per kind]({FIGURE})", ""]
    return lines


__all__ = [
    "CSV_COLUMNS",
    "FIGURE",
    "check_report_dir",
    "difference_rows",
    "header",
    "loss_rows",
    "render",
    "write_report",
]
