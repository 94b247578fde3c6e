"""imdata audit: every labelled position classified by span kind; the mode named; findings gate CI.

Producers checked here without a trainer: imdata's own exports (every mode, every built-in
template and three Jinja ones: 0 findings), the same labels with every role header trained,
open-instruct's tulu rule (re-implemented from its definition in test_labels), and the
paper's released IM code (rebuilt by imdata.reports.released) on the whole LIMA file.
TRL and transformers are in test_audit_producers.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from click.testing import CliRunner
from conftest import EXAMPLES, shared
from test_labels import open_instruct_labels
from test_templates import CHATML_JINJA, LLAMA2_JINJA

import imdata
from imdata.cli import main
from imdata.data.dataset import load
from imdata.data.records import Example
from imdata.labels.labelling import IGNORE_INDEX, tokenize_examples
from imdata.labels.tokens import TokenizerInfo, load_tokenizer
from imdata.reports.released import RELEASED_MAX_LENGTH, released_audit, released_im_labels
from imdata.templates.builtin import BUILTIN_TEMPLATES, get_template

TINY = str(EXAMPLES / "tiny_chat.jsonl")
ISSUE_KEYS = {
    "examples",
    "mode",
    "template_trained",
    "content_masked",
    "eot_untrained",
    "no_trained_token",
    "token_mismatch",
    "per_example",
}


@pytest.fixture(scope="module")
def llama() -> TokenizerInfo:
    return load_tokenizer(str(shared("tokenizers/llama2/tokenizer.json")))


def trl_template(tmp: Path) -> str:
    """TRL's Qwen2.5 training template (shipped in the trl package), as imdata can render it.

    imdata renders the template without its `{% generation %}` markers: each becomes an
    always-true `if` block, which keeps every character of the output the same.
    """
    trl = pytest.importorskip("trl", reason="the train extra is not installed (pip install imdata[train])")
    src = (Path(trl.__file__).parent / "chat_templates" / "qwen2_5_training.jinja").read_text(encoding="utf-8")
    try:
        from imdata.templates.jinja import JinjaTemplate

        JinjaTemplate(src)
        plain = src
    except imdata.ImdataError:
        plain = re.sub(r"\{%(-?)\s*generation\s*(-?)%\}", r"{%\1 if true \2%}", src)
        plain = re.sub(r"\{%(-?)\s*endgeneration\s*(-?)%\}", r"{%\1 endif \2%}", plain)
    path = tmp / "qwen2_5_training.jinja"
    path.write_text(plain, encoding="utf-8")
    return str(path)


def write_rows(path: Path, rows: list[dict[str, Any]]) -> str:
    with path.open("wb") as fh:
        for r in rows:
            fh.write(orjson.dumps(r, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n")
    return str(path)


def own_rows(examples: list[Example], template: str, tok: TokenizerInfo, mode: str) -> list[dict[str, Any]]:
    tmpl = get_template(template, eos=tok.eos, bos=tok.bos)
    return [
        {"id": tz.example.id, "input_ids": tz.input_ids, "labels": tz.labels}
        for tz in tokenize_examples(examples, tmpl, tok, mode=mode)  # type: ignore[arg-type]
    ]


def test_a_hand_checked_conversation(llama: TokenizerInfo, tmp_path: Path) -> None:
    ex = Example.from_pairs("x", [("user", "Hi"), ("assistant", "Yo")])
    labels = write_rows(tmp_path / "l.jsonl", own_rows([ex], "tulu", llama, "im"))
    r = imdata.audit(labels, source=[ex], tokenizer=llama, expect="im")
    # <s> | ▁< | user | > \n | Hi | \n | < | ass istant | > \n | Y o | </s>
    assert r.counts == {
        "bos": (1, 0),
        "system_prompt": (0, 0),
        "header": (13, 0),  # <|user|>\n and <|assistant|>\n
        "separator": (1, 0),  # the \n that closes the user turn
        "system": (0, 0),
        "instruction": (1, 1),
        "output": (2, 2),
        "eos": (1, 1),
    }
    assert (r.mode, r.findings, r.passed, r.distance) == ("im", 0, True, {"it": 1, "im": 0, "all": 14})


@pytest.mark.parametrize("template", [*BUILTIN_TEMPLATES, "chatml.jinja", "llama2.jinja", "qwen2_5_training.jinja"])
def test_imdata_own_labels_audit_clean_in_every_mode(llama: TokenizerInfo, tmp_path: Path, template: str) -> None:
    data = load(TINY)
    spec = template
    if template == "qwen2_5_training.jinja":
        spec = trl_template(tmp_path)
    elif template.endswith(".jinja"):
        spec = str(tmp_path / template)
        Path(spec).write_text(CHATML_JINJA if template == "chatml.jinja" else LLAMA2_JINJA, encoding="utf-8")
    examples = list(data.examples)
    if template == "llama2.jinja":  # it refuses non-alternating turns; keep the ones it renders
        examples = [ex for ex in examples if [m.role for m in ex.messages if m.role != "system"][::2].count("user")]
    for mode in ("it", "im", "all"):
        out = tmp_path / f"{mode}.jsonl"
        imdata.spans(examples, output=out, template=spec, tokenizer=llama, mode=mode, to="hf")  # type: ignore[arg-type]
        r = imdata.audit(str(out), source=examples, tokenizer=llama, template=spec, expect=mode)  # type: ignore[arg-type]
        assert (r.mode, r.findings, r.passed, r.token_mismatch, r.ambiguous) == (mode, 0, True, 0, {}), r.description
        assert r.examples == len(examples) and r.eot_untrained == 0 and r.no_trained_token == 0
        if mode == "im":
            assert r.template_trained["total"] == 0 and r.content_masked["total"] == 0
        if mode == "it":
            assert r.template_trained["total"] == 0 and r.content_masked["output"] == 0


def test_the_cli_gate_on_an_im_export_folder(llama2_tokenizer: Path, tmp_path: Path) -> None:
    k = str(llama2_tokenizer)
    run = CliRunner().invoke(main, ["spans", TINY, "-k", k, "--mode", "im", "--to", "hf", "-o", str(tmp_path / "x")])
    assert run.exit_code == 0, run.output
    args = ["audit", str(tmp_path / "x"), "--source", TINY, "-k", k, "--expect", "im", "--format", "json"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    got = json.loads(res.stdout)
    assert set(got) >= ISSUE_KEYS
    assert got["mode"] == "im" and got["examples"] == 12 and got["findings"] == 0
    assert got["template_trained"] == {"bos": 0, "header": 0, "separator": 0, "system_prompt": 0, "total": 0}
    assert got["content_masked"] == {"instruction": 0, "output": 0, "system": 0, "total": 0}
    assert (got["eot_untrained"], got["no_trained_token"], got["token_mismatch"]) == (0, 0, 0)
    assert set(got["per_example"][0]) == {
        "index", "id", "tokens", "compared", "trained", "truncated", "token_mismatch", "mode", "findings",
        "template_trained", "content_masked", "eot_untrained",
    }  # fmt: skip
    # the same command twice gives the same bytes
    assert CliRunner().invoke(main, args).stdout == res.stdout


def header_positions(tz: Any) -> list[int]:
    """Tokens inside a template span that directly precedes a message's content (found from offsets)."""
    spans = tz.rendered.spans
    heads = [s for s, nxt in zip(spans, spans[1:], strict=False) if s.kind == "template" and nxt.kind != "template"]
    out = []
    for p, (start, end) in enumerate(tz.encoding.offsets):
        if tz.kinds[p] >= 0 and start < end and any(h.start <= start and end <= h.end for h in heads):
            out.append(p)
    return out


