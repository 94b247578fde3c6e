"""Checks every export passes before a byte is written.

* the spans tile the text exactly (no gap, no overlap, nothing empty);
* with a tokenizer, on every example: token offsets run forward, and tokens that cross a
  span boundary (*straddling*, given to the content they touch, see :mod:`imdata.labels.labelling`)
  are counted so a user sees how many there are;
* with a tokenizer, on the first 64 examples and every 50th after: the tokens cover every
  non-whitespace character in order, which catches a tokenizer whose normaliser drops or
  rewrites text (its labels could not be trusted). It is a property of the tokenizer, so a
  sample finds it;
* examples left with zero trained tokens are counted (the caller warns).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imdata.errors import ImdataError
from imdata.labels.labelling import SPECIAL, Tokenized
from imdata.templates.rendered import SPAN_KINDS, Rendered


class VerificationError(ImdataError):
    """An export failed its own checks: a bug in a template or tokenizer handling."""


def check_tiling(rendered: Rendered, example_id: str) -> None:
    """Raise unless the spans tile ``rendered.text`` exactly."""
    pos = 0
    for s in rendered.spans:
        if s.start != pos or s.end <= s.start or s.kind not in SPAN_KINDS:
            raise VerificationError(
                f"example {example_id!r}: spans do not tile the text at character {pos} "
                f"(span {s.start}-{s.end} {s.kind}); please report this with the template used"
            )
        pos = s.end
    if pos != len(rendered.text):
        raise VerificationError(
            f"example {example_id!r}: spans end at {pos} but the text has {len(rendered.text)} characters"
        )


@dataclass(frozen=True, slots=True)
class TokenCheck:
    """What the token check found in one example."""

    straddling: int


def marker_in_content(rendered: Rendered, eos: str | None) -> str | None:
    """A template marker (a header line, or the EOS string) found inside message content.

    The spans stay exact, so the labels are right; but the model reads a fake turn boundary
    there (and an EOS string inside an output tokenizes to a real EOS mid-answer), which is
    worth a warning.
    """
    text = rendered.text
    markers = {
        line.strip()
        for s in rendered.spans
        if s.kind == "template"
        for line in text[s.start : s.end].splitlines()
        if len(line.strip()) >= 3
    }
    if eos:
        markers.add(eos)
    for s in rendered.spans:
        if s.kind in ("system", "instruction", "output"):
            piece = text[s.start : s.end]
            for m in markers:
                if m in piece:
                    return m
    return None


def turns_without_eot(rendered: Rendered) -> int:
    """How many assistant turns have no end-of-turn marker (``eos`` span) after them."""
    outputs = {s.turn for s in rendered.spans if s.kind == "output"}
    closed = {s.turn for s in rendered.spans if s.kind == "eos"}
    return len(outputs - closed)


def full_check_due(index: int) -> bool:
    """Whether example ``index`` (0-based, in export order) gets the full coverage check."""
    return index < 64 or index % 50 == 0


def check_tokens(tz: Tokenized, *, full: bool) -> TokenCheck:
    """Check one tokenized example; ``full`` adds the character-coverage check."""
    spans = tz.rendered.spans
    off = tz.offsets
    real = tz.kinds != SPECIAL
    starts, ends = off[real, 0], off[real, 1]
    if starts.size and (np.any(np.diff(starts) < 0) or np.any(ends < starts)):
        raise VerificationError(
            f"example {tz.example.id!r}: token offsets go backwards; the tokenizer's offsets are unusable"
        )
    if full:
        _check_coverage(tz, starts, ends)
    if not spans or not starts.size:
        return TokenCheck(0)
    bounds = np.array([s.end for s in spans], dtype=np.int64)
    first = np.searchsorted(bounds, starts, side="right")
    last = np.searchsorted(bounds, np.maximum(ends - 1, starts), side="right")
    return TokenCheck(int(np.count_nonzero(first != last)))


def _check_coverage(tz: Tokenized, starts: np.ndarray, ends: np.ndarray) -> None:
    text = tz.rendered.text
    if not starts.size:
        return
    # characters no token covers: the gaps between the running maximum of ends and the next start
    reach = np.maximum.accumulate(ends)
    gap_from = np.concatenate(([0], reach))
    # truncated: text past the last kept token is cut, not dropped (none left, e.g. only BOS: all of it)
    cut = int(reach[-1]) if reach.size else 0
    gap_to = np.concatenate((starts, [len(text)])) if not tz.truncated else np.concatenate((starts, [cut]))
    for a, z in zip(gap_from[gap_to > gap_from], gap_to[gap_to > gap_from], strict=True):
        hole = text[int(a) : int(z)]
        if hole.strip():
            k = int(a) + len(hole) - len(hole.lstrip())
            raise VerificationError(
                f"example {tz.example.id!r}: character {k} ({text[k]!r}) is in no token; the tokenizer drops "
                "text (a normaliser?) so its labels cannot be trusted"
            )
