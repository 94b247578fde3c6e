"""Every command that reads data, on every generated hostile input (see ``hostile_corpus.py``).

Each run must end with exit 0 (a correct result), 1 (a data error) or 2 (a usage error),
never a traceback; an error names the file and, for a bad record or a damaged stream, the
position; nothing is left at the destination or beside it; and where records are skipped,
records in = examples out + records rejected.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hostile_corpus import CASES, Case, good

from imdata.cli import main

BY_NAME = {c.name: c for c in CASES}


def _outputs_for(path: Path, out: Path) -> Path:
    """A model-outputs file for ``memorize``: one output per good id the corpus uses."""
    f = out.parent / "outputs.jsonl"
    f.write_text("".join(json.dumps({"id": f"r{i}", "output": f"Number {i}."}) + "\n" for i in range(200)))
    return f


# command -> argv for (input, output folder); each writes only under the output folder
COMMANDS: dict[str, Callable[[Path, Path], list[str]]] = {
    "spans": lambda p, o: ["spans", str(p), "-o", str(o / "x.spans.jsonl")],
    "profile": lambda p, o: ["profile", str(p), "--format", "json"],
    "subset": lambda p, o: ["subset", str(p), "--n", "1", "-o", str(o / "sub.jsonl")],
    "split": lambda p, o: ["split", str(p), "--by", "ratio", "--buckets", "2", "-o", str(o / "parts")],
    "prompts": lambda p, o: ["prompts", str(p), "-o", str(o / "prompts.jsonl")],
    "card": lambda p, o: ["card", str(p), "-o", str(o / "card.md"), "--no-plots"],
    "show": lambda p, o: ["show", str(p), "--index", "0", "--no-color"],
    "overlap": lambda p, o: ["overlap", str(p), str(p)],
    "memorize": lambda p, o: ["memorize", "--train", str(p), "--outputs", str(_outputs_for(p, o)), "--match", "id"],
}


def _run(argv: list[str]) -> Result:
    return CliRunner().invoke(main, argv, catch_exceptions=True)


def _assert_clean(res: Result, case: Case, argv: list[str]) -> None:
    shown = f"{case.name}: imdata {' '.join(argv[:1])} -> exit {res.exit_code}\n{res.output}"
    assert res.exit_code in (0, 1, 2), shown
    assert res.exception is None or isinstance(res.exception, SystemExit), (shown, repr(res.exception))
    assert "Traceback" not in res.output, shown
    if res.exit_code == 1:
        first = res.output.strip().splitlines()[-1]
        assert first.startswith("Error: "), shown
        assert Path(case.file).name in first or case.file in first, shown
        if case.where:
            assert case.where in first, shown


def _left_behind(out: Path) -> list[str]:
    return sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.name != "outputs.jsonl")


@pytest.fixture
def place(tmp_path: Path) -> Callable[[Case], tuple[Path, Path]]:
    def make(case: Case) -> tuple[Path, Path]:
        data = tmp_path / "in" / case.file
        data.parent.mkdir(parents=True, exist_ok=True)
        case.make(data)
        out = tmp_path / "out"
        out.mkdir()
        return data, out

    return make


def _cmd_cases() -> list[tuple[str, str]]:
    """Every case through spans and profile; each other command on every damaged input and a third of the rest."""
    pairs = []
    for i, c in enumerate(CASES):
        for k, cmd in enumerate(COMMANDS):
            if cmd in ("spans", "profile") or c.damaged or (i + k) % 3 == 0:
                pairs.append((c.name, cmd))
    return pairs


@pytest.mark.parametrize(("name", "cmd"), _cmd_cases())
def test_hostile_input_never_traces_back(name: str, cmd: str, place: Callable[[Case], tuple[Path, Path]],
                                         monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    case = BY_NAME[name]
    data, out = place(case)
    monkeypatch.chdir(data.parent.parent if "/" in case.file else data.parent)
    path = Path(case.file) if case.file.startswith("data/") else data
    argv = COMMANDS[cmd](path, out)
    if cmd != "memorize":  # memorize reads its training data to the end; the others are asked to stop
        argv += ["--on-error", "raise"]
    res = _run(argv)
    _assert_clean(res, case, argv)
    # memorize reads its training data to the end and counts what it leaves out
    if case.damaged or ((case.rejected or case.raises) and cmd != "memorize"):
        assert res.exit_code == 1, f"{case.name}/{cmd} should fail under --on-error raise: {res.output}"
    if res.exit_code != 0:
        assert _left_behind(out) == [], f"{case.name}/{cmd} left {_left_behind(out)}"


@pytest.mark.parametrize("name", [c.name for c in CASES])
def test_skip_accounts_for_every_record(name: str, place: Callable[[Case], tuple[Path, Path]]) -> None:
    case = BY_NAME[name]
    data, out = place(case)
    target, rejects = out / "x.spans.jsonl", out / "rejects.jsonl"
    argv = ["spans", str(data), "-o", str(target), "--on-error", "skip", "--rejects", str(rejects)]
    res = _run(argv)
    _assert_clean(res, case, argv)
    if case.damaged:
        assert res.exit_code == 1, f"{case.name}: a damaged file must stop even under skip: {res.output}"
        assert _left_behind(out) == [], _left_behind(out)
        return
    assert res.exit_code == 0, res.output
    written = target.read_text(encoding="utf-8").splitlines()
    rejected = rejects.read_text(encoding="utf-8").splitlines()
    assert len(rejected) == case.rejected, (case.name, rejected)
    assert len(written) == (case.records - case.rejected) * case.per_record, (case.name, len(written))
    for line in rejected:
        row = json.loads(line)
        assert row["path"] == str(data) and row["where"] and row["message"].startswith(str(data))


def test_corpus_is_large_and_covers_every_command() -> None:
    assert len(CASES) >= 80
    assert {cmd for _, cmd in _cmd_cases()} == set(COMMANDS)
    assert sum(c.damaged for c in CASES) >= 30 and sum(bool(c.rejected) for c in CASES) >= 25


def _bad_rows(name: str, place: Callable[[Case], tuple[Path, Path]], *extra: str) -> tuple[Result, list[dict]]:
    data, out = place(BY_NAME[name])
    res = _run(["spans", str(data), "-o", str(out / "x.jsonl"), "--rejects", str(out / "r.jsonl"), *extra])
    rows = [json.loads(x) for x in (out / "r.jsonl").read_text().splitlines()] if res.exit_code == 0 else []
    return res, rows


@pytest.mark.parametrize(
    ("name", "field"),
    [("messages-null-content", "messages[0].content"), ("null-output", "output"), ("null-instruction", "instruction")],
)
def test_null_is_named_null_not_missing(name: str, field: str, place: Callable[[Case], tuple[Path, Path]]) -> None:
    res, rows = _bad_rows(name, place)
    assert [r["reason"] for r in rows] == ["null-field"], res.output
    assert f"`{field}` is null" in rows[0]["message"] and "missing" not in rows[0]["message"]


def test_a_first_record_that_is_not_one_is_skipped_and_named(place: Callable[[Case], tuple[Path, Path]]) -> None:
    data, out = place(BY_NAME["first-line-number"])
    argv = ["subset", str(data), "--n", "1", "-o", str(out / "x.jsonl")]
    res = _run([*argv, "--rejects", str(out / "r.jsonl")])
    rows = [json.loads(x) for x in (out / "r.jsonl").read_text().splitlines()]
    assert res.exit_code == 0 and [(r["where"], r["reason"]) for r in rows] == [("line 1", "not-an-object")]
    assert "skipped 1 record: not-an-object 1" in res.stderr
    res = _run([*argv, "-o", str(out / "y.jsonl"), "--on-error", "raise"])
    last = res.stderr.strip().splitlines()[-1]
    assert res.exit_code == 1 and last.startswith("Error: ") and "d.jsonl, line 1: is a number, not a record" in last


def test_nan_in_metadata_is_kept_and_said_once(place: Callable[[Case], tuple[Path, Path]]) -> None:
    data, out = place(BY_NAME["nan-in-meta"])
    res = _run(["subset", str(data), "--n", "2", "-o", str(out / "s.jsonl")])
    assert res.exit_code == 0, res.output
    assert res.stderr.count("non-finite-number 1") == 1 and "`score` is NaN, which is not standard JSON" in res.stderr
    assert '"score": NaN' in (out / "s.jsonl").read_text()  # a copy keeps the value as read
    manifest = json.loads((out / "s.jsonl.subset.json").read_text())
    assert manifest["inputs"][0]["warnings"] == {"non-finite-number": 1}, manifest["inputs"]


@pytest.fixture
def scored(tmp_path: Path) -> Path:
    rows = [{**good(i), "rating": v} for i, v in enumerate([4.0, float("nan"), 5, "high", float("inf"), "3.5"])]
    p = tmp_path / "rated.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))  # json writes NaN and Infinity, as some tools do
    return p


def test_a_score_that_is_not_a_number_is_a_named_bad_record(scored: Path, tmp_path: Path) -> None:
    argv = ["subset", str(scored), "--n", "6", "-s", "score", "--score-field", "rating"]
    res = _run([*argv, "-o", str(tmp_path / "a.jsonl"), "--on-error", "raise"])
    last = res.stderr.strip().splitlines()[-1]
    assert res.exit_code == 1 and last.startswith(f"Error: {scored}, line 2: `rating` is NaN, not a finite number")
    assert "--score-field" in last and not (tmp_path / "a.jsonl").exists()
    res = _run([*argv, "-o", str(tmp_path / "b.jsonl"), "--rejects", str(tmp_path / "r.jsonl")])
    assert res.exit_code == 0, res.output
    kept = [json.loads(x)["id"] for x in (tmp_path / "b.jsonl").read_text().splitlines()]
    rejected = [json.loads(x) for x in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert sorted(kept) == ["r0", "r2", "r5"] and len(kept) + len(rejected) == 6
    assert [(r["where"], r["reason"]) for r in rejected] == [("line 2", "bad-score"), ("line 4", "bad-score"),
                                                             ("line 5", "bad-score")]  # fmt: skip
    assert "`rating` is Infinity" in rejected[2]["message"] and "skipped 3 records: bad-score 3" in res.stderr


@pytest.mark.parametrize("cmd", ["spans", "subset", "profile", "split"])
def test_the_error_is_the_last_line_on_stderr(cmd: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMDATA_PROGRESS_SECONDS", "0")  # a progress line at every update
    rows = [good(i) for i in range(1200)]
    rows[1100] = {**rows[1100], "output": None}
    data = tmp_path / "big.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    argv = COMMANDS[cmd](data, tmp_path)
    res = _run([*argv, "--on-error", "raise"])
    lines = res.stderr.strip().splitlines()
    assert res.exit_code == 1 and any(x.startswith(("reading", "profiling")) for x in lines), res.stderr
    assert lines[-1] == f'Error: {data}, line 1101: `output` is null; give it a text (an empty one is "")'
    res = _run(argv)  # skip: the summary comes after every progress line
    lines = res.stderr.strip().splitlines()
    said = [i for i, x in enumerate(lines) if "skipped" in x]
    progress = [i for i, x in enumerate(lines) if x.startswith(("reading", "profiling"))]
    assert res.exit_code == 0 and said and progress and max(progress) < min(said), res.stderr