@pytest.mark.parametrize("template", ["tulu", "chatml"])
def test_every_role_header_trained_is_mixed_and_counted_exactly(
    llama: TokenizerInfo, llama2_tokenizer: Path, tmp_path: Path, template: str
) -> None:
    data = load(TINY)
    tmpl = get_template(template, eos=llama.eos, bos=llama.bos)
    rows, changed = [], 0
    for tz in tokenize_examples(data.examples, tmpl, llama, mode="im"):
        labels = tz.labels.copy()
        pos = header_positions(tz)
        assert pos and (labels[pos] == IGNORE_INDEX).all()
        labels[pos] = tz.input_ids[pos]
        changed += len(pos)
        rows.append({"id": tz.example.id, "input_ids": tz.input_ids, "labels": labels})
    path = write_rows(tmp_path / "headers.jsonl", rows)
    r = imdata.audit(path, source=data, tokenizer=llama, template=template)
    assert (r.mode, r.nearest) == ("mixed", "im")
    assert r.template_trained["total"] == changed
    assert r.content_masked["total"] == 0 and r.eot_untrained == 0
    assert r.header_pattern == "every role header (12 of 12 examples)"
    assert r.description.startswith(f"mixed: im + {changed / 12:.2f} template tokens per example")
    k = str(llama2_tokenizer)
    html = tmp_path / "worst.html"
    args = ["audit", path, "--source", TINY, "-t", template, "-k", k, "--expect", "im", "--html", str(html)]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 1
    assert "Error: the labels are not im:" in res.stderr and "mixed: im +" in res.stderr
    assert "expect im: FAILED" in res.stdout and f"wrote {html}" in res.stderr
    page = html.read_text(encoding="utf-8")
    assert page.count("<h2>") == 5 and 'class="t k-header tr differs"' in page


