"""``imdata audit``: check the loss mask a trainer really built."""

from __future__ import annotations

import click

from imdata.choices import ALIGNS, AUDIT_FORMATS, LOSS_MODES
from imdata.cli._common import input_options, load_inputs, say, template_option, tokenizer_option


@click.command()
@click.argument("labels")
@click.option("--source", "-s", required=True, help="The conversations the labels were made from.")
@template_option()
@tokenizer_option(required=True)
@click.option(
    "--expect", type=click.Choice(LOSS_MODES), default=None, help="Exit 1 unless the labels implement this mode."
)
@click.option("--mask-column", default=None, help="Read this 0/1 loss-mask column instead of `labels`.")
@click.option("--align", type=click.Choice(ALIGNS), default="auto", show_default=True, help="Match rows to examples.")
@click.option("--format", "report", type=click.Choice(AUDIT_FORMATS), default="table", show_default=True)
@click.option("--html", "html_out", type=click.Path(dir_okay=False), default=None, help="Write the worst examples.")
@click.option("--worst", type=click.IntRange(min=1), default=5, show_default=True, help="Examples in --html.")
@click.option("--force", is_flag=True, help="Overwrite an existing --html file.")
@input_options
def audit(labels: str, source: str, template: str, tokenizer: str, expect: str | None, mask_column: str | None,
          align: str, report: str, html_out: str | None, worst: int, force: bool, fmt: str,
          role_map: tuple[str, ...], field_map: tuple[str, ...], on_error: str,
          rejects: str | None) -> None:  # fmt: skip
    """Audit the loss mask in LABELS (input_ids + labels or a 0/1 mask) against the spans of --source.

    \b
    imdata audit train_im/ --source train.jsonl -k tokenizer.json --expect im
    imdata audit sft.parquet --source train.jsonl -t chat.jinja -k tok/ --mask-column assistant_masks
    """  # noqa: D301 - \b is click's no-rewrap marker
    from imdata.data.files import atomic_output
    from imdata.reports.audit_text import render, render_html
    from imdata.reports.mask_audit import audit as run_audit

    (ds,) = load_inputs((source,), fmt=fmt, role_map=role_map, fields=field_map, on_error=on_error, rejects=rejects)
    result = run_audit(labels, source=ds, tokenizer=tokenizer, template=template, expect=expect,  # type: ignore[arg-type]
                       mask_column=mask_column, align=align, worst=worst if html_out else 0)  # type: ignore[arg-type]  # fmt: skip
    click.echo(render(result, report))
    if html_out:
        with atomic_output(html_out, force=force) as fh:
            fh.write(render_html(result))
        say(f"wrote {html_out}")
    if expect and not result.passed:
        raise click.ClickException(
            f"the labels are not {expect}: {result.findings:,} findings; they are {result.description}"
        )
