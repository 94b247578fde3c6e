"""``--engine local`` and ``--engine ray`` read every input kind with the same reader: same bytes, same errors.

One Ray session serves the whole module (Ray starts slowly). Each input kind (JSONL, JSON
list, CSV, Parquet, a ``datasets`` folder, Self-Instruct seed tasks) holds good records,
bad records and repeated ids; both engines must write the same span JSONL and the same
rejects, profile the same per-example rows with the same summary and skip log, and a
damaged file must stop both with the same message. A spill folder holding someone else's
files (a pickle that would run code if loaded) is refused, and nothing in it runs.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
import pickle
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from hostile_corpus import BY_NAME, chat, good
from polars.testing import assert_frame_equal

from imdata.cli import main

pytestmark = pytest.mark.filterwarnings(r"ignore::DeprecationWarning:ray\.data\.context")


@pytest.fixture(scope="module")
def ray_session() -> Iterator[None]:
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'imdata[ray]')")
    pytest.importorskip("ray.data", reason="ray[data] is not installed")
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


ROWS: list[dict[str, object]] = [good(i) for i in range(30)]
ROWS[5] = {"id": "r5", "instruction": "no output here"}  # rejected: missing field
ROWS[9] = dict(ROWS[3])  # a repeated record
ROWS[12] = {**good(1), "output": "same id, other text"}  # a reused id
NO_ANSWER = {"id": "c99", "messages": [{"role": "user", "content": "no answer"}]}  # rejected: nothing to train
CHATS = [chat(i) for i in range(20)] + [NO_ANSWER] + [{"id": "c1", "messages": [{"role": "user", "content": "dup"},
                                                                  {"role": "assistant", "content": "id"}]}]  # fmt: skip
SEEDS = [{"id": f"s{i}", "instruction": f"task {i}", "instances": [{"input": f"{i}", "output": f"{i * 2}"},
                                                                   {"input": f"{i}+1", "output": f"{i * 2 + 1}"}]}
         for i in range(8)]  # fmt: skip
SEEDS[3] = {"id": "s3", "instruction": "bad", "instances": [{"input": "x", "output": "y"}, {"input": "no output"}]}
SEEDS[6] = {**SEEDS[2]}  # repeats s2's two ids


def _parquet(rows: list[dict[str, object]]) -> bytes:
    buf = io.BytesIO()
    pl.DataFrame(rows).write_parquet(buf)
    return buf.getvalue()


def _folder(p: Path) -> None:
    import datasets

    datasets.disable_progress_bars()
    datasets.Dataset.from_list(ROWS).save_to_disk(str(p))


COLS = ("id", "instruction", "input", "output")
TABLE = [{k: r.get(k) for k in COLS} for r in ROWS]


def _lines(rows: list[dict[str, object]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


KINDS: dict[str, tuple[str, Callable[[Path], object]]] = {
    "jsonl": ("d.jsonl", lambda p: p.write_text(_lines(ROWS))),
    "jsonl-gz": ("d.jsonl.gz", lambda p: p.write_bytes(gzip.compress(_lines(ROWS).encode()))),
    "json-list": ("d.json", lambda p: p.write_text(json.dumps(ROWS))),
    "json-object": ("d.json", lambda p: p.write_text(json.dumps({"data": ROWS}))),
    "csv": ("d.csv", lambda p: p.write_bytes(pl.DataFrame(TABLE).write_csv().encode())),
    "parquet": ("d.parquet", lambda p: p.write_bytes(_parquet(TABLE))),
    "datasets-folder": ("ds", _folder),
    "messages": ("c.jsonl", lambda p: p.write_text(_lines(CHATS))),
    "seed-tasks": ("s.jsonl", lambda p: p.write_text(_lines(SEEDS))),
    # the format is read per record: an odd first record is one bad (or LIMA) record, not a failed file
    "jsonl-first-scalar": ("f.jsonl", lambda p: p.write_text("42\n" + _lines(ROWS))),
    "jsonl-first-unknown": ("f.jsonl", lambda p: p.write_text(_lines([{"text": "plain"}, *CHATS]))),
    "json-first-lima": ("f.json", lambda p: p.write_text(json.dumps([["q", "a"], *ROWS]))),
}


# NaN and Infinity outside the text (kept as read), an empty output twice (the repeat is renamed
# and its warning names the new id), a rejected record that holds NaN
ODD: list[dict[str, object]] = [{**good(i), "score": [float("nan"), float("inf"), -float("inf"), 0.5][i % 4],
                                 "extra": {"w": float("nan"), "n": [1, float("-inf")]}} for i in range(12)]  # fmt: skip
ODD[4] = {"id": "r4", "instruction": "no output", "score": float("nan")}
ODD[7] = dict(ODD[3])
ODD[9] = ODD[10] = {"id": "e9", "instruction": "nothing to say", "input": "", "output": "", "score": float("inf")}
DAYS = [dt.date(2024, 1, 1 + i % 28) for i in range(len(TABLE))]
DATED = [{**r, "day": d} for r, d in zip(TABLE, DAYS, strict=True)]
DATED_BLOBS = [{**r, "blob": bytes([i, 0, 255])} for i, r in enumerate(DATED)]
# a Parquet date is a date on both engines, and bytes are bytes (span JSONL writes them as base64)
KINDS["jsonl-nan-infinity"] = ("n.jsonl", lambda p: p.write_text(_lines(ODD)))
KINDS["parquet-date"] = ("t.parquet", lambda p: p.write_bytes(_parquet(DATED)))
KINDS["parquet-date-binary"] = ("b.parquet", lambda p: p.write_bytes(_parquet(DATED_BLOBS)))


def _spans(data: Path, out: Path, engine: str, *extra: str) -> tuple[int, str, bytes, list[dict[str, object]]]:
    target, rejects = out / f"{engine}.jsonl", out / f"{engine}.rejects.jsonl"
    argv = ["spans", str(data), "-o", str(target), "--on-error", "skip", "--rejects", str(rejects), "--engine", engine,
            *extra]  # fmt: skip
    res = CliRunner().invoke(main, argv)
    assert res.exception is None or isinstance(res.exception, SystemExit), res.output
    rej = [json.loads(x) for x in rejects.read_text().splitlines()] if rejects.exists() else []
    return res.exit_code, res.stderr, target.read_bytes() if target.exists() else b"", rej


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_local_and_ray_write_the_same_bytes_and_rejects(kind: str, ray_session: None, tmp_path: Path) -> None:
    file, make = KINDS[kind]
    data = tmp_path / file
    make(data)
    local = _spans(data, tmp_path, "local")
    ray = _spans(data, tmp_path, "ray")
    assert local[0] == ray[0] == 0, (local[1], ray[1])
    assert local[2] == ray[2] and local[2], kind
    assert [(r["where"], r["reason"]) for r in local[3]] == [(r["where"], r["reason"]) for r in ray[3]]
    assert local[3], f"{kind}: the fixture has bad records, so some must be rejected"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["gz-truncated", "zst-truncated", "parquet-truncated", "csv-invalid-utf8",
                                  "json-unclosed-list", "gz-not-gzip", "json-deep-record"])  # fmt: skip
def test_a_damaged_file_stops_both_engines_with_the_same_message(name: str, ray_session: None, tmp_path: Path) -> None:
    case = BY_NAME[name]
    data = tmp_path / case.file
    case.make(data)
    local, ray = _spans(data, tmp_path, "local"), _spans(data, tmp_path, "ray")
    assert local[0] == ray[0] == 1
    last = [x[1].strip().splitlines()[-1] for x in (local, ray)]  # progress lines may come before
    assert last[0] == last[1] and last[0].startswith(f"Error: {data}") and "Traceback" not in ray[1]
    assert sorted(p.name for p in tmp_path.iterdir()) == [case.file]


def _log(report: object) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    (log,) = report.skip_logs  # type: ignore[attr-defined]
    rejected = [(r.where, r.reason, r.message, json.dumps(r.raw, default=repr)) for r in log.rejected]
    return rejected, [(r.where, r.reason, r.message) for r in log.warnings]


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_local_and_ray_profile_the_same_rows_summary_and_log(kind: str, ray_session: None, tmp_path: Path) -> None:
    from imdata.engine import runner

    file, make = KINDS[kind]
    data = tmp_path / file
    make(data)
    local, ray = (runner.profile(str(data), engine=e, on_error="skip", unit="words") for e in ("local", "ray"))  # type: ignore[arg-type]
    assert_frame_equal(local.examples, ray.examples)
    assert local.to_dict() == ray.to_dict()
    assert _log(local) == _log(ray)
    assert _log(local)[0], f"{kind}: the fixture has bad records, so some must be rejected"
    if kind.startswith("parquet-date"):  # the rejected row's values are the reader's own types
        assert {type(r.raw["day"]) for r in ray.skip_logs[0].rejected} == {dt.date}
    if kind == "parquet-date-binary":
        assert {type(r.raw["blob"]) for r in ray.skip_logs[0].rejected} == {bytes}
    if kind == "jsonl-nan-infinity":
        assert any("(id e9-2)" in w for _, _, w in _log(ray)[1])


class _Payload:
    """Unpickling this writes a marker file: what a pickle in a spill folder could do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def test_spilled_rows_are_never_unpickled(tmp_path: Path) -> None:
    from imdata.engine import wire
    from imdata.engine.rows import split_rows
    from imdata.errors import ImdataError

    marker = tmp_path / "ran"
    evil = pickle.dumps(_Payload(marker))
    with pytest.raises(ImdataError, match="not imdata's record encoding"):
        wire.decode(evil)
    frame = pl.DataFrame({"_path": ["d.jsonl"], "_index": [1], "_sub": [0], "_log": ["skip"], "_reason": ["x"],
                          "_where": ["line 1"], "_message": ["m"], "_raw": [evil], "id": [None]},
                         schema_overrides={"_raw": pl.Binary, "id": pl.String})  # fmt: skip
    with pytest.raises(ImdataError, match="not imdata's record encoding"):
        split_rows(frame, "d.jsonl", "skip", "alpaca")
    assert not marker.exists()
    assert wire.decode(wire.encode({"p": evil})) == {"p": evil}  # bytes that look like a pickle stay bytes


