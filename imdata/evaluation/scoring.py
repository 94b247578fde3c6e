"""Per-token loss of a causal language model, summed per example and span kind.

The loss of token ``t`` is ``-log p(x_t | x_<t)``, read from the logits at ``t - 1``; the
first token of a sequence has no context and no loss. Sequences are sorted by length
(longest first) and cut into batches of at most ``batch_tokens`` tokens, counting padding:

- **padded** (the default, any model): one sequence per row, right-padded to the longest
  in the batch, with an attention mask. Sorting keeps the padding small.
- **packed** (``pack=True``): sequences laid end to end in one row of up to
  ``batch_tokens`` tokens, with ``position_ids`` restarting at 0 for each and no attention
  mask, so no token is padding. transformers then keeps each sequence's attention to itself (its masks split
  rows where ``position_ids`` restart, and flash attention runs variable-length), as for
  training with ``imdata.export.hf.Collator`` packing; a model whose attention ignores
  ``position_ids`` would see its neighbours, so packing is opt-in.

Either way every number equals the unbatched, unpadded computation (the tests check it to
1e-5 on CPU). Losses are computed in float32 from the logits whatever the model's dtype,
and summed in float64.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from imdata.labels.labelling import KIND_CODE

#: slots of the per-kind matrices: 0 for tokens the tokenizer added, then ``KIND_CODE + 1``
N_SLOTS = len(KIND_CODE) + 1

Rows = list[list[int]]


def kind_counts(kinds: Sequence[np.ndarray]) -> np.ndarray:
    """Scored tokens per example and kind slot: every token but the first of each sequence."""
    out = np.zeros((len(kinds), N_SLOTS), dtype=np.int64)
    for i, k in enumerate(kinds):
        if len(k) > 1:
            out[i] = np.bincount(k[1:].astype(np.int64) + 1, minlength=N_SLOTS)
    return out


def plan_batches(lengths: Sequence[int] | np.ndarray, batch_tokens: int, *, pack: bool = False) -> list[Rows]:
    """Batches of rows of sequence indices, longest sequences first, each within ``batch_tokens``.

    Padded, a batch costs its rows times its longest sequence. Packed, a batch is one row
    filled in order until the next sequence would not fit (no padding at all). A sequence
    longer than the budget gets a batch of its own.

    >>> plan_batches([3, 5, 2, 1], 6)
    [[[1]], [[0], [2]], [[3]]]
    >>> plan_batches([3, 5, 2, 1], 6, pack=True)
    [[[1]], [[0, 2, 3]]]
    """
    lens = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(-lens, kind="stable").tolist()
    batches: list[Rows] = []
    if pack:
        row: list[int] = []
        fill = 0
        for i in order:
            n = int(lens[i])
            if row and fill + n > batch_tokens:
                batches.append([row])
                row, fill = [], 0
            row.append(i)
            fill += n
        if row:
            batches.append([row])
        return batches
    rows: Rows = []
    width = 0
    for i in order:
        if rows and (len(rows) + 1) * width > batch_tokens:
            batches.append(rows)
            rows = []
        if not rows:
            width = max(int(lens[i]), 1)
        rows.append([i])
    if rows:
        batches.append(rows)
    return batches


def score(
    model: Any,
    ids: Sequence[np.ndarray],
    kinds: Sequence[np.ndarray],
    *,
    wanted: np.ndarray,
    batch_tokens: int,
    pack: bool = False,
    pad_id: int = 0,
    on_batch: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Summed token loss per example and kind slot (``float64``, shape ``(n, N_SLOTS)``).

    Only tokens whose slot is ``wanted`` (a boolean table over slots) are scored.
    ``on_batch`` is called with each batch's token count, for progress bars.
    """
    import torch

    device = next(model.parameters()).device
    sums = np.zeros((len(ids), N_SLOTS), dtype=np.float64)
    for rows in plan_batches([len(x) for x in ids], batch_tokens, pack=pack):
        b = _layout(rows, ids, kinds, pad_id)
        scored = (b["owner"] >= 0) & ~b["first"] & wanted[b["slot"]]
        target = scored[:, 1:]
        if target.any():
            inputs = {"input_ids": torch.from_numpy(b["ids"]).to(device), "use_cache": False}
            if pack:
                inputs["position_ids"] = torch.from_numpy(b["pos"]).to(device)
            else:
                inputs["attention_mask"] = torch.from_numpy((b["owner"] >= 0).astype(np.int64)).to(device)
            nll = _forward(model, inputs, torch.from_numpy(target).to(device), batch_tokens)
            np.add.at(sums, (b["owner"][:, 1:][target], b["slot"][:, 1:][target]), nll)
        if on_batch is not None:
            on_batch(int(sum(len(ids[i]) for row in rows for i in row)))
    return sums


def _forward(model: Any, inputs: dict[str, Any], target: Any, batch_tokens: int) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    from imdata.evaluation.models import ModelError

    try:
        with torch.inference_mode():
            logits = model(**inputs).logits
            picked = logits[:, :-1][target].float()
            labels = inputs["input_ids"][:, 1:][target]
            nll = F.cross_entropy(picked, labels, reduction="none")
    except torch.cuda.OutOfMemoryError:
        raise ModelError(f"out of GPU memory on a batch of {batch_tokens:,} tokens; lower --batch-tokens") from None
    except (TypeError, ValueError, RuntimeError) as e:
        # a model whose forward takes no position_ids, or a batch too large for the CPU's memory
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        hint = "drop --pack or lower --batch-tokens" if "position_ids" in inputs else "lower --batch-tokens"
        raise ModelError(f"the model failed on a batch of {batch_tokens:,} tokens ({first}); {hint}") from None
    out: np.ndarray = nll.double().cpu().numpy()
    return out


def _layout(rows: Rows, ids: Sequence[np.ndarray], kinds: Sequence[np.ndarray], pad_id: int) -> dict[str, np.ndarray]:
    """The batch's token ids, positions, owning example, kind slot and first-token flags."""
    width = max(sum(len(ids[i]) for i in row) for row in rows)
    shape = (len(rows), width)
    out = {
        "ids": np.full(shape, pad_id, dtype=np.int64),
        "pos": np.zeros(shape, dtype=np.int64),
        "owner": np.full(shape, -1, dtype=np.int64),
        "slot": np.zeros(shape, dtype=np.int64),
        "first": np.zeros(shape, dtype=bool),
    }
    for r, row in enumerate(rows):
        at = 0
        for i in row:
            n = len(ids[i])
            out["ids"][r, at : at + n] = ids[i]
            out["pos"][r, at : at + n] = np.arange(n)
            out["owner"][r, at : at + n] = i
            out["slot"][r, at : at + n] = kinds[i].astype(np.int64) + 1
            if n:
                out["first"][r, at] = True
            at += n
    return out


__all__ = ["N_SLOTS", "kind_counts", "plan_batches", "score"]
