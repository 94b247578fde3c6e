"""`spans --to hf` folders are written in Arrow batches and read back as `save_to_disk` wrote them."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import datasets
import pyarrow as pa
import pytest
from click.testing import CliRunner
from conftest import EXAMPLES, shared

from imdata.cli import main
from imdata.errors import OutputError
from imdata.export import arrow_folder
from imdata.export.arrow_folder import write_dataset_folder

SCHEMA = [("id", "string"), ("input_ids", "list<int32>"), ("labels", "list<int32>")]
ARROW = pa.schema([("id", pa.string()), ("input_ids", pa.list_(pa.int32())), ("labels", pa.list_(pa.int32()))])


def _rows(n: int) -> list[dict[str, object]]:
    return [{"id": f"r{i}", "input_ids": list(range(i % 37)), "labels": [-100] * (i % 37)} for i in range(n)]


def test_folder_equals_save_to_disk_in_content_and_metadata(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(arrow_folder, "SHARD_BYTES", 4000)  # several data files, as a large export gets
    rows = _rows(2500)
    assert write_dataset_folder(iter(rows), tmp_path / "new", SCHEMA, force=False) == 2500
    table = pa.table({k: pa.array([r[k] for r in rows], ARROW.field(k).type) for k in ARROW.names})
    datasets.Dataset(table).save_to_disk(str(tmp_path / "old"))
    new, old = datasets.load_from_disk(str(tmp_path / "new")), datasets.load_from_disk(str(tmp_path / "old"))
    assert new.features == old.features and new.to_dict() == old.to_dict()
    assert len(list((tmp_path / "new").glob("data-*.arrow"))) > 1
    assert (tmp_path / "new" / "dataset_info.json").read_text() == (tmp_path / "old" / "dataset_info.json").read_text()


def test_same_rows_same_bytes_and_no_overwrite_without_force(tmp_path: Path) -> None:
    for name in ("a", "b"):
        write_dataset_folder(iter(_rows(300)), tmp_path / name, SCHEMA, force=False)
    for f in sorted((tmp_path / "a").iterdir()):
        assert f.read_bytes() == (tmp_path / "b" / f.name).read_bytes(), f.name
    with pytest.raises(OutputError, match="--force"):
        write_dataset_folder(iter(_rows(3)), tmp_path / "a", SCHEMA, force=False)
    assert len(datasets.load_from_disk(str(tmp_path / "a"))) == 300
    assert write_dataset_folder(iter([]), tmp_path / "empty", SCHEMA, force=False) == 0
    assert len(datasets.load_from_disk(str(tmp_path / "empty"))) == 0
    assert not list(tmp_path.glob(".*part"))  # no temporary folder left behind


def test_spans_folder_of_sharegpt_reads_back_as_its_jsonl(
    tmp_path: Path, llama2_tokenizer: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = shared("sharegpt/sharegpt_v3_unfiltered_cleaned_split.first17671.json.gz")
    data = tmp_path / "sharegpt.json"
    data.write_text(json.dumps(json.loads(gzip.decompress(src.read_bytes()))[:300]), encoding="utf-8")
    monkeypatch.setattr(arrow_folder, "SHARD_BYTES", 1 << 20)  # several data files
    common = ["spans", str(data), "-k", str(llama2_tokenizer), "--to", "hf", "--on-error", "skip"]
    for out in ("out.jsonl", "out_hf"):
        res = CliRunner().invoke(main, [*common, "-o", str(tmp_path / out)])
        assert res.exit_code == 0, res.stderr
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    folder = datasets.load_from_disk(str(tmp_path / "out_hf")).to_dict()
    assert len(rows) > 250 and len(list((tmp_path / "out_hf").glob("data-*.arrow"))) > 1
    assert sum(len(r["input_ids"]) for r in rows) > 300_000  # real conversations, not toy rows
    for key in ("id", "input_ids", "labels"):
        assert folder[key] == [r[key] for r in rows], key


def test_spans_to_a_folder_imports_neither_pyarrow_nor_datasets(tmp_path: Path, llama2_tokenizer: Path) -> None:
    out = tmp_path / "hf"
    args = ["spans", str(EXAMPLES / "tiny_chat.jsonl"), "-k", str(llama2_tokenizer), "--to", "hf", "-o", str(out)]
    code = (
        "import sys\nfrom imdata.cli import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "print('LOADED', sorted({m.split('.')[0] for m in sys.modules} & {'pyarrow', 'datasets', 'pandas'}))"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert res.returncode == 0 and "LOADED []" in res.stdout, res.stdout + res.stderr
    assert len(datasets.load_from_disk(str(out))) == 12
