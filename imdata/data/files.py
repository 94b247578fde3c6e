"""Read instruction data from files, folders and the hub; write outputs atomically.

Supported inputs: JSON (a list, or an object holding one list), JSONL, Parquet and CSV,
each optionally ``.gz`` or ``.zst`` compressed; a ``datasets.save_to_disk`` folder; and a
Hugging Face hub id (``owner/name`` or ``owner/name:split``) for users who are online.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from imdata.data.atomic import atomic_output as atomic_output  # re-exported: callers write through files
from imdata.data.atomic import check_destination
from imdata.data.readers import RawRecord as RawRecord
from imdata.data.readers import bad_to_error as bad_to_error
from imdata.data.readers import decompressed, read_records
from imdata.data.readers import is_bad as is_bad
from imdata.data.readers import open_binary as open_binary
from imdata.errors import DataError, FormatError, ImdataError

_TEXT_SUFFIXES = (".json", ".jsonl", ".ndjson", ".csv", ".parquet")
_DATA_SUFFIXES = (*_TEXT_SUFFIXES, ".gz", ".zst")
_BATCH_ROWS = 4096


def kind_of(path: str) -> str:
    """The container kind of an input: json, jsonl, csv, parquet, dataset-folder or hub.

    A remote file (``s3://``, ``gs://``: only ``--engine ray`` reads those) is known by its name.

    >>> kind_of("s3://bucket/train.jsonl.zst")
    'jsonl'
    """
    if "://" in path:
        return _named_kind(path)
    p = Path(path)
    if p.is_dir():
        return "dataset-folder"
    if not p.exists() and not _looks_like_hub_id(path):
        raise ImdataError(f"{path}: no such file or folder; check the path")
    if p.exists():
        return _named_kind(path)
    if _bare_name(path).endswith(_DATA_SUFFIXES):
        raise DataError(path, "", "", "no such file", "check the path (a hub id has no file extension)",
                        reason="unreadable")  # fmt: skip
    return "hub"


def _bare_name(path: str) -> str:
    name = path.rstrip("/").rsplit("/", 1)[-1].lower()
    for comp in (".gz", ".zst"):
        if name.endswith(comp):
            name = name[: -len(comp)]
    return name


def _named_kind(path: str) -> str:
    name = _bare_name(path)
    for suffix in _TEXT_SUFFIXES:
        if name.endswith(suffix):
            return {".ndjson": "jsonl"}.get(suffix, suffix[1:])
    raise FormatError(
        f"{path}: cannot tell the file type from its name; use .json, .jsonl, .csv or .parquet (optionally .gz or .zst)"
    )


def _looks_like_hub_id(path: str) -> bool:
    base = path.split(":", 1)[0]
    parts = base.split("/")
    return len(parts) == 2 and all(parts) and not base.startswith((".", "/", "~"))


def iter_raw(path: str) -> Iterator[RawRecord]:
    """Yield the raw records of one input in order, without interpreting them."""
    kind = kind_of(path)
    if kind == "dataset-folder":
        yield from _iter_dataset(path)
    elif kind == "hub":
        yield from _iter_hub(path)
    else:
        with contextlib.ExitStack() as stack:
            try:
                raw = stack.enter_context(open(path, "rb"))
            except OSError as e:
                raise DataError(path, "", "", f"cannot be opened ({e.strerror})", "check the path and its permissions",
                                reason="unreadable") from None  # fmt: skip
            fh = stack.enter_context(decompressed(raw, path))
            yield from read_records(fh, path, kind)


def _iter_dataset(path: str) -> Iterator[RawRecord]:
    import datasets

    try:
        ds = datasets.load_from_disk(path)
    except (FileNotFoundError, ValueError) as e:
        raise ImdataError(f"{path}: not a `datasets.save_to_disk` folder ({e})") from None
    except Exception as e:  # a damaged folder fails in pyarrow, fsspec or json: one message
        raise DataError(path, "", "", f"cannot be read as a `datasets` folder ({type(e).__name__}: {e})",
                        "save the dataset again", reason="damaged-file") from None  # fmt: skip
    if isinstance(ds, datasets.DatasetDict):
        split = "train" if "train" in ds else next(iter(ds))
        ds = ds[split]
    n = 0
    try:
        for batch in ds.iter(batch_size=_BATCH_ROWS):
            keys = list(batch)
            for i in range(len(batch[keys[0]]) if keys else 0):
                n += 1
                yield RawRecord(f"row {n}", n, {k: batch[k][i] for k in keys})
    except (OSError, ValueError) as e:
        raise DataError(path, f"after row {n}", "", f"cannot be read ({type(e).__name__}: {e})",
                        "save the dataset again", reason="damaged-file") from None  # fmt: skip


def _iter_hub(spec: str) -> Iterator[RawRecord]:
    name, _, split = spec.partition(":")
    if os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("HF_DATASETS_OFFLINE") == "1":
        raise ImdataError(
            f"{spec}: is a hub id, and the hub is switched off (HF_HUB_OFFLINE=1); "
            "download the dataset while online, or pass a local file"
        )
    import datasets

    try:
        ds = datasets.load_dataset(name, split=split or "train", streaming=True)
    except Exception as e:  # any hub failure becomes one clear message
        raise ImdataError(
            f"{spec}: could not load from the Hugging Face hub ({type(e).__name__}: {str(e)[:200]}); "
            "if you are offline, save the dataset to disk first and pass the folder"
        ) from None
    for n, rec in enumerate(ds, 1):
        yield RawRecord(f"row {n}", n, rec)


def fingerprint(path: str) -> str:
    """sha256 of an input's bytes as stored (a folder: of its files' names and bytes)."""
    h = hashlib.sha256()
    p = Path(path)
    if p.is_dir():
        for f in sorted(q for q in p.rglob("*") if q.is_file()):
            h.update(str(f.relative_to(p)).encode())
            _hash_file(f, h)
    elif p.is_file():
        _hash_file(p, h)
    else:
        h.update(f"hub:{path}".encode())
    return h.hexdigest()


def _hash_file(path: Path, h: Any) -> None:
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)


def check_writable(target: Path, *, force: bool) -> None:
    """Refuse a destination that exists without ``force`` or cannot be written (see :mod:`imdata.data.atomic`)."""
    check_destination(target, force=force)
