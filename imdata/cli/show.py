"""``imdata show``: check a mask by eye."""

from __future__ import annotations

import click

from imdata.choices import LOSS_MODES
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
@click.option(
    "--index",
    "-i",
    type=click.IntRange(min=0),
    default=None,
    help="0-based position of the example.",
)
@click.option("--id", "ident", default=None, help="The example's id.")
@template_option()
@render_options
@tokenizer_option()
@click.option("--mode", "-m", type=click.Choice(LOSS_MODES), default="im", show_default=True)
@click.option(
    "--html",
    "html_out",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also write a self-contained HTML page here.",
)
@click.option(
    "--color/--no-color",
    default=None,
    help="Colour the terminal view (default: when stdout is a terminal).",
)
@click.option("--force", is_flag=True, help="Overwrite an existing --html file.")
@input_options
def show(
    data: str,
    index: int | None,
    ident: str | None,
    template: str,
    eot: str | None,
    date: str | None,
    tokenizer: str | None,
    mode: str,
    html_out: str | None,
    color: bool | None,
    force: bool,
    fmt: str,
    role_map: tuple[str, ...],
    field_map: tuple[str, ...],
    on_error: str,
    rejects: str | None,
) -> None:
    """Print one example of DATA with each token coloured by span kind and by trained / masked.

    \b
    imdata show train.jsonl --index 3 -k tokenizer.json --mode im
    imdata show train.jsonl --id lima_7 -k tokenizer.json --html mask.html
    """  # noqa: D301 - \b is click's no-rewrap marker
    import sys

    from imdata.data.files import atomic_output
    from imdata.reports.span_view import render_html, render_terminal
    from imdata.reports.span_view import show as build

    if index is not None and ident is not None:
        raise click.UsageError("give --index or --id, not both")
    check_outputs({"--html": html_out, "--rejects": rejects}, force=force)
    (ds,) = load_inputs((data,), fmt=fmt, role_map=role_map, fields=field_map, on_error=on_error, rejects=rejects)
    view = build(ds, index=index, id=ident, template=template, tokenizer=tokenizer, mode=mode, eot=eot, date=date)  # type: ignore[arg-type]
    use_color = sys.stdout.isatty() if color is None else color
    click.echo(render_terminal(view, color=use_color), color=use_color)
    if html_out:
        with atomic_output(html_out, force=force) as fh:
            fh.write(render_html(view))
        say(f"wrote {html_out}")