@pytest.mark.slow
def test_a_spill_folder_holding_files_is_refused(ray_session: None, tmp_path: Path) -> None:
    data, spill, marker = tmp_path / "d.jsonl", tmp_path / "spill", tmp_path / "ran"
    data.write_text(_lines(ROWS))
    planted = spill / "0000-d"
    planted.mkdir(parents=True)
    pl.DataFrame({"_path": [str(data)], "_index": [1], "_sub": [0], "_log": ["skip"],
                  "_raw": [pickle.dumps(_Payload(marker))]}).write_parquet(planted / "rows.parquet")  # fmt: skip
    res = CliRunner().invoke(main, ["spans", str(data), "-o", str(tmp_path / "o.jsonl"), "--engine", "ray",
                                    "--spill", str(spill)])  # fmt: skip
    assert res.exit_code == 1 and "Traceback" not in res.stderr
    assert (
        res.stderr.strip().splitlines()[-1]
        == f"Error: --spill {planted}: already holds 1 file(s); give an empty or new folder"
    )
    assert not marker.exists() and not (tmp_path / "o.jsonl").exists()
    res = CliRunner().invoke(main, ["spans", str(data), "-o", str(tmp_path / "o.jsonl"), "--engine", "ray",
                                    "--spill", str(tmp_path / "new")])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == ["0000-d"]