def test_open_instruct_rule_is_it(llama: TokenizerInfo, tmp_path: Path) -> None:
    lima = load(str(shared("instruction_modelling/lima_data.jsonl")))
    examples = list(load(TINY).examples) + list(lima.examples[:100]) + list(lima.examples[-30:])  # LIMA's multi-turn
    rows = []
    for ex in examples:
        ids, labels = open_instruct_labels(llama.tokenizer, [m.to_dict() for m in ex.messages], llama.eos)
        rows.append({"id": ex.id, "input_ids": ids, "labels": labels})
    r = imdata.audit(write_rows(tmp_path / "oi.jsonl", rows), source=examples, tokenizer=llama, expect="it")
    assert (r.mode, r.findings, r.token_mismatch, r.examples) == ("it", 0, 0, 142)
    assert r.content_masked["output"] == 0 and r.template_trained["total"] == 0


@pytest.mark.slow
def test_released_im_code_on_lima_is_mixed_with_the_template_count_of_the_released_audit(
    llama: TokenizerInfo, tmp_path: Path
) -> None:
    lima = load(str(shared("instruction_modelling/lima_data.jsonl")))
    tmpl = get_template("tulu", eos=llama.eos, bos=llama.bos)
    rows = [
        {"id": tz.example.id, "input_ids": tz.input_ids, "labels": released_im_labels(tz.input_ids, llama)}
        for tz in tokenize_examples(lima.examples, tmpl, llama, mode="im", max_length=RELEASED_MAX_LENGTH)
    ]
    r = imdata.audit(write_rows(tmp_path / "released.jsonl", rows), source=lima, tokenizer=llama, expect="im")
    released = released_audit(lima, tokenizer=llama).rows[0]
    assert (r.mode, r.nearest, r.passed) == ("mixed", "im", False)
    assert r.template_trained["total"] == released.template_in_loss == 8996
    assert r.trained == released.released_trained and r.truncated == released.truncated_examples == 71
    assert r.content_masked["total"] == 0 and r.eot_untrained == 0
    assert r.header_pattern == "every role header after the first (1,030 of 1,030 examples)"
    # the \n around each header is ambiguous (whitespace on the mask's edge); the rest is a finding
    assert r.findings == 8996 - sum(r.ambiguous.values()) and r.findings > 6000


