"""End to end: a real trainer trains on exactly the tokens imdata labels.

A tiny, randomly initialised Llama (built from a config; nothing is downloaded) trains for
two optimizer steps on CPU on 12 short examples of the paper's own Dolly file, tokenized
with the LLaMA-2 tokenizer, once with ``it`` and once with ``im`` labels. Each step covers
all 12 examples (two micro-batches of 6 with gradient accumulation), so the loss the
trainer logs for a step is the token-weighted mean cross-entropy over every labelled
position with the weights as they were when the step began. A callback recomputes that
independently at the start of each step (one unpadded example at a time, logits at
position t scored against the label at t+1, -100 skipped) and the test compares the two.

The number of positions each trainer trains on (its ``num_items_in_batch``) must be what
:func:`imdata.profiling.profiler.profile` reports as ``trained_it`` / ``trained_im`` for these
examples, so ``im`` trains more than ``it`` by their instruction tokens (also checked
against :func:`imdata.profiling.lengths.token_lengths`).
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from conftest import shared

torch = pytest.importorskip("torch", reason="the train extra is not installed (pip install imdata[train])")
transformers = pytest.importorskip(
    "transformers", reason="the train extra is not installed (pip install imdata[train])"
)

N_EXAMPLES = 12
MAX_TOKENS = 40
STEPS = 2


@pytest.fixture(scope="module")
def setup() -> dict[str, Any]:
    import dataclasses

    from imdata.data.dataset import load
    from imdata.labels.labelling import tokenize_examples
    from imdata.labels.tokens import load_tokenizer
    from imdata.profiling.lengths import token_lengths
    from imdata.profiling.profiler import profile
    from imdata.templates.builtin import get_template

    tok = load_tokenizer(str(shared("tokenizers/llama2/tokenizer.json")))
    data = load(str(shared("instruction_modelling/alpagasus_3k_dolly.jsonl")))
    tmpl = get_template("tulu", eos=tok.eos, bos=tok.bos)
    picked, instruction_tokens = [], 0
    for tz in tokenize_examples(data.examples[:1000], tmpl, tok, mode="im"):
        if len(tz.input_ids) <= MAX_TOKENS:
            picked.append(tz.example)
            instruction_tokens += token_lengths(tz.kinds).instruction
        if len(picked) == N_EXAMPLES:
            break
    assert len(picked) == N_EXAMPLES
    frame = profile(dataclasses.replace(data, examples=tuple(picked)), tokenizer=tok).examples
    predicted = {"it": int(frame["trained_it"].sum()), "im": int(frame["trained_im"].sum())}
    assert predicted["im"] - predicted["it"] == instruction_tokens  # profile and lengths agree
    return {"tok": tok, "examples": picked, "predicted": predicted}


def _model() -> Any:
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=32000,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=128,
        tie_word_embeddings=True,
    )
    return transformers.LlamaForCausalLM(config)


def _reference_loss(model: Any, rows: list[dict[str, Any]]) -> tuple[float, int]:
    """Mean cross-entropy over labelled positions, one unpadded example at a time."""
    total, count = 0.0, 0
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for row in rows:
            ids = torch.tensor([row["input_ids"]])
            logits = model(input_ids=ids).logits[0].double()
            targets = torch.tensor(row["labels"][1:])
            keep = targets != -100
            logp = torch.log_softmax(logits[:-1], dim=-1)
            total -= logp[keep, targets[keep]].sum().item()
            count += int(keep.sum())
    model.train(was_training)
    return total / count, count


def _trace(rows: list[dict[str, Any]]) -> tuple[Any, list[tuple[float, int]], dict[int, int]]:
    """A callback recording the reference loss at each step start, and the counts used."""
    refs: list[tuple[float, int]] = []
    counts: dict[int, int] = {}

    class Reference(transformers.TrainerCallback):  # type: ignore[misc]
        def on_step_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any) -> None:
            refs.append(_reference_loss(model, rows))

    return Reference(), refs, counts


def _common_args() -> dict[str, Any]:
    return {
        "per_device_train_batch_size": 6,
        "gradient_accumulation_steps": 2,
        "num_train_epochs": STEPS,
        "learning_rate": 1e-2,
        "lr_scheduler_type": "constant",
        "logging_steps": 1,
        "report_to": [],
        "save_strategy": "no",
        "use_cpu": True,
        "seed": 0,
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
    }


def _check(trainer: Any, refs: list[tuple[float, int]], counts: dict[int, int]) -> int:
    trainer.train()
    logged = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(logged) == STEPS == len(refs)
    for got, (want, _) in zip(logged, refs, strict=True):
        assert math.isclose(got, want, rel_tol=1e-5), (got, want)
    assert logged[-1] < logged[0]  # it did learn something
    positions = {n for _, n in refs}
    assert len(positions) == 1
    # what the trainer itself divided by: every step sees the same 12 examples
    assert len(counts) == STEPS and set(counts.values()) == positions
    return positions.pop()


def _counting(cls: Any, counts: dict[int, int]) -> Any:
    """``cls`` recording the number of trained positions it divides each step's loss by."""

    class Counting(cls):  # type: ignore[misc, valid-type]
        def compute_loss(
            self,
            model: Any,
            inputs: Any,
            return_outputs: bool = False,
            num_items_in_batch: Any = None,
        ) -> Any:
            assert num_items_in_batch is not None
            counts[self.state.global_step] = int(num_items_in_batch)
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)

    return Counting


