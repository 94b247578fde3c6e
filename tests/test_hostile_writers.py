"""The one writer: destinations checked before any work, umask permissions, nothing left behind."""

from __future__ import annotations

import errno
import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import EXAMPLES
from hostile_corpus import good, jsonl

from imdata.cli import main

DATA = str(EXAMPLES / "tiny_chat.jsonl")


def run(*argv: str) -> Result:
    res = CliRunner().invoke(main, list(argv))
    assert res.exception is None or isinstance(res.exception, SystemExit), res.output
    assert "Traceback" not in res.output
    return res


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_outputs_get_the_umask_permissions(tmp_path: Path, umask_022: None) -> None:
    out, rejects = tmp_path / "o.jsonl", tmp_path / "r.jsonl"
    bad = tmp_path / "in.jsonl"
    bad.write_bytes(jsonl([good(1), {"id": "x"}, good(2)]))
    assert run("spans", str(bad), "-o", str(out), "--on-error", "skip", "--rejects", str(rejects)).exit_code == 0
    for p in (out, rejects, tmp_path / "o.jsonl.manifest.json"):
        assert stat.S_IMODE(p.stat().st_mode) == 0o644, p
    os.umask(0o077)
    assert run("prompts", str(bad), "-o", str(tmp_path / "p.jsonl"), "--on-error", "skip").exit_code == 0
    assert stat.S_IMODE((tmp_path / "p.jsonl").stat().st_mode) == 0o600


def test_hf_folder_gets_the_umask_permissions(tmp_path: Path, umask_022: None, llama2_tokenizer: Path) -> None:
    out = tmp_path / "hf"
    assert run("spans", DATA, "-k", str(llama2_tokenizer), "--to", "hf", "-o", str(out)).exit_code == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o755
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o644 for p in out.iterdir())
    # imdata's own folder may be replaced with --force; someone else's may not
    assert run("spans", DATA, "-k", str(llama2_tokenizer), "--to", "hf", "-o", str(out), "--force").exit_code == 0
    other = tmp_path / "theirs"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    res = run("spans", DATA, "-k", str(llama2_tokenizer), "--to", "hf", "-o", str(other), "--force")
    assert res.exit_code == 1 and "folder imdata did not write" in res.output
    assert names(other) == ["keep.txt"]


@pytest.mark.parametrize("device", ["/dev/null", "/dev/zero"])
def test_a_device_is_never_replaced(device: str, tmp_path: Path) -> None:
    before = os.stat(device)
    res = run("spans", DATA, "-o", device, "--force")
    assert res.exit_code == 1 and "not a regular file" in res.output
    after = os.stat(device)
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev
    assert not Path(device + ".manifest.json").exists()


@pytest.mark.parametrize("argv", [
    ["spans", DATA, "-o", "{t}/same.jsonl", "--rejects", "{t}/same.jsonl"],
    ["spans", DATA, "-o", "{t}/same.jsonl", "--rejects", "{t}/./same.jsonl"],
    ["spans", DATA, "-o", "{t}/x.jsonl", "--rejects", "{t}/x.jsonl.manifest.json"],
    ["prompts", DATA, "-o", "{t}/same.jsonl", "--rejects", "{t}/same.jsonl"],
    ["card", DATA, "-o", "{t}/same.md", "--rejects", "{t}/same.md", "--no-plots"],
    ["subset", DATA, "--n", "2", "-o", "{t}/same.jsonl", "--rejects", "{t}/same.jsonl"],
    ["show", DATA, "--html", "{t}/same.html", "--rejects", "{t}/same.html"],
])  # fmt: skip
def test_two_outputs_of_one_command_must_differ(argv: list[str], tmp_path: Path) -> None:
    res = run(*[a.format(t=tmp_path) for a in argv])
    assert res.exit_code == 1 and "give each output its own path" in res.output, res.output
    assert names(tmp_path) == []


def test_existing_rejects_or_manifest_refused_before_any_output(tmp_path: Path) -> None:
    out = tmp_path / "o.jsonl"
    (tmp_path / "r.jsonl").write_text("old")
    res = run("spans", DATA, "-o", str(out), "--rejects", str(tmp_path / "r.jsonl"))
    assert res.exit_code == 1 and "r.jsonl: already exists; pass --force" in res.output
    assert names(tmp_path) == ["r.jsonl"]
    (tmp_path / "r.jsonl").unlink()
    (tmp_path / "o.jsonl.manifest.json").write_text("old")
    res = run("spans", DATA, "-o", str(out))
    assert res.exit_code == 1 and "manifest.json: already exists; pass --force" in res.output
    assert names(tmp_path) == ["o.jsonl.manifest.json"]
    assert run("spans", DATA, "-o", str(out), "--force").exit_code == 0
    assert json.loads((tmp_path / "o.jsonl.manifest.json").read_text())["examples"] > 0


