"""``imdata overlap``: which examples of A also occur in B (exactly or as near-duplicates).

Also holds the options that ``subset``, ``split`` and ``overlap`` share: their ``--format``
is the report's format, so the record format of the inputs is ``--input-format``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from imdata.cli._common import input_options, report_format_option

F = TypeVar("F", bound=Callable[..., Any])


class NumberList(click.ParamType):  # type: ignore[type-arg]
    """A comma-separated list of numbers, e.g. ``1000,2000,5000``; bad values exit 2."""

    name = "list"

    def __init__(self, kind: type = int, minimum: float | None = None) -> None:
        self.kind, self.minimum = kind, minimum

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """Parse ``"1,2,3"`` into numbers, failing with a usage error (exit 2)."""
        if isinstance(value, list):
            return value
        out = []
        for part in str(value).split(","):
            try:
                v = self.kind(part.strip())
            except ValueError:
                self.fail(
                    f"{part.strip()!r} is not a {self.kind.__name__}; use e.g. 1000,2000",
                    param,
                    ctx,
                )
            if self.minimum is not None and v < self.minimum:
                self.fail(f"{v} is below the minimum {self.minimum}", param, ctx)
            if isinstance(v, int) and v >= 1 << 63:
                self.fail(f"{v} is too large (at most {(1 << 63) - 1})", param, ctx)
            out.append(v)
        return out


def selection_inputs(f: F) -> F:
    """The shared input options plus ``--format`` (report)."""
    return report_format_option()(input_options(f))


@click.command()
@click.argument("a")
@click.argument("b", nargs=-1, required=True)
@click.option(
    "--threshold",
    type=click.FloatRange(0, 1, min_open=True),
    default=0.8,
    show_default=True,
    help="n-gram containment (of the smaller example in the larger) that counts as a match.",
)
@click.option(
    "--ngram",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="n-gram length in words.",
)
@click.option(
    "--fields",
    type=click.Choice(["both", "instruction", "output"]),
    default="both",
    show_default=True,
    help="Compare instructions and outputs together, or one of them only.",
)
@click.option(
    "--show",
    "show_pairs",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    help="How many pairs the table and markdown reports list (json and csv list all).",
)
@selection_inputs
def overlap(
    a: str,
    b: tuple[str, ...],
    threshold: float,
    ngram: int,
    fields: str,
    show_pairs: int,
    fmt: str,
    role_map: tuple[str, ...],
    field_map: tuple[str, ...],
    on_error: str,
    rejects: str | None,
    report: str,
) -> None:
    """Find the examples of A that also occur in B (several B files are searched together).

    Matches are exact after normalisation (case, whitespace, punctuation), or near-duplicates
    by word n-gram containment over instruction and output, which sees through prompt
    wrappers such as "Instruction: ...".
    `--format json` gives {"matched", "examples", "pairs", ...}.

    \b
    imdata overlap test.jsonl train.jsonl
    imdata overlap alpaca_5k.json claude_t45.json dolly_3k.json --format json
    """  # noqa: D301 - \b is click's no-rewrap marker
    from imdata.cli._common import load_inputs, say
    from imdata.data.tables import render_rows
    from imdata.selection.overlaps import overlap as find

    sets = load_inputs((a, *b), fmt=fmt, role_map=role_map, fields=field_map, on_error=on_error, rejects=rejects)
    chosen = ("instruction", "output") if fields == "both" else (fields,)
    rep = find(sets[0], sets[1:], threshold=threshold, ngram=ngram, fields=chosen)  # type: ignore[arg-type]
    say(
        f"{rep.matched:,} of {rep.examples:,} examples of {rep.a} found in {', '.join(rep.b)} "
        f"({rep.exact:,} exact, {rep.near:,} near); scored {rep.candidates_scored:,} candidate "
        f"pairs instead of all {rep.naive_pairs:,}"
    )
    if report == "json":
        click.echo(_json(rep.to_dict()))
    elif report == "csv":
        rows = [p.to_dict() for p in rep.pairs]
        click.echo(render_rows(rows, "csv") if rows else "a,b,b_input,instruction,kind,output,score")
    else:
        click.echo(render_rows(rep.summary_rows(), report))
        if rep.pairs and show_pairs:
            click.echo("")
            click.echo(render_rows([p.to_dict() for p in rep.pairs[:show_pairs]], report))


def _json(obj: Any) -> str:
    import orjson

    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2).decode()
