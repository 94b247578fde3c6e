"""``imdata profile``: lengths, the instruction/output ratio and trained tokens, side by side."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from imdata.choices import ENGINES, UNITS
from imdata.cli._common import (
    input_options,
    render_options,
    report_format_option,
    say,
    template_option,
    tokenizer_option,
)

if TYPE_CHECKING:
    from imdata.profiling.summary import ProfileReport

F = TypeVar("F", bound=Callable[..., Any])


def engine_options(f: F) -> F:
    """``--engine local|ray`` and ``--spill``: where the per-example stage runs (shared with spans)."""
    f = click.option(
        "--spill",
        default=None,
        metavar="DIR",
        help="(--engine ray) Parquet folder for the per-example rows: any path the cluster can write, "
        "e.g. s3://bucket/run. [default: a temporary folder]",
    )(f)
    return click.option(
        "--engine",
        type=click.Choice(ENGINES),
        default="local",
        show_default=True,
        help="local: stream here on all cores; ray: Ray Data map_batches (pip install 'imdata[ray]'; "
        "RAY_ADDRESS points it at a cluster).",
    )(f)


@click.command()
@click.argument("data", nargs=-1, required=True)
@click.option(
    "--unit",
    type=click.Choice(UNITS),
    default=None,
    help="Length unit. [default: tokens with --tokenizer, else words (the paper's Table 5)]",
)
@tokenizer_option()
@template_option()
@render_options
@click.option("--name", "names", multiple=True, help="A name per DATA, in order (default: the file name).")
@report_format_option("report_format")
@click.option(
    "--max-length",
    type=click.IntRange(1),
    default=None,
    help="(tokens) Count examples a trainer would truncate at N tokens and what each mode loses.",
)
@click.option(
    "--db",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also store per-example rows and summaries in this DuckDB file (re-profiling replaces).",
)
@click.option(
    "--plots",
    type=click.Path(file_okay=False),
    default=None,
    help="Write lengths.png, ratio.png and instruction_vs_output.png to this folder.",
)
@input_options
@engine_options
@click.option("--force", is_flag=True, help="Overwrite existing plots or rejects file.")
def profile(
    data: tuple[str, ...],
    unit: str | None,
    tokenizer: str | None,
    template: str,
    eot: str | None,
    date: str | None,
    names: tuple[str, ...],
    report_format: str,
    max_length: int | None,
    db: str | None,
    plots: str | None,
    fmt: str,
    role_map: tuple[str, ...],
    field_map: tuple[str, ...],
    on_error: str,
    rejects: str | None,
    engine: str,
    spill: str | None,
    force: bool,
) -> None:
    """Profile DATA: lengths, the instruction/output ratio and what each loss mode trains.

    Per dataset: instruction, output, template and total lengths; the instruction/output
    ratio (with the number of examples, the paper's deciding factor for IM); the tokens
    (or words) IT and IM would train. Several files are profiled side by side;
    `--format markdown` is ready to paste into a paper or a data card.
    """
    from imdata.cli._progress import Progress
    from imdata.data.dataset import parse_role_map
    from imdata.data.formats import parse_fields
    from imdata.engine.runner import profile as run_profile

    if tokenizer and unit in ("words", "chars"):
        say(f"measuring in {unit}; --tokenizer only sets the template's EOS/BOS strings")
    _check_outputs(rejects, plots, db, force)
    started = time.perf_counter()
    bar = Progress("profiling", unit="examples")
    report = run_profile(
        list(data),
        unit=unit,
        tokenizer=tokenizer,
        template=template,
        eot=eot,
        date=date,
        max_length=max_length,
        names=list(names) or None,
        format=fmt,  # type: ignore[arg-type]
        role_map=parse_role_map(role_map),
        fields=parse_fields(field_map),
        on_error=on_error,  # type: ignore[arg-type]
        on_progress=bar,
        engine=engine,  # type: ignore[arg-type]
        spill=spill,
    )
    bar.close()
    _print(report, report_format, started)
    _write_extras(report, rejects=rejects, db=db, plots=plots, force=force)


def _print(report: ProfileReport, report_format: str, started: float) -> None:
    """The report on stdout; what was skipped and how long it took on stderr."""
    _say_skips(report)
    click.echo(report.render(report_format))
    n = report.examples.height
    say(
        f"profiled {len(report.datasets)} dataset(s), {n:,} examples, in {report.unit} "
        f"({time.perf_counter() - started:.1f} s)"
    )


def _say_skips(report: ProfileReport) -> None:
    """Per input, how many records were skipped or kept with warnings (the report counts them)."""
    for d in report.datasets:
        if d.skipped or d.warnings:
            n_skip, n_warn = sum(d.skipped.values()), sum(d.warnings.values())
            say(f"{d.path}: skipped {n_skip}, kept with warnings {n_warn} (counted in the report)")


def _write_extras(
    report: ProfileReport, *, rejects: str | None, db: str | None, plots: str | None, force: bool
) -> None:
    """Write what was asked beside the report on stdout: the rejects file, the store, the plots."""
    from imdata.data.dataset import SkipLog

    if rejects:
        merged = SkipLog([r for log in report.skip_logs for r in log.rejected])
        merged.write(rejects, force=force)
        say(f"wrote {merged.total} rejected records to {rejects}")
    if db:
        from imdata.store import database as store

        con = store.connect(db)
        try:
            rows = store.save_profile(con, report)
        finally:
            con.close()
        say(
            f"stored {rows:,} example rows and {len(report.datasets)} summaries in {db} "
            "(tables profile_examples, profile_datasets)"
        )
    if plots:
        from imdata.profiling.plots import profile_plots

        for p in profile_plots(report, plots, force=force):
            say(f"wrote {p}")


def _check_outputs(rejects: str | None, plots: str | None, db: str | None, force: bool) -> None:
    """Fail before the work, not after it, when an output cannot be written."""
    from imdata.cli._common import check_outputs

    if rejects:
        check_outputs({"--rejects": rejects}, force=force)
    if db:
        from imdata.store.database import check_store

        check_store(db)
        check_outputs({"--rejects": rejects}, force=force, also={"--db": db, "--plots": plots})
    if plots:
        from imdata.profiling.plots import plot_paths

        plot_paths(plots, force=force)
