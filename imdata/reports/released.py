r"""What the paper's released IM code trained, against the paper's definition of IM.

The released code (``src/finetune.py`` with ``--use_lm_loss``) starts from labels equal to
the input ids and masks every occurrence of the token ids of three strings, each encoded
on its own *with* the tokenizer's special tokens: ``"wa\n"``, ``"<|system|>\n"`` and
``"<|user|>\n"`` (``"wa\n"`` looks like a typo for ``"<|assistant|>\n"``). With a
tokenizer that adds BOS (LLaMA-2's does), every pattern starts with BOS, so it can only match
at the very start of the sequence: the code masks ``<s><|user|>\n`` (or ``<s><|system|>\n``)
once and trains everything after it, the ``\n`` closing each user turn, every
``<|assistant|>\n`` and later ``<|user|>\n`` header included. The paper defines IM as
the loss on every token except template tokens; imdata's ``im`` mode follows the
definition. :func:`released_audit` rebuilds both label sets on the same token ids (tulu template,
truncated to ``max_length`` as the released code did, 2048 in its scripts) and counts the
template tokens the released code put in the loss.

>>> report = released_audit(["lima_data.jsonl"], tokenizer="tokenizer.json")  # doctest: +SKIP
>>> print(report.to_markdown())                                      # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from imdata.data.dataset import Dataset, load
from imdata.labels.labelling import IGNORE_INDEX, KIND_CODE, tokenize_examples
from imdata.labels.tokens import TokenizerInfo, load_tokenizer
from imdata.templates.builtin import get_template

#: the strings the released code masks, as written there (typo included)
RELEASED_MASKED = ("wa\n", "<|system|>\n", "<|user|>\n")
#: the released scripts' --max_seq_length
RELEASED_MAX_LENGTH = 2048

_TEMPLATE = KIND_CODE["template"]


@dataclass(frozen=True)
class ReleasedRow:
    """One file: the loss tokens of the released code against imdata's ``im``."""

    name: str
    examples: int
    tokens: int
    released_trained: int  # positions in the loss under the released code
    im_trained: int  # positions in the loss under imdata's im (the paper's definition)
    template_in_loss: int  # template tokens the released code trains
    released_masked: int  # tokens the released code masks (BOS and the first header)
    im_only: int  # tokens im trains and the released code does not (expected 0)
    truncated_examples: int

    @property
    def template_share(self) -> float:
        """Template tokens as a share of the released code's loss tokens."""
        return self.template_in_loss / self.released_trained if self.released_trained else 0.0

    @property
    def template_per_example(self) -> float:
        """Template tokens in the loss per example."""
        return self.template_in_loss / self.examples if self.examples else 0.0


@dataclass(frozen=True)
class ReleasedReport:
    """Per-file audit rows and what they were measured with."""

    rows: tuple[ReleasedRow, ...]
    tokenizer: str
    tokenizer_fingerprint: str
    max_length: int | None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, with the derived shares."""
        rows = [
            {
                **asdict(r),
                "template_share": r.template_share,
                "template_per_example": r.template_per_example,
            }
            for r in self.rows
        ]
        return {
            "rows": rows,
            "tokenizer": self.tokenizer,
            "tokenizer_fingerprint": self.tokenizer_fingerprint,
            "max_length": self.max_length,
        }

    def to_markdown(self) -> str:
        """The audit as a Markdown table."""
        from imdata.data.tables import markdown_table

        head = ("file", "examples", "tokens", "loss tokens, released code", "loss tokens, imdata im",
                "template tokens in the released loss", "share", "per example")  # fmt: skip
        rows = [
            (r.name, f"{r.examples:,}", f"{r.tokens:,}", f"{r.released_trained:,}", f"{r.im_trained:,}",
             f"{r.template_in_loss:,}", f"{r.template_share:.1%}", f"{r.template_per_example:.2f}")
            for r in self.rows
        ]  # fmt: skip
        return markdown_table(head, rows) + "\n"


def released_im_labels(input_ids: np.ndarray, tokenizer: TokenizerInfo) -> np.ndarray:
    """Labels as the released IM code made them: ``input_ids`` with the header patterns masked.

    Each string of :data:`RELEASED_MASKED` is encoded alone with special tokens, and every
    place its ids occur in ``input_ids`` is set to -100.
    """
    ids = np.asarray(input_ids, dtype=np.int64)
    labels = ids.copy()
    for text in RELEASED_MASKED:
        pattern = np.asarray(tokenizer.encode_batch([text], offsets=False)[0].ids, dtype=np.int64)
        n = len(pattern)
        if n == 0 or n > len(ids):
            continue
        windows = np.lib.stride_tricks.sliding_window_view(ids, n)
        for start in np.flatnonzero((windows == pattern).all(axis=1)):
            labels[start : start + n] = IGNORE_INDEX
    return labels


def released_audit(
    data: str | Dataset | Sequence[str | Dataset],
    *,
    tokenizer: str | TokenizerInfo,
    max_length: int | None = RELEASED_MAX_LENGTH,
) -> ReleasedReport:
    """Count, per file, the template tokens that the released IM code put in the loss.

    Args:
        data: one or more paths imdata can load, or loaded datasets.
        tokenizer: a tokenizer spec or a loaded one (the paper used LLaMA-2's).
        max_length: truncate as the released code did (``--max_seq_length``); ``None``
            keeps whole sequences.
    """
    tok = load_tokenizer(tokenizer) if isinstance(tokenizer, str) else tokenizer
    tmpl = get_template("tulu", eos=tok.eos, bos=tok.bos)
    items = [data] if isinstance(data, str | Dataset) else list(data)
    rows = []
    for item in items:
        ds = load(item) if isinstance(item, str) else item
        rows.append(_audit_one(ds, tmpl, tok, max_length))
    return ReleasedReport(tuple(rows), tok.name, tok.fingerprint, max_length)


def _audit_one(ds: Dataset, tmpl: Any, tok: TokenizerInfo, max_length: int | None) -> ReleasedRow:
    tokens = released = im = template = masked = im_only = truncated = 0
    for tz in tokenize_examples(ds.examples, tmpl, tok, mode="im", max_length=max_length):
        rel = released_im_labels(tz.input_ids, tok) != IGNORE_INDEX
        own = tz.labels != IGNORE_INDEX
        tokens += len(tz.input_ids)
        released += int(rel.sum())
        im += int(own.sum())
        template += int((rel & (tz.kinds == _TEMPLATE)).sum())
        masked += int((~rel).sum())
        im_only += int((own & ~rel).sum())
        truncated += int(tz.truncated > 0)
    return ReleasedRow(ds.name, len(ds.examples), tokens, released, im, template, masked, im_only, truncated)


__all__ = [
    "RELEASED_MASKED",
    "RELEASED_MAX_LENGTH",
    "ReleasedReport",
    "ReleasedRow",
    "released_audit",
    "released_im_labels",
]
