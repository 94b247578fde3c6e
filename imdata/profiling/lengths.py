"""Per-example lengths in the paper's unit (words) and in tokens, from rendered spans.

**Words** follow the paper's Table 5 exactly: whitespace-separated words of each message as
the template renders it (header, content and EOS together, so a tulu role tag counts as one
word and an EOS glued to the last word adds none); instruction = all system and user
messages, output = all assistant messages. Template words are the words of template spans
alone (informational; in the paper's unit they are already inside the two lengths).

**Tokens** are counted per span kind with the same straddling rule as the labels:
instruction = system + instruction tokens, output = output + EOS tokens, template =
template tokens, total = every token including BOS.

>>> from imdata.data.records import Example
>>> from imdata.templates.builtin import get_template
>>> r = get_template("tulu").render(Example.from_pairs("x", [("user", "Hi you"), ("assistant", "Yo")]))
>>> word_lengths(r, roles=("user", "assistant"))
Lengths(instruction=3, output=2, template=2, total=5)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from imdata.labels.labelling import KIND_CODE, SPECIAL, owner_spans
from imdata.labels.tokenbytes import ByteTable
from imdata.templates.rendered import Rendered


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
    """Token lengths from the per-token kind codes of :func:`imdata.labels.labelling.token_kinds`."""
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


def batch_kind_counts(
    table: ByteTable,
    encodings: list[Any],
    texts: list[str],
    spans: list[tuple[np.ndarray, np.ndarray]],
    around: list[tuple[int, int]],
    n_kinds: int,
    max_length: int | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`imdata.labels.tokenbytes.token_starts` and per-kind counting for a whole batch in a few array operations.

    ``spans[i]`` is ``(span end characters, span kind codes)`` of example ``i``; ``around[i]``
    how many tokens the tokenizer added before and after it. Returns ``(counts, lost, ok)``:
    tokens per kind, tokens per kind at or past ``max_length`` (``n_examples x n_kinds``), and
    which examples fit the byte model (the others must be counted from real offsets).
    """
    import itertools

    n_ex = len(encodings)
    id_lists = [e.ids for e in encodings]
    n_tok = np.fromiter(map(len, id_lists), dtype=np.int64, count=n_ex)
    ids = np.fromiter(itertools.chain.from_iterable(id_lists), dtype=np.int64, count=int(n_tok.sum()))
    ex_start = np.concatenate(([0], np.cumsum(n_tok)[:-1]))
    ex_of = np.repeat(np.arange(n_ex), n_tok)
    pos = np.arange(ids.size) - ex_start[ex_of]
    before = np.fromiter((a[0] for a in around), dtype=np.int64, count=n_ex)
    after = np.fromiter((a[1] for a in around), dtype=np.int64, count=n_ex)
    special = (pos < before[ex_of]) | (pos >= (n_tok - after)[ex_of])
    lens = table.lengths[ids]
    lens[special] = 0
    ok = np.ones(n_ex, dtype=bool)
    if table.prepend != "none":
        _unprepend(table, ids, special, ex_of, lens, ok)
    text_bytes = np.fromiter((len(t) if t.isascii() else len(t.encode("utf-8")) for t in texts), np.int64, n_ex)
    cs = np.cumsum(lens) - lens
    local = cs - cs[ex_start][ex_of]
    sums = np.bincount(ex_of, weights=lens, minlength=n_ex).astype(np.int64)
    ok &= sums == text_bytes
    base = np.concatenate(([0], np.cumsum(text_bytes)[:-1]))
    glob = base[ex_of] + local
    n_spans = np.fromiter((len(e) for e, _ in spans), dtype=np.int64, count=n_ex)
    span_ends = np.concatenate([e for e, _ in spans]) + np.repeat(base, n_spans)
    span_codes = np.concatenate([c for _, c in spans])
    last_span = np.cumsum(n_spans) - 1
    idx = owner_spans(glob, glob + lens, span_ends, span_codes, last_span[ex_of])
    kinds = span_codes[idx].astype(np.int64)
    real_mask = ~special
    key = ex_of * n_kinds + kinds
    counts = np.bincount(key[real_mask], minlength=n_ex * n_kinds).reshape(n_ex, n_kinds)
    lost = np.zeros_like(counts)
    if max_length is not None:
        tail = real_mask & (pos >= max_length)
        lost = np.bincount(key[tail], minlength=n_ex * n_kinds).reshape(n_ex, n_kinds)
    return counts, lost, ok


def _unprepend(
    table: ByteTable, ids: np.ndarray, special: np.ndarray, ex_of: np.ndarray, lens: np.ndarray, ok: np.ndarray
) -> None:
    """Take the ``▁`` a prepending normaliser adds to each text segment off its first token's bytes.

    A segment starts an example or follows an added token (``prepend="first"``: only the
    example's first); ``ok`` turns false for an example whose segment starts with a token
    that lacks the mark, so the byte model does not fit it.
    """
    real = np.flatnonzero(~special)
    is_added = table.added[ids[real]]
    prev = np.concatenate(([-1], real[:-1]))
    first = (prev < 0) | (ex_of[np.maximum(prev, 0)] != ex_of[real])
    prev_added = np.concatenate(([False], is_added[:-1])) & ~first
    seg = (first | prev_added) & ~is_added
    if table.prepend == "first":
        seg &= first
    seg_tok = real[seg]
    ok[ex_of[seg_tok[~table.marked[ids[seg_tok]]]]] = False
    lens[seg_tok] -= 1


__all__ = ["Lengths", "word_lengths", "token_lengths", "char_lengths", "batch_kind_counts", "SPECIAL"]
