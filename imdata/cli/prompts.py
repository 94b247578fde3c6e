"""``imdata prompts``: one generation prompt per training example, for memorisation runs."""

from __future__ import annotations

import click

from imdata.choices import PROMPT_FORMS
from imdata.cli._common import (
    check_outputs,
    input_options,
    load_inputs,
    output_options,
    render_options,
    say,
    template_option,
)


@click.command()
@click.argument("train", nargs=-1, required=True)
@template_option()
@render_options
@click.option(
    "--form",
    type=click.Choice(PROMPT_FORMS),
    default="prompt",
    show_default=True,
    help='prompt: {"id", "prompt"} rendered with --template (vLLM, TGI, llama.cpp); '
    'messages: {"id", "messages"} for OpenAI-style chat APIs.',
)
@input_options
@output_options
def prompts(
    train: tuple[str, ...],
    template: str,
    eot: str | None,
    date: str | None,
    form: str,
    fmt: str,
    role_map: tuple[str, ...],
    field_map: tuple[str, ...],
    on_error: str,
    rejects: str | None,
    output: str,
    force: bool,
) -> None:
    """Write a generation prompt for each TRAIN example from its first user turn, keeping its id.

    Generate from these with greedy decoding, keep the ids in the outputs, and score them with
    `imdata memorize --train TRAIN --outputs OUTPUTS --match id`.
    """
    from imdata.export.prompt_forms import check_prompts_name
    from imdata.export.prompt_forms import prompts as write_prompts

    check_outputs({"-o": output, "--rejects": rejects}, force=force)
    check_prompts_name(output, option="-o")
    datasets = load_inputs(
        train, fmt=fmt, role_map=role_map, fields=field_map, on_error=on_error, rejects=rejects, force=force
    )
    rep = write_prompts(datasets, output=output, template=template, form=form, force=force, eot=eot, date=date)  # type: ignore[arg-type]
    left = "".join(f"; left out {n} ({reason})" for reason, n in rep.skipped.items())
    say(f"wrote {rep.written} prompts ({rep.form}, template {rep.template}) to {rep.output}{left}")
