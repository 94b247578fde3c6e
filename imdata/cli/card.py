"""``imdata card``: write a data card (markdown and figures) for one dataset."""

from __future__ import annotations

import click

from imdata.cli._common import (
    check_outputs,
    input_options,
    load_inputs,
    render_options,
    say,
    template_option,
    tokenizer_option,
)


@click.command()
@click.argument("data")
@click.option("--name", default=None, help="The card's name. [default: the file name without extensions]")
@click.option("--license", "license_", default=None, help="The data's licence, printed as given.")
@click.option("--source", default=None, metavar="URL", help="Where the data comes from, printed as given.")
@click.option("--description", default=None, help="One paragraph on what the data is.")
@tokenizer_option()
@template_option()
@render_options
@click.option(
    "--max-length",
    "max_lengths",
    type=click.IntRange(1),
    multiple=True,
    help="Report truncation at these max lengths (repeatable). [default: 512, 1024, 2048, 4096]",
)
@click.option(
    "--overlap",
    "overlaps",
    multiple=True,
    metavar="FILE",
    help="Count this set's examples that occur in FILE (repeatable; imdata overlap).",
)
@click.option(
    "--card-template",
    type=click.Path(dir_okay=False),
    default=None,
    help="A Jinja markdown template to render instead of the built-in one.",
)
@click.option("--no-plots", is_flag=True, help="Write the card without its figures.")
@input_options
@click.option("--output", "-o", required=True, type=click.Path(), help="The card's markdown file, e.g. cards/NAME.md.")
@click.option("--force", is_flag=True, help="Overwrite an existing card and its figures.")
def card(
    data: str,
    name: str | None,
    license_: str | None,
    source: str | None,
    description: str | None,
    tokenizer: str | None,
    template: str,
    eot: str | None,
    date: str | None,
    max_lengths: tuple[int, ...],
    overlaps: tuple[str, ...],
    card_template: str | None,
    no_plots: bool,
    fmt: str,
    role_map: tuple[str, ...],
    field_map: tuple[str, ...],
    on_error: str,
    rejects: str | None,
    output: str,
    force: bool,
) -> None:
    """Write a data card for DATA: size, licence, lengths, ratio, trained tokens, truncation.

    imdata card lima_data.jsonl --name lima --license "CC BY-NC-SA" -k tokenizer.json -o cards/lima.md

    Figures go to a folder named after the card (cards/lima/). Statistics only: no example
    text is written.
    """
    from imdata.labels.tokens import load_tokenizer
    from imdata.reports.dataset_card import MAX_LENGTHS, check_options, write_card
    from imdata.reports.dataset_card import card as make_card

    check_outputs({"-o": output, "--rejects": rejects}, force=force)
    # options are checked before any reading, so a typo leaves no rejects file behind
    check_options(template, eot=eot, date=date, max_lengths=max_lengths or MAX_LENGTHS)
    tok = load_tokenizer(tokenizer) if tokenizer else None
    (ds,) = load_inputs(
        (data,), fmt=fmt, role_map=role_map, fields=field_map, on_error=on_error, rejects=rejects, force=force
    )
    c = make_card(
        ds,
        name=name,
        license=license_,
        source=source,
        description=description,
        tokenizer=tok,
        template=template,
        max_lengths=max_lengths or MAX_LENGTHS,
        overlap=list(overlaps),
        eot=eot,
        date=date,
    )
    paths = write_card(c, output, template_file=card_template, plots=not no_plots, force=force)
    say(f"wrote the card for {c.name} ({c.word_summary.examples:,} examples) to {paths[0]}")
    if len(paths) > 1:
        say(f"figures in {paths[1].parent}")
