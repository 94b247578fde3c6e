from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import shared
from hypothesis import given, settings
from hypothesis import strategies as st

from imdata.cli import main
from imdata.data.dataset import load
from imdata.data.records import Example, Message
from imdata.errors import ImdataError, OptionError
from imdata.selection.splits import split


def make(n: int) -> list[Example]:
    return [
        Example(
            f"e{i:04d}",
            (
                Message("user", f"unique{i} " + "w " * (i % 13)),
                Message("assistant", f"o{i} " + "v " * (i * 7 % 17)),
            ),
            meta={"group": f"g{i % 3}"},
        )
        for i in range(n)
    ]


def ids_of(rep) -> list[str]:  # type: ignore[no-untyped-def]
    return [ex.id for p in rep.parts for ex in p.examples]


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(12, 80),
    k=st.integers(2, 5),
    equal=st.booleans(),
    seed=st.integers(0, 10**6),
    holdout=st.one_of(st.none(), st.floats(0.05, 0.5)),
)
def test_buckets_disjoint_and_complete(n: int, k: int, equal: bool, seed: int, holdout: float | None) -> None:
    data = make(n)
    try:
        rep = split(data, by="ratio", buckets=k, equal_size=equal, holdout=holdout, seed=seed)
    except ImdataError as e:  # equal sizes need every bucket non-empty
        assert "empty" in str(e)
        return
    got = ids_of(rep)
    assert sorted(got) == sorted(ex.id for ex in data)  # every example exactly once
    buckets = [p for p in rep.parts if p.name.startswith("bucket")]
    assert len(buckets) == k
    if equal:
        assert len({len(p.examples) for p in buckets}) == 1
    again = split(data, by="ratio", buckets=k, equal_size=equal, holdout=holdout, seed=seed)
    assert again.manifest.to_json() == rep.manifest.to_json()


def test_buckets_are_ordered_by_ratio_and_edges_respected() -> None:
    rep = split(make(60), by="ratio", edges=[0.5, 1.0])
    assert [p.name for p in rep.parts] == ["bucket-1", "bucket-2", "bucket-3"]
    assert [p.edges for p in rep.parts] == [(None, 0.5), (0.5, 1.0), (1.0, None)]
    prof = rep.manifest.profile
    assert prof["bucket-1"]["ratio_of_means"] < prof["bucket-2"]["ratio_of_means"] < prof["bucket-3"]["ratio_of_means"]


def test_empty_output_goes_to_top_bucket() -> None:
    data = make(20) + [Example.from_pairs("empty", [("user", "a"), ("assistant", "")])]
    rep = split(data, by="ratio", buckets=3)
    assert "empty" in [ex.id for ex in rep.parts[-1].examples]
    assert any("+inf" in n for n in rep.manifest.notes)


def with_copy(n: int) -> list[Example]:
    data = make(n)
    first = data[5]  # long enough for word 3-grams in both fields
    dup = Example(
        "copy",
        (Message("user", "Instruction: " + first.messages[0].content), first.messages[1]),
        meta={"group": "g0"},
    )
    return [*data, dup]


def test_holdout_is_stratified() -> None:
    rep = split(make(90), holdout=0.2, by="group", seed=4)
    groups = [ex.meta["group"] for ex in rep.parts[0].examples]
    assert [p.name for p in rep.parts] == ["holdout", "train"]
    assert sorted(groups.count(g) for g in ("g0", "g1", "g2")) == [6, 6, 6]


def test_leak_reported_moved_or_fatal() -> None:
    data = with_copy(30)
    leaky = []
    for seed in range(30):
        rep = split(data, holdout=0.3, seed=seed)
        held = {ex.id for ex in rep.parts[0].examples}
        one_side = len(held & {"e0005", "copy"}) == 1
        assert rep.leaks is not None and (rep.leaks.matched == 1) == one_side
        if one_side:
            leaky.append(seed)
    assert leaky, "no seed separated the copies"
    seed = leaky[0]
    moved = split(data, holdout=0.3, seed=seed, leaks="move")
    assert moved.moved == 1 and moved.manifest.to_dict()["leaks"]["moved"] == 1
    assert sorted(ids_of(moved)) == sorted(ex.id for ex in data)
    with pytest.raises(ImdataError, match="--leaks move"):
        split(data, holdout=0.3, seed=seed, leaks="fail")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "nothing to split"),
        ({"by": "ratio", "edges": [1.0, 0.5]}, "strictly increasing"),
        ({"by": "ratio", "edges": [0.5, 0.5]}, "strictly increasing"),
        ({"by": "ratio", "edges": [0.5], "buckets": 3}, "disagree"),
        ({"by": "ratio", "buckets": 1}, "at least 2"),
        ({"buckets": 3, "holdout": 0.1}, "only apply to --by ratio"),
        ({"holdout": 1.5}, "between 0 and 1"),
        ({"holdout": 0.1, "by": "missing_field"}, "missing"),
    ],
)
def test_bad_options(kwargs: dict, message: str) -> None:
    with pytest.raises((OptionError, ImdataError), match=message):
        split(make(20), **kwargs)


def test_cli_split_writes_every_part(tmp_path: Path) -> None:
    rows = [
        {"instruction": f"task {i} " + "x " * (i % 9), "input": "", "output": "y " * (1 + i % 6)} for i in range(50)
    ]
    src = tmp_path / "d.json"
    src.write_text(json.dumps(rows))
    out = tmp_path / "out"
    res = CliRunner().invoke(
        main,
        [
            "split",
            str(src),
            "--by",
            "ratio",
            "--buckets",
            "3",
            "--holdout",
            "0.2",
            "-o",
            str(out),
            "--format",
            "csv",
        ],
    )
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines()[0].startswith("part,examples")
    assert "leak check" in res.stderr or "warning" in res.stderr
    man = json.loads((out / "manifest.json").read_text())
    total = 0
    for name, ids in man["ids"].items():
        assert [ex.id for ex in load(str(out / f"{name}.jsonl")).examples] == ids
        total += len(ids)
    assert total == 50 and man["counts"]["holdout"] == 10
    again = CliRunner().invoke(main, ["split", str(src), "--holdout", "0.2", "-o", str(out)])
    assert again.exit_code == 1 and "--force" in again.stderr
    bad = CliRunner().invoke(main, ["split", str(src), "--by", "ratio", "--edges", "2,x", "-o", str(out)])
    assert bad.exit_code == 2


@pytest.mark.slow
def test_real_combined_alpaca_dolly_code(tmp_path: Path) -> None:
    import imdata

    files = [
        "alpaca/alpaca_5000_pr152.json",
        "alpagasus/dolly_3k.json",
        "code_alpaca/code_alpaca_2k.json",
    ]
    sets = [imdata.load(str(shared(f)), on_error="skip") for f in files]
    rep = split(sets, by="ratio", buckets=4, output=tmp_path / "b")
    sizes = [len(p.examples) for p in rep.parts]
    assert sum(sizes) == sum(len(s) for s in sets) and max(sizes) - min(sizes) < 0.02 * sum(sizes)
    ratios = [rep.manifest.profile[p.name]["ratio_of_means"] for p in rep.parts]
    assert ratios == sorted(ratios)
    assert [i["name"] for i in rep.manifest.to_dict()["inputs"]] == [
        "alpaca_5000_pr152",
        "dolly_3k",
        "code_alpaca_2k",
    ]
