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
from imdata.selection.subsets import stratified_order, subset


def make(n: int, *, groups: int = 3) -> list[Example]:
    return [
        Example(
            f"e{i:04d}",
            (
                Message("user", "word " * (1 + i % 7)),
                Message("assistant", "out " * (1 + (i * 5) % 11)),
            ),
            source="",
            meta={"group": f"g{i % groups}", "score": float(i % 5)},
        )
        for i in range(n)
    ]


def write_alpaca(path: Path, n: int) -> Path:
    rows = [
        {
            "instruction": f"task {i} " + "x " * (i % 9),
            "input": "",
            "output": "y " * (1 + i % 4),
            "rating": i % 5,
        }
        for i in range(n)
    ]
    path.write_text(json.dumps(rows), encoding="utf-8")
    return path


# --- properties ---------------------------------------------------------------------------

sizes = st.lists(st.integers(1, 60), min_size=1, max_size=3, unique=True)


@settings(max_examples=25, deadline=None)
@given(
    total=st.integers(61, 90),
    ns=sizes,
    seed=st.integers(0, 2**32 - 1),
    strategy=st.sampled_from(["random", "stratified", "longest", "score"]),
)
def test_sizes_exact_and_nested(total: int, ns: list[int], seed: int, strategy: str) -> None:
    opts = {"stratified": {"by": "group"}, "score": {"score_field": "score"}}.get(strategy, {})
    rep = subset(make(total), n=ns, strategy=strategy, seed=seed, nested=True, **opts)  # type: ignore[arg-type]
    got = {s.n: s.ids for s in rep.subsets}
    assert all(len(ids) == n for n, ids in got.items())
    assert all(len(set(ids)) == len(ids) for ids in got.values())
    ordered = sorted(got)
    for small, big in zip(ordered, ordered[1:], strict=False):
        assert set(got[small]) <= set(got[big])


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(5, 30))
def test_same_seed_same_bytes_different_seed_different_subset(seed: int, n: int) -> None:
    data = make(60)
    a, b = subset(data, n=n, seed=seed), subset(data, n=n, seed=seed)
    assert a.subsets[0].manifest.to_json() == b.subsets[0].manifest.to_json()
    c = subset(data, n=n, seed=seed + 1)
    assert a.subsets[0].ids != c.subsets[0].ids


@settings(max_examples=20, deadline=None)
@given(labels=st.lists(st.sampled_from("abc"), min_size=1, max_size=80), seed=st.integers(0, 1000))
def test_stratified_prefixes_keep_proportions(labels: list[str], seed: int) -> None:
    import numpy as np

    arr = np.array(labels)
    order = stratified_order(arr, np.random.default_rng(seed))
    assert sorted(order.tolist()) == list(range(len(labels)))
    for k in range(1, len(labels) + 1):
        for g in set(labels):
            share = (arr == g).sum() * k / len(labels)
            assert abs((arr[order[:k]] == g).sum() - share) <= 1


# --- units --------------------------------------------------------------------------------


def test_longest_ties_broken_by_id() -> None:
    exs = [Example.from_pairs(i, [("user", "q"), ("assistant", "same length")]) for i in ("c", "a", "b")]
    assert subset(exs, n=2, strategy="longest").subsets[0].ids == ["a", "b"]


def test_unnested_sizes_draw_independently() -> None:
    rep = subset(make(200), n=[50, 100], seed=3)
    assert not set(rep.subsets[0].ids) <= set(rep.subsets[1].ids)


def test_ratio_target_and_window_and_empty_output() -> None:
    exs = [
        Example.from_pairs("even", [("user", "a b c"), ("assistant", "x y z")]),
        Example.from_pairs("long-in", [("user", "a " * 30), ("assistant", "x")]),
        Example.from_pairs("empty", [("user", "a b"), ("assistant", "")]),
    ]
    assert subset(exs, n=1, strategy="ratio", target_ratio=1.0).subsets[0].ids == ["even"]
    rep = subset(exs, n=3, strategy="ratio", min_ratio=5)
    assert rep.subsets[0].ids == [
        "long-in",
        "empty",
    ]  # empty output: ratio +inf, inside an open window
    assert rep.warnings and "only 2" in rep.warnings[0]
    assert "+inf" in " ".join(rep.subsets[0].manifest.notes)


def test_score_keeps_at_or_above() -> None:
    rep = subset(make(50), n=5, strategy="score", score_field="score", min_score=4)
    assert rep.eligible == 10
    assert all(int(i[1:]) % 5 == 4 for i in rep.subsets[0].ids)


def test_stratified_manifest_reports_strata() -> None:
    man = subset(make(90), n=30, strategy="stratified", by="group").subsets[0].manifest.to_dict()
    assert man["strata"] == {f"g{i}": {"parent": 30, "subset": 10} for i in range(3)}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 0}, "at least 1"),
        ({"n": -3}, "at least 1"),
        ({"n": 5, "strategy": "stratified"}, "needs --by"),
        ({"n": 5, "strategy": "stratified", "by": "nope"}, "missing on any example"),
        ({"n": 5, "strategy": "score"}, "needs --score-field"),
        ({"n": 5, "strategy": "ratio"}, "needs --target-ratio"),
        ({"n": 5, "strategy": "ratio", "min_ratio": 2, "max_ratio": 1}, "below the maximum"),
        ({"n": 5, "target_ratio": 1.0}, "does not apply"),
        ({"n": 5, "strategy": "longest", "seed": [1, 2]}, "identical subsets"),
        ({"n": 500, "strict": True}, "only 20"),
    ],
)
def test_bad_options(kwargs: dict, message: str) -> None:
    with pytest.raises((OptionError, ImdataError), match=message):
        subset(make(20), **kwargs)


