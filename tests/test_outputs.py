"""An output is written in the format its name says (gzip, zstd, Parquet), or refused before any work."""

from __future__ import annotations

import datetime
import decimal
import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from click.testing import CliRunner, Result
from conftest import shared

import imdata
from imdata.cli import main
from imdata.data.atomic import Outputs

SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".parquet")


def run(*argv: str | Path) -> Result:
    res = CliRunner().invoke(main, [str(a) for a in argv])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.output
    assert "Traceback" not in res.output
    return res


def plain_bytes(path: Path) -> bytes:
    """The file's bytes as the user's own tools decompress them."""
    raw = path.read_bytes()
    if path.name.endswith(".gz"):
        assert raw[:2] == b"\x1f\x8b", f"{path.name} is not gzip"
        return gzip.decompress(raw)
    if path.name.endswith(".zst"):
        assert raw[:4] == b"\x28\xb5\x2f\xfd", f"{path.name} is not zstandard"
        return zstandard.ZstdDecompressor().decompressobj().decompress(raw)
    return raw


def user_rows(path: Path) -> list[dict[str, object]]:
    """The records as a user reads them without imdata: pyarrow for Parquet, json for the rest."""
    if path.name.endswith(".parquet"):
        assert path.read_bytes()[:4] == b"PAR1"
        return pq.read_table(path).to_pylist()
    return [json.loads(line) for line in plain_bytes(path).splitlines()]


def same_examples(a: Path, b: Path) -> None:
    ea, eb = imdata.load(str(a)).examples, imdata.load(str(b)).examples
    assert [(e.id, e.messages, dict(e.meta)) for e in ea] == [(e.id, e.messages, dict(e.meta)) for e in eb]


def check_same_as_jsonl(jsonl: Path, other: Path) -> None:
    same_examples(jsonl, other)
    want = user_rows(jsonl)
    assert user_rows(other) == want
    if not other.name.endswith(".parquet"):
        assert plain_bytes(other) == jsonl.read_bytes()


@pytest.mark.parametrize(
    "rel", ["alpaca/alpaca_5000_pr152.json", "instruction_modelling/lima_data.jsonl", "alpaca/seed_tasks.jsonl"]
)
def test_subset_outputs_read_back_as_the_jsonl_output(tmp_path: Path, rel: str) -> None:
    src = shared(rel)
    outs = {s: tmp_path / f"sub{s}" for s in SUFFIXES}
    for out in outs.values():
        res = run("subset", src, "--n", "40", "--seed", "3", "-o", out, "-q")
        assert res.exit_code == 0, res.output
    base = outs[".jsonl"]
    fields = {k for line in base.read_bytes().splitlines() for k in json.loads(line)}
    for s, out in outs.items():
        check_same_as_jsonl(base, out)
        assert {k for row in user_rows(out) for k in row} == fields, s


def test_subset_of_seed_tasks_keeps_only_the_selected_instances_in_parquet(tmp_path: Path) -> None:
    src = shared("alpaca/seed_tasks.jsonl")
    jl, pqf = tmp_path / "s.jsonl", tmp_path / "s.parquet"
    for out in (jl, pqf):
        assert run("subset", src, "--n", "30", "-o", out, "-q").exit_code == 0
    rows = pq.read_table(pqf).to_pylist()
    assert rows == [json.loads(line) for line in jl.read_bytes().splitlines()]
    assert len(rows) <= 30 and sum(len(r["instances"]) for r in rows) == 30  # type: ignore[arg-type]


def test_split_parts_read_back_as_the_jsonl_parts(tmp_path: Path) -> None:
    src = shared("alpagasus/dolly_3k.json")
    folders = {}
    for s in SUFFIXES:
        folders[s] = tmp_path / s.strip(".").replace(".", "-")
        res = run("split", src, "--holdout", "0.1", "--by", "ratio", "--buckets", "2", "--suffix", s,
                  "-o", folders[s], "-q")  # fmt: skip
        assert res.exit_code == 0, res.output
    parts = sorted(p.name.removesuffix(".jsonl") for p in folders[".jsonl"].glob("*.jsonl"))
    assert parts == ["bucket-1", "bucket-2", "holdout"]
    for s, folder in folders.items():
        manifest = json.loads((folder / "manifest.json").read_bytes())
        assert manifest["files"] == {p: f"{p}{s}" for p in parts}
        for p in parts:
            check_same_as_jsonl(folders[".jsonl"] / f"{p}.jsonl", folder / f"{p}{s}")


