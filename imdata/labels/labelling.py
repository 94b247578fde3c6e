"""Loss modes and token labels from character spans.

A loss mode is the set of span kinds that carry the loss:

====  ======================================  =========================================
mode  trained span kinds                      meaning
====  ======================================  =========================================
it    output, eos                             Instruction Tuning (open-instruct's rule)
im    system, instruction, output, eos        Instruction Modelling (the paper's definition)
all   every kind, template included           plain language modelling on the text
====  ======================================  =========================================

Tokens the tokenizer adds itself (BOS) never carry loss.

**Which span a token belongs to** (one rule, also in the README and the schema): a token
that covers any character of a message's content, or of an end-of-turn marker (the ``eos``
span), belongs to that content; a token that covers only template text is template. So
``▁Hi`` after ``[/INST] `` is output, trained under ``it`` and ``im``, as transformers'
``return_assistant_tokens_mask`` and TRL's assistant-only loss train it: at inference the
prompt ends at ``[/INST]`` and ``▁Hi`` is the model's first generated token. A token that
touches two contents (rare: only where a template puts none of its own text between them)
belongs to the *later* one, the text the model is producing when it emits that token. A
zero-width token belongs to the span holding the character at its offset. For the ``tulu``
template this gives, token for token, open-instruct's prefix-tokenisation labels (see the
parity test).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from imdata.choices import LOSS_MODES, LossMode
from imdata.data.records import Example
from imdata.labels.tokens import TokenizerInfo, offsets_array
from imdata.templates.rendered import SPAN_KINDS, Rendered, Span, SpanKind, Template

IGNORE_INDEX = -100

TRAINED_KINDS: dict[str, frozenset[SpanKind]] = {
    "it": frozenset({"output", "eos"}),
    "im": frozenset({"system", "instruction", "output", "eos"}),
    "all": frozenset(SPAN_KINDS),  # type: ignore[arg-type]
}
KIND_CODE: dict[str, int] = {k: i for i, k in enumerate(SPAN_KINDS)}
SPECIAL = -1  # a token added by the tokenizer (BOS), outside every span

__all__ = [
    "IGNORE_INDEX",
    "KIND_CODE",
    "LOSS_MODES",
    "LossMode",
    "SPECIAL",
    "TRAINED_KINDS",
    "Tokenized",
    "owner_spans",
    "span_token_bounds",
    "token_kinds_from_offsets",
    "trained_table",
    "truncate",
    "labels_from_kinds",
    "token_kinds",
    "tokenize_examples",
    "trained_codes",
    "trained_masks",
]


def trained_codes(mode: LossMode) -> np.ndarray:
    """The kind codes trained under ``mode``."""
    return np.array(sorted(KIND_CODE[k] for k in TRAINED_KINDS[mode]), dtype=np.int8)


CONTENT_KINDS: frozenset[str] = frozenset({"system", "instruction", "output", "eos"})
_IS_CONTENT = np.array([k in CONTENT_KINDS for k in SPAN_KINDS], dtype=bool)


def owner_spans(
    starts: np.ndarray,
    ends: np.ndarray,
    span_ends: np.ndarray,
    span_codes: np.ndarray,
    cap: np.ndarray | int | None = None,
) -> np.ndarray:
    """The index of the span each token belongs to (the rule in this module's docstring).

    ``starts``/``ends`` are the tokens' half-open character (or byte) ranges, in order;
    ``span_ends`` the spans' end positions (sorted) and ``span_codes`` their kind codes.
    ``cap`` is the last span index a token may map to (per token, when several examples
    are laid end to end). Two binary searches over sorted arrays and one running maximum:
    no per-token Python.

    >>> owner_spans(np.array([0, 8]), np.array([7, 10]), np.array([6, 8, 10]), np.array([0, 3, 0]))
    array([1, 2])
    """
    m = len(span_ends)
    last_span = m - 1 if cap is None else cap
    first = np.minimum(np.searchsorted(span_ends, starts, side="right"), last_span)
    last = np.minimum(np.searchsorted(span_ends, np.maximum(ends - 1, starts), side="right"), last_span)
    # the last content span at or before each span index (-1: none)
    prev_content = np.maximum.accumulate(np.where(_IS_CONTENT[span_codes], np.arange(m), -1))
    touched = prev_content[last]
    return np.where(touched >= first, touched, first)


def span_token_bounds(rendered: Rendered, encoding: Any, offsets: np.ndarray | None = None) -> np.ndarray | None:
    """Token index where each span's tokens begin, plus the end of the real tokens.

    ``bounds[j]:bounds[j+1]`` are the tokens of span ``j`` (a span may own none). ``None``
    when added tokens sit inside the sequence (then :func:`token_kinds_from_offsets`
    applies).
    """
    spans = rendered.spans
    special = np.asarray(encoding.special_tokens_mask, dtype=bool)
    real = np.flatnonzero(~special)
    if not spans or real.size == 0:
        return np.zeros(len(spans) + 1, dtype=np.int64)
    lo, hi = int(real[0]), int(real[-1]) + 1
    if real.size != hi - lo:
        return None
    off = offsets_array(encoding) if offsets is None else offsets
    owners = _owners(rendered, off[lo:hi])
    inner = np.searchsorted(owners, np.arange(1, len(spans)), side="left") + lo
    return np.concatenate(([lo], inner, [hi])).astype(np.int64)


def _owners(rendered: Rendered, off: np.ndarray) -> np.ndarray:
    spans = rendered.spans
    # lists, not generators: a generator is resumed once per span, a list comprehension is one call
    ends = np.array([s.end for s in spans], dtype=np.int64)
    codes = np.array([KIND_CODE[s.kind] for s in spans], dtype=np.int64)
    return owner_spans(off[:, 0], off[:, 1], ends, codes)


def token_kinds(rendered: Rendered, encoding: Any, bounds: np.ndarray | None = None) -> np.ndarray:
    """The span-kind code of each token (``SPECIAL`` for tokens the tokenizer added)."""
    n = len(encoding.ids)
    if bounds is None:
        bounds = span_token_bounds(rendered, encoding)
    if bounds is None:
        return token_kinds_from_offsets(rendered, encoding)
    kinds = np.full(n, SPECIAL, dtype=np.int8)
    if not rendered.spans or n == 0:
        return kinds
    codes = np.array([KIND_CODE[sp.kind] for sp in rendered.spans], dtype=np.int8)
    kinds[bounds[0] : bounds[-1]] = np.repeat(codes, np.diff(bounds))
    return kinds


def token_kinds_from_offsets(rendered: Rendered, encoding: Any, offsets: np.ndarray | None = None) -> np.ndarray:
    """The same kinds as :func:`token_kinds`, where added tokens may sit anywhere."""
    spans = rendered.spans
    n = len(encoding.ids)
    if not spans or n == 0:
        return np.full(n, SPECIAL, dtype=np.int8)
    off = offsets_array(encoding) if offsets is None else offsets
    codes = np.array([KIND_CODE[s.kind] for s in spans], dtype=np.int8)
    kinds: np.ndarray = codes[_owners(rendered, off)]
    kinds[np.asarray(encoding.special_tokens_mask, dtype=bool)] = SPECIAL
    return kinds


def trained_table(mode: LossMode) -> np.ndarray:
    """A lookup table: ``table[kind + 1]`` is True where that kind is trained (index 0: SPECIAL)."""
    table = np.zeros(len(KIND_CODE) + 1, dtype=bool)
    table[trained_codes(mode) + 1] = True
    return table


def trained_masks(tz: Tokenized) -> tuple[np.ndarray, np.ndarray]:
    """Which tokens IT and IM train, from an example labelled under ``im``.

    The ``im`` labels already leave out messages with ``weight: 0`` / ``train: false``; IT
    trains the subset of those tokens whose kind it trains (output and EOS).
    """
    im = tz.labels != IGNORE_INDEX
    return im & trained_table("it")[tz.kinds.astype(np.int64) + 1], im


def labels_from_kinds(ids: Sequence[int], kinds: np.ndarray, mode: LossMode) -> np.ndarray:
    """``ids`` where the token's kind is trained under ``mode``, else -100."""
    arr = np.asarray(ids, dtype=np.int64)
    return np.where(np.isin(kinds, trained_codes(mode)), arr, IGNORE_INDEX)


@dataclass(frozen=True, slots=True)
class Tokenized:
    """An example rendered, tokenized and labelled for one mode."""

    example: Example
    rendered: Rendered
    input_ids: np.ndarray
    kinds: np.ndarray
    labels: np.ndarray
    encoding: Any  # the tokenizers Encoding
    bounds: np.ndarray | None  # see span_token_bounds
    truncated: int  # tokens cut off by max_length (0 if none)
    all_offsets: np.ndarray  # (n, 2) character offsets of every token, truncated or not
    content_specials: int = 0  # special-token strings in content, encoded as text (see TokenizerInfo.content_as_text)

    @property
    def offsets(self) -> np.ndarray:
        """Character offsets ``(start, end)`` of the (kept) tokens, one row each."""
        return self.all_offsets[: len(self.input_ids)]

    @property
    def trained(self) -> int:
        """How many tokens carry the loss."""
        return int((self.labels != IGNORE_INDEX).sum())


def tokenize_examples(
    examples: Iterable[Example],
    template: Template,
    tokenizer: TokenizerInfo,
    *,
    mode: LossMode,
    max_length: int | None = None,
    batch_size: int = 512,
) -> Iterator[Tokenized]:
    """Render, tokenize and label examples, in order.

    Rendering and encoding of the next batch run in a background thread (the Rust
    tokenizer releases the GIL and uses every core) while the caller consumes this one.
    """
    from concurrent.futures import ThreadPoolExecutor

    def encode(batch: list[Example]) -> tuple[list[Example], list[Rendered], list[tuple[Any, int]]]:
        rendered = [template.render(ex) for ex in batch]
        encodings = tokenizer.encode_batch([r.text for r in rendered])
        return (
            batch,
            rendered,
            [tokenizer.content_as_text(e, _content(r)) for r, e in zip(rendered, encodings, strict=True)],
        )

    batches = _chunks(examples, batch_size)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="imdata-encode") as pool:
        first = next(batches, None)
        pending = pool.submit(encode, first) if first else None
        while pending is not None:
            batch, rendered, encodings = pending.result()
            nxt = next(batches, None)
            pending = pool.submit(encode, nxt) if nxt else None
            yield from _label_batch(batch, rendered, encodings, mode, max_length)


