"""One progress display for every command: lines in logs, a bar on terminals, silent with --quiet."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import EXAMPLES

from imdata.cli import main
from imdata.cli._progress import Progress, set_quiet


def test_log_lines_have_count_total_and_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    monkeypatch.setenv("IMDATA_PROGRESS_SECONDS", "0")
    bar = Progress("reading")
    for done in (512, 1024, 1500):
        bar("a", done, None)
    bar("b", 10, 20)
    bar("b", 20, 20)
    bar.close()
    lines = err.getvalue().splitlines()
    assert all("\r" not in line for line in lines)
    assert any(line.startswith("reading a: 1500 records [") and "records/s" in line for line in lines)
    assert any(line.startswith("reading b: 20/20 records [") for line in lines)


def test_quiet_silences(monkeypatch: pytest.MonkeyPatch) -> None:
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    set_quiet(True)
    try:
        bar = Progress("reading")
        bar("a", 5, 10)
        bar.close()
    finally:
        set_quiet(False)
    assert err.getvalue() == ""


def test_profile_writes_progress_lines_when_stderr_is_a_file(tmp_path: Path) -> None:
    src = tmp_path / "many.jsonl"
    row = {"instruction": "Say a number.", "output": "Seven."}
    src.write_text("".join(json.dumps({**row, "id": i}) + "\n" for i in range(600)), encoding="utf-8")
    res = CliRunner().invoke(main, ["profile", str(src)])
    assert res.exit_code == 0, res.output
    assert "profiling many: 600 examples [" in res.stderr and "examples/s]" in res.stderr
    quiet = CliRunner().invoke(main, ["profile", str(src), "--quiet"])
    assert quiet.exit_code == 0 and "profiling many" not in quiet.stderr
    assert quiet.stdout == res.stdout


def test_every_reading_command_shows_progress(tmp_path: Path) -> None:
    src = str(EXAMPLES / "tiny_alpaca.json")
    res = CliRunner().invoke(main, ["subset", src, "--n", "2", "-o", str(tmp_path / "s.jsonl")])
    assert res.exit_code == 0, res.output
    assert "reading tiny_alpaca:" in res.stderr and "records [" in res.stderr
