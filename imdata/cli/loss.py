"""``imdata loss``: each model's mean token loss per span kind, train and held-out side by side."""

from __future__ import annotations

from typing import Any

import click

from imdata.choices import DEVICES, DTYPES, LEAKED_ACTIONS
from imdata.cli._common import (
    check_outputs,
    input_options,
    report_format_option,
    report_skips,
    say,
    template_option,
)


@click.command()
@click.argument("data", nargs=-1, required=True)
@click.option(
    "--model",
    "models",
    multiple=True,
    required=True,
    help="A checkpoint folder (config.json, weights, tokenizer.json) or hub id (repeatable).",
)
@click.option("--name", "names", multiple=True, help="A name per --model, in order (default: the folder's name).")
@template_option()
@click.option("--tokenizer", "-k", default=None, help="Tokenizer for every model (default: each model's own).")
@click.option(
    "--kinds",
    default="output,instruction,system,eos,template",
    show_default=True,
    help="Kind groups, comma-separated: span kinds, it/im/all, or kinds joined by + (output+eos).",
)
@click.option(
    "--max-length", type=click.IntRange(2), default=None, help="Cut sequences here (default: the model's context)."
)
@click.option(
    "--batch-tokens",
    type=click.IntRange(1),
    default=4096,
    show_default=True,
    help="Tokens per forward pass, padding included.",
)
@click.option(
    "--pack",
    is_flag=True,
    help="Several sequences per row (position_ids restart; transformers models that honour them).",
)
@click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True)
@click.option(
    "--dtype",
    type=click.Choice(DTYPES),
    default="auto",
    show_default=True,
    help="auto: bfloat16 on a GPU that has it, else float32.",
)
@click.option("--baseline", default=None, help="The model the others are compared with (default: the first).")
@click.option(
    "--leaked",
    type=click.Choice(LEAKED_ACTIONS),
    default="separate",
    show_default=True,
    help="Held-out examples a split found in training.",
)
@click.option("--bootstrap", type=click.IntRange(1), default=1000, show_default=True, help="Resamples of the examples.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap.")
@click.option("--confidence", type=click.FloatRange(0.5, 1, max_open=True), default=0.95, show_default=True)
@report_format_option("report_format")
@click.option("--db", type=click.Path(dir_okay=False), default=None, help="Also store the results in this DuckDB file.")
@click.option(
    "--report",
    "report_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Write report.md, loss.png, report.json and examples.csv here.",
)
@click.option("--force", is_flag=True, help="Overwrite an existing report folder or rejects file.")
@input_options
def loss(
    data: tuple[str, ...],
    models: tuple[str, ...],
    names: tuple[str, ...],
    template: str,
    tokenizer: str | None,
    kinds: str,
    max_length: int | None,
    batch_tokens: int,
    pack: bool,
    device: str,
    dtype: str,
    baseline: str | None,
    leaked: str,
    bootstrap: int,
    seed: int,
    confidence: float,
    report_format: str,
    db: str | None,
    report_dir: str | None,
    force: bool,
    fmt: str,
    role_map: tuple[str, ...],
    field_map: tuple[str, ...],
    on_error: str,
    rejects: str | None,
) -> None:
    """Mean token loss of each model on DATA, per span kind, with bootstrap intervals.

    DATA: files, or `imdata split` folders (train and held-out side by side; leaked held-out
    examples apart). `--kinds output` is the paper's loss on output tokens. With several
    models, each minus the first (--baseline) on the same examples, paired.
    """
    from imdata.cli._progress import Progress
    from imdata.data.dataset import parse_role_map
    from imdata.data.formats import parse_fields
    from imdata.evaluation import loss as run_loss
    from imdata.evaluation.report import check_report_dir, render, write_report

    check_outputs({"--rejects": rejects}, force=force)  # before the models run, not after
    if report_dir:
        check_report_dir(report_dir, force=force)
    bar = Progress("scoring", unit="tokens")
    rep = run_loss(
        list(data), model=list(models), names=list(names) or None, template=template, tokenizer=tokenizer,
        kinds=kinds, max_length=max_length, batch_tokens=batch_tokens, pack=pack, device=device,  # type: ignore[arg-type]
        dtype=dtype, baseline=baseline, bootstrap=bootstrap, seed=seed, confidence=confidence,  # type: ignore[arg-type]
        leaked=leaked, input_format=fmt, role_map=parse_role_map(role_map), on_error=on_error,  # type: ignore[arg-type]
        fields=parse_fields(field_map), on_progress=bar,
    )  # fmt: skip
    bar.close()
    report_skips(rep.skipped, rejects=rejects, force=force)
    click.echo(render(rep, report_format))  # type: ignore[arg-type]
    if report_dir:
        say(f"wrote {', '.join(write_report(rep, report_dir, force=force))}")
    if db:
        _store(db, rep)


def _store(db: str, rep: Any) -> None:
    from imdata.store import database as store

    con = store.connect(db)
    try:
        key = store.save_loss(con, rep)
    finally:
        con.close()
    say(f"stored under analysis {key} in {db} (tables loss_results, loss_differences, loss_examples)")
