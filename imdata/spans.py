"""Loss modes and token labels from character spans.

A loss mode is the set of span kinds that carry the loss:

====  ======================================  =========================================
mode  trained span kinds                      meaning
====  ======================================  =========================================
it    output, eos                             Instruction Tuning (open-instruct's rule)
im    system, instruction, output, eos        Instruction Modelling (the paper's definition)
all   every kind, template included           plain language modelling on the text
====  ======================================  =========================================

Tokens the tokenizer adds itself (BOS) never carry loss. **Straddling rule**: a token
belongs to the span holding its first character (its start offset); a zero-width token
belongs to the span holding the character at its offset. For the ``tulu`` template this
gives, token for token, open-instruct's prefix-tokenisation labels (see the parity test).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from imdata.choices import LOSS_MODES, LossMode
from imdata.records import Example
from imdata.templates import SPAN_KINDS, Rendered, SpanKind, Template
from imdata.tokens import TokenizerInfo

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
    "span_token_bounds",
    "token_kinds_from_offsets",
    "trained_table",
    "truncate",
    "labels_from_kinds",
    "token_kinds",
    "tokenize_examples",
    "trained_codes",
]


def trained_codes(mode: LossMode) -> np.ndarray:
    """The kind codes trained under ``mode``."""
    return np.array(sorted(KIND_CODE[k] for k in TRAINED_KINDS[mode]), dtype=np.int8)


def span_token_bounds(rendered: Rendered, encoding: Any) -> np.ndarray | None:
    """Token index where each span's tokens begin, plus the end of the real tokens.

    ``bounds[j]:bounds[j+1]`` are the tokens of span ``j`` under the straddling rule. Only
    the token at each span boundary is looked up (a few calls per span, not a Python object
    per token), which keeps labelling cheap next to the tokenizer. ``None`` when added
    tokens sit inside the sequence (then :func:`token_kinds_from_offsets` applies).
    """
    spans = rendered.spans
    special = np.asarray(encoding.special_tokens_mask, dtype=bool)
    real = np.flatnonzero(~special)
    if not spans or real.size == 0:
        return np.zeros(len(spans) + 1, dtype=np.int64)
    lo, hi = int(real[0]), int(real[-1]) + 1
    if real.size != hi - lo:
        return None
    firsts = [lo] + [_first_token_from(encoding, sp.end, lo, hi) for sp in spans[:-1]] + [hi]
    return np.asarray(firsts, dtype=np.int64)


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
    codes = np.fromiter((KIND_CODE[sp.kind] for sp in rendered.spans), dtype=np.int8, count=len(rendered.spans))
    kinds[bounds[0] : bounds[-1]] = np.repeat(codes, np.diff(bounds))
    return kinds


def _first_token_from(encoding: Any, char: int, lo: int, hi: int) -> int:
    """The first token in ``[lo, hi)`` whose start offset is at or after ``char``."""

    def start_of(t: int) -> int:
        return int(encoding.token_to_chars(t)[0])

    found = encoding.char_to_token(char)
    guess: int | None = None if found is None else int(found)
    if guess is None or not lo <= guess < hi:
        a, b = lo, hi  # binary search over the (non-decreasing) start offsets
        while a < b:
            mid = (a + b) // 2
            if start_of(mid) >= char:
                b = mid
            else:
                a = mid + 1
        return a
    t = guess
    if start_of(t) >= char:
        while t > lo and start_of(t - 1) >= char:
            t -= 1
        return t
    while t < hi and start_of(t) < char:
        t += 1
    return t


def token_kinds_from_offsets(rendered: Rendered, encoding: Any) -> np.ndarray:
    """Reference implementation of the straddling rule, reading every token's offsets."""
    spans = rendered.spans
    n = len(encoding.ids)
    if not spans or n == 0:
        return np.full(n, SPECIAL, dtype=np.int8)
    ends = np.fromiter((s.end for s in spans), dtype=np.int64, count=len(spans))
    codes = np.fromiter((KIND_CODE[s.kind] for s in spans), dtype=np.int8, count=len(spans))
    starts = np.fromiter((o[0] for o in encoding.offsets), dtype=np.int64, count=n)
    idx = np.minimum(np.searchsorted(ends, starts, side="right"), len(spans) - 1)
    kinds = codes[idx]
    kinds[np.asarray(encoding.special_tokens_mask, dtype=bool)] = SPECIAL
    return kinds


def trained_table(mode: LossMode) -> np.ndarray:
    """A lookup table: ``table[kind + 1]`` is True where that kind is trained (index 0: SPECIAL)."""
    table = np.zeros(len(KIND_CODE) + 1, dtype=bool)
    table[trained_codes(mode) + 1] = True
    return table


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
    encoding: Any  # the tokenizers Encoding (offsets are read from it only when needed)
    bounds: np.ndarray | None  # see span_token_bounds
    truncated: int  # tokens cut off by max_length (0 if none)

    @property
    def offsets(self) -> list[tuple[int, int]]:
        """Character offsets of the (kept) tokens."""
        return list(self.encoding.offsets[: len(self.input_ids)])

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

    def encode(batch: list[Example]) -> tuple[list[Example], list[Rendered], list[Any]]:
        rendered = [template.render(ex) for ex in batch]
        return batch, rendered, tokenizer.encode_batch([r.text for r in rendered])

    batches = _chunks(examples, batch_size)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="imdata-encode") as pool:
        first = next(batches, None)
        pending = pool.submit(encode, first) if first else None
        while pending is not None:
            batch, rendered, encodings = pending.result()
            nxt = next(batches, None)
            pending = pool.submit(encode, nxt) if nxt else None
            yield from _label_batch(batch, rendered, encodings, mode, max_length)


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
    encodings: list[Any],
    mode: LossMode,
    max_length: int | None,
) -> Iterator[Tokenized]:
    table = trained_table(mode)
    for ex, r, enc in zip(batch, rendered, encodings, strict=True):
        ids = np.asarray(enc.ids, dtype=np.int64)
        bounds = span_token_bounds(r, enc)
        kinds = token_kinds(r, enc, bounds)
        labels = np.where(table[kinds.astype(np.int64) + 1], ids, IGNORE_INDEX)
        tz = Tokenized(ex, r, ids, kinds, labels, enc, bounds, 0)
        yield tz if max_length is None else truncate(tz, max_length)


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
