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
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np

from imdata.records import Example
from imdata.templates import SPAN_KINDS, Rendered, SpanKind, Template
from imdata.tokens import TokenizerInfo

LossMode = Literal["it", "im", "all"]
LOSS_MODES: tuple[str, ...] = get_args(LossMode)
IGNORE_INDEX = -100

TRAINED_KINDS: dict[str, frozenset[SpanKind]] = {
    "it": frozenset({"output", "eos"}),
    "im": frozenset({"system", "instruction", "output", "eos"}),
    "all": frozenset(SPAN_KINDS),  # type: ignore[arg-type]
}
KIND_CODE: dict[str, int] = {k: i for i, k in enumerate(SPAN_KINDS)}
SPECIAL = -1  # a token added by the tokenizer (BOS), outside every span


def trained_codes(mode: LossMode) -> np.ndarray:
    """The kind codes trained under ``mode``."""
    return np.array(sorted(KIND_CODE[k] for k in TRAINED_KINDS[mode]), dtype=np.int8)


def token_kinds(rendered: Rendered, encoding: Any) -> np.ndarray:
    """The span-kind code of each token (``SPECIAL`` for tokens the tokenizer added)."""
    spans = rendered.spans
    n = len(encoding.ids)
    if not spans or n == 0:
        return np.full(n, SPECIAL, dtype=np.int8)
    ends = np.fromiter((s.end for s in spans), dtype=np.int64, count=len(spans))
    codes = np.fromiter((KIND_CODE[s.kind] for s in spans), dtype=np.int8, count=len(spans))
    starts = np.fromiter((o[0] for o in encoding.offsets), dtype=np.int64, count=n)
    idx = np.minimum(np.searchsorted(ends, starts, side="right"), len(spans) - 1)
    kinds = codes[idx]
    special = np.fromiter(encoding.special_tokens_mask, dtype=np.int8, count=n)
    kinds[special.astype(bool)] = SPECIAL
    return kinds


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
    offsets: list[tuple[int, int]]
    truncated: int  # tokens cut off by max_length (0 if none)

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
    """Render, tokenize (in batches, on all cores) and label examples, in order."""
    batch: list[Example] = []
    for ex in examples:
        batch.append(ex)
        if len(batch) >= batch_size:
            yield from _tokenize_batch(batch, template, tokenizer, mode, max_length)
            batch = []
    if batch:
        yield from _tokenize_batch(batch, template, tokenizer, mode, max_length)


def _tokenize_batch(
    batch: list[Example], template: Template, tokenizer: TokenizerInfo, mode: LossMode, max_length: int | None
) -> Iterator[Tokenized]:
    rendered = [template.render(ex) for ex in batch]
    encodings = tokenizer.encode_batch([r.text for r in rendered])
    trained = trained_codes(mode)
    for ex, r, enc in zip(batch, rendered, encodings, strict=True):
        ids = np.asarray(enc.ids, dtype=np.int64)
        kinds = token_kinds(r, enc)
        labels = np.where(np.isin(kinds, trained), ids, IGNORE_INDEX)
        offsets = enc.offsets
        cut = 0
        if max_length is not None and len(ids) > max_length:
            cut = len(ids) - max_length
            ids, kinds, labels, offsets = ids[:max_length], kinds[:max_length], labels[:max_length], offsets[:max_length]
        yield Tokenized(ex, r, ids, kinds, labels, offsets, cut)
