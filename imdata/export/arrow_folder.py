"""Write a ``datasets.save_to_disk`` folder row batch by row batch, so memory follows the batch.

``datasets.Dataset(table).save_to_disk`` needs the whole table in memory first. This writes
the same folder from a stream of rows: Arrow record batches into ``data-0000k-of-0000n.arrow``
stream files (``datasets``' cache format, with its ``huggingface`` schema metadata) of at
most :data:`SHARD_BYTES` each, as ``save_to_disk`` cuts them, then ``state.json`` and
``dataset_info.json`` as ``save_to_disk`` writes them; ``datasets.load_from_disk`` reads it
as any other saved dataset (the tests compare both folders). ``datasets`` itself is not
imported (it alone costs about 90 MiB): the features are written from the Arrow schema,
which may hold strings, signed integers and lists of them. The fingerprint is a hash of the
rows, so the same rows give the same folder, byte for byte.

Everything is written into a temporary folder beside ``out`` by the one writer
(:mod:`imdata.data.atomic`), renamed into place at the end.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

#: rows per Arrow record batch: small, so a batch of long conversations stays a few MiB
BATCH_ROWS = 64
#: a data file closes past this many bytes (``datasets``' default ``max_shard_size``)
SHARD_BYTES = 500 << 20


def write_dataset_folder(rows: Iterable[Mapping[str, Any]], out: Path, schema: Any, *, force: bool) -> int:
    """Write ``rows`` (dicts with the ``schema``'s columns) as a ``datasets`` folder; return the row count.

    Through the one writer (:class:`imdata.data.atomic.Outputs`): checked first, filled beside
    ``out``, renamed into place.
    """
    from imdata.data.atomic import Outputs

    with Outputs(force=force) as group:
        return fill_dataset_folder(rows, group.folder(out), schema)


def fill_dataset_folder(rows: Iterable[Mapping[str, Any]], tmp: Path, schema: Any) -> int:
    """Write the ``datasets`` folder's files into the (new, empty but for imdata's mark) folder ``tmp``."""
    import pyarrow as pa

    features = {f.name: _feature(f.type) for f in schema}
    schema = schema.with_metadata({"huggingface": json.dumps({"info": {"features": features}})})
    digest = hashlib.sha256()
    files: list[Path] = []
    total = size = 0
    writer: Any = None
    for batch in _batches(rows, schema):
        if writer is None:
            files.append(tmp / f"shard-{len(files)}.arrow")
            writer = pa.ipc.new_stream(str(files[-1]), schema)
        writer.write_batch(batch)
        total += batch.num_rows
        size += batch.nbytes
        for col in batch.columns:
            for buf in col.buffers():
                if buf is not None:
                    digest.update(buf)
        if size >= SHARD_BYTES:
            writer.close()
            writer, size = None, 0
    if writer is None and not files:  # no rows: one empty data file, as save_to_disk writes
        files.append(tmp / "shard-0.arrow")
        writer = pa.ipc.new_stream(str(files[-1]), schema)
    if writer is not None:
        writer.close()
    names = [f"data-{k:05d}-of-{len(files):05d}.arrow" for k in range(len(files))]
    for f, name in zip(files, names, strict=True):
        f.rename(tmp / name)
    _write_json(tmp / "state.json", _state(names, digest.hexdigest()[:16]), sort_keys=True)
    info = {"citation": "", "description": "", "features": features, "homepage": "", "license": ""}
    _write_json(tmp / "dataset_info.json", info, sort_keys=False)
    return total


def _feature(t: Any) -> dict[str, Any]:
    """``datasets``' JSON form of a feature (``Value`` or ``List``) for an Arrow type."""
    import pyarrow as pa

    if pa.types.is_list(t):
        return {"feature": _feature(t.value_type), "_type": "List"}
    if pa.types.is_string(t):
        return {"dtype": "string", "_type": "Value"}
    if pa.types.is_signed_integer(t):
        return {"dtype": str(t), "_type": "Value"}
    raise TypeError(f"no datasets feature written for Arrow type {t}")


def _batches(rows: Iterable[Mapping[str, Any]], schema: Any) -> Iterator[Any]:
    """Record batches of :data:`BATCH_ROWS` rows; list columns go in as one numpy array each."""
    import pyarrow as pa

    names = schema.names
    cols: dict[str, list[Any]] = {k: [] for k in names}

    def batch() -> Any:
        arrays = []
        for field in schema:
            values = cols[field.name]
            if pa.types.is_list(field.type):
                offsets = np.zeros(len(values) + 1, np.int32)
                np.cumsum(np.fromiter((len(v) for v in values), np.int64, len(values)), out=offsets[1:])
                flat = np.concatenate([np.asarray(v) for v in values]) if values else np.empty(0)
                inner = _numbers(flat, field.type.value_type)
                arrays.append(pa.ListArray.from_arrays(_numbers(offsets, pa.int32()), inner))
            elif pa.types.is_string(field.type):
                data = [v.encode() for v in values]
                offsets = np.zeros(len(data) + 1, np.int32)
                np.cumsum(np.fromiter(map(len, data), np.int64, len(data)), out=offsets[1:])
                bufs = [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(data))]
                arrays.append(pa.Array.from_buffers(pa.string(), len(data), bufs))
            else:
                arrays.append(_numbers(np.asarray(values), field.type))
        return pa.RecordBatch.from_arrays(arrays, schema=schema)

    # a list column's values are packed as they arrive: a Python list of ints costs about 9x
    # its int32 array, and a batch of long conversations would otherwise hold tens of MiB
    packed = {
        f.name: np.dtype(f"int{f.type.value_type.bit_width}")
        for f in schema
        if pa.types.is_list(f.type) and pa.types.is_signed_integer(f.type.value_type)
    }
    for row in rows:
        for k in names:
            dtype = packed.get(k)
            cols[k].append(row[k] if dtype is None else np.asarray(row[k], dtype=dtype))
        if len(cols[names[0]]) >= BATCH_ROWS:
            yield batch()
            cols = {k: [] for k in names}
    if cols[names[0]]:
        yield batch()


def _numbers(values: Any, t: Any) -> Any:
    # from buffers, not pa.array: pa.array imports pandas (about 40 MiB) to rule it out
    import pyarrow as pa

    data = np.ascontiguousarray(values, dtype=np.dtype(f"int{t.bit_width}"))
    return pa.Array.from_buffers(t, len(data), [None, pa.py_buffer(data)])


def _state(names: list[str], fingerprint: str) -> dict[str, Any]:
    return {
        "_data_files": [{"filename": n} for n in names],
        "_fingerprint": fingerprint,
        "_format_columns": None,
        "_format_kwargs": {},
        "_format_type": None,
        "_output_all_columns": False,
        "_split": None,
    }


def _write_json(path: Path, obj: Any, *, sort_keys: bool) -> None:
    with path.open("w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=2, sort_keys=sort_keys)
