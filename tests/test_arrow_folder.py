"""`spans --to hf` folders are written in Arrow batches and read back as `save_to_disk` wrote them."""

from __future__ import annotations

from pathlib import Path

import datasets
import pyarrow as pa
import pytest

from imdata.errors import OutputError
from imdata.export import arrow_folder
from imdata.export.arrow_folder import write_dataset_folder

INTS = pa.list_(pa.int32())
SCHEMA = pa.schema([("id", pa.string()), ("input_ids", INTS), ("labels", INTS)])


def _rows(n: int) -> list[dict[str, object]]:
    return [{"id": f"r{i}", "input_ids": list(range(i % 37)), "labels": [-100] * (i % 37)} for i in range(n)]


def test_folder_equals_save_to_disk_in_content_and_metadata(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(arrow_folder, "SHARD_BYTES", 4000)  # several data files, as a large export gets
    rows = _rows(2500)
    assert write_dataset_folder(iter(rows), tmp_path / "new", SCHEMA, force=False) == 2500
    table = pa.table({k: pa.array([r[k] for r in rows], SCHEMA.field(k).type) for k in SCHEMA.names})
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
