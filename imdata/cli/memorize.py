"""``imdata memorize``: BLEU memorisation of training outputs, several runs side by side."""

from __future__ import annotations

import click

from imdata.choices import ENGINES, MATCHES
from imdata.cli._common import report_format_option, say, template_option


@click.command()
@click.option("--train", multiple=True, required=True, help="Training data (repeatable; concatenated).")
@click.option(
    "--outputs",
    multiple=True,
    required=True,
    help="A run's generations: JSON/JSONL with id+output, AlpacaEval lists, prompt/completion "
    "or messages (repeatable, one file per run).",
)
@click.option(
    "--name",
    "names",
    multiple=True,
    help="Run names, one per --outputs, in order (default: the records' generator, else the file name).",
)
@click.option(
    "--match",
    type=click.Choice(MATCHES),
    default="id",
    show_default=True,
    help="Pair outputs with training examples by id or instruction, or with the nearest training output by BLEU.",
)
@click.option("--baseline", default=None, help="The run the others are compared with (default: the first).")
@template_option()
@report_format_option("fmt")
@click.option(
    "--report",
    "report_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Write report.md, PNG figures and pairs.csv to this folder.",
)
@click.option(
    "--top",
    type=click.IntRange(0),
    default=3,
    show_default=True,
    help="Most memorised examples per run shown in the report.",
)
@click.option(
    "--db",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also store the results in this DuckDB file.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the paired bootstrap.")
@click.option(
    "--bootstrap",
    type=click.IntRange(1),
    default=1000,
    show_default=True,
    help="Bootstrap resamples.",
)
@click.option("--confidence", type=click.FloatRange(0.5, 1, max_open=True), default=0.95, show_default=True)
@click.option(
    "--workers",
    type=click.IntRange(1),
    default=None,
    help="Scoring processes (default: all cores).",
)
@click.option(
    "--engine",
    type=click.Choice(ENGINES),
    default="local",
    show_default=True,
    help="Where pairs are scored: local processes, or Ray Data (pip install 'imdata[ray]'; RAY_ADDRESS "
    "points it at a cluster). Scores are identical.",
)
@click.option("--force", is_flag=True, help="Overwrite an existing report folder.")
def memorize(
    train: tuple[str, ...],
    outputs: tuple[str, ...],
    names: tuple[str, ...],
    match: str,
    baseline: str | None,
    template: str,
    fmt: str,
    report_dir: str | None,
    top: int,
    db: str | None,
    seed: int,
    bootstrap: int,
    confidence: float,
    workers: int | None,
    engine: str,
    force: bool,
) -> None:
    """Score how closely each run's outputs reproduce the training outputs (sentence BLEU).

    Prints per run: mean, median and p90 sentence BLEU, the share above 50 and 80, corpus
    BLEU, exact matches and the longest verbatim overlap; and each run minus the baseline
    with a paired-bootstrap confidence interval over the examples both share.
    """
    from imdata.memorisation import report as memo_report
    from imdata.memorisation.memorization import memorize as run_memorize
    from imdata.store import database as store

    if db:
        store.check_store(db)  # before the scoring, not after it

    rep = run_memorize(
        list(train),
        list(outputs),
        names=list(names) or None,
        match=match,  # type: ignore[arg-type]
        template=template,
        baseline=baseline,
        seed=seed,
        bootstrap=bootstrap,
        confidence=confidence,
        workers=workers,
        engine=engine,  # type: ignore[arg-type]
    )
    click.echo(memo_report.render(rep, fmt))  # type: ignore[arg-type]
    say(
        f"scored {sum(r.pairs for r in rep.runs):,} pairs in {len(rep.runs)} runs against "
        f"{rep.train.size:,} training examples (--match {match})"
    )
    if report_dir:
        written = memo_report.write_report(rep, report_dir, top=top, force=force)
        say(f"wrote {', '.join(written)}")
    if db:
        con = store.connect(db)
        try:
            key = store.save_memorization(con, rep)
        finally:
            con.close()
        say(f"stored runs under analysis {key} in {db} (tables memo_runs, memo_pairs, memo_comparisons)")