@pytest.mark.slow
def test_a_record_the_template_refuses_is_skipped_by_both_engines(ray_session: None, tmp_path: Path) -> None:
    # Mistral's own template raises on two user turns in a row: a bad record, not a failed run
    mistral = Path(__file__).parent / "fixtures" / "templates" / "mistral-v0.2.jinja"

    def turns(*pairs: tuple[str, str]) -> list[dict[str, str]]:
        return [{"role": r, "content": c} for r, c in pairs]

    rows = [chat(1), {"id": "two-users", "messages": turns(("user", "A"), ("user", "B"), ("assistant", "C"))},
            chat(2), {"id": "sys", "messages": turns(("system", "S"), ("user", "Q"), ("assistant", "R"))}]  # fmt: skip
    data = tmp_path / "chat.jsonl"
    data.write_text(_lines(rows))
    local, ray = (_spans(data, tmp_path, e, "-t", str(mistral)) for e in ("local", "ray"))
    assert local[0] == ray[0] == 0, (local[1], ray[1])
    assert local[2] == ray[2] and len(local[2].splitlines()) >= 2
    assert [(r["where"], r["reason"]) for r in local[3]] == [(r["where"], r["reason"]) for r in ray[3]]
    assert [(r["where"], r["reason"]) for r in ray[3]] == [("line 2", "template-raised"), ("line 4", "template-raised")]
