"""imdata.export.hf: the pre-tokenized dataset, truncation counts, packing and the collator."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import EXAMPLES, shared

from imdata.data.dataset import load
from imdata.errors import OptionError
from imdata.export.hf import Collator, collator, pad_id, report, to_hf_dataset
from imdata.labels.labelling import IGNORE_INDEX, tokenize_examples
from imdata.labels.tokens import TokenizerInfo, load_tokenizer
from imdata.templates.builtin import get_template

TRAIN_EXTRA = "the train extra is not installed (pip install imdata[train])"


@pytest.fixture(scope="module")
def tok() -> TokenizerInfo:
    return load_tokenizer(str(shared("tokenizers/llama2/tokenizer.json")))


@pytest.fixture(scope="module")
def dolly() -> list[Any]:
    return list(load(str(shared("instruction_modelling/alpagasus_3k_dolly.jsonl"))).examples[:64])


@pytest.mark.parametrize("mode", ["it", "im", "all"])
def test_rows_carry_exactly_the_labels_of_tokenize_examples(tok: TokenizerInfo, dolly: list, mode: str) -> None:
    ds = to_hf_dataset(dolly, tokenizer=tok, mode=mode)  # type: ignore[arg-type]
    assert ds.column_names == [
        "id",
        "input_ids",
        "labels",
        "trained",
        "truncated",
        "truncated_trained",
    ]
    tmpl = get_template("tulu", eos=tok.eos, bos=tok.bos)
    for row, tz in zip(ds, tokenize_examples(dolly, tmpl, tok, mode=mode), strict=True):  # type: ignore[arg-type]
        assert row["id"] == tz.example.id
        assert row["input_ids"] == tz.input_ids.tolist()
        assert row["labels"] == tz.labels.tolist()
        assert row["trained"] == tz.trained and row["truncated"] == 0
    r = report(ds)
    assert (r.rows, r.examples, r.truncated_examples, r.truncated_trained_tokens) == (64, 64, 0, 0)
    assert r.tokens == sum(len(x) for x in ds["input_ids"])


def test_accepts_a_path_a_dataset_or_examples(tok: TokenizerInfo) -> None:
    path = str(EXAMPLES / "tiny_chat.jsonl")
    by_path = to_hf_dataset(path, tokenizer=tok)
    by_dataset = to_hf_dataset(load(path), tokenizer=tok)
    by_examples = to_hf_dataset(list(load(path).examples), tokenizer=tok)
    assert by_path["labels"] == by_dataset["labels"] == by_examples["labels"]


def test_truncation_counts_the_trained_tokens_it_cuts(tok: TokenizerInfo, dolly: list) -> None:
    whole = to_hf_dataset(dolly, tokenizer=tok, mode="it")  # type: ignore[arg-type]
    cut = to_hf_dataset(dolly, tokenizer=tok, mode="it", max_length=64)  # type: ignore[arg-type]
    for w, c in zip(whole, cut, strict=True):
        assert len(c["input_ids"]) == min(64, len(w["input_ids"]))
        assert c["labels"] == w["labels"][:64]
        assert c["truncated"] == len(w["input_ids"]) - len(c["input_ids"])
        assert c["truncated_trained"] == sum(1 for v in w["labels"][64:] if v != IGNORE_INDEX)
    r = report(cut)
    assert r.truncated_examples == sum(1 for w in whole if len(w["input_ids"]) > 64) > 0
    assert r.truncated_trained_tokens == report(whole).trained_tokens - r.trained_tokens > 0
    # under it, a prompt that fills max_length leaves an example with nothing to train
    assert r.zero_trained == sum(1 for c in cut if c["trained"] == 0)


def test_packing_keeps_every_label_and_restarts_positions(tok: TokenizerInfo, dolly: list) -> None:
    plain = to_hf_dataset(dolly, tokenizer=tok, mode="im", max_length=256)  # type: ignore[arg-type]
    packed = to_hf_dataset(dolly, tokenizer=tok, mode="im", max_length=256, packing=True)  # type: ignore[arg-type]
    assert len(packed) < len(plain)
    assert [i for row in packed["ids"] for i in row] == plain["id"]
    assert all(len(r) <= 256 for r in packed["input_ids"])
    flat_ids = [t for r in packed["input_ids"] for t in r]
    flat_labels = [t for r in packed["labels"] for t in r]
    assert flat_ids == [t for r in plain["input_ids"] for t in r]
    assert flat_labels == [t for r in plain["labels"] for t in r]  # BOS starts each, -100 already
    for row in packed:
        starts = np.cumsum([0, *row["seq_lengths"][:-1]])
        assert [i for i, p in enumerate(row["position_ids"]) if p == 0] == starts.tolist()
    assert report(packed).trained_tokens == report(plain).trained_tokens
    assert report(packed).examples == len(dolly)


def test_option_errors(tok: TokenizerInfo, dolly: list) -> None:
    with pytest.raises(OptionError, match="needs max_length"):
        to_hf_dataset(dolly, tokenizer=tok, packing=True)  # type: ignore[arg-type]
    with pytest.raises(OptionError, match="at least 1"):
        to_hf_dataset(dolly, tokenizer=tok, max_length=0)  # type: ignore[arg-type]
    with pytest.raises(OptionError, match="tokenizer or pad_token_id"):
        collator()


def test_pad_id_from_the_tokenizer(tok: TokenizerInfo) -> None:
    assert pad_id(tok) == 2  # LLaMA-2 has no pad token: EOS, as TRL does
    assert pad_id(str(shared("tokenizers/gpt2/tokenizer.json"))) == 50256

    class HFTokenizer:
        pad_token_id = 0
        eos_token_id = 2

    assert pad_id(HFTokenizer()) == 0
    assert collator(tok).pad_token_id == 2
    assert collator(tok, pad_token_id=0).pad_token_id == 0


def test_collator_pads_right(tmp_path: Path) -> None:
    pytest.importorskip("torch", reason=TRAIN_EXTRA)
    rows = [
        {"id": "a", "input_ids": [1, 5, 6], "labels": [-100, 5, 6]},
        {"id": "b", "input_ids": [1, 7], "labels": [-100, 7]},
    ]
    batch = Collator(pad_token_id=0)(rows)
    assert batch["input_ids"].tolist() == [[1, 5, 6], [1, 7, 0]]
    assert batch["labels"].tolist() == [[-100, 5, 6], [-100, 7, -100]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    wide = Collator(pad_token_id=9, pad_to_multiple_of=4)(rows)
    assert wide["input_ids"].tolist() == [[1, 5, 6, 9], [1, 7, 9, 9]]
    assert wide["labels"][:, 3].tolist() == [-100, -100]


def test_collator_lays_packed_rows_end_to_end() -> None:
    pytest.importorskip("torch", reason=TRAIN_EXTRA)
    rows = [
        {
            "input_ids": [1, 5, 6, 1, 7],
            "labels": [-100, 5, 6, -100, 7],
            "position_ids": [0, 1, 2, 0, 1],
        },
        {"input_ids": [1, 8], "labels": [-100, 8], "position_ids": [0, 1]},
    ]
    batch = Collator(pad_token_id=0, pad_to_multiple_of=8)(rows)
    assert set(batch) == {"input_ids", "labels", "position_ids", "use_cache"}
    assert batch["use_cache"] is False
    assert batch["input_ids"].tolist() == [[1, 5, 6, 1, 7, 1, 8, 0]]
    assert batch["position_ids"].tolist() == [[0, 1, 2, 0, 1, 0, 1, 0]]
    assert batch["labels"].tolist() == [[-100, 5, 6, -100, 7, -100, 8, -100]]


def test_packed_batch_gives_the_unpacked_loss(tok: TokenizerInfo, dolly: list) -> None:
    """transformers isolates packed examples by their position_ids: same summed loss.

    The model's config keeps ``use_cache=True``, under which transformers would not isolate
    them; the collator's ``use_cache=False`` is what makes this pass.
    """
    torch = pytest.importorskip("torch", reason=TRAIN_EXTRA)
    transformers = pytest.importorskip("transformers", reason=TRAIN_EXTRA)
    sizes = to_hf_dataset(dolly, tokenizer=tok)["input_ids"]  # type: ignore[arg-type]
    examples = [ex for ex, ids in zip(dolly, sizes, strict=True) if len(ids) <= 60][:6]
    plain = to_hf_dataset(examples, tokenizer=tok, mode="im")
    packed = to_hf_dataset(examples, tokenizer=tok, mode="im", max_length=128, packing=True)  # type: ignore[arg-type]
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=32000, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=128,
    )  # fmt: skip
    model = transformers.LlamaForCausalLM(config)  # train mode, as a Trainer runs it (no dropout)
    assert model.config.use_cache
    col = collator(tok)

    def summed(batch: dict[str, Any]) -> float:
        labels = batch.pop("labels")
        with torch.no_grad():
            logits = model(**batch).logits.double()
        logp = torch.log_softmax(logits[:, :-1], dim=-1)
        target = labels[:, 1:]
        keep = target != IGNORE_INDEX
        return float(-logp[keep, target[keep]].sum())

    unpacked = summed(col(list(plain)))
    packed_loss = summed(col(list(packed)))
    assert len(packed) < len(plain)
    assert packed_loss == pytest.approx(unpacked, rel=1e-6)


def test_same_rows_as_the_hf_export(tok: TokenizerInfo, tmp_path: Path) -> None:
    """``to_hf_dataset`` and ``imdata spans --to hf`` give a trainer the same rows."""
    import datasets

    from imdata.export.exporter import spans

    data = load(str(shared("instruction_modelling/lima_data.jsonl")))
    data = dataclasses.replace(data, examples=data.examples[:40])
    out = tmp_path / "lima_hf"
    exported = spans(data, tokenizer=tok, mode="im", to="hf", max_length=512, output=str(out))
    ours = to_hf_dataset(data, tokenizer=tok, mode="im", max_length=512)
    theirs = datasets.load_from_disk(str(out))
    assert theirs["id"] == ours["id"]
    assert theirs["input_ids"] == ours["input_ids"]
    assert theirs["labels"] == ours["labels"]
    r = report(ours)
    assert (r.trained_tokens, r.truncated_examples) == (exported.trained_tokens, exported.truncated_examples)
    assert r.truncated_trained_tokens == exported.truncated_trained_tokens > 0
