"""Write a ``datasets.save_to_disk`` folder row batch by row batch, so memory follows the batch.

``datasets.Dataset(table).save_to_disk`` needs the whole table in memory first. This writes
the same folder from a stream of rows: Arrow record batches into ``data-0000k-of-0000n.arrow``
stream files (``datasets``' cache format, with its ``huggingface`` schema metadata) of at
most :data:`SHARD_BYTES` each, as ``save_to_disk`` cuts them, then ``state.json`` and
``dataset_info.json`` as ``save_to_disk`` writes them; ``datasets.load_from_disk`` reads it
as any other saved dataset (the tests compare both folders). Neither ``datasets`` (about
90 MiB imported) nor pyarrow (its import and C++ allocator, about 50 MiB) is imported: the
streams are written by :mod:`imdata.export.arrow_ipc` and the features from the column
types, which may be strings, signed integers and lists of them. The fingerprint is a hash
of the rows, so the same rows give the same folder, byte for byte.

Everything is written into a temporary folder beside ``out`` by the one writer
(:mod:`imdata.data.atomic`), renamed into place at the end.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from imdata.export import arrow_ipc

#: the columns, in order: (name, type), types as :mod:`imdata.export.arrow_ipc` names them
Schema = Sequence[tuple[str, str]]

#: rows per Arrow record batch: small, so a batch of long conversations stays a few MiB
BATCH_ROWS = 64
#: a data file closes past this many bytes (``datasets``' default ``max_shard_size``)
SHARD_BYTES = 500 << 20


def write_dataset_folder(rows: Iterable[Mapping[str, Any]], out: Path, schema: Schema, *, force: bool) -> int:
    """Write ``rows`` (dicts with the ``schema``'s columns) as a ``datasets`` folder; return the row count.

    Through the one writer (:class:`imdata.data.atomic.Outputs`): checked first, filled beside
    ``out``, renamed into place.
    """
    from imdata.data.atomic import Outputs

    with Outputs(force=force) as group:
        return fill_dataset_folder(rows, group.folder(out), schema)


def fill_dataset_folder(rows: Iterable[Mapping[str, Any]], tmp: Path, schema: Schema) -> int:
    """Write the ``datasets`` folder's files into the (new, empty but for imdata's mark) folder ``tmp``."""
    features = {name: _feature(t) for name, t in schema}
    metadata = {"huggingface": json.dumps({"info": {"features": features}})}
    digest = hashlib.sha256()
    files: list[Path] = []
    total = size = 0
    fh: BinaryIO | None = None
    try:
        for batch in _batches(rows, schema):
            if fh is None:
                files.append(tmp / f"shard-{len(files)}.arrow")
                fh = files[-1].open("wb")
                arrow_ipc.write_schema(fh, schema, metadata)
            arrow_ipc.write_batch(fh, batch)
            total += batch.length
            size += batch.nbytes
            for buf in batch.buffers:
                digest.update(buf)
            if size >= SHARD_BYTES:
                arrow_ipc.write_end(fh)
                fh.close()
                fh, size = None, 0
        if fh is None and not files:  # no rows: one empty data file, as save_to_disk writes
            files.append(tmp / "shard-0.arrow")
            fh = files[-1].open("wb")
            arrow_ipc.write_schema(fh, schema, metadata)
        if fh is not None:
            arrow_ipc.write_end(fh)
    finally:
        if fh is not None:
            fh.close()
    names = [f"data-{k:05d}-of-{len(files):05d}.arrow" for k in range(len(files))]
    for f, name in zip(files, names, strict=True):
        f.rename(tmp / name)
    _write_json(tmp / "state.json", _state(names, digest.hexdigest()[:16]), sort_keys=True)
    info = {"citation": "", "description": "", "features": features, "homepage": "", "license": ""}
    _write_json(tmp / "dataset_info.json", info, sort_keys=False)
    return total


def _feature(t: str) -> dict[str, Any]:
    """``datasets``' JSON form of a feature (``Value`` or ``List``) for a column type of :mod:`arrow_ipc`."""
    inner = arrow_ipc.element_type(t)
    if inner is not None:
        return {"feature": _feature(inner), "_type": "List"}
    return {"dtype": t, "_type": "Value"}


def _batches(rows: Iterable[Mapping[str, Any]], schema: Schema) -> Iterator[arrow_ipc.RecordBatch]:
    """Record batches of :data:`BATCH_ROWS` rows."""
    names = [name for name, _ in schema]
    # a list column's values are packed as they arrive: a Python list of ints costs about 9x
    # its int32 array, and a batch of long conversations would otherwise hold tens of MiB
    packed = {}
    for name, t in schema:
        inner = arrow_ipc.element_type(t)
        if inner is not None:
            packed[name] = arrow_ipc.int_dtype(inner)
    cols: dict[str, list[Any]] = {k: [] for k in names}
    for row in rows:
        for k in names:
            dtype = packed.get(k)
            cols[k].append(row[k] if dtype is None else np.asarray(row[k], dtype=dtype))
        if len(cols[names[0]]) >= BATCH_ROWS:
            yield arrow_ipc.record_batch(schema, cols)
            cols = {k: [] for k in names}
    if cols[names[0]]:
        yield arrow_ipc.record_batch(schema, cols)


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