def _content(r: Rendered) -> list[tuple[int, int]]:
    """Character ranges of message content (system, instruction, output), in order."""
    return [(s.start, s.end) for s in r.spans if s.kind in ("system", "instruction", "output")]


def _chunks(examples: Iterable[Example], size: int) -> Iterator[list[Example]]:
    batch: list[Example] = []
    for ex in examples:
        batch.append(ex)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _label_batch(
    batch: list[Example],
    rendered: list[Rendered],
    encodings: list[tuple[Any, int]],
    mode: LossMode,
    max_length: int | None,
) -> Iterator[Tokenized]:
    table = trained_table(mode)
    for ex, r, (enc, as_text) in zip(batch, rendered, encodings, strict=True):
        ids = np.asarray(enc.ids, dtype=np.int64)
        off = offsets_array(enc)
        bounds = span_token_bounds(r, enc, off)
        kinds = token_kinds(r, enc, bounds) if bounds is not None else token_kinds_from_offsets(r, enc, off)
        labels = np.where(table[kinds.astype(np.int64) + 1], ids, IGNORE_INDEX)
        off_turns = ex.untrained_turns
        if off_turns:
            labels = _untrain(labels, r, off_turns, bounds, off, enc)
        tz = Tokenized(ex, r, ids, kinds, labels, enc, bounds, 0, off, as_text)
        yield tz if max_length is None else truncate(tz, max_length)