def test_mismatched_and_truncated_rows(llama: TokenizerInfo, tmp_path: Path) -> None:
    data = load(TINY)
    rows = own_rows(list(data.examples), "tulu", llama, "im")
    rendered = int(rows[3]["input_ids"][20])
    rows[3]["input_ids"] = rows[3]["input_ids"].copy()
    rows[3]["input_ids"][20] = 42
    for r in rows[5:8]:
        r["input_ids"], r["labels"] = r["input_ids"][:25], r["labels"][:25]
    r = imdata.audit(write_rows(tmp_path / "m.jsonl", rows), source=data, tokenizer=llama, expect="im")
    assert (r.token_mismatch, r.truncated, r.mode) == (1, 3, "im")
    assert r.first_mismatch == {
        "id": "ex-004", "index": 3, "position": 20, "labels_token": "<0x27>", "labels_id": 42,
        "rendered_token": llama.tokenizer.id_to_token(rendered), "rendered_id": rendered,
    }  # fmt: skip
    assert r.per_example[3].compared == 20 and r.per_example[5].truncated > 0
    assert (r.findings, r.passed) == (1, False)  # a tokenisation mismatch is a finding on its own


def test_mask_columns_and_alignment_by_order(llama: TokenizerInfo, tmp_path: Path) -> None:
    data = load(TINY)
    rows = own_rows(list(data.examples), "tulu", llama, "it")
    masked = [{"input_ids": r["input_ids"], "loss_mask": (r["labels"] != IGNORE_INDEX).astype(int)} for r in rows]
    path = write_rows(tmp_path / "mask.jsonl", masked)
    r = imdata.audit(path, source=data, tokenizer=llama, mask_column="loss_mask", expect="it")
    assert (r.mode, r.findings, r.provenance["align"], r.provenance["labels_column"]) == ("it", 0, "order", "loss_mask")


def _cli(tmp_path: Path, rows: list[dict[str, Any]], *extra: str, source: str = TINY) -> Any:
    path = write_rows(tmp_path / "bad.jsonl", rows)
    k = str(shared("tokenizers/llama2/tokenizer.json"))
    return CliRunner().invoke(main, ["audit", path, "--source", source, "-k", k, *extra])


def test_errors_name_the_file_the_row_and_the_fix(tmp_path: Path) -> None:
    res = _cli(tmp_path, [{"labels": [1, 2]}])
    assert res.exit_code == 1 and "`input_ids` is missing (columns: labels)" in res.stderr
    res = _cli(tmp_path, [{"input_ids": [1, 2]}])
    assert res.exit_code == 1 and "name the 0/1 mask column with --mask-column" in res.stderr
    res = _cli(tmp_path, [{"input_ids": [1, 2], "assistant_masks": [0, 1]}, {"input_ids": [1], "assistant_masks": [2]}])
    assert res.exit_code == 1
    assert "bad.jsonl, line 2: `assistant_masks` holds 2; a loss mask is 0 or 1" in res.stderr
    res = _cli(tmp_path, [{"input_ids": [1, 2], "labels": [1]}])
    assert "line 1: `labels` has 1 values and `input_ids` 2; they must be aligned" in res.stderr
    res = _cli(tmp_path, [{"input_ids": [1, 2], "labels": [1, 2]}])
    assert res.exit_code == 1 and "has 1 rows and the source 12 examples" in res.stderr
    res = _cli(tmp_path, [{"input_ids": [1, 2], "labels": [1, 2]}], "--mask-column", "nope")
    assert "`nope` is not a column (columns: input_ids, labels)" in res.stderr
    assert "Traceback" not in res.output
    (tmp_path / "x.txt").write_text("hi")
    gpt2 = str(shared("tokenizers/gpt2/tokenizer.json"))  # a real path: a missing one now fails first, at parse time
    res = CliRunner().invoke(main, ["audit", str(tmp_path / "x.txt"), "--source", TINY, "-k", gpt2])
    assert res.exit_code == 1 and "is not a datasets folder, .jsonl, .json or .parquet file" in res.stderr
    res = CliRunner().invoke(main, ["audit", "x.jsonl", "--source", TINY, "--expect", "it"])
    assert res.exit_code == 2 and "--tokenizer" in res.stderr