def test_datasets_reads_the_compressed_and_parquet_outputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    src = shared("alpaca/alpaca_5000_pr152.json")
    want = None
    for s in SUFFIXES:
        out = tmp_path / f"sub{s}"
        assert run("subset", src, "--n", "25", "-o", out, "-q").exit_code == 0
        builder = "parquet" if s == ".parquet" else "json"
        rows = datasets.load_dataset(
            builder, data_files=str(out), split="train", cache_dir=str(tmp_path / "c")
        ).to_list()
        want = want or rows
        assert rows == want and len(rows) == 25 and set(rows[0]) == {"instruction", "input", "output"}


def test_parquet_input_keeps_its_arrow_types(tmp_path: Path) -> None:
    recs = json.loads(shared("alpaca/alpaca_5000_pr152.json").read_bytes())[:60]
    n = len(recs)
    table = pa.table(
        {
            "instruction": [r["instruction"] for r in recs],
            "input": [r["input"] for r in recs],
            "output": [r["output"] for r in recs],
            "day": pa.array([datetime.date(2023, 1, 1) + datetime.timedelta(days=i) for i in range(n)], pa.date32()),
            "at": pa.array([datetime.datetime(2024, 5, 1, 12, i % 60) for i in range(n)], pa.timestamp("us")),
            "blob": pa.array([r["instruction"].encode()[:9] for r in recs], pa.binary()),
            "price": pa.array([decimal.Decimal(i) / 100 for i in range(n)], pa.decimal128(12, 2)),
            "tags": pa.array([[{"k": "x", "v": i}] * (i % 3) for i in range(n)]),
        }
    )
    src = tmp_path / "in.parquet"
    pq.write_table(table, src)
    out = tmp_path / "sub.parquet"
    assert run("subset", src, "--n", "20", "-o", out, "-q").exit_code == 0
    got = pq.read_table(out)
    assert got.schema == table.schema
    rows = table.to_pylist()
    by_text = {r["instruction"] + r["output"]: r for r in rows}
    assert got.num_rows == 20
    assert all(r == by_text[str(r["instruction"]) + str(r["output"])] for r in got.to_pylist())


def test_spans_gz_is_gzip_of_the_jsonl_bytes_and_deterministic(tmp_path: Path) -> None:
    src = shared("instruction_modelling/alpagasus_3k_dolly.jsonl")
    plain, gz, zst = tmp_path / "s.jsonl", tmp_path / "s.jsonl.gz", tmp_path / "s.jsonl.zst"
    for out in (plain, gz, zst):
        assert run("spans", src, "-o", out, "-q").exit_code == 0
    assert gz.read_bytes()[:2] == b"\x1f\x8b"
    assert plain_bytes(gz) == plain.read_bytes() == plain_bytes(zst)
    first = gz.read_bytes()
    assert run("spans", src, "-o", gz, "-q", "--force").exit_code == 0
    assert gz.read_bytes() == first  # no time stamp or file name in the gzip header


