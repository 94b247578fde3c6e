"""``imdata subset``: reproducible low-resource subsets, each with a manifest beside it."""

from __future__ import annotations

from typing import Any

import click

from imdata.choices import DEFAULT_SEED, EXPORT_FORMATS, STRATEGIES
from imdata.cli._common import output_options, template_option, tokenizer_option
from imdata.cli.overlap import NumberList, selection_inputs


@click.command()
@click.argument("data", nargs=-1, required=True)
@click.option(
    "--n",
    "n",
    type=NumberList(int, 1),
    required=True,
    metavar="N[,N...]",
    help="Subset size; several (1000,2000,5000) write one subset each.",
)
@click.option(
    "--strategy",
    "-s",
    type=click.Choice(STRATEGIES),
    default="random",
    show_default=True,
    help="random; stratified (keeps --by proportions); longest (longest outputs, ties by id); "
    "ratio (nearest --target-ratio, or inside --min/--max-ratio); score (--score-field).",
)
@click.option("--seed", type=int, default=None, help=f"Seed of the draw [default: {DEFAULT_SEED}].")
@click.option(
    "--seeds",
    type=NumberList(int, 0),
    default=None,
    metavar="S[,S...]",
    help="Write one subset per seed (and per size).",
)
@click.option("--nested", is_flag=True, help="Each size contains the smaller ones (one draw per seed).")
@click.option(
    "--by",
    default=None,
    help="stratified: the field to keep proportions of (source, or a record field).",
)
@click.option(
    "--target-ratio",
    type=click.FloatRange(0, min_open=True),
    default=None,
    help="ratio: take the examples whose instruction/output ratio is nearest this.",
)
@click.option("--min-ratio", type=click.FloatRange(0), default=None, help="ratio: keep ratios >= this.")
@click.option("--max-ratio", type=click.FloatRange(0), default=None, help="ratio: keep ratios <= this.")
@click.option("--score-field", default=None, help="score: the record field holding the rating.")
@click.option("--min-score", type=float, default=None, help="score: keep examples rated at least this.")
@click.option("--strict", is_flag=True, help="Fail if fewer examples are eligible than --n asks for.")
@click.option(
    "--to",
    "to",
    type=click.Choice(EXPORT_FORMATS),
    default=None,
    help="Write a spans export format instead of copying the input records.",
)
@template_option()
@tokenizer_option()
@selection_inputs
@output_options
def subset(
    data: tuple[str, ...],
    seed: int | None,
    seeds: list[int] | None,
    fmt: str,
    role_map: tuple[str, ...],
    field_map: tuple[str, ...],
    on_error: str,
    rejects: str | None,
    report: str,
    output: str,
    force: bool,
    **selection: Any,
) -> None:
    """Select N examples of DATA (several inputs are pooled) and write them with a manifest.

    OUT's name says the format: .jsonl (.jsonl.gz, .jsonl.zst compressed), .json (a list)
    or .parquet. Several sizes or seeds write OUT-n1000-seed1.jsonl and so on; each output has
    OUT.subset.json beside it (strategy, parameters, seed, input fingerprints, ids,
    length profile of the subset and of the parent). Same inputs and seed, same bytes.

    \b
    imdata subset random_9k.json --n 1000 -o sub.jsonl
    imdata subset random_9k.json --n 1000,2000,5000 --nested --seeds 1,2,3 -o sah.jsonl
    imdata subset a.json b.json --n 1000 --strategy stratified --by source -o mix.jsonl
    """  # noqa: D301 - \b is click's no-rewrap marker
    from imdata.cli._common import check_outputs, command_line, load_inputs, say
    from imdata.data.tables import render_rows
    from imdata.selection.manifest import check_copy_name, manifest_path
    from imdata.selection.subsets import SubsetOptions, score_check
    from imdata.selection.subsets import subset as select

    if seed is not None and seeds is not None:
        raise click.UsageError("give --seed or --seeds, not both")
    # every other option is named like its SubsetOptions field, so click hands them over as one
    options = SubsetOptions(seed=seeds or (DEFAULT_SEED if seed is None else seed), **selection)
    check_outputs({"--rejects": rejects}, force=force, also={"-o": output})
    check_copy_name(output, to=options.to, option="-o", command="subset")
    check = score_check(options.score_field) if options.strategy == "score" and options.score_field else None
    sets = load_inputs(data, fmt=fmt, role_map=role_map, fields=field_map, on_error=on_error, rejects=rejects,
                       force=force, check=check)  # fmt: skip
    rep = select(sets, options, output=output, force=force, command=command_line([*data, output]))
    for w in rep.warnings:
        say(f"warning: {w}")
    for s in rep.subsets:
        say(f"wrote {len(s.examples):,} examples to {s.output} (manifest {manifest_path(str(s.output), 'subset')})")
    click.echo(render_rows(rep.rows(), report))
