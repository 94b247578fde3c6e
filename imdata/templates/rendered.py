"""What a rendered example is: spans of a kind and turn that tile the text, and the builder templates fill.

Shared by the built-in templates (:mod:`imdata.templates.builtin`) and Jinja chat templates
(:mod:`imdata.templates.jinja`), so neither imports the other's private names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, get_args

from imdata.data.records import Example, Message

SpanKind = Literal["template", "system", "instruction", "output", "eos"]
SPAN_KINDS: tuple[str, ...] = get_args(SpanKind)

CONTENT_KIND: dict[str, SpanKind] = {
    "system": "system",
    "user": "instruction",
    "assistant": "output",
}


@dataclass(frozen=True, slots=True)
class Span:
    """A half-open character range ``[start, end)`` of the rendered text."""

    start: int
    end: int
    kind: SpanKind
    turn: int


@dataclass(frozen=True, slots=True)
class Rendered:
    """Rendered text and the spans that tile it exactly."""

    text: str
    spans: tuple[Span, ...]


class Template(Protocol):
    """What every chat template provides."""

    @property
    def name(self) -> str:
        """The template's name, as given to ``--template`` or its file name."""
        ...

    @property
    def fingerprint(self) -> str:
        """A stable hash of what the template renders, for provenance."""
        ...

    def render(self, example: Example) -> Rendered:
        """The training text of an example, with its spans."""
        ...

    def render_prompt(self, messages: Sequence[Message]) -> str:
        """The generation prompt for ``messages``, ending where the assistant would begin."""
        ...


class Builder:
    """Appends pieces, merging neighbours of the same kind and turn, then strips the ends."""

    __slots__ = ("parts",)

    def __init__(self) -> None:
        self.parts: list[tuple[str, SpanKind, int]] = []

    def add(self, text: str, kind: SpanKind, turn: int) -> None:
        """Append ``text`` of ``kind`` in ``turn``, joining it to the last piece when both match."""
        if not text:
            return
        if self.parts and self.parts[-1][1] == kind and self.parts[-1][2] == turn:
            prev = self.parts[-1]
            self.parts[-1] = (prev[0] + text, kind, turn)
        else:
            self.parts.append((text, kind, turn))

    def build(self, *, strip: bool = False) -> Rendered:
        """The pieces as a :class:`Rendered`; ``strip`` strips the whole text, shrinking the end spans."""
        parts = self.parts
        if strip:
            parts = strip_parts(parts)
        spans: list[Span] = []
        pos = 0
        for text, kind, turn in parts:
            spans.append(Span(pos, pos + len(text), kind, turn))
            pos += len(text)
        return Rendered("".join([p[0] for p in parts]), tuple(spans))


def strip_parts(parts: list[tuple[str, SpanKind, int]]) -> list[tuple[str, SpanKind, int]]:
    """Apply ``str.strip()`` to the concatenation, shrinking or dropping the end spans."""
    out = list(parts)
    while out and not out[0][0].lstrip():
        out.pop(0)
    if out:
        out[0] = (out[0][0].lstrip(), out[0][1], out[0][2])
    while out and not out[-1][0].rstrip():
        out.pop()
    if out:
        out[-1] = (out[-1][0].rstrip(), out[-1][1], out[-1][2])
    return out
