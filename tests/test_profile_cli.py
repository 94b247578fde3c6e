"""`imdata profile` and `imdata query` on the command line: stdout, stderr, exit codes."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import EXAMPLES

from imdata.cli import main

CHAT = str(EXAMPLES / "tiny_chat.jsonl")
ALPACA = str(EXAMPLES / "tiny_alpaca.json")


def run(*args: str) -> object:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_table_side_by_side() -> None:
    res = run("profile", CHAT, ALPACA)
    assert res.exit_code == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].startswith("lengths in words (mean ± population sd), template tulu")
    assert any(line.startswith("tiny_chat ") for line in lines)
    assert any(line.startswith("tiny_alpaca ") for line in lines)
    assert "profiled 2 dataset(s)" in res.stderr and "profiled" not in res.stdout


def test_json_is_the_report() -> None:
    res = run("profile", CHAT, "--format", "json", "--name", "chat")
    assert res.exit_code == 0
    doc = json.loads(res.stdout)
    assert [d["name"] for d in doc["datasets"]] == ["chat"]
    assert doc["unit"] == "words" and doc["template"] == "tulu"


def test_csv_and_markdown() -> None:
    rows = list(csv.DictReader(io.StringIO(run("profile", CHAT, ALPACA, "--format", "csv").stdout)))
    assert [r["name"] for r in rows] == ["tiny_chat", "tiny_alpaca"]
    assert {"instruction_mean", "output_sd", "ratio", "trained_it", "skipped"} <= set(rows[0])
    md = run("profile", CHAT, "--format", "markdown", "--unit", "chars").stdout
    assert "| dataset | examples | instruction |" in md and "|---|---:|" in md


def test_tokens_with_max_length(llama2_tokenizer: Path) -> None:
    res = run(
        "profile",
        CHAT,
        "--tokenizer",
        str(llama2_tokenizer),
        "--max-length",
        "16",
        "--format",
        "json",
    )
    assert res.exit_code == 0, res.stderr
    d = json.loads(res.stdout)["datasets"][0]
    assert d["unit"] == "tokens"
    assert d["truncation"]["max_length"] == 16 and d["truncation"]["examples"] > 0
    assert d["truncation"]["lost_im"] >= d["truncation"]["lost_it"] > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--unit", "tokens"], "--unit tokens needs a tokenizer"),
        (["--max-length", "10"], "--max-length counts tokens"),
        (["--tokenizer", "/nonexistent/tokenizer.json"], "no such tokenizer file or folder"),
        (["--name", "a", "--name", "b"], "--name was given 2 times for 1 datasets"),
        (["--template", "nope"], "not a built-in template"),
    ],
)
def test_errors_exit_1_with_a_message(args: list[str], message: str) -> None:
    res = run("profile", CHAT, *args)
    assert res.exit_code == 1
    assert message in res.stderr and res.stdout == ""


def test_empty_file_and_bad_options(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    res = run("profile", str(empty))
    assert res.exit_code == 1 and "no usable examples; is the file empty?" in res.stderr
    assert run("profile", CHAT, "--unit", "lines").exit_code == 2
    assert run("profile", CHAT, "--max-length", "0").exit_code == 2
    assert run("profile").exit_code == 2


def test_skip_and_rejects(tmp_path: Path) -> None:
    src = tmp_path / "mixed.jsonl"
    src.write_text(Path(CHAT).read_text(encoding="utf-8") + "{broken\n", encoding="utf-8")
    rejects = tmp_path / "rejects.jsonl"
    res = run("profile", str(src), "--on-error", "skip", "--rejects", str(rejects), "--format", "json")
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["datasets"][0]["skipped"]["total"] == 1
    assert "skipped 1" in res.stderr and "wrote 1 rejected records" in res.stderr
    assert json.loads(rejects.read_text(encoding="utf-8").splitlines()[0])["reason"] == "malformed-json"
    again = run("profile", str(src), "--on-error", "skip", "--rejects", str(rejects))
    assert again.exit_code == 1 and "already exists; pass --force" in again.stderr


def test_plots(tmp_path: Path) -> None:
    out = tmp_path / "plots"
    res = run("profile", CHAT, ALPACA, "--plots", str(out))
    assert res.exit_code == 0, res.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == ["instruction_vs_output.png", "lengths.png", "ratio.png"]
    assert all((out / n).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for n in names)
    first = (out / "ratio.png").read_bytes()
    assert run("profile", CHAT, ALPACA, "--plots", str(out)).exit_code == 1  # no overwrite without --force
    assert run("profile", CHAT, ALPACA, "--plots", str(out), "--force").exit_code == 0
    assert (out / "ratio.png").read_bytes() == first  # no timestamp: same report, same bytes


def test_db_and_query(tmp_path: Path) -> None:
    db = str(tmp_path / "p.duckdb")
    for _ in range(2):  # re-profiling replaces
        assert run("profile", CHAT, ALPACA, "--db", db).exit_code == 0
    assert run("profile", CHAT, "--db", db, "--unit", "chars").exit_code == 0  # another unit adds
    res = run(
        "query",
        "--db",
        db,
        "SELECT unit, count(*) AS n FROM profile_datasets GROUP BY unit ORDER BY unit",
        "--format",
        "json",
    )
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout) == [{"n": 1, "unit": "chars"}, {"n": 2, "unit": "words"}]
    n_chat = sum(1 for line in Path(CHAT).read_text(encoding="utf-8").splitlines() if line.strip())
    res = run(
        "query",
        "--db",
        db,
        "SELECT count(*) AS n FROM profile_examples WHERE dataset = 'tiny_chat'",
        "--format",
        "csv",
    )
    assert res.stdout.splitlines() == ["n", str(2 * n_chat)]  # once per unit, never duplicated
    md = run(
        "query",
        "--db",
        db,
        "SELECT name, ratio FROM profile_datasets ORDER BY name",
        "--format",
        "markdown",
    )
    assert md.stdout.startswith("| name | ratio |")
    table = run(
        "query",
        "--db",
        db,
        "SELECT name, examples FROM profile_datasets WHERE unit = 'words' ORDER BY name",
    )
    assert table.stdout.splitlines()[0].split() == ["name", "examples"]


def test_query_errors(tmp_path: Path) -> None:
    res = run("query", "--db", str(tmp_path / "none.duckdb"), "SELECT 1")
    assert res.exit_code == 1 and "no such store" in res.stderr
    db = str(tmp_path / "p.duckdb")
    run("profile", CHAT, "--db", db)
    res = run("query", "--db", db, "SELECT nope FROM profile_datasets")
    assert res.exit_code == 1 and "the query failed" in res.stderr and "profile_examples" in res.stderr
    res = run("query", "--db", db, "DELETE FROM profile_datasets")
    assert res.exit_code == 1 and "read-only" in res.stderr
