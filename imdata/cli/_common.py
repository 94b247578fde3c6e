"""Options shared by several commands, declared once."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import click

from imdata.data.dataset import FORMAT_CHOICES, ON_ERROR, Dataset, SkipLog, Stream, load, parse_role_map
from imdata.data.formats import parse_fields
from imdata.data.records import Example
from imdata.errors import OutputError

F = TypeVar("F", bound=Callable[..., Any])


def input_options(f: F) -> F:
    """How inputs are read: ``--input-format``, ``--field``, ``--role-map``, ``--on-error``, ``--rejects``, ``-q``."""
    f = click.option(
        "--quiet",
        "-q",
        is_flag=True,
        expose_value=False,
        is_eager=True,
        callback=_quiet,
        help="No progress on stderr (warnings and the summary still go there).",
    )(f)
    f = click.option(
        "--rejects",
        type=click.Path(dir_okay=False),
        default=None,
        help="With --on-error skip: write the skipped records (and why) to this JSONL file.",
    )(f)
    f = click.option(
        "--on-error",
        type=click.Choice(ON_ERROR),
        default="skip",
        show_default=True,
        help="skip: leave bad records out, count them by reason and go on; raise: stop at the first.",
    )(f)
    f = click.option(
        "--field",
        "field_map",
        multiple=True,
        metavar="KIND=NAME",
        help="Read the inputs' own field names (repeatable): instruction, input, output, messages, role, "
        "content or id = the name in the file, e.g. --field instruction=question --field output=answer.",
    )(f)
    f = click.option(
        "--role-map",
        multiple=True,
        metavar="FROM=TO",
        help="Map a source role to system|user|assistant (repeatable), e.g. narrator=system.",
    )(f)
    f = click.option(
        "--input-format",
        "fmt",
        type=click.Choice(FORMAT_CHOICES),
        default="auto",
        show_default=True,
        help="Record format of the inputs; detected from the fields by default.",
    )(f)
    return f


def _quiet(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    from imdata.cli._progress import set_quiet

    set_quiet(value)


def report_format_option(dest: str = "report") -> Callable[[F], F]:
    """``--format table|json|csv|markdown``: how a report is written on stdout."""
    from imdata.choices import REPORT_FORMATS

    return click.option(
        "--format",
        dest,
        type=click.Choice(REPORT_FORMATS),
        default="table",
        show_default=True,
        help="How the report on stdout is written.",
    )


def template_option(default: str | None = "tulu") -> Callable[[F], F]:
    """``--template``: a built-in name or a Hugging Face chat template file/folder."""
    return click.option(
        "--template",
        "-t",
        default=default,
        show_default=default is not None,
        required=default is None,
        help="tulu, alpaca, chatml, llama2, vicuna, or a tokenizer_config.json / .jinja file / folder.",
    )


def render_options(f: F) -> F:
    """``--eot`` and ``--date``: how a chat template renders, beyond its name."""
    f = click.option(
        "--date",
        default=None,
        metavar="YYYY-MM-DD",
        help="The day strftime_now reports in Jinja templates (default 2024-07-26, fixed, so the "
        "same command gives the same bytes any day); recorded in the provenance.",
    )(f)
    f = click.option(
        "--eot",
        default=None,
        metavar="STRING",
        help="The end-of-turn marker after an assistant turn (trained under it and im). Default: "
        "found in the template (<|eot_id|>, <|im_end|>, <end_of_turn>, ...); built-ins write the "
        "tokenizer's EOS.",
    )(f)
    return f


def tokenizer_option(required: bool = False) -> Callable[[F], F]:
    """``--tokenizer``: a tokenizer.json, a folder holding one, or a hub id."""
    # click 8.3+ counts an explicit default=None as a value, so a required option gets none
    extra: dict[str, Any] = {} if required else {"default": None}
    return click.option(
        "--tokenizer",
        "-k",
        "tokenizer",
        required=required,
        callback=_check_tokenizer,
        help="tokenizer.json file, a folder with one, or a hub id owner/name (online only).",
        **extra,
    )


def _check_tokenizer(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A missing local path fails at once, before any data is read or anything is sent to the hub."""
    import os

    from imdata.errors import TokenizerError
    from imdata.labels.tokens import looks_like_path

    if value and looks_like_path(value) and not os.path.exists(os.path.expanduser(value)):
        # the library's own error, so the message is the one line load_tokenizer would give
        raise TokenizerError(f"{value}: no such tokenizer file or folder; check the path (a hub id is owner/name)")
    return value


