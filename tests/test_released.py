"""The template-token audit of the released IM code, by hand and on the paper's files."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from conftest import shared

from imdata.data.dataset import Dataset, SkipLog, load
from imdata.data.records import Example
from imdata.labels.labelling import IGNORE_INDEX, tokenize_examples
from imdata.labels.tokens import TokenizerInfo, load_tokenizer
from imdata.reports.released import released_audit, released_im_labels
from imdata.templates.builtin import get_template


@pytest.fixture(scope="module")
def llama() -> TokenizerInfo:
    return load_tokenizer(str(shared("tokenizers/llama2/tokenizer.json")))


def _dataset(*examples: Example) -> Dataset:
    return Dataset("hand", "hand", "messages", examples, "0", SkipLog())


def _tokens(tok: TokenizerInfo, ex: Example) -> list[str]:
    tmpl = get_template("tulu", eos=tok.eos, bos=tok.bos)
    tz = next(tokenize_examples([ex], tmpl, tok, mode="im"))
    return [tok.tokenizer.id_to_token(int(i)) for i in tz.input_ids]


def test_released_rule_masks_only_bos_and_the_first_user_header(llama: TokenizerInfo) -> None:
    ex = Example.from_pairs("x", [("user", "Hi"), ("assistant", "Yo")])
    toks = _tokens(llama, ex)
    # <s> <|user|>\n Hi \n<|assistant|>\n Yo </s>, as LLaMA-2 splits it
    assert toks == ["<s>", "▁<", "|", "user", "|", ">", "<0x0A>", "Hi", "<0x0A>",
                    "<", "|", "ass", "istant", "|", ">", "<0x0A>", "Y", "o", "</s>"]  # fmt: skip
    ids = np.array([llama.tokenizer.token_to_id(t) for t in toks])
    labels = released_im_labels(ids, llama)
    assert (labels[:7] == IGNORE_INDEX).all()
    assert (labels[7:] == ids[7:]).all()  # "\n<|assistant|>\n" (8 tokens) included
    row = released_audit(_dataset(ex), tokenizer=llama).rows[0]
    assert (row.tokens, row.released_masked, row.released_trained) == (19, 7, 12)
    assert (row.im_trained, row.template_in_loss, row.im_only) == (4, 8, 0)  # Hi Y o </s>


def test_later_headers_are_trained_and_a_system_header_is_masked_instead(
    llama: TokenizerInfo,
) -> None:
    two_turns = Example.from_pairs("t", [("user", "Hi"), ("assistant", "Yo"), ("user", "And"), ("assistant", "So")])
    row = released_audit(_dataset(two_turns), tokenizer=llama).rows[0]
    # turn 1: "\n<|assistant|>\n" (8); after "</s>\n": "<|user|>\n" (6), "\n<|assistant|>\n" (8)
    assert (row.released_masked, row.template_in_loss) == (7, 22)
    with_system = Example.from_pairs("s", [("system", "Be nice"), ("user", "Hi"), ("assistant", "Yo")])
    toks = _tokens(llama, with_system)
    ids = np.array([llama.tokenizer.token_to_id(t) for t in toks])
    labels = released_im_labels(ids, llama)
    assert toks[1:6] == ["▁<", "|", "system", "|", ">"]
    assert int((labels == IGNORE_INDEX).sum()) == 7  # <s><|system|>\n, and the user header is trained


def test_without_bos_every_user_header_matches() -> None:
    gpt2 = load_tokenizer(str(shared("tokenizers/gpt2/tokenizer.json")))
    ex = Example.from_pairs("t", [("user", "Hi"), ("assistant", "Yo"), ("user", "And"), ("assistant", "So")])
    tmpl = get_template("tulu", eos=gpt2.eos, bos=gpt2.bos)
    tz = next(tokenize_examples([ex], tmpl, gpt2, mode="im"))
    labels = released_im_labels(tz.input_ids, gpt2)
    header = gpt2.tokenizer.encode("<|user|>\n").ids
    assert int((labels == IGNORE_INDEX).sum()) == 2 * len(header)


def test_audit_on_the_first_200_examples_of_the_paper_files(llama: TokenizerInfo, paper_files: list) -> None:
    sets = []
    for path in paper_files:
        d = load(str(path))
        sets.append(dataclasses.replace(d, examples=d.examples[:200]))
    report = released_audit(sets, tokenizer=llama)
    got = {r.name: (r.tokens, r.released_trained, r.im_trained, r.template_in_loss) for r in report.rows}
    assert got == {
        "lima_data": (114572, 113172, 111572, 1600),
        "alpagasus_3k_dolly": (37762, 36362, 34778, 1584),  # 2 truncated at 2048 lose a header
        "alpagasus_claude_t45_alpaca": (16485, 15085, 13485, 1600),
    }
    for r in report.rows:
        assert r.released_masked == 7 * r.examples  # <s><|user|>\n once per example, nothing else
        assert r.im_only == 0  # the released code trains a superset of im
        assert r.released_trained - r.im_trained == r.template_in_loss
    table = report.to_markdown()
    assert "| lima_data | 200 | 114,572 | 113,172 | 111,572 | 1,600 | 1.4% | 8.00 |" in table
    assert json.loads(json.dumps(report.to_dict()))["max_length"] == 2048