def test_trainer_loss_is_cross_entropy_over_labelled_positions(setup: dict[str, Any], tmp_path: Any) -> None:
    from imdata.export.hf import collator, to_hf_dataset

    trained = {}
    for mode in ("it", "im"):
        ds = to_hf_dataset(setup["examples"], tokenizer=setup["tok"], mode=mode)
        rows = list(ds)
        callback, refs, counts = _trace(rows)
        args = transformers.TrainingArguments(output_dir=str(tmp_path / mode), **_common_args())
        trainer = _counting(transformers.Trainer, counts)(
            model=_model(),
            args=args,
            train_dataset=ds,
            data_collator=collator(setup["tok"]),
            callbacks=[callback],
        )
        trained[mode] = _check(trainer, refs, counts)
    assert trained == setup["predicted"]  # what imdata profile says each mode trains
    assert trained["im"] - trained["it"] == 142  # the instruction tokens of these 12 examples


def test_sft_trainer_loss_is_cross_entropy_over_labelled_positions(setup: dict[str, Any], tmp_path: Any) -> None:
    trl = pytest.importorskip("trl", reason="trl is not installed (pip install trl)")
    from imdata.export.hf import to_hf_dataset

    processing = transformers.PreTrainedTokenizerFast(
        tokenizer_file=str(shared("tokenizers/llama2/tokenizer.json")),
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
    )
    trained = {}
    for mode in ("it", "im"):
        ds = to_hf_dataset(setup["examples"], tokenizer=setup["tok"], mode=mode)
        rows = list(ds)
        callback, refs, counts = _trace(rows)
        # TRL defaults gradient checkpointing on, under its old name, which transformers 5
        # warns about; naming the new one off avoids both the warning and the slowdown.
        config = trl.SFTConfig(
            output_dir=str(tmp_path / mode),
            max_length=None,
            activation_checkpointing=False,
            **_common_args(),
        )
        trainer = _counting(trl.SFTTrainer, counts)(
            model=_model(),
            args=config,
            train_dataset=ds,
            processing_class=processing,
            callbacks=[callback],
        )
        trained[mode] = _check(trainer, refs, counts)
    assert trained == setup["predicted"]  # what imdata profile says each mode trains
    assert trained["im"] - trained["it"] == 142  # the instruction tokens of these 12 examples
