"""Per-example lengths in the paper's unit (words) and in tokens, from rendered spans.

**Words** follow the paper's Table 5 exactly: whitespace-separated words of each message as
the template renders it (header, content and EOS together, so a tulu role tag counts as one
word and an EOS glued to the last word adds none); instruction = all system and user
messages, output = all assistant messages. Template words are the words of template spans
alone (informational; in the paper's unit they are already inside the two lengths).

**Tokens** are counted per span kind with the same straddling rule as the labels:
instruction = system + instruction tokens, output = output + EOS tokens, template =
template tokens, total = every token including BOS.

>>> from imdata.records import Example
>>> from imdata.templates import get_template
>>> r = get_template("tulu").render(Example.from_pairs("x", [("user", "Hi you"), ("assistant", "Yo")]))
>>> word_lengths(r, roles=("user", "assistant"))
Lengths(instruction=3, output=2, template=2, total=5)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from imdata.spans import KIND_CODE, SPECIAL
from imdata.templates import Rendered


class Lengths(NamedTuple):
    """One example's lengths in one unit."""

    instruction: int
    output: int
    template: int
    total: int


def word_lengths(rendered: Rendered, roles: Sequence[str]) -> Lengths:
    """Paper-convention word lengths; ``roles[i]`` is the role of message ``i``."""
    text = rendered.text
    per_turn: dict[int, list[str]] = {}
    template_words = 0
    for s in rendered.spans:
        piece = text[s.start : s.end]
        per_turn.setdefault(s.turn, []).append(piece)
        if s.kind == "template":
            template_words += len(piece.split())
    instruction = output = 0
    for turn, pieces in per_turn.items():
        n = len("".join(pieces).split())
        if turn < len(roles) and roles[turn] == "assistant":
            output += n
        else:
            instruction += n
    return Lengths(instruction, output, template_words, instruction + output)


_INSTR = (KIND_CODE["system"], KIND_CODE["instruction"])
_OUT = (KIND_CODE["output"], KIND_CODE["eos"])


def token_lengths(kinds: np.ndarray) -> Lengths:
    """Token lengths from the per-token kind codes of :func:`imdata.spans.token_kinds`."""
    counts = np.bincount(kinds.astype(np.int64) + 1, minlength=len(KIND_CODE) + 1)  # +1: SPECIAL is -1
    instr = int(sum(counts[c + 1] for c in _INSTR))
    out = int(sum(counts[c + 1] for c in _OUT))
    tmpl = int(counts[KIND_CODE["template"] + 1])
    return Lengths(instr, out, tmpl, int(counts.sum()))


def char_lengths(rendered: Rendered) -> Lengths:
    """Character lengths per kind group (instruction, output incl. EOS, template)."""
    instr = out = tmpl = 0
    for s in rendered.spans:
        n = s.end - s.start
        if s.kind in ("system", "instruction"):
            instr += n
        elif s.kind in ("output", "eos"):
            out += n
        else:
            tmpl += n
    return Lengths(instr, out, tmpl, instr + out + tmpl)


__all__ = ["Lengths", "word_lengths", "token_lengths", "char_lengths", "SPECIAL"]
