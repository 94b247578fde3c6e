"""Labels as two real producers build them from LIMA, for `imdata audit` to check (README: "imdata audit").

- `released.jsonl`: the paper's released IM code (`src/finetune.py --use_lm_loss`), rebuilt
  by `imdata.reports.released` on the tulu text with the LLaMA-2 tokenizer, truncated at
  its scripts' 2,048 tokens.
- `trl_completion_only/`: TRL `SFTTrainer`'s own dataset preparation (a `save_to_disk`
  folder) of prompt/completion rows: prompt = the tulu prompt up to the last reply,
  completion = that reply (TRL adds EOS and trains the completion only, its default).
  No model is trained; the trainer is only built, which prepares its dataset.

Needs the train extra (`pip install -e ".[train]"`). The files are large; they are not
committed. `python analyses/producer_labels.py --out /tmp/labels [--sample N]`.
"""

from __future__ import annotations

from pathlib import Path

import _common as c
import orjson

from imdata.labels.labelling import tokenize_examples
from imdata.reports.released import RELEASED_MAX_LENGTH, released_im_labels
from imdata.templates.builtin import get_template


def main(out: Path, sample: int | None = None) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    data = c.dataset("lima_data", sample)
    tok = c.tokenizer()
    tulu = get_template("tulu", eos=tok.eos, bos=tok.bos)
    released = out / "released.jsonl"
    with released.open("wb") as fh:
        for tz in tokenize_examples(data.examples, tulu, tok, mode="im", max_length=RELEASED_MAX_LENGTH):
            row = {"id": tz.example.id, "input_ids": tz.input_ids.tolist()}
            row["labels"] = released_im_labels(tz.input_ids, tok).tolist()
            fh.write(orjson.dumps(row) + b"\n")
    return [released, _trl_completion_only(data, tulu, out / "trl_completion_only")]


def _trl_completion_only(data: object, tulu: object, folder: Path) -> Path:
    import datasets
    import transformers
    import trl

    datasets.disable_progress_bars()
    rows = []
    for ex in data.examples:  # type: ignore[attr-defined]
        *before, last = ex.messages
        rows.append({"id": ex.id, "prompt": tulu.render_prompt(before), "completion": last.content.strip()})  # type: ignore[attr-defined]
    processing = transformers.PreTrainedTokenizerFast(
        tokenizer_file=c.data_path(c.TOKENIZER), bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )
    config = transformers.LlamaConfig(
        vocab_size=32000, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2
    )
    args = trl.SFTConfig(
        output_dir=str(folder.with_name(folder.name + ".run")),
        max_length=None,
        report_to=[],
        use_cpu=True,
        activation_checkpointing=False,
    )
    trainer = trl.SFTTrainer(
        model=transformers.LlamaForCausalLM(config),
        args=args,
        train_dataset=datasets.Dataset.from_list(rows),
        processing_class=processing,
    )
    trainer.train_dataset.save_to_disk(str(folder))
    return folder


if __name__ == "__main__":
    c.run_script(main, __doc__, Path("producer_labels"))