@pytest.mark.parametrize("target", ["{t}/adir", "."])
def test_a_folder_is_not_a_file_output(target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "adir").mkdir()
    for cmd in (["spans", DATA], ["subset", DATA, "--n", "2"], ["prompts", DATA]):
        res = run(*cmd, "-o", target.format(t=tmp_path), "--force")
        assert res.exit_code == 1 and "folder" in res.output, res.output
    assert names(tmp_path) == ["adir"] and names(tmp_path / "adir") == []


def test_a_parent_that_is_a_file_is_refused_before_work(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    res = run("profile", DATA, "--db", str(tmp_path / "f" / "p.duckdb"))
    assert res.exit_code == 1 and "is not a folder" in res.output and res.stdout == ""
    res = run("spans", DATA, "-o", str(tmp_path / "f" / "o.jsonl"))
    assert res.exit_code == 1 and names(tmp_path) == ["f"]


def test_a_full_disk_is_one_line_and_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(rows: object, fh: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("imdata.export.exporter._write_jsonl", full)
    res = run("spans", DATA, "-o", str(tmp_path / "o.jsonl"))
    assert res.exit_code == 1 and "No space left on device" in res.output
    assert names(tmp_path) == []


def test_stale_temporary_files_of_dead_processes_are_removed(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".o.jsonl.imdata-{int(dead.stdout)}.part"
    stale.write_text("half")
    mine = tmp_path / f".other.imdata-{os.getpid()}.part"  # a live process's: kept
    mine.write_text("busy")
    assert run("spans", DATA, "-o", str(tmp_path / "o.jsonl")).exit_code == 0
    assert names(tmp_path) == [mine.name, "o.jsonl", "o.jsonl.manifest.json"]


def test_sigterm_mid_write_leaves_nothing(tmp_path: Path) -> None:
    big = tmp_path / "in" / "big.jsonl"
    big.parent.mkdir()
    big.write_bytes(jsonl([good(i) for i in range(200_000)]))
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "imdata", "spans", str(big), "-o", str(out / "o.jsonl")],
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 120
    while not any(out.iterdir()) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "spans finished before it could be interrupted"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "Traceback" not in err
    assert names(out) == []


def test_db_lock_waits_then_says_so_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "p.duckdb"
    hold = "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True); time.sleep(60)"
    holder = subprocess.Popen([sys.executable, "-c", hold, str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        monkeypatch.setattr("imdata.store.database.LOCK_WAIT_SECONDS", 1.0)
        res = run("profile", DATA, "--db", str(db), "--format", "json")
        assert res.exit_code == 1
        assert res.stderr.strip().splitlines()[-1] == (
            f"Error: --db {db}: another process is writing this store and held it for over 1 s; "
            "run again when it is done, or use another --db file"
        )
        assert json.loads(res.stdout)  # the report itself was not lost
    finally:
        holder.kill()
        holder.communicate()
    assert run("profile", DATA, "--db", str(db)).exit_code == 0


def test_show_never_prints_the_data_s_control_sequences(tmp_path: Path) -> None:
    evil = tmp_path / "e.jsonl"
    evil.write_bytes(jsonl([{"id": "e\x1b]0;title\x07", "messages": [
        {"role": "user", "content": "a \x1b]0;pwned\x07 b \x1b[2J c \x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\ \x9b31m"},
        {"role": "assistant", "content": "ok \u202egnp.exe"}]}]))  # fmt: skip
    plain = run("show", str(evil), "--index", "0", "--no-color")
    assert plain.exit_code == 0 and "\x1b" not in plain.stdout and "\x9b" not in plain.stdout
    assert "\\x1b]0;pwned\\x07" in plain.stdout and "\\u202e" in plain.stdout
    coloured = run("show", str(evil), "--index", "0", "--color")
    import re

    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured.stdout).count("\x1b") == 0


def test_pairs_csv_cells_cannot_run_as_formulas(tmp_path: Path) -> None:
    train = tmp_path / "t.jsonl"
    train.write_bytes(jsonl([{"id": f"r{i}", "instruction": f"=1+{i}", "output": f"=HYPERLINK(\"http://x\",\"{i}\")"}
                             for i in range(3)]))  # fmt: skip
    outs = tmp_path / "o.jsonl"
    outs.write_bytes(jsonl([{"id": f"r{i}", "output": "@SUM(A1:A2)"} for i in range(3)]))
    rep = tmp_path / "rep"
    res = run("memorize", "--train", str(train), "--outputs", str(outs), "--match", "id", "--report", str(rep))
    assert res.exit_code == 0, res.output
    import csv

    with open(rep / "pairs.csv", newline="") as fh:
        cells = [c for row in csv.reader(fh) for c in row]
    assert cells and not any(c.startswith(("=", "+", "-", "@")) for c in cells)
    assert any(c.startswith("'=HYPERLINK") or c.startswith("'@SUM") for c in cells)


def test_a_failing_card_template_leaves_no_figures(tmp_path: Path) -> None:
    tpl = tmp_path / "bad.j2"
    tpl.write_text("{{ card.nope.deeper }}")
    out = tmp_path / "cards"
    res = run("card", DATA, "-o", str(out / "x.md"), "--card-template", str(tpl))
    assert res.exit_code == 1 and "bad.j2" in res.output
    assert not out.exists() or list(out.rglob("*")) == []


def test_nearest_with_no_reference_is_no_exact_copy(tmp_path: Path) -> None:
    outs = tmp_path / "o.jsonl"
    outs.write_bytes(jsonl([{"instruction": "never seen", "output": ""}]))
    res = run("memorize", "--train", DATA, "--outputs", str(outs), "--match", "nearest", "--format", "json")
    assert res.exit_code == 0, res.output
    assert '"exact_matches": 0' in res.stdout


def test_concurrent_db_writers_all_store(tmp_path: Path) -> None:
    db = tmp_path / "same.duckdb"
    argv = [sys.executable, "-m", "imdata", "profile", DATA, "--db", str(db), "--format", "json"]
    procs = [subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    errs = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, errs
    assert all("stored" in e and "Traceback" not in e for e in errs)


def test_parquet_metadata_of_every_arrow_type_is_exported_and_reads_back(tmp_path: Path) -> None:
    import base64
    import datetime as dt
    import decimal

    import pyarrow as pa
    import pyarrow.parquet as pq

    blobs = [b"\x00\x01\xff", b"", None]
    table = pa.table({
        "instruction": ["hi", "yo", "hey"], "output": ["a", "b", "c"], "blob": blobs,
        "dec": pa.array([decimal.Decimal("1.10"), None, decimal.Decimal("-3.25")], pa.decimal128(6, 2)),
        "dur": pa.array([dt.timedelta(seconds=1.5), None, dt.timedelta(days=1)]),
        "day": [dt.date(2024, 2, 29), None, dt.date(1999, 12, 31)],
        "at": [dt.time(1, 2, 3), None, dt.time(23, 59, 59, 500)],
    })  # fmt: skip
    pq.write_table(table, tmp_path / "d.parquet")
    out = tmp_path / "o.jsonl"
    res = run("spans", str(tmp_path / "d.parquet"), "-o", str(out))
    assert res.exit_code == 0, res.output
    meta = [json.loads(x)["meta"] for x in out.read_text().splitlines()]
    assert [None if m["blob"] is None else base64.b64decode(m["blob"]) for m in meta] == blobs
    assert [m["dec"] for m in meta] == ["1.10", None, "-3.25"]
    assert [m["dur"] for m in meta] == [1.5, None, 86400.0]
    assert [m["day"] for m in meta] == ["2024-02-29", None, "1999-12-31"]
    assert [m["at"] for m in meta] == ["01:02:03", None, "23:59:59.000500"]


def test_a_bug_is_one_line_naming_it_and_the_traceback_only_on_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imdata.export import exporter

    def boom(*_: object, **__: object) -> None:
        raise RuntimeError("something imdata did not expect")

    monkeypatch.setattr(exporter, "_write_jsonl", boom)
    out = tmp_path / "o.jsonl"
    res = run("spans", DATA, "-o", str(out))
    assert res.exit_code == 1
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: internal error (RuntimeError: something imdata did not expect)"), last
    assert "IMDATA_TRACEBACK=1" in last and names(tmp_path) == []
    monkeypatch.setenv("IMDATA_TRACEBACK", "1")
    res = CliRunner().invoke(main, ["spans", DATA, "-o", str(out)])
    assert isinstance(res.exception, RuntimeError) and names(tmp_path) == []
