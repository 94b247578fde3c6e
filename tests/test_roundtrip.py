"""Faithful data in, faithful data out: selections keep the input records, on every real file.

profile(subset(D, n=len(D))) == profile(D), and each ratio bucket written by split
re-profiles to the ratio the split reported, for every instruction file in ../shared/data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import shared

from imdata.data.dataset import load
from imdata.profiling.profiler import profile
from imdata.selection.splits import split
from imdata.selection.subsets import subset

#: every training-format file in ../shared/data (the eval sets without outputs, the
#: leaderboard CSV and the tokenised fixtures are not instruction data)
INSTRUCTION_FILES = [
    "alpaca/alpaca_5000_pr152.json",
    "alpaca/seed_tasks.jsonl",
    "alpagasus/claude_t45.json",
    "alpagasus/dolly_3k.json",
    "alpagasus/helpfulness_t45.json",
    "alpagasus/random_9k.json",
    "alpagasus/test_data/sinstruct_test_set.jsonl",
    "code_alpaca/code_alpaca_2k.json",
    "code_alpaca/new_codealpaca.json",
    "code_alpaca/seed_tasks.jsonl",
    "fixtures/axolotl/conversation.json",
    "fixtures/axolotl/conversation.missingturns.json",
    "instruction_modelling/alpagasus_3k_dolly.jsonl",
    "instruction_modelling/alpagasus_claude_t45_alpaca.jsonl",
    "instruction_modelling/lima_data.jsonl",
    "outputs/alpaca_eval/gpt4.json",
    "outputs/alpaca_eval/text_davinci_003.json",
    "self_instruct/predictions/davinci-t0-ft_predictions.jsonl",
    "self_instruct/user_oriented_instructions.jsonl",
    pytest.param("sharegpt/sharegpt_v3_unfiltered_cleaned_split.first17671.json.gz", marks=pytest.mark.slow),
]

_WHERE = {"name", "path", "fingerprint", "skipped"}


def _profile(path: str | Path) -> dict[str, Any]:
    d = profile(str(path)).to_dict()["datasets"][0]
    d["quality"].pop("skipped")  # records left out of the input are not in the subset to skip
    return {k: v for k, v in d.items() if k not in _WHERE}


@pytest.mark.parametrize("rel", INSTRUCTION_FILES)
def test_subset_of_everything_profiles_as_the_input(rel: str, tmp_path: Path) -> None:
    src = shared(rel)
    ds = load(str(src))
    out = tmp_path / "all.jsonl"
    subset(ds, n=len(ds), output=out)
    assert _profile(out) == _profile(src)


@pytest.mark.parametrize("rel", INSTRUCTION_FILES)
def test_split_buckets_reprofile_to_the_reported_ratios(rel: str, tmp_path: Path) -> None:
    src = shared(rel)
    ds = load(str(src))
    if len(ds) < 8:
        pytest.skip(f"{rel}: {len(ds)} examples are too few for four buckets")
    rep = split(ds, by="ratio", output=tmp_path / "buckets")
    for part in rep.parts:
        reported = rep.manifest.profile[part.name]
        again = profile(str(tmp_path / "buckets" / f"{part.name}.jsonl")).datasets[0]
        assert again.examples == reported["count"] == len(part.examples)
        assert again.instruction.mean == pytest.approx(reported["instruction_mean"], abs=0.005)
        assert again.output.mean == pytest.approx(reported["output_mean"], abs=0.005)
        if reported["ratio_of_means"] is not None:
            assert round(again.ratio, 4) == reported["ratio_of_means"]


def test_alpaca_subset_writes_the_selected_records_with_their_input(tmp_path: Path) -> None:
    src = shared("alpagasus/claude_t45.json")
    records = json.loads(src.read_text(encoding="utf-8"))
    out = tmp_path / "sub.jsonl"
    rep = subset(load(str(src)), n=1000, output=out)
    lines = out.read_bytes().splitlines()
    assert len(lines) == 1000
    written = [json.loads(line) for line in lines]
    assert all(list(r) == ["instruction", "input", "output"] for r in written)
    assert sum(1 for r in written if r["input"]) > 300
    # each line is the input record, keys in order, nothing added or lost
    as_read = {json.dumps(r, ensure_ascii=False) for r in records}
    assert all(json.dumps(r, ensure_ascii=False) in as_read for r in written)
    assert len(rep.subsets[0].examples) == 1000


def test_jsonl_records_are_written_byte_for_byte(tmp_path: Path) -> None:
    src = shared("instruction_modelling/lima_data.jsonl")
    lines = set(src.read_bytes().splitlines())
    out = tmp_path / "sub.jsonl"
    subset(load(str(src)), n=100, seed=3, output=out)
    written = out.read_bytes().splitlines()
    assert len(written) == 100 and all(line in lines for line in written)


def test_canonical_jsonl_round_trips(tmp_path: Path) -> None:
    rec = {
        "id": 1.5,
        "messages": [
            {"role": "system", "content": "Be brief.", "name": "policy"},
            {"role": "user", "content": "Translate.", "context": "Bonjour"},
            {"role": "assistant", "content": "Hi", "weight": 0},
            {"role": "user", "content": "Again"},
            {"role": "assistant", "content": "Hello", "tool_calls": [{"id": "t1"}]},
        ],
    }
    other = {"id": True, "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps(rec) + "\n" + json.dumps(other) + "\n", encoding="utf-8")
    first = load(str(src))
    once = tmp_path / "once.jsonl"
    subset(first, n=2, output=once, to="messages")
    again = load(str(once))
    twice = tmp_path / "twice.jsonl"
    subset(again, n=2, output=twice, to="messages")
    assert once.read_bytes() == twice.read_bytes()
    assert [ex.messages for ex in again.examples] == [ex.messages for ex in first.examples]
    written = [json.loads(line) for line in once.read_text(encoding="utf-8").splitlines()]
    assert [w["id"] for w in written] == [1.5, True]
    assert written[0]["messages"][1]["context"] == "Bonjour"
    assert written[0]["messages"][2]["weight"] == 0
    assert written[0]["messages"][4]["tool_calls"] == [{"id": "t1"}]
    assert again.examples[0].messages[2].trained is False


def test_duplicate_records_are_kept_with_stable_unique_ids() -> None:
    ds = load(str(shared("alpagasus/dolly_3k.json")))
    ids = [ex.id for ex in ds.examples]
    assert len(ds) == 2996 and len(set(ids)) == 2996
    assert ds.skipped.warning_counts == {"duplicate-record": 2}
    assert ids == [ex.id for ex in load(str(shared("alpagasus/dolly_3k.json"))).examples]
    assert sum(1 for i in ids if i.count("-") == 2) == 2  # ex-<hash>-2


@pytest.mark.slow
@pytest.mark.parametrize("rel", INSTRUCTION_FILES)
def test_every_command_runs_to_the_end_with_its_defaults(rel: str, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from imdata.cli import main

    src = str(shared(rel))
    runs = {
        "profile": ["profile", src, "--format", "json"],
        "subset": ["subset", src, "--n", "1000", "-o", str(tmp_path / "sub.jsonl")],
        "split": ["split", src, "--by", "ratio", "-o", str(tmp_path / "split")],
        # A file against a small one: a 17k-conversation self-overlap takes minutes and GBs
        "overlap": ["overlap", src, str(shared("alpaca/seed_tasks.jsonl"))],
        "card": ["card", src, "-o", str(tmp_path / "card.md")],
        "spans": ["spans", src, "-o", str(tmp_path / "spans.jsonl")],
    }
    ds = load(src)
    out = {}
    for name, argv in runs.items():
        if name == "split" and len(ds) < 4:
            continue  # four ratio buckets need four examples
        res = CliRunner().invoke(main, argv)
        assert res.exit_code == 0, f"{name}: {res.output}"
        assert "Traceback" not in res.output
        out[name] = res.stdout
    prof = json.loads(out["profile"])["datasets"][0]
    assert prof["skipped"]["reasons"] == ds.skipped.counts
    assert prof["quality"]["skipped"] == ds.skipped.counts
    assert prof["warnings"]["reasons"] == ds.skipped.warning_counts
