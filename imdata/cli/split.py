"""``imdata split``: ratio buckets and leak-checked held-out sets; every example in one output."""

from __future__ import annotations

from typing import Any

import click

from imdata.choices import DEFAULT_SEED, EXPORT_FORMATS, LEAK_ACTIONS, PART_SUFFIXES
from imdata.cli._common import template_option, tokenizer_option
from imdata.cli.overlap import NumberList, selection_inputs


@click.command()
@click.argument("data", nargs=-1, required=True)
@click.option(
    "--by",
    default=None,
    help="ratio: bucket by instruction/output ratio. Any other name: the field the "
    "--holdout set is stratified by (e.g. source).",
)
@click.option(
    "--buckets",
    type=click.IntRange(min=2),
    default=None,
    help="Number of ratio buckets [default: 4].",
)
@click.option(
    "--edges",
    type=NumberList(float, 0),
    default=None,
    metavar="A,B,...",
    help="Fixed, increasing ratio edges instead of quantiles (K edges make K+1 buckets).",
)
@click.option(
    "--equal-size",
    is_flag=True,
    help="Down-sample every bucket to the smallest, so buckets differ in ratio only; the rest go to surplus.jsonl.",
)
@click.option(
    "--holdout",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=None,
    help="Hold out this fraction at random (stratified by --by); checked for leaks.",
)
@click.option(
    "--leaks",
    type=click.Choice(LEAK_ACTIONS),
    default="report",
    show_default=True,
    help="Held-out examples also found in training: report them, move them to training, or fail.",
)
@click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True)
@click.option(
    "--to",
    "to",
    type=click.Choice(EXPORT_FORMATS),
    default=None,
    help="Write a spans export format instead of copying the input records.",
)
@click.option(
    "--suffix",
    type=click.Choice(PART_SUFFIXES),
    default=".jsonl",
    show_default=True,
    help="How the part files are named, and so written: JSONL (gzip, zstd), a JSON list, or Parquet.",
)
@template_option()
@tokenizer_option()
@selection_inputs
@click.option(
    "--output",
    "-o",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder for the outputs.",
)
@click.option("--force", is_flag=True, help="Write into a folder that already holds files.")
def split(
    data: tuple[str, ...],
    fmt: str,
    role_map: tuple[str, ...],
    field_map: tuple[str, ...],
    on_error: str,
    rejects: str | None,
    report: str,
    output: str,
    force: bool,
    **options: Any,
) -> None:
    """Split DATA (several inputs are pooled) into ratio buckets and/or a held-out set.

    Writes one file per part into the folder (bucket-1.jsonl ..., holdout.jsonl,
    train.jsonl, surplus.jsonl; --suffix .parquet writes bucket-1.parquet ...) and
    manifest.json with every part's ids and length profile.
    Examples with an empty output (ratio undefined) go to the top bucket.

    \b
    imdata split alpaca.json dolly.json code.json --by ratio --buckets 4 -o buckets/
    imdata split train.json --holdout 0.1 --by source -o split/
    """  # noqa: D301 - \b is click's no-rewrap marker
    from imdata.cli._common import check_outputs, command_line, load_inputs, say
    from imdata.data.tables import render_rows
    from imdata.selection.splits import SplitOptions, check_suffix
    from imdata.selection.splits import split as run

    check_outputs({"--rejects": rejects}, force=force, also={"-o": output})
    check_suffix(options["suffix"], options["to"])
    sets = load_inputs(
        data, fmt=fmt, role_map=role_map, fields=field_map, on_error=on_error, rejects=rejects, force=force
    )
    # every option but the inputs and outputs is named like its SplitOptions field: click hands them over as one
    rep = run(sets, SplitOptions(**options), output=output, force=force, command=command_line([*data, output]))
    if rep.leaks is not None and not rep.leaks.matched:
        say(f"leak check: none of the {len(rep.parts[0].examples):,} held-out examples occur in the training side")
    for w in rep.warnings:
        say(f"warning: {w}")
    say(
        f"wrote {len(rep.parts)} parts ({sum(len(p.examples) for p in rep.parts):,} examples) and "
        f"manifest.json to {rep.output}"
    )
    click.echo(render_rows(rep.rows(), report))