def output_options(f: F) -> F:
    """``-o/--output`` and ``--force``."""
    f = click.option("--force", is_flag=True, help="Overwrite existing outputs.")(f)
    f = click.option("--output", "-o", required=True, type=click.Path(), help="Where to write the result.")(f)
    return f


def check_outputs(
    outputs: Mapping[str, str | None],
    *,
    force: bool,
    folders: tuple[str, ...] = (),
    also: Mapping[str, str | None] = {},
) -> None:
    """Check every destination before any work (see :mod:`imdata.data.atomic`).

    ``outputs`` maps an option (``-o``, ``manifest``, ``--rejects``) to its path; ``also``
    holds paths that only must differ from those (e.g. a name that several outputs derive from).
    """
    from imdata.data.atomic import check_destinations, same_path
    from imdata.data.dataset import check_rejects_name

    check_destinations(outputs, force=force, folders=folders)
    if outputs.get("--rejects"):
        check_rejects_name(str(outputs["--rejects"]))
    for option, path in (also or {}).items():
        for other, taken in outputs.items():
            if path is not None and taken is not None and same_path(path, taken):
                raise OutputError(f"{other} {taken}: is also {option}; give each output its own path")


def load_inputs(
    paths: tuple[str, ...],
    *,
    fmt: str,
    role_map: tuple[str, ...],
    on_error: str,
    rejects: str | None,
    force: bool = False,
    fields: tuple[str, ...] = (),
    check: Callable[[Example], object] | None = None,
) -> list[Dataset]:
    """Load every input, say what was skipped on stderr, and write the rejects file if asked.

    ``check`` is called on every example (see :func:`imdata.data.dataset.load`).
    """
    from imdata.cli._progress import Progress

    check_outputs({"--rejects": rejects}, force=force)
    roles = parse_role_map(role_map)
    fmap = parse_fields(fields)
    bar = Progress("reading")
    try:
        datasets = [
            load(p, format=fmt, role_map=roles, on_error=on_error, fields=fmap, on_progress=bar, check=check)  # type: ignore[arg-type]
            for p in paths
        ]
    finally:
        bar.close()
    report_skips({ds.path: ds.skipped for ds in datasets}, rejects=rejects, force=force)
    return datasets


def open_inputs(
    paths: tuple[str, ...], *, fmt: str, role_map: tuple[str, ...], on_error: str, fields: tuple[str, ...] = ()
) -> Stream:
    """The inputs as a lazy stream; call :func:`report_skips` with ``stream.logs`` once it is read."""
    from imdata.cli._progress import Progress

    return Stream(
        paths,
        format=fmt,  # type: ignore[arg-type]
        role_map=parse_role_map(role_map),
        on_error=on_error,  # type: ignore[arg-type]
        fields=parse_fields(fields),
        on_progress=Progress("reading"),
    )


def report_skips(logs: Mapping[str, SkipLog], *, rejects: str | None, force: bool) -> None:
    """Say what each input skipped or flagged, and write the rejects file if asked."""
    for path, log in logs.items():
        if log.total or log.warnings:
            say(f"{path}: {log.summary()}")
    if rejects:
        merged = SkipLog([r for log in logs.values() for r in log.rejected])
        merged.write(rejects, force=force)
        say(f"wrote {merged.total} rejected records to {rejects}")


def say(message: str) -> None:
    """Talk to the user on stderr (stdout is data), after any progress bar has ended."""
    from imdata.cli._progress import close_all

    close_all()
    click.echo(message, err=True)


def command_line(paths: tuple[str, ...] | list[str] = ()) -> str:
    """The current command as a line to reproduce it, with ``paths`` written as file names.

    Built from the parsed options (those that differ from their defaults), so a manifest
    says the same for ``x``, ``./x`` and ``/abs/x``.
    """
    import shlex
    from pathlib import Path

    ctx = click.get_current_context()
    short = {p: Path(p).name for p in paths if p}

    def text(v: Any) -> str:
        if isinstance(v, list | tuple):
            return ",".join(str(x) for x in v)
        return short.get(str(v), str(v))

    args: list[str] = []
    opts: list[str] = []
    for p in ctx.command.params:
        value = ctx.params.get(p.name or "")
        if isinstance(p, click.Argument):
            args += [text(v) for v in (value if isinstance(value, tuple) else (value,)) if v is not None]
            continue
        if not isinstance(p, click.Option) or p.expose_value is False or value in (None, False, ()):
            continue
        if value == p.default and not p.required:
            continue
        flag = max(p.opts, key=len)
        if p.is_flag:
            opts.append(flag)
        elif p.multiple:
            for v in value:
                opts += [flag, text(v)]
        else:
            opts += [flag, text(value)]
    return shlex.join(["imdata", ctx.info_name or "", *args, *opts])