def span_trained(span: Span, off_turns: frozenset[int]) -> bool:
    """False for a span a record excludes from the loss.

    That is the content (and EOS) of a turn with ``weight: 0`` / ``train: false``
    (axolotl's per-message convention). Template text follows the loss mode as always.
    """
    return not (span.turn in off_turns and span.kind != "template")


def _untrain(
    labels: np.ndarray,
    r: Rendered,
    off_turns: frozenset[int],
    bounds: np.ndarray | None,
    off: np.ndarray,
    enc: Any,
) -> np.ndarray:
    """``labels`` with the tokens of excluded turns set to ``IGNORE_INDEX``."""
    out = labels.copy()
    if bounds is not None:
        for j, sp in enumerate(r.spans):
            if not span_trained(sp, off_turns):
                out[bounds[j] : bounds[j + 1]] = IGNORE_INDEX
        return out
    owner = _owners(r, off)
    special = np.asarray(enc.special_tokens_mask, dtype=bool)
    dropped = np.array([not span_trained(sp, off_turns) for sp in r.spans], dtype=bool)
    out[dropped[owner] & ~special] = IGNORE_INDEX
    return out


def truncate(tz: Tokenized, max_length: int) -> Tokenized:
    """The first ``max_length`` tokens of ``tz`` (itself when it is not longer)."""
    n = len(tz.input_ids)
    if n <= max_length:
        return tz
    return replace(
        tz,
        input_ids=tz.input_ids[:max_length],
        kinds=tz.kinds[:max_length],
        labels=tz.labels[:max_length],
        truncated=tz.truncated + n - max_length,
    )
