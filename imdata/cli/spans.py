"""``imdata spans``: span-annotated JSONL and trainer exports."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from imdata.choices import EXPORT_FORMATS, LOSS_MODES
from imdata.cli._common import (
    check_outputs,
    input_options,
    open_inputs,
    output_options,
    render_options,
    report_skips,
    say,
    template_option,
    tokenizer_option,
)
from imdata.cli.profile import engine_options

if TYPE_CHECKING:
    from imdata.export.exporter import ExportReport


@click.command()
@click.argument("data", nargs=-1, required=True)
@template_option()
@render_options
@tokenizer_option()
@click.option(
    "--mode",
    "-m",
    type=click.Choice(LOSS_MODES),
    default="im",
    show_default=True,
    help="Which tokens carry the loss: it (output), im (instruction + output), all.",
)
@click.option(
    "--to",
    "to",
    type=click.Choice(EXPORT_FORMATS),
    default="spans",
    show_default=True,
    help="spans: imdata's span JSONL; hf: input_ids/labels (JSONL, or a datasets folder "
    "if OUTPUT has no .jsonl suffix); axolotl: input_output segments; messages: open-instruct.",
)
@click.option(
    "--max-length",
    type=click.IntRange(min=1),
    default=None,
    help="Truncate to this many tokens (needs --tokenizer); the cut is reported.",
)
@input_options
@engine_options
@output_options
def spans(
    data: tuple[str, ...],
    template: str,
    eot: str | None,
    date: str | None,
    tokenizer: str | None,
    mode: str,
    to: str,
    max_length: int | None,
    fmt: str,
    role_map: tuple[str, ...],
    field_map: tuple[str, ...],
    on_error: str,
    rejects: str | None,
    engine: str,
    spill: str | None,
    output: str,
    force: bool,
) -> None:
    """Render DATA with a chat template and write spans (and labels) for a trainer.

    \b
    imdata spans train.jsonl -o train.spans.jsonl
    imdata spans train.jsonl -k tokenizer.json --mode im --to hf -o train_im/
    """  # noqa: D301 - \b is click's no-rewrap marker
    from imdata.export.exporter import check_spans_name
    from imdata.export.exporter import spans as export_spans

    manifest = output + ".manifest.json"
    outputs = {"-o": output, "manifest": manifest, "--rejects": rejects}
    check_outputs(outputs, force=force, folders=("-o",) if to == "hf" else ())
    check_spans_name(output, to=to, option="-o")
    if engine == "ray":
        report = _on_ray(data, locals())
    else:
        stream = open_inputs(data, fmt=fmt, role_map=role_map, fields=field_map, on_error=on_error)
        report = export_spans(
            stream,
            output=output,
            template=template,
            tokenizer=tokenizer,
            mode=mode,  # type: ignore[arg-type]
            to=to,  # type: ignore[arg-type]
            max_length=max_length,
            force=force,
            eot=eot,
            date=date,
        )
        report_skips(stream.logs, rejects=rejects, force=force)
    _say_report(report, max_length)


def _say_report(report: ExportReport, max_length: int | None) -> None:
    """What was written, and every warning the export noticed, on stderr."""
    trained = (
        f", {report.trained_tokens:,} of {report.tokens:,} tokens trained ({report.mode})" if report.tokens else ""
    )
    say(f"wrote {report.examples:,} examples to {report.output}{trained}")
    if report.truncated_examples:
        say(
            f"{report.truncated_examples:,} examples truncated to {max_length} tokens, "
            f"losing {report.truncated_trained_tokens:,} trained tokens"
        )
    if report.straddling_tokens:
        say(f"{report.straddling_tokens:,} tokens straddle a span boundary (each belongs to the content it touches)")
    if report.marker_examples:
        say(
            f"warning: {len(report.marker_examples):,} examples contain the template's own markers or EOS "
            f"inside their text (first: {report.marker_examples[0]}); the spans stay exact, but the model "
            "will read a fake turn boundary there"
        )
    if report.content_special_tokens:
        say(
            f"{report.content_special_tokens:,} special-token strings inside message content (e.g. </s>) "
            "were encoded as plain text, not as control tokens"
        )
    if report.turns_without_eot:
        say(
            f"warning: {report.turns_without_eot:,} assistant turns end with no end-of-turn marker "
            f"(first: {report.examples_without_eot[0]}); the model does not learn to stop there. "
            "Name the marker with --eot if the template writes one"
        )
    if report.zero_trained:
        say(
            f"warning: {len(report.zero_trained)} examples have no trained token "
            f"(first: {report.zero_trained[0]}); they teach the model nothing"
        )


def _on_ray(data: tuple[str, ...], opts: dict[str, Any]) -> Any:
    """The per-example stage on Ray Data; loading's skips are said and written as for local."""
    from imdata.data.dataset import SkipLog, parse_role_map
    from imdata.engine.runner import spans as ray_spans

    if opts["field_map"]:
        raise click.UsageError("--field is read by --engine local only")
    keys = ("output", "spill", "template", "tokenizer", "mode", "to", "max_length", "force", "on_error", "eot", "date")
    report, logs = ray_spans(
        list(data), format=opts["fmt"], role_map=parse_role_map(opts["role_map"]), **{k: opts[k] for k in keys}
    )
    for path, log in zip(data, logs, strict=True):
        if log.total or log.warnings:
            say(f"{path}: {log.summary()}")
    if opts["rejects"]:
        SkipLog([r for log in logs for r in log.rejected]).write(opts["rejects"], force=opts["force"])
    return report
