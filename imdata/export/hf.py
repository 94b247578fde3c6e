"""Hand imdata's labels to Hugging Face trainers: a pre-tokenized dataset and a collator.

``to_hf_dataset`` renders, tokenizes and labels examples for one loss mode and returns a
``datasets.Dataset`` in the form both ``transformers.Trainer`` and TRL's ``SFTTrainer``
take as already tokenized: an ``input_ids`` column and a ``labels`` column holding -100 on
every token that carries no loss. TRL recognises a dataset as pre-tokenized by its
``input_ids`` column and, when a ``labels`` column is present, uses it as is (its
``completion_mask``/``assistant_masks`` columns are only needed when labels are absent).
Besides these, each row keeps its ``id`` and its counts (``trained``, ``truncated``,
``truncated_trained``), which both trainers drop before the forward pass;
:func:`report` sums them.

``Collator`` pads a batch of such rows (or of ``imdata spans --to hf`` rows) on the right:
``input_ids`` with the pad id, ``labels`` with -100, and an ``attention_mask``. Packed rows
(``packing=True``) are instead laid end to end in one row with ``position_ids`` that restart
at 0 for every example, no attention mask and ``use_cache=False``: transformers then keeps
each example's attention inside the example, so a packed batch gives the same loss as the
examples unpacked (the tests check it; with a KV cache, as ``use_cache=True`` in a model's
config builds one, transformers ignores the resets and the examples see each other).

Torch is imported only by the collator (and transformers, whose ``DataCollatorWithFlattening``
lays packed rows end to end), ``datasets`` only by :func:`to_hf_dataset`.

>>> ds = to_hf_dataset("train.jsonl", tokenizer="tokenizer.json", mode="im")  # doctest: +SKIP
>>> ds.column_names                                                           # doctest: +SKIP
['id', 'input_ids', 'labels', 'trained', 'truncated', 'truncated_trained']
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from imdata.data.dataset import Dataset, load
from imdata.data.records import Example
from imdata.errors import OptionError, TokenizerError
from imdata.labels.labelling import IGNORE_INDEX, LossMode, tokenize_examples
from imdata.labels.tokens import TokenizerInfo, load_tokenizer
from imdata.templates.builtin import get_template
from imdata.templates.rendered import Template

if TYPE_CHECKING:
    import datasets

_PAD_CANDIDATES = ("<pad>", "[PAD]", "<|pad|>", "<|padding|>", "<|finetune_right_pad_id|>")


@dataclass(frozen=True)
class HFReport:
    """What a pre-tokenized dataset holds, summed over its rows."""

    rows: int
    examples: int
    tokens: int
    trained_tokens: int
    truncated_examples: int
    truncated_tokens: int
    truncated_trained_tokens: int
    zero_trained: int  # examples (rows, unpacked) left with no trained token


def to_hf_dataset(
    data: str | Dataset | Sequence[Dataset] | Sequence[Example],
    *,
    tokenizer: str | TokenizerInfo,
    template: str | Template = "tulu",
    mode: LossMode = "im",
    max_length: int | None = None,
    packing: bool = False,
) -> datasets.Dataset:
    """A pre-tokenized ``datasets.Dataset`` with imdata's labels for ``mode``.

    Args:
        data: a path imdata can load, a loaded dataset (or several), or examples.
        tokenizer: a tokenizer spec (``tokenizer.json``, folder, hub id) or a loaded one.
        template: a built-in template name, a Jinja template path, or a template object.
        mode: which span kinds carry the loss (``it``, ``im``, ``all``).
        max_length: keep the first ``max_length`` tokens of each example; the tokens and
            trained tokens cut off are counted in each row and in :func:`report`.
        packing: lay whole examples end to end, in order, into rows of at most
            ``max_length`` tokens, with ``position_ids`` restarting at 0 per example and
            the first token of each example unlabelled (nothing before it in its own
            context predicts it). Needs ``max_length``.
    """
    import datasets
    import pyarrow as pa

    if max_length is not None and max_length < 1:
        raise OptionError(f"max_length must be at least 1, not {max_length}")
    if packing and max_length is None:
        raise OptionError("packing fills rows up to max_length, so it needs max_length")
    tok = load_tokenizer(tokenizer) if isinstance(tokenizer, str) else tokenizer
    tmpl = get_template(template, eos=tok.eos, bos=tok.bos) if isinstance(template, str) else template
    rows = _rows(_examples(data), tmpl, tok, mode, max_length)
    if packing:
        assert max_length is not None  # checked above
        rows = _pack(rows, max_length)
    columns: dict[str, list[Any]] = {}
    for row in rows:
        for key, value in row.items():
            columns.setdefault(key, []).append(value)
    if not columns:
        raise OptionError("no examples to tokenize")
    ints = pa.list_(pa.int32())
    types = {
        "input_ids": ints,
        "labels": ints,
        "position_ids": ints,
        "seq_lengths": ints,
        "ids": pa.list_(pa.string()),
        "id": pa.string(),
    }
    table = pa.table({k: pa.array(v, types.get(k, pa.int64())) for k, v in columns.items()})
    return datasets.Dataset(table)


def report(dataset: Any) -> HFReport:
    """Sum the per-row counts of a dataset made by :func:`to_hf_dataset`."""
    cols = dataset.column_names
    lengths = dataset["seq_lengths"] if "seq_lengths" in cols else [[len(r)] for r in dataset["input_ids"]]
    empty = dataset["zero_trained"] if "zero_trained" in cols else [int(t == 0) for t in dataset["trained"]]
    return HFReport(
        rows=len(dataset),
        examples=sum(len(s) for s in lengths),
        tokens=sum(sum(s) for s in lengths),
        trained_tokens=sum(dataset["trained"]),
        truncated_examples=sum(dataset["truncated_examples"])
        if "truncated_examples" in cols
        else sum(int(t > 0) for t in dataset["truncated"]),
        truncated_tokens=sum(dataset["truncated"]),
        truncated_trained_tokens=sum(dataset["truncated_trained"]),
        zero_trained=sum(empty),
    )


def _examples(data: str | Dataset | Sequence[Dataset] | Sequence[Example]) -> list[Example]:
    if isinstance(data, str):
        return list(load(data).examples)
    if isinstance(data, Dataset):
        return list(data.examples)
    out: list[Example] = []
    for item in data:
        out.extend(item.examples if isinstance(item, Dataset) else [item])
    return out


def _rows(
    examples: list[Example],
    tmpl: Template,
    tok: TokenizerInfo,
    mode: LossMode,
    max_length: int | None,
) -> Iterator[dict[str, Any]]:
    # Tokenize whole, then cut, so the trained tokens lost to truncation can be counted.
    for tz in tokenize_examples(examples, tmpl, tok, mode=mode):
        ids, labels = tz.input_ids, tz.labels
        cut = 0 if max_length is None else max(0, len(ids) - max_length)
        if cut:
            ids, labels = ids[:max_length], labels[:max_length]
        trained = int((labels != IGNORE_INDEX).sum())
        yield {
            "id": tz.example.id,
            "input_ids": ids.tolist(),
            "labels": labels.tolist(),
            "trained": trained,
            "truncated": cut,
            "truncated_trained": tz.trained - trained,
        }


def _pack(rows: Iterator[dict[str, Any]], max_length: int) -> Iterator[dict[str, Any]]:
    """First-fit in order: start a new row when the next example does not fit."""
    pending: list[dict[str, Any]] = []
    size = 0
    for row in rows:
        n = len(row["input_ids"])
        if pending and size + n > max_length:
            yield _packed_row(pending)
            pending, size = [], 0
        pending.append(row)
        size += n
    if pending:
        yield _packed_row(pending)


def _packed_row(rows: list[dict[str, Any]]) -> dict[str, Any]:
    input_ids: list[int] = []
    labels: list[int] = []
    positions: list[int] = []
    trained = 0
    for r in rows:
        lab = list(r["labels"])
        if lab:
            # Nothing in an example's own context comes before its first token.
            lab[0] = IGNORE_INDEX
        input_ids.extend(r["input_ids"])
        labels.extend(lab)
        positions.extend(range(len(lab)))
        trained += sum(1 for v in lab if v != IGNORE_INDEX)
    return {
        "ids": [r["id"] for r in rows],
        "input_ids": input_ids,
        "labels": labels,
        "position_ids": positions,
        "seq_lengths": [len(r["input_ids"]) for r in rows],
        "trained": trained,
        "truncated": sum(r["truncated"] for r in rows),
        "truncated_examples": sum(int(r["truncated"] > 0) for r in rows),
        "truncated_trained": sum(r["truncated_trained"] for r in rows),
        "zero_trained": sum(int(r["trained"] == 0) for r in rows),
    }


def pad_id(tokenizer: str | TokenizerInfo | Any) -> int:
    """The id to pad with: the tokenizer's pad token if it has one, else its EOS token.

    Padded positions carry label -100 and attention mask 0, so the id only has to exist in
    the vocabulary; EOS is what TRL falls back to as well. ``tokenizer`` may be a spec, a
    :class:`~imdata.labels.tokens.TokenizerInfo`, or a ``transformers`` tokenizer.
    """
    if isinstance(tokenizer, str):
        tokenizer = load_tokenizer(tokenizer)
    if isinstance(tokenizer, TokenizerInfo):
        tok = tokenizer.tokenizer
        padding = tok.padding
        if padding and padding.get("pad_id") is not None:
            return int(padding["pad_id"])
        for name in (*_PAD_CANDIDATES, tokenizer.eos):
            found = tok.token_to_id(name)
            if found is not None:
                return int(found)
        raise TokenizerError(f"{tokenizer.name}: has neither a pad token nor its EOS in the vocabulary")
    for attr in ("pad_token_id", "eos_token_id"):
        value = getattr(tokenizer, attr, None)
        if isinstance(value, int):
            return value
    raise TokenizerError(f"{type(tokenizer).__name__}: no pad_token_id or eos_token_id; pass pad_token_id=")


@dataclass(frozen=True)
class Collator:
    """Pad rows of ``input_ids``/``labels`` into a batch of tensors for a causal LM.

    Plain rows are right-padded (``input_ids`` with ``pad_token_id``, ``labels`` with -100)
    and get an ``attention_mask``; by hand, since transformers' padding collators pad
    through a transformers tokenizer and this one needs only a pad id. Rows with
    ``position_ids`` (packed) are concatenated into one row by transformers'
    ``DataCollatorWithFlattening``, without an attention mask and with ``use_cache=False``
    (see the module docstring). Other columns (``id``, counts) are ignored.

    >>> batch = Collator(pad_token_id=0)([                            # doctest: +SKIP
    ...     {"input_ids": [1, 5, 6], "labels": [-100, 5, 6]},
    ...     {"input_ids": [1, 7], "labels": [-100, 7]},
    ... ])
    >>> batch["labels"].tolist(), batch["attention_mask"].tolist()     # doctest: +SKIP
    ([[-100, 5, 6], [-100, 7, -100]], [[1, 1, 1], [1, 1, 0]])
    """

    pad_token_id: int
    pad_to_multiple_of: int | None = None

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """The batch: ``input_ids``, ``labels`` and ``attention_mask`` (or ``position_ids``)."""
        import torch

        if not rows:
            raise OptionError("cannot collate an empty batch")
        if "position_ids" in rows[0]:
            return self._flat(rows)
        width = self._width(max(len(r["input_ids"]) for r in rows))
        ids = np.full((len(rows), width), self.pad_token_id, dtype=np.int64)
        labels = np.full((len(rows), width), IGNORE_INDEX, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, r in enumerate(rows):
            n = len(r["input_ids"])
            ids[i, :n] = r["input_ids"]
            labels[i, :n] = r["labels"]
            mask[i, :n] = 1
        return {
            "input_ids": torch.from_numpy(ids),
            "labels": torch.from_numpy(labels),
            "attention_mask": torch.from_numpy(mask),
        }

    def _flat(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        import torch
        from transformers import DataCollatorWithFlattening

        # transformers' flattening collator lays sequences end to end with position_ids
        # restarting and the first label of each at -100; the rows are packed already, so
        # they go in as the sequences they hold (split where their position_ids restart).
        flatten = DataCollatorWithFlattening(return_tensors="pt")  # type: ignore[no-untyped-call, unused-ignore]
        flat = flatten([seq for r in rows for seq in _sequences(r)])
        n = flat["input_ids"].shape[1]
        extra = self._width(n) - n
        if extra:
            # Each pad token restarts at position 0, so it forms its own one-token sequence.
            pads = {"input_ids": self.pad_token_id, "labels": IGNORE_INDEX, "position_ids": 0}
            for key, value in pads.items():
                flat[key] = torch.cat([flat[key], torch.full((1, extra), value, dtype=torch.int64)], dim=1)
        return {
            "input_ids": flat["input_ids"],
            "labels": flat["labels"],
            "position_ids": flat["position_ids"],
            # transformers splits attention at position_ids resets only when no KV cache is
            # built; a model whose config says use_cache=True would otherwise let each
            # example attend to the ones packed before it.
            "use_cache": False,
        }

    def _width(self, n: int) -> int:
        m = self.pad_to_multiple_of
        return n if not m else -(-n // m) * m


def _sequences(row: Mapping[str, Any]) -> list[dict[str, list[int]]]:
    """The examples a packed row holds: its ``input_ids`` and ``labels`` cut where ``position_ids`` restart."""
    pos = np.asarray(row["position_ids"], dtype=np.int64)
    ids, labels = list(row["input_ids"]), list(row["labels"])
    starts = [*np.flatnonzero(pos == 0).tolist(), len(pos)]
    if starts[0] != 0:
        starts.insert(0, 0)
    return [{"input_ids": ids[a:b], "labels": labels[a:b]} for a, b in zip(starts, starts[1:], strict=False) if b > a]


def collator(
    tokenizer: str | TokenizerInfo | Any = None,
    *,
    pad_token_id: int | None = None,
    pad_to_multiple_of: int | None = None,
) -> Collator:
    """A :class:`Collator` padding with ``pad_token_id``, or with the tokenizer's pad id.

    >>> collator("tokenizer.json").pad_token_id  # llama2: no pad token, so EOS  # doctest: +SKIP
    2
    """
    if pad_token_id is None:
        if tokenizer is None:
            raise OptionError("pass a tokenizer or pad_token_id to pad with")
        pad_token_id = pad_id(tokenizer)
    return Collator(pad_token_id, pad_to_multiple_of)


__all__ = ["Collator", "HFReport", "collator", "pad_id", "report", "to_hf_dataset"]
