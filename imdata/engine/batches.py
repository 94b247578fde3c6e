"""Raw records in Arrow batches: what a Ray read task hands the per-example stage.

A batch holds, per record, the input it came from, its number and place (``line 3``), and
its value as JSON text (:mod:`imdata.engine.wire`, never a pickle). The records are the
local reader's own (:func:`imdata.data.readers.read_records`): Ray hands it the stored
bytes of each file, and it decompresses and parses them as ``--engine local`` does.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from imdata.data import files
from imdata.engine import wire

if TYPE_CHECKING:
    import pyarrow as pa

RAW_ROWS = 2048  # raw records per block a Ray read task yields


def raw_records(fh: Any, path: str) -> Iterator[files.RawRecord]:
    """The raw records of one stream of stored bytes: the local reader's own code (:mod:`imdata.data.readers`)."""
    from imdata.data.readers import decompressed, read_records

    yield from read_records(decompressed(fh, path), path, files.kind_of(path))


def raw_table(path: str, records: list[files.RawRecord]) -> pa.Table:
    """One batch of raw records as the stage reads it."""
    import pyarrow as pa

    return pa.table(
        {
            "_path": pa.array([path] * len(records), pa.string()),
            "_index": pa.array([r.index for r in records], pa.int64()),
            "where": pa.array([r.where for r in records], pa.string()),
            "raw": pa.array([wire.encode(r.value) for r in records], pa.binary()),
        }
    )


def records_of(batch: pa.Table) -> Iterator[tuple[str, files.RawRecord, bytes]]:
    """The records of a batch: input, record as the reader made it, and its encoded value."""
    cols = batch.to_pydict()
    for path, index, where, raw in zip(cols["_path"], cols["_index"], cols["where"], cols["raw"], strict=True):
        yield path, files.RawRecord(where, index, wire.decode(raw)), raw


def raw_blocks(records: Iterator[files.RawRecord], path: str) -> Iterator[pa.Table]:
    """``records`` in batches of :data:`RAW_ROWS`."""
    batch: list[files.RawRecord] = []
    for rec in records:
        batch.append(rec)
        if len(batch) >= RAW_ROWS:
            yield raw_table(path, batch)
            batch = []
    if batch:
        yield raw_table(path, batch)


def datasource(paths: list[str]) -> Any:
    """A Ray datasource yielding the raw-record batches of JSONL/JSON/Parquet/CSV files (local or remote)."""
    from ray.data.datasource import FileBasedDatasource

    class ImdataRecords(FileBasedDatasource):  # type: ignore[misc, unused-ignore]
        """Raw records of JSONL/JSON/Parquet/CSV files, with where each was found."""

        def resolve_compression(self, path: str, open_args: dict[str, Any]) -> str | None:
            return None  # the stored bytes: imdata.data.readers decompresses, as for --engine local

        def _read_stream(self, f: Any, path: str) -> Iterator[pa.Table]:
            yield from raw_blocks(raw_records(f, path), path)

    return ImdataRecords(paths)


__all__ = ["RAW_ROWS", "datasource", "raw_blocks", "raw_records", "raw_table", "records_of"]
