"""`imdata prompts` and `imdata memorize` end to end: exit codes, stdout, stderr, bad inputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from imdata.cli import main
from imdata.memorisation.memorization import memorize

TRAIN = [
    {
        "id": "t1",
        "messages": [
            {"role": "user", "content": "Name a colour."},
            {"role": "assistant", "content": "Blue is a colour of the clear sky."},
        ],
    },
    {
        "id": "t2",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Add 2 and 3."},
            {"role": "assistant", "content": "2 plus 3 equals 5."},
            {"role": "user", "content": "And 4?"},
            {"role": "assistant", "content": "9."},
        ],
    },
    {
        "id": "t3",
        "messages": [
            {"role": "user", "content": "Say hello in French."},
            {"role": "assistant", "content": "Bonjour, comment allez-vous ?"},
        ],
    },
    {
        "id": "t4",
        "messages": [
            {"role": "user", "content": "Write a haiku about rain."},
            {
                "role": "assistant",
                "content": "Soft rain on the roof / the garden drinks slowly / puddles hold the sky",
            },
        ],
    },
]


def _jsonl(path: Path, rows: list[Any]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


@pytest.fixture
def train(tmp_path: Path) -> str:
    return _jsonl(tmp_path / "train.jsonl", TRAIN)


def _run(args: list[str]) -> Any:
    return CliRunner().invoke(main, args)


def _outputs(tmp_path: Path, name: str, rows: list[Any]) -> str:
    return _jsonl(tmp_path / f"{name}.jsonl", rows)


def test_memorize_json_keys_and_exact_copy(tmp_path: Path, train: str) -> None:
    it = _outputs(
        tmp_path,
        "it",
        [
            {"id": "t1", "output": "Blue is a colour of the clear sky."},
            {"id": "t2", "output": "2 plus 3 equals 5."},
            {"id": "t3", "output": "Bonjour !"},
            {"id": "t4", "output": "Rain falls."},
        ],
    )
    res = _run(["memorize", "--train", train, "--outputs", it, "--format", "json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    run = data["runs"][0]
    assert run["name"] == "it" and run["pairs"] == 4 and run["exact_matches"] == 2
    assert set(run["bleu"]) == {"mean", "median", "p90", "above_50", "above_80"}
    assert run["bleu"]["above_80"] == 0.5
    assert run["overlap_words"]["max"] == 8
    assert data["sacrebleu"]["sentence"].startswith("nrefs:1|case:mixed|eff:yes|tok:13a")
    assert res.stdout.index('"comparisons"') < res.stdout.index('"runs"')  # sorted keys
    assert "scored 4 pairs" in res.stderr


def test_memorize_counts_every_bad_output(tmp_path: Path, train: str) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        "\n".join(
            [
                json.dumps({"id": "t1", "output": ""}),
                json.dumps({"id": "t2"}),
                json.dumps({"id": "t3", "output": 42}),
                json.dumps({"id": "t1", "output": "again"}),
                json.dumps({"id": "nope", "output": "x"}),
                json.dumps({"output": "no id here"}),
                "{not json",
                json.dumps({"id": "t4", "output": "Soft rain on the roof"}),
            ]
        )
        + "\n"
    )
    rep = memorize(train, [str(bad)], match="id")
    run = rep.runs[0]
    assert run.records == 8 and run.pairs == 2
    assert run.problems == {
        "duplicate-id": 1,
        "empty-output": 1,
        "malformed-json": 1,
        "missing-output": 1,
        "no-id": 1,
        "non-string-output": 1,
        "unmatched-output": 1,
    }
    assert "line 2" in run.messages["missing-output"] and "`output`" in run.messages["missing-output"]
    assert "--match instruction" in run.messages["no-id"]
    assert run.unmatched_train == 2
    res = _run(["memorize", "--train", train, "--outputs", str(bad)])
    assert res.exit_code == 0
    assert "non-string-output" in res.stdout and "line 3" in res.stdout


def test_memorize_instruction_match_and_prompt_outputs(tmp_path: Path, train: str) -> None:
    alp = _outputs(
        tmp_path,
        "alp",
        [
            {
                "instruction": "Name a  colour.",
                "output": "Blue is a colour.",
                "generator": "model-x",
            },
            {"instruction": "Unknown task", "output": "?", "generator": "model-x"},
        ],
    )
    prm = _outputs(
        tmp_path,
        "prm",
        [
            {
                "prompt": "<|user|>\nSay hello in French.\n<|assistant|>\n",
                "completion": "Bonjour, comment allez-vous ?",
            }
        ],
    )
    rep = memorize(train, [alp, prm], match="instruction")
    assert [r.name for r in rep.runs] == ["model-x", "prm"]
    assert rep.runs[0].pairs == 1 and rep.runs[0].problems == {"unmatched-output": 1}
    assert rep.runs[1].pairs == 1 and rep.runs[1].exact_matches == 1
    assert rep.comparisons[0].shared == 0 and rep.comparisons[0].difference is None


def test_training_without_assistant_turn_is_counted(tmp_path: Path) -> None:
    rows = [*TRAIN, {"id": "t5", "messages": [{"role": "user", "content": "only a question"}]}]
    train = _jsonl(tmp_path / "t.jsonl", rows)
    out = _outputs(tmp_path, "o", [{"id": "t1", "output": "Blue."}])
    rep = memorize(train, [out], match="id")
    assert rep.train.skipped == {"no-assistant-turn": 1}
    assert "no assistant turn" in rep.train.messages["no-assistant-turn"]


def test_two_runs_compared_with_bootstrap_and_uneven_sizes(tmp_path: Path, train: str) -> None:
    ids = ["t1", "t2", "t3", "t4"]
    ref = {r["id"]: r["messages"][-1 if r["id"] != "t2" else 2]["content"] for r in TRAIN}
    it = _outputs(tmp_path, "it", [{"id": i, "output": ref[i]} for i in ids])
    im = _outputs(tmp_path, "im", [{"id": i, "output": "something else entirely"} for i in ids[:3]])
    argv = ["memorize", "--train", train, "--outputs", it, "--outputs", im]
    argv += ["--name", "IT", "--name", "IM", "--format", "json", "--seed", "3"]
    res = _run(argv)
    assert res.exit_code == 0, res.output
    comp = json.loads(res.stdout)["comparisons"][0]
    assert comp["baseline"] == "IT" and comp["run"] == "IM" and comp["shared"] == 3
    assert comp["difference"] < 0 and comp["ci_low"] <= comp["difference"] <= comp["ci_high"]
    again = _run(argv)
    assert again.stdout == res.stdout
    table = _run(["memorize", "--train", train, "--outputs", it, "--outputs", im])
    assert "Runs differ in size: im 3 pairs" in table.stdout


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--name", "only-one"], "1 --name for 2 --outputs"),
        (["--name", "same", "--name", "same"], "two runs are named 'same'"),
        (["--baseline", "ghost"], "--baseline 'ghost' is not a run"),
    ],
)
def test_option_errors_exit_1(tmp_path: Path, train: str, extra: list[str], message: str) -> None:
    a = _outputs(tmp_path, "a", [{"id": "t1", "output": "x"}])
    b = _outputs(tmp_path, "b", [{"id": "t1", "output": "y"}])
    res = _run(["memorize", "--train", train, "--outputs", a, "--outputs", b, *extra])
    assert res.exit_code == 1
    assert message in res.stderr and "Traceback" not in res.output


def test_bad_match_choice_exits_2(train: str) -> None:
    res = _run(["memorize", "--train", train, "--outputs", train, "--match", "fuzzy"])
    assert res.exit_code == 2


def test_report_folder_csv_markdown_and_db(tmp_path: Path, train: str) -> None:
    duckdb = pytest.importorskip("duckdb")
    it = _outputs(
        tmp_path,
        "it",
        [
            {"id": "t1", "output": "Blue is a colour of the clear sky."},
            {"id": "t4", "output": "Soft rain on the roof"},
        ],
    )
    im = _outputs(tmp_path, "im", [{"id": "t1", "output": "Blue."}, {"id": "t4", "output": "Rain."}])
    rep_dir, db = tmp_path / "rep", tmp_path / "memo.duckdb"
    args = [
        "memorize",
        "--train",
        train,
        "--outputs",
        it,
        "--outputs",
        im,
        "--report",
        str(rep_dir),
        "--db",
        str(db),
    ]
    res = _run(args)
    assert res.exit_code == 0, res.output
    names = sorted(p.name for p in rep_dir.iterdir())
    assert names == [
        "bleu_cdf.png",
        "bleu_differences.png",
        "bleu_distributions.png",
        "pairs.csv",
        "report.md",
    ]
    md = (rep_dir / "report.md").read_text()
    assert "Blue is a colour of the clear sky." in md and "nrefs:1|case:mixed|eff:yes" in md
    assert _run(args).exit_code == 1  # the report exists: --force needed
    assert _run([*args, "--force"]).exit_code == 0
    con = duckdb.connect(str(db))
    assert con.execute("SELECT count(*) FROM memo_runs").fetchone() == (2,)
    assert con.execute("SELECT count(*) FROM memo_pairs").fetchone() == (4,)
    assert con.execute("SELECT count(*) FROM memo_comparisons").fetchone() == (1,)
    con.close()
    csv_out = _run(["memorize", "--train", train, "--outputs", it, "--format", "csv"]).stdout
    assert csv_out.splitlines()[0].startswith("run,pairs,mean,median,p90,above_50,above_80,corpus_bleu")
    md_out = _run(["memorize", "--train", train, "--outputs", it, "--format", "markdown"]).stdout
    assert "| run | pairs | mean |" in md_out


def test_nearest_match_names_the_training_example(tmp_path: Path, train: str) -> None:
    out = _outputs(
        tmp_path,
        "gen",
        [{"output": "Blue is a colour of the clear sky today."}, {"output": "zzz qqq"}],
    )
    rep = memorize(train, [out], match="nearest")
    frame = rep.runs[0].pairs_frame
    assert frame["train_id"].to_list() == ["t1", None]
    assert rep.runs[0].problems == {"no-shared-token": 1}
    assert rep.nearest_scored is not None and rep.all_pairs == 8
