"""Loading: every format, every container, and every kind of bad input named precisely."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import polars as pl
import pytest
from conftest import EXAMPLES, shared

from imdata.data.dataset import load, parse_role_map
from imdata.data.formats import detect_format
from imdata.errors import DataError, ImdataError


def write_jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


CHAT = {
    "id": "a",
    "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}],
}


@pytest.mark.parametrize(
    ("record", "fmt"),
    [
        ({"instruction": "i", "input": "", "output": "o"}, "alpaca"),
        ({"instruction": "i", "context": "c", "response": "r"}, "dolly"),
        ({"conversations": [{"from": "human", "value": "v"}]}, "sharegpt"),
        (CHAT, "messages"),
        ({"prompt": "p", "completion": "c"}, "prompt"),
        (["q", "a"], "lima"),
        ({"conversations": ["q", "a"]}, "lima"),
        ({"instruction": "i", "instances": [{"input": "", "output": "o"}]}, "seed"),
        ({"text": "x"}, None),
    ],
)
def test_detect_format(record: object, fmt: str | None) -> None:
    assert detect_format(record) == fmt


def test_alpaca_input_becomes_context_of_the_user_turn(tmp_path: Path) -> None:
    p = tmp_path / "a.json"
    p.write_text(json.dumps([{"instruction": "Sum", "input": "1 2", "output": "3"}]))
    (ex,) = load(str(p)).examples
    assert ex.messages[0].content == "Sum" and ex.messages[0].context == "1 2"
    assert ex.first_instruction == "Sum\n\n1 2"


def test_ids_kept_when_present_and_stable_when_not(tmp_path: Path) -> None:
    rows = [{"instruction": "a", "output": "b"}, {"instruction": "c", "output": "d"}]
    p1 = tmp_path / "one.json"
    p1.write_text(json.dumps(rows))
    p2 = tmp_path / "two.json"
    p2.write_text(json.dumps(rows[::-1]))
    ids1 = [e.id for e in load(str(p1)).examples]
    ids2 = [e.id for e in load(str(p2)).examples]
    assert ids1 == ids2[::-1], "content ids survive reordering"
    assert load(str(write_jsonl(tmp_path / "c.jsonl", [CHAT]))).examples[0].id == "a"


def test_every_container_reads_the_same_examples(tmp_path: Path) -> None:
    rows = [{"id": f"r{i}", "instruction": f"q{i}", "input": "", "output": f"a{i}"} for i in range(5)]
    jsonl = write_jsonl(tmp_path / "d.jsonl", rows)
    gz = tmp_path / "d.jsonl.gz"
    gz.write_bytes(gzip.compress(jsonl.read_bytes()))
    import zstandard

    zst = tmp_path / "d.json.zst"
    zst.write_bytes(zstandard.ZstdCompressor().compress(json.dumps(rows).encode()))
    csv = tmp_path / "d.csv"
    pl.DataFrame(rows).write_csv(csv)
    parquet = tmp_path / "d.parquet"
    pl.DataFrame(rows).write_parquet(parquet)
    import datasets

    folder = tmp_path / "hf"
    datasets.Dataset.from_list(rows).save_to_disk(str(folder))
    want = load(str(jsonl)).examples
    for p in (gz, zst, csv, parquet, folder):
        got = load(str(p)).examples
        assert [e.messages for e in got] == [e.messages for e in want], p
        assert [e.id for e in got] == [e.id for e in want], p


def test_messages_stored_as_json_strings_in_csv(tmp_path: Path) -> None:
    p = tmp_path / "m.csv"
    pl.DataFrame({"id": ["x"], "messages": [json.dumps(CHAT["messages"])]}).write_csv(p)
    assert load(str(p)).examples[0].messages[1].content == "Yo"


def err(tmp_path: Path, rows: list[object] | str, name: str = "bad.jsonl", fmt: str = "auto") -> DataError:
    p = tmp_path / name
    if isinstance(rows, str):
        p.write_text(rows, encoding="utf-8")
    else:
        write_jsonl(p, rows)
    with pytest.raises(DataError) as e:
        load(str(p), format=fmt, on_error="raise")  # type: ignore[arg-type]
    return e.value


def test_malformed_line_named(tmp_path: Path) -> None:
    e = err(tmp_path, json.dumps(CHAT) + "\n{not json\n")
    assert e.where == "line 2" and e.reason == "malformed-json"
    assert "bad.jsonl, line 2" in str(e) and "fix or remove the line" in str(e)


def test_unknown_role_names_field_and_fix(tmp_path: Path) -> None:
    rows = [{"conversations": [{"from": "human", "value": "q"}, {"from": "robot", "value": "a"}]}]
    e = err(tmp_path, rows)
    assert e.field == "conversations[1].from" and e.reason == "unknown-role"
    assert "--role-map robot=" in str(e)
    p = tmp_path / "bad.jsonl"
    ex = load(str(p), role_map=parse_role_map(["robot=assistant"])).examples[0]
    assert ex.messages[1].role == "assistant"


@pytest.mark.parametrize(
    ("row", "fmt", "field", "reason"),
    [
        ({"instruction": "q"}, "alpaca", "output", "missing-field"),
        ({"instruction": 3, "output": "a"}, "auto", "instruction", "not-a-string"),
        ({"messages": []}, "auto", "messages", "empty-conversation"),
        ({"messages": [{"role": "user", "content": "q"}]}, "auto", "messages", "no-assistant-turn"),
        (
            {"messages": [{"role": "user"}, {"role": "assistant", "content": "a"}]},
            "auto",
            "messages[0].content",
            "missing-field",
        ),
    ],
)
def test_structural_defects(tmp_path: Path, row: dict[str, object], fmt: str, field: str, reason: str) -> None:
    e = err(tmp_path, [row], fmt=fmt)
    assert (e.field, e.reason, e.where) == (field, reason, "line 1")


def test_empty_output_is_kept_and_reported(tmp_path: Path) -> None:
    p = write_jsonl(tmp_path / "e.jsonl", [{"instruction": "q", "output": ""}])
    ds = load(str(p))
    assert len(ds.examples) == 1
    (w,) = ds.skipped.warnings
    assert w.reason == "empty-output" and "line 1" in w.message and "`output`" in w.message


def test_invalid_utf8(tmp_path: Path) -> None:
    p = tmp_path / "u.jsonl"
    p.write_bytes(json.dumps(CHAT).encode() + b"\n" + b'{"instruction": "caf\xe9", "output": "x"}\n')
    with pytest.raises(DataError, match=r"line 2: is not valid UTF-8"):
        load(str(p), on_error="raise")
    j = tmp_path / "u.json"
    j.write_bytes(b'[\n{"instruction": "caf\xe9", "output": "x"}]')
    with pytest.raises(DataError, match=r"u.json, line 2: is not valid UTF-8"):
        load(str(j), on_error="raise")


def test_skip_counts_and_writes_rejects(tmp_path: Path) -> None:
    p = tmp_path / "mix.jsonl"
    p.write_text(json.dumps(CHAT) + "\n{oops\n" + json.dumps({"messages": []}) + "\n", encoding="utf-8")
    ds = load(str(p), on_error="skip")
    assert len(ds.examples) == 1
    assert ds.skipped.counts == {"malformed-json": 1, "empty-conversation": 1}
    out = tmp_path / "rejects.jsonl"
    ds.skipped.write(str(out))
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["where"] for r in rows] == ["line 2", "line 3"]
    assert rows[1]["record"] == {"messages": []}


def test_duplicate_records_kept_under_unique_ids(tmp_path: Path) -> None:
    p = write_jsonl(tmp_path / "d.jsonl", [CHAT, {**CHAT, "messages": CHAT["messages"][::-1][::-1]}, {**CHAT}])
    ds = load(str(p), on_error="raise")  # exact duplicates are data, even under raise
    assert [ex.id for ex in ds.examples] == ["a", "a-2", "a-3"]
    assert ds.skipped.warning_counts == {"duplicate-record": 2}
    assert "line 2" in ds.skipped.warnings[0].message and "kept as 'a-2'" in ds.skipped.warnings[0].message


def test_reused_id_with_other_content(tmp_path: Path) -> None:
    other = {**CHAT, "messages": [{"role": "user", "content": "Other"}, {"role": "assistant", "content": "x"}]}
    e = err(tmp_path, [CHAT, other])
    assert e.reason == "duplicate-id" and e.where == "line 2" and "--on-error skip" in str(e)
    ds = load(str(tmp_path / "bad.jsonl"))
    assert [ex.id for ex in ds.examples] == ["a", "a-2"] and ds.skipped.warning_counts == {"duplicate-id": 1}


def test_huge_record_loads(tmp_path: Path) -> None:
    big = "word " * 2_000_000  # 10 MB
    p = write_jsonl(tmp_path / "big.jsonl", [{"instruction": "Summarise", "input": big, "output": "ok"}])
    (ex,) = load(str(p)).examples
    assert len(ex.messages[0].context) == len(big)


def test_undetectable_format_and_missing_path(tmp_path: Path) -> None:
    p = write_jsonl(tmp_path / "t.jsonl", [{"text": "plain"}])
    with pytest.raises(
        DataError,
        match=r"1: cannot tell the format from the fields \['text'\]; name them with --field .* or pass --input-format",
    ):
        load(str(p), on_error="raise")
    with pytest.raises(ImdataError, match=r"no usable examples \(skipped 1 record: unknown-format 1; first: .*--field"):
        load(str(p))
    with pytest.raises(ImdataError, match="no such file"):
        load(str(tmp_path / "missing.jsonl"))


def test_hub_id_offline_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ImdataError, match="hub is switched off"):
        load("someone/some-dataset")


def test_examples_ship_with_the_repo() -> None:
    assert len(load(str(EXAMPLES / "tiny_chat.jsonl")).examples) == 12
    assert load(str(EXAMPLES / "tiny_alpaca.json")).format == "alpaca"


# --- real data -----------------------------------------------------------------------------

REAL = [
    ("instruction_modelling/lima_data.jsonl", "messages", 1030, {}),
    ("instruction_modelling/alpagasus_claude_t45_alpaca.jsonl", "messages", 5305, {}),
    ("alpagasus/dolly_3k.json", "alpaca", 2996, {}),
    ("code_alpaca/new_codealpaca.json", "alpaca", 4535, {}),
    ("alpaca/seed_tasks.jsonl", "seed", 175, {}),
    ("self_instruct/predictions/davinci-t0-ft_predictions.jsonl", "dolly", 252, {}),
    ("fixtures/axolotl/conversation.json", "sharegpt", 1, {}),
]


@pytest.mark.parametrize(("rel", "fmt", "n", "skipped"), REAL)
def test_real_files(rel: str, fmt: str, n: int, skipped: dict[str, int]) -> None:
    ds = load(str(shared(rel)), on_error="skip")
    assert (ds.format, len(ds.examples), ds.skipped.counts) == (fmt, n, skipped)


@pytest.mark.slow
def test_sharegpt_defects_are_real_and_explained() -> None:
    ds = load(
        str(shared("sharegpt/sharegpt_v3_unfiltered_cleaned_split.first17671.json.gz")),
        on_error="skip",
    )
    # SOURCES.md: 126 empty conversations; 17 more have no assistant turn at all
    assert ds.skipped.counts == {"empty-conversation": 126, "no-assistant-turn": 17}
    assert len(ds.examples) == 17671 - 143
    roles = {m.role for e in ds.examples for m in e.messages}
    assert roles == {"system", "user", "assistant"}, "bing/bard/chatgpt map to assistant by default"