def test_prompts_and_rejects_are_compressed_by_name(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    lines = shared("instruction_modelling/lima_data.jsonl").read_bytes().splitlines()[:30]
    src.write_bytes(b"\n".join([*lines, b"{not json", b'{"x": 1}']) + b"\n")
    for s in (".jsonl", ".jsonl.gz", ".jsonl.zst"):
        res = run("prompts", src, "-o", tmp_path / f"p{s}", "--rejects", tmp_path / f"r{s}", "-q")
        assert res.exit_code == 0, res.output
        assert plain_bytes(tmp_path / f"p{s}") == (tmp_path / "p.jsonl").read_bytes()
        assert plain_bytes(tmp_path / f"r{s}") == (tmp_path / "r.jsonl").read_bytes()
    assert len((tmp_path / "r.jsonl").read_bytes().splitlines()) == 2


REFUSALS = [
    ("spans", "-o", "x.parquet", "spans writes span JSONL, not Parquet; name it .jsonl or .jsonl.gz, or use --to hf"),
    ("spans", "-o", "x.csv", "spans writes span JSONL, not CSV"),
    ("spans", "-o", "x.tsv", "spans writes span JSONL, not TSV"),
    ("spans", "-o", "x.arrow", "spans writes span JSONL, not Arrow"),
    ("spans", "-o", "x.xlsx", "spans writes span JSONL, not Excel"),
    ("spans", "-o", "x.jsonl.bz2", "as .gz or .zst only"),
    ("spans", "--rejects", "r.parquet", "the rejects file is JSONL, not Parquet; name it .jsonl or .jsonl.gz"),
    ("prompts", "-o", "x.parquet", "prompts writes prompt JSONL, not Parquet; name it .jsonl or .jsonl.gz"),
    ("prompts", "-o", "x.csv", "prompts writes prompt JSONL, not CSV"),
    ("prompts", "--rejects", "r.csv", "the rejects file is JSONL, not CSV"),
    ("subset", "-o", "x.csv", "subset writes the selected records as JSONL, a JSON list or Parquet, not CSV"),
    ("subset", "-o", "x.arrow", "name it .jsonl, .jsonl.gz, .jsonl.zst, .json or .parquet"),
    ("subset", "-o", "x.jsonl.xz", "as .gz or .zst only"),
    ("subset", "--rejects", "r.xlsx", "the rejects file is JSONL, not Excel"),
    ("subset-to", "-o", "x.parquet", "subset --to spans writes JSONL, not Parquet"),
    ("split", "--rejects", "r.tsv", "the rejects file is JSONL, not TSV"),
    ("split-to", "--suffix", ".parquet", "split --to spans writes JSONL; use --suffix .jsonl or .jsonl.gz"),
    ("profile", "--rejects", "r.parquet", "the rejects file is JSONL, not Parquet"),
]


@pytest.mark.parametrize(("command", "option", "name", "says"), REFUSALS, ids=lambda v: str(v))
def test_a_name_the_writer_cannot_produce_is_refused_before_any_work(
    tmp_path: Path, command: str, option: str, name: str, says: str
) -> None:
    src = str(shared("alpaca/alpaca_5000_pr152.json"))
    out = tmp_path / "out"
    argv = {
        "spans": ["spans", src, "-o", str(out / "s.jsonl")],
        "prompts": ["prompts", src, "-o", str(out / "p.jsonl")],
        "subset": ["subset", src, "--n", "3", "-o", str(out / "s.jsonl")],
        "subset-to": ["subset", src, "--n", "3", "--to", "spans", "-o", str(out / "s.jsonl")],
        "split": ["split", src, "--holdout", "0.1", "-o", str(out / "parts")],
        "split-to": ["split", src, "--holdout", "0.1", "--to", "spans", "-o", str(out / "parts")],
        "profile": ["profile", src],
    }[command]
    if option == "-o":
        argv[argv.index("-o") + 1] = str(out / name)
    elif option == "--suffix":
        argv += ["--suffix", name]
    else:
        argv += [option, str(out / name)]
    res = run(*argv)
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert res.exit_code == 1, res.output
    assert len(lines) == 1 and says in lines[0] and lines[0].startswith(f"Error: {option}"), res.output
    assert not out.exists() or not any(out.rglob("*")), sorted(out.rglob("*"))


def test_names_without_a_known_suffix_are_still_jsonl(tmp_path: Path) -> None:
    src = shared("alpaca/alpaca_5000_pr152.json")
    for name in ("out", "out.txt", "out.data"):
        assert run("subset", src, "--n", "3", "-o", tmp_path / name, "-q").exit_code == 0
        assert len([json.loads(line) for line in (tmp_path / name).read_bytes().splitlines()]) == 3


def test_records_parquet_cannot_hold_are_one_line_and_leave_nothing(tmp_path: Path) -> None:
    recs = json.loads(shared("alpaca/alpaca_5000_pr152.json").read_bytes())[:6]
    for i, r in enumerate(recs):
        r["rating"] = i if i % 2 else f"{i} stars"
    src = tmp_path / "rated.json"
    src.write_text(json.dumps(recs))
    out = tmp_path / "o" / "sub.parquet"
    res = run("subset", src, "--n", "6", "-o", out, "-q")
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert res.exit_code == 1
    assert lines == [
        f"Error: {out}: field 'rating' holds numbers and text, which Parquet cannot keep in one column; "
        "write JSONL instead (-o sub.jsonl), which keeps every record as it is"
    ]
    assert not any((tmp_path / "o").iterdir()) if (tmp_path / "o").exists() else True
    assert run("subset", src, "--n", "6", "-o", tmp_path / "sub.jsonl.gz", "-q").exit_code == 0


@pytest.mark.parametrize("name", ["x.jsonl.gz", "x.jsonl.zst"])
@pytest.mark.parametrize("binary", [False, True])
def test_a_failed_compressed_write_leaves_nothing(tmp_path: Path, name: str, binary: bool) -> None:
    with pytest.raises(RuntimeError), Outputs(force=False) as out:
        fh = out.file(tmp_path / name, binary=binary)
        fh.write(b"{}\n" if binary else "{}\n")
        raise RuntimeError("stop")
    assert list(tmp_path.iterdir()) == []
    with Outputs(force=False) as out:
        fh = out.file(tmp_path / name, binary=binary)
        fh.write(b"{}\n" if binary else "{}\n")
    assert plain_bytes(tmp_path / name) == b"{}\n"
    assert [p.name for p in tmp_path.iterdir()] == [name]
