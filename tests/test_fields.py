"""--field: datasets with their own column names are read without a conversion script."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from imdata.cli import main
from imdata.data.dataset import load
from imdata.data.formats import parse_fields
from imdata.errors import DataError, FormatError

QA = [("What is 2+2?", "4"), ("Name a colour.", "Blue, as the sky is."), ("Capital of Peru?", "Lima")]


@pytest.fixture
def qa_csv(tmp_path: Path) -> Path:
    p = tmp_path / "qa.csv"
    with p.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["question", "answer", "topic"])
        for q, a in QA:
            w.writerow([q, a, "misc"])
    return p


@pytest.fixture
def dialog_jsonl(tmp_path: Path) -> Path:
    p = tmp_path / "dialog.jsonl"
    rows = [
        {"dialog": [{"speaker": "human", "text": "Hi there"}, {"speaker": "bot", "text": "Hello! How can I help?"}]},
        {"dialog": [{"speaker": "user", "text": "Tell me a joke"}, {"speaker": "assistant", "text": "No."}]},
    ]
    p.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return p


def test_qa_csv_reads_with_field_map(qa_csv: Path) -> None:
    ds = load(str(qa_csv), fields={"instruction": "question", "output": "answer"})
    assert ds.format == "alpaca" and len(ds) == 3
    assert [(ex.messages[0].content, ex.messages[1].content) for ex in ds.examples] == QA
    assert ds.examples[0].meta == {"topic": "misc"}


def test_dialog_reads_with_field_map(dialog_jsonl: Path) -> None:
    ds = load(str(dialog_jsonl), fields={"messages": "dialog", "role": "speaker", "content": "text"})
    assert [[m.role for m in ex.messages] for ex in ds.examples] == [["user", "assistant"]] * 2
    assert ds.examples[1].messages[1].content == "No."


def test_missing_mapped_field_is_named_as_the_file_names_it(tmp_path: Path) -> None:
    p = tmp_path / "d.jsonl"
    p.write_text(json.dumps({"dialog": [{"speaker": "human", "words": "hi"}]}) + "\n", encoding="utf-8")
    with pytest.raises(DataError) as e:
        load(str(p), fields={"messages": "dialog", "role": "speaker", "content": "text"}, on_error="raise")
    assert e.value.field == "dialog[0].text" and "line 1" in str(e.value) and "--field" in str(e.value)


def test_bad_field_spec() -> None:
    with pytest.raises(FormatError, match="KIND=NAME"):
        parse_fields(["question"])
    with pytest.raises(FormatError, match="instruction, input, output"):
        parse_fields(["prompt=question"])


@pytest.mark.parametrize(
    ("fixture", "flags"),
    [
        ("qa_csv", ["--field", "instruction=question", "--field", "output=answer"]),
        ("dialog_jsonl", ["--field", "messages=dialog", "--field", "role=speaker", "--field", "content=text"]),
    ],
)
def test_profile_and_export_with_field(
    fixture: str, flags: list[str], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    src = str(request.getfixturevalue(fixture))
    res = CliRunner().invoke(main, ["profile", src, *flags, "--format", "json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)["datasets"][0]
    assert d["examples"] == (3 if fixture == "qa_csv" else 2) and d["skipped"]["total"] == 0
    out = tmp_path / "spans.jsonl"
    res = CliRunner().invoke(main, ["spans", src, *flags, "-o", str(out)])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == d["examples"]
    assert any(s["kind"] == "instruction" for s in rows[0]["spans"])
    # without the map the file is refused with the flag that fixes it
    bare = CliRunner().invoke(main, ["profile", src])
    assert bare.exit_code == 1 and "--field" in bare.stderr and "Traceback" not in bare.output