def test_parquet_and_datasets_folders_read_the_same(llama: TokenizerInfo, tmp_path: Path) -> None:
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = load(TINY)
    rows = own_rows(list(data.examples), "tulu", llama, "im")
    cols = {
        "id": [r["id"] for r in rows],
        "input_ids": [r["input_ids"].tolist() for r in rows],
        "labels": [r["labels"].tolist() for r in rows],
    }
    pq.write_table(pa.table(cols), tmp_path / "l.parquet")
    datasets.disable_progress_bars()
    datasets.DatasetDict({"train": datasets.Dataset.from_dict(cols)}).save_to_disk(str(tmp_path / "dd"))
    a = imdata.audit(str(tmp_path / "l.parquet"), source=data, tokenizer=llama)
    b = imdata.audit(str(tmp_path / "dd"), source=data, tokenizer=llama)
    strip = lambda d: {k: v for k, v in d.items() if k != "provenance"}  # noqa: E731
    assert strip(a.to_dict()) == strip(b.to_dict()) and a.mode == "im"
    assert np.array_equal(a.per_example[0].counts, b.per_example[0].counts)


def test_an_example_with_no_trained_token_is_counted(llama: TokenizerInfo, tmp_path: Path) -> None:
    data = load(TINY)
    rows = own_rows(list(data.examples), "tulu", llama, "it")
    rows[9]["labels"] = np.full(len(rows[9]["labels"]), IGNORE_INDEX)
    rows[2]["input_ids"] = rows[2]["input_ids"].copy()
    rows[2]["input_ids"][0] = 7  # audited nowhere, but trained: not "no trained token"
    r = imdata.audit(write_rows(tmp_path / "z.jsonl", rows), source=data, tokenizer=llama)
    assert (r.no_trained_token, r.token_mismatch, r.per_example[2].compared) == (1, 1, 0)
    assert (r.mode, r.nearest) == ("mixed", "it")
    assert r.content_masked["output"] == r.counts["output"][0] - r.counts["output"][1] > 0
    assert "output tokens per example masked, in 1 of 12 examples" in r.description


def test_axolotl_segment_tokenization_is_a_token_mismatch() -> None:
    """axolotl's own fixture (Vicuna v1.1, LLaMA tokenizer) tokenizes each turn on its own."""
    fx = shared("fixtures/axolotl")
    k = str(shared("tokenizers/llama2/tokenizer.json"))
    args = ["audit", str(fx / "conversation.tokenized.json"), "--source", str(fx / "conversation.json")]
    res = CliRunner().invoke(main, [*args, "-t", "vicuna", "-k", k, "--expect", "it", "--format", "json"])
    assert res.exit_code == 1 and "token ids differ from the render in 1 of 1 examples" in res.stderr
    got = json.loads(res.stdout)
    assert got["token_mismatch"] == 1 and got["findings"] == 1
    # the 31 tokens before the turn ("<s>" and Vicuna's system prompt) agree; then "▁" against "▁US"
    assert got["first_mismatch"] | {"id": None} == {
        "id": None, "index": 0, "position": 31, "labels_token": "▁", "labels_id": 29871,
        "rendered_token": "▁US", "rendered_id": 3148,
    }  # fmt: skip
    assert got["by_kind"]["system_prompt"] == {"tokens": 30, "trained": 0}