def test_field_missing_on_some_rows_names_them() -> None:
    exs = make(10)
    exs[3] = Example(exs[3].id, exs[3].messages, "", {})
    with pytest.raises(OptionError, match=r"1 of 10 examples \(first: e0003\)"):
        subset(exs, n=3, strategy="stratified", by="group")


# --- CLI ----------------------------------------------------------------------------------


def test_cli_writes_subsets_and_manifests(tmp_path: Path) -> None:
    src = write_alpaca(tmp_path / "d.json", 40)
    out = tmp_path / "s.jsonl"
    res = CliRunner().invoke(
        main,
        [
            "subset",
            str(src),
            "--n",
            "5,10",
            "--nested",
            "--seeds",
            "1,2",
            "-o",
            str(out),
            "--format",
            "json",
        ],
    )
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert [(r["n"], r["seed"]) for r in rows] == [(5, 1), (10, 1), (5, 2), (10, 2)]
    assert "wrote 5 examples" in res.stderr
    man = json.loads((tmp_path / "s-n5-seed1.jsonl.subset.json").read_text())
    assert man["seed"] == 1 and man["parameters"]["n"] == 5 and man["inputs"][0]["examples"] == 40
    assert set(man["profile"]) == {"subset", "parent"}
    assert [ex.id for ex in load(str(tmp_path / "s-n5-seed1.jsonl")).examples] == man["ids"]["subset"]
    again = CliRunner().invoke(main, ["subset", str(src), "--n", "5,10", "--nested", "--seeds", "1,2", "-o", str(out)])
    assert again.exit_code == 1 and "--force" in again.stderr


def test_cli_same_seed_same_bytes(tmp_path: Path) -> None:
    src = write_alpaca(tmp_path / "d.json", 40)
    for name in ("a", "b"):
        res = CliRunner().invoke(
            main,
            ["subset", str(src), "--n", "7", "--seed", "9", "-o", str(tmp_path / name / "s.jsonl")],
        )
        assert res.exit_code == 0, res.output
    for suffix in ("s.jsonl", "s.jsonl.subset.json"):
        assert (tmp_path / "a" / suffix).read_bytes() == (tmp_path / "b" / suffix).read_bytes()


def test_cli_errors(tmp_path: Path) -> None:
    src = write_alpaca(tmp_path / "d.json", 10)
    out = str(tmp_path / "s.jsonl")
    bad_n = CliRunner().invoke(main, ["subset", str(src), "--n", "0", "-o", out])
    assert bad_n.exit_code == 2 and "minimum" in bad_n.stderr
    bad_n = CliRunner().invoke(main, ["subset", str(src), "--n", "ten", "-o", out])
    assert bad_n.exit_code == 2
    too_many = CliRunner().invoke(main, ["subset", str(src), "--n", "50", "-o", out])
    assert too_many.exit_code == 0 and "only 10 of 10" in too_many.stderr
    strict = CliRunner().invoke(main, ["subset", str(src), "--n", "50", "--strict", "-o", out, "--force"])
    assert strict.exit_code == 1 and "drop --strict" in strict.stderr
    not_num = CliRunner().invoke(
        main,
        [
            "subset",
            str(src),
            "--n",
            "3",
            "--strategy",
            "score",
            "--score-field",
            "instruction",
            "-o",
            out,
            "--force",
        ],
    )
    assert not_num.exit_code == 1 and "missing" in not_num.stderr
    both = CliRunner().invoke(
        main,
        ["subset", str(src), "--n", "3", "--seed", "1", "--seeds", "2,3", "-o", out, "--force"],
    )
    assert both.exit_code == 2


def test_cli_score_on_record_field(tmp_path: Path) -> None:
    src = write_alpaca(tmp_path / "d.json", 30)
    res = CliRunner().invoke(
        main,
        [
            "subset",
            str(src),
            "--n",
            "4",
            "--strategy",
            "score",
            "--score-field",
            "rating",
            "--min-score",
            "4",
            "-o",
            str(tmp_path / "s.jsonl"),
        ],
    )
    assert res.exit_code == 0, res.output
    man = json.loads((tmp_path / "s.jsonl.subset.json").read_text())
    assert man["eligible"] == 6 and man["counts"]["subset"] == 4


# --- real data ----------------------------------------------------------------------------


@pytest.mark.slow
def test_real_random_9k_every_strategy() -> None:
    import imdata

    ds = imdata.load(str(shared("alpagasus/random_9k.json")))
    parent = None
    for strategy, opts in [
        ("random", {}),
        ("stratified", {"by": "source"}),
        ("longest", {}),
        ("ratio", {"target_ratio": 1.0}),
    ]:
        rep = subset(ds, n=1000, strategy=strategy, **opts)  # type: ignore[arg-type]
        prof = rep.subsets[0].manifest.profile
        assert prof["subset"]["count"] == 1000
        parent = parent or prof["parent"]
        assert prof["parent"] == parent
    longest = subset(ds, n=1000, strategy="longest").subsets[0].manifest.profile["subset"]
    assert longest["output_mean"] > 2 * parent["output_mean"]
