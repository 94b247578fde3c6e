"""imdata audit against the masks real producers build offline: TRL's SFTTrainer and transformers.

The Qwen2.5 tokenizer cannot be downloaded here, so a stand-in is built at test time: the
shared GPT-2 tokenizer.json with Qwen2.5's special tokens added (``<|im_start|>``,
``<|im_end|>``; ``<|endoftext|>`` is GPT-2's own), EOS ``<|im_end|>`` as Qwen2.5-Instruct
sets it. The chat template is TRL's own training template for Qwen2.5, read from the
installed ``trl`` package. No model is trained: SFTTrainer prepares its dataset when it is
built, and that dataset is what is audited.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import EXAMPLES, shared
from test_mask_audit import trl_template

import imdata
from imdata.cli import main
from imdata.data.dataset import load
from imdata.templates.builtin import get_template

transformers = pytest.importorskip(
    "transformers", reason="the train extra is not installed (pip install imdata[train])"
)
trl = pytest.importorskip("trl", reason="the train extra is not installed (pip install imdata[train])")
datasets = pytest.importorskip("datasets")

TINY = str(EXAMPLES / "tiny_chat.jsonl")
ASSISTANT_TURNS = 13  # tiny_chat: 12 examples, one with two assistant turns


@pytest.fixture(scope="module")
def qwen(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from tokenizers import AddedToken, Tokenizer

    root = tmp_path_factory.mktemp("qwen")
    tok = Tokenizer.from_file(str(shared("tokenizers/gpt2/tokenizer.json")))
    tok.add_special_tokens([AddedToken("<|im_start|>", special=True), AddedToken("<|im_end|>", special=True)])
    template = trl_template(root)
    source = (Path(trl.__file__).parent / "chat_templates" / "qwen2_5_training.jinja").read_text(encoding="utf-8")
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    fast.chat_template = source
    fast.save_pretrained(str(root / "tok"))
    return {"fast": fast, "dir": str(root / "tok"), "template": template, "root": root}


def messages_rows() -> list[dict[str, Any]]:
    return [{"id": ex.id, "messages": [m.to_dict() for m in ex.messages]} for ex in load(TINY).examples]


def sft_dataset(train: Any, processing: Any, model: Any, out: Path, **config: Any) -> Any:
    datasets.disable_progress_bars()
    args = trl.SFTConfig(
        output_dir=str(out),
        max_length=None,
        report_to=[],
        use_cpu=True,
        activation_checkpointing=False,
        **config,
    )
    trainer = trl.SFTTrainer(model=model, args=args, train_dataset=train, processing_class=processing)
    return trainer.train_dataset


def test_trl_assistant_only_loss_with_its_qwen2_5_training_template_is_it(qwen: dict[str, Any]) -> None:
    cfg = transformers.GPT2Config(vocab_size=len(qwen["fast"]), n_embd=8, n_layer=1, n_head=1, n_positions=512)
    train = datasets.Dataset.from_list(messages_rows())
    prepared = sft_dataset(
        train, qwen["fast"], transformers.GPT2LMHeadModel(cfg), qwen["root"] / "run", assistant_only_loss=True
    )
    assert {"input_ids", "labels"} <= set(prepared.column_names)
    folder = qwen["root"] / "trl_prepared"
    prepared.save_to_disk(str(folder))
    args = ["audit", str(folder), "--source", TINY, "-t", qwen["template"], "-k", qwen["dir"], "--expect", "it"]
    res = CliRunner().invoke(main, [*args, "--format", "json"])
    assert res.exit_code == 0, res.output
    got = json.loads(res.stdout)
    assert (got["mode"], got["findings"], got["token_mismatch"], got["examples"]) == ("it", 0, 0, 12)
    # TRL's {% generation %} block opens before the "\n" after the assistant header and closes
    # after the "\n" that follows <|im_end|>: one template newline each side of every reply
    assert got["ambiguous"] == {
        "template '\\n' before output trained": ASSISTANT_TURNS,
        "template '\\n' after '<|im_end|>' trained": ASSISTANT_TURNS,
    }
    tt = got["template_trained"]
    assert (tt["header"], tt["separator"], tt["total"]) == (ASSISTANT_TURNS, ASSISTANT_TURNS, 2 * ASSISTANT_TURNS)
    assert got["content_masked"]["output"] == 0 and got["eot_untrained"] == 0
    assert got["by_kind"]["system_prompt"]["tokens"] > 0  # Qwen's default system prompt, injected, masked
    assert got["by_kind"]["system_prompt"]["trained"] == 0
    table = CliRunner().invoke(main, args).stdout
    assert "mode: it (left out as ambiguous: template '\\n' before output trained (1.08 per example)" in table


def test_transformers_assistant_tokens_mask_is_it(qwen: dict[str, Any]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    fast = qwen["fast"]
    cols: dict[str, list[Any]] = {"id": [], "input_ids": [], "assistant_masks": []}
    for row in messages_rows():
        out = fast.apply_chat_template(
            row["messages"], tokenize=True, return_dict=True, return_assistant_tokens_mask=True
        )
        cols["id"].append(row["id"])
        cols["input_ids"].append(list(out["input_ids"]))
        cols["assistant_masks"].append(list(out["assistant_masks"]))
    path = qwen["root"] / "masks.parquet"
    pq.write_table(pa.table(cols), path)
    r = imdata.audit(str(path), source=TINY, tokenizer=qwen["dir"], template=qwen["template"], expect="it")
    assert (r.mode, r.findings, r.provenance["labels_column"]) == ("it", 0, "assistant_masks")
    assert r.template_trained["total"] == 2 * ASSISTANT_TURNS and sum(r.ambiguous.values()) == 2 * ASSISTANT_TURNS
    assert r.content_trained == {"system": 0, "instruction": 0, "output": r.counts["output"][0]}


def test_trl_completion_only_loss_on_prompt_completion(tmp_path: Path) -> None:
    """Prompt = the tulu prompt up to the last reply, completion = that reply; TRL adds EOS."""
    path = str(shared("tokenizers/llama2/tokenizer.json"))
    processing = transformers.PreTrainedTokenizerFast(
        tokenizer_file=path, bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )
    tulu = get_template("tulu")
    rows = []
    for ex in load(TINY).examples:
        *before, last = ex.messages
        rows.append({"id": ex.id, "prompt": tulu.render_prompt(before), "completion": last.content.strip()})
    model = transformers.LlamaForCausalLM(
        transformers.LlamaConfig(
            vocab_size=32000, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2
        )
    )
    prepared = sft_dataset(datasets.Dataset.from_list(rows), processing, model, tmp_path / "run")
    prepared.save_to_disk(str(tmp_path / "prepared"))
    r = imdata.audit(str(tmp_path / "prepared"), source=TINY, tokenizer=path, expect="it")
    assert (r.nearest, r.token_mismatch) == ("it", 0)
    # tulu trains "</s>\n" as the end of a turn; LLaMA-2 splits that "\n" into "▁" "<0x0A>"
    assert r.ambiguous == {"end-of-turn '\\n' before template masked": 2}
    modes = {e.id: e.mode for e in r.per_example}
    # every one-reply example is exactly IT; the two-reply one loses its first reply and its </s>\n
    assert modes == {ex: "mixed" if ex == "ex-003" else "it" for ex in modes}
    multi = r.per_example[2].to_dict()
    assert multi["content_masked"]["output"] > 0 and multi["eot_untrained"] == 1
    assert r.mode == "mixed" and r.findings == multi["findings"] and not r.passed
    assert r.description.startswith("mixed: it - ") and "output tokens per example masked" in r.description


def test_the_readme_producer_script_on_a_sample(tmp_path: Path) -> None:
    import sys

    from conftest import REPO

    sys.path.insert(0, str(REPO / "analyses"))
    import producer_labels

    released, trl_folder = producer_labels.main(tmp_path, 20)
    lima = str(shared("instruction_modelling/lima_data.jsonl"))
    k = str(shared("tokenizers/llama2/tokenizer.json"))
    r = imdata.audit(str(released), source=lima, tokenizer=k)
    assert (r.examples, r.mode, r.nearest, r.provenance["align"]) == (20, "mixed", "im", "id")
    t = imdata.audit(str(trl_folder), source=lima, tokenizer=k, expect="it")
    assert (t.mode, t.passed) == ("it", True)  # LIMA's first 20 examples are single-turn
