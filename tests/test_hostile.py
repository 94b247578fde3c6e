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
from hostile_corpus import CASES, Case

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
