"""`imdata prompts`: one generation prompt per training example, ids kept, in two forms."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_memorize_cli import TRAIN, _jsonl, _run

from imdata.data.records import Example
from imdata.export.prompt_forms import prompt_messages


@pytest.fixture
def train(tmp_path: Path) -> str:
    return _jsonl(tmp_path / "train.jsonl", TRAIN)


def test_prompt_messages_keeps_leading_system_and_first_user_turn() -> None:
    ex = Example.from_pairs(
        "x",
        [
            ("system", "S"),
            ("assistant", "early"),
            ("user", "U1"),
            ("assistant", "A"),
            ("user", "U2"),
        ],
    )
    assert [(m.role, m.content) for m in prompt_messages(ex)] == [("system", "S"), ("user", "U1")]
    assert prompt_messages(Example.from_pairs("y", [("assistant", "only")])) == ()


def test_prompts_tulu_keeps_ids_and_first_user_turn(tmp_path: Path, train: str) -> None:
    out = tmp_path / "prompts.jsonl"
    res = _run(["prompts", train, "--template", "tulu", "-o", str(out)])
    assert res.exit_code == 0, res.output
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["t1", "t2", "t3", "t4"]
    assert rows[0]["prompt"] == "<|user|>\nName a colour.\n<|assistant|>\n"
    assert rows[1]["prompt"] == "<|system|>\nBe brief.\n<|user|>\nAdd 2 and 3.\n<|assistant|>\n"
    assert res.stdout == ""
    assert "wrote 4 prompts" in res.stderr


def test_prompts_messages_form_and_no_overwrite(tmp_path: Path, train: str) -> None:
    out = tmp_path / "msgs.jsonl"
    assert _run(["prompts", train, "--form", "messages", "-o", str(out)]).exit_code == 0
    row = json.loads(out.read_text().splitlines()[1])
    assert row == {
        "id": "t2",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Add 2 and 3."},
        ],
    }
    again = _run(["prompts", train, "--form", "messages", "-o", str(out)])
    assert again.exit_code == 1 and "--force" in again.stderr


def test_prompts_alpaca_template(tmp_path: Path, train: str) -> None:
    out = tmp_path / "p.jsonl"
    assert _run(["prompts", train, "--template", "alpaca", "-o", str(out)]).exit_code == 0
    first = json.loads(out.read_text().splitlines()[0])["prompt"]
    assert first.startswith("Below is an instruction") and first.rstrip().endswith("### Response:")
