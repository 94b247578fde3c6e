"""Read instruction data from files, folders and the hub; write outputs atomically.

Supported inputs: JSON (a list, or an object holding one list), JSONL, Parquet and CSV,
each optionally ``.gz`` or ``.zst`` compressed; a ``datasets.save_to_disk`` folder; and a
Hugging Face hub id (``owner/name`` or ``owner/name:split``) for users who are online.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from imdata.atomic import atomic_output as atomic_output  # re-exported: callers write through io
from imdata.atomic import check_destination
from imdata.errors import DataError, FormatError, ImdataError

_TEXT_SUFFIXES = (".json", ".jsonl", ".ndjson", ".csv", ".parquet")
_BATCH_ROWS = 4096


@dataclass(frozen=True, slots=True)
class RawRecord:
    """A record as read, with where it was found (``line 3``, ``record 3`` or ``row 3``)."""

    where: str
    index: int
    value: Any
    #: the record's bytes as stored, where the container has one record per line (JSONL)
    text: bytes | None = None


def kind_of(path: str) -> str:
    """The container kind of an input: json, jsonl, csv, parquet, dataset-folder or hub.

    >>> kind_of("data/train.jsonl.zst")
    'jsonl'
    """
    p = Path(path)
    if p.is_dir():
        return "dataset-folder"
    if not p.exists() and not _looks_like_hub_id(path):
        raise ImdataError(f"{path}: no such file or folder; check the path")
    name = p.name.lower()
    for comp in (".gz", ".zst"):
        if name.endswith(comp):
            name = name[: -len(comp)]
    for suffix in _TEXT_SUFFIXES:
        if name.endswith(suffix):
            return {".ndjson": "jsonl"}.get(suffix, suffix[1:])
    if not p.exists() and _looks_like_hub_id(path):
        return "hub"
    if not p.exists():
        raise ImdataError(f"{path}: no such file or folder; check the path")
    raise FormatError(
        f"{path}: cannot tell the file type from its name; use .json, .jsonl, .csv or .parquet (optionally .gz or .zst)"
    )


def _looks_like_hub_id(path: str) -> bool:
    base = path.split(":", 1)[0]
    parts = base.split("/")
    return len(parts) == 2 and all(parts) and not base.startswith((".", "/", "~"))


def open_binary(path: str) -> IO[bytes]:
    """Open a file for reading, decompressing ``.gz`` and ``.zst`` transparently."""
    if path.endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    if path.endswith(".zst"):
        import zstandard

        fh = open(path, "rb")  # noqa: SIM115 - handed to the stream reader, closed with it
        reader: IO[bytes] = io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(fh, closefd=True))
        return reader
    return open(path, "rb")  # noqa: SIM115


def iter_raw(path: str) -> Iterator[RawRecord]:
    """Yield the raw records of one input in order, without interpreting them."""
    kind = kind_of(path)
    if kind == "jsonl":
        yield from _iter_jsonl(path)
    elif kind == "json":
        yield from _iter_json(path)
    elif kind in ("csv", "parquet"):
        yield from _iter_table(path, kind)
    elif kind == "dataset-folder":
        yield from _iter_dataset(path)
    else:
        yield from _iter_hub(path)


def _iter_jsonl(path: str) -> Iterator[RawRecord]:
    with open_binary(path) as fh:
        for n, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            where = f"line {n}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                yield RawRecord(
                    where,
                    n,
                    _Bad(
                        "invalid-utf8",
                        f"is not valid UTF-8 (byte {e.start})",
                        "re-encode the file as UTF-8",
                    ),
                )
                continue
            try:
                yield RawRecord(where, n, json.loads(line), raw.rstrip(b"\r\n"))
            except json.JSONDecodeError as e:
                yield RawRecord(
                    where,
                    n,
                    _Bad(
                        "malformed-json",
                        f"is not valid JSON ({e.msg} at column {e.colno})",
                        "fix or remove the line",
                    ),
                )


def _iter_json(path: str) -> Iterator[RawRecord]:
    """A JSON list is streamed record by record; anything else is parsed whole."""
    streamed = _stream_json_array(path)
    first = next(streamed, None)
    if first is not _NOT_A_LIST:
        if first is not None:
            yield first
        yield from streamed
        return
    yield from _iter_json_whole(path)


_NOT_A_LIST = RawRecord("", 0, None)
_CHUNK = 1 << 22  # characters read at a time


def _stream_json_array(path: str) -> Iterator[RawRecord]:
    """Records of a top-level JSON list, read in chunks: memory stays at one chunk plus one record.

    Yields ``_NOT_A_LIST`` first (and stops) when the file is not a plain list of records,
    e.g. an object holding one, or a single conversation saved as a list of turns.
    """
    import codecs

    decoder = json.JSONDecoder()
    utf8 = codecs.getincrementaldecoder("utf-8")()
    with open_binary(path) as fh:
        buf, pos, eof, lines_before, bytes_read = "", 0, False, 0, 0

        def more() -> bool:
            nonlocal buf, pos, eof, lines_before, bytes_read
            raw = fh.read(_CHUNK)
            eof = not raw
            try:
                text = utf8.decode(raw, final=eof)
            except UnicodeDecodeError as e:
                line = lines_before + buf.count("\n") + raw.count(b"\n", 0, max(e.start, 0)) + 1
                raise DataError(
                    path,
                    f"line {line}",
                    "",
                    f"is not valid UTF-8 (byte {bytes_read + e.start})",
                    "re-encode the file as UTF-8",
                    reason="invalid-utf8",
                ) from None
            bytes_read += len(raw)
            if pos > _CHUNK:  # drop what has been parsed
                lines_before += buf.count("\n", 0, pos)
                buf, pos = buf[pos:], 0
            buf += text
            return not eof

        def skip_ws() -> None:
            nonlocal pos
            while True:
                while pos < len(buf) and buf[pos] in " \t\r\n":
                    pos += 1
                if pos < len(buf) or not more():
                    return

        def bad(problem: str) -> DataError:
            line = lines_before + buf.count("\n", 0, pos) + 1
            return DataError(
                path,
                f"line {line}",
                "",
                f"is not valid JSON ({problem})",
                "fix the file; a JSON file must hold one list of records",
                reason="malformed-json",
            )

        skip_ws()
        if pos >= len(buf) or buf[pos] != "[":
            yield _NOT_A_LIST
            return
        pos += 1
        n = 0
        while True:
            skip_ws()
            if pos >= len(buf):
                raise bad("the list is not closed")
            if buf[pos] == "]":
                return
            if n:
                if buf[pos] != ",":
                    raise bad(f"expected ',' or ']' but found {buf[pos]!r}")
                pos += 1
                skip_ws()
            while True:
                try:
                    value, end = decoder.raw_decode(buf, pos)
                    if end < len(buf) or eof:
                        break
                except json.JSONDecodeError as e:
                    if eof:
                        raise bad(e.msg) from None
                if not more() and eof and pos >= len(buf):
                    raise bad("the list is not closed")
            n += 1
            if n == 1 and isinstance(value, dict) and value and set(value) <= {"from", "value", "role", "content"}:
                yield _NOT_A_LIST  # one conversation saved as a bare list of turns
                return
            pos = end
            yield RawRecord(f"record {n}", n, value)


def _iter_json_whole(path: str) -> Iterator[RawRecord]:
    with open_binary(path) as fh:
        data = fh.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise DataError(
            path,
            f"line {line}",
            "",
            f"is not valid UTF-8 (byte {e.start})",
            "re-encode the file as UTF-8",
            reason="invalid-utf8",
        ) from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(
            path,
            f"line {e.lineno}",
            "",
            f"is not valid JSON ({e.msg}, column {e.colno})",
            "fix the file; a JSON file must hold one list of records",
            reason="malformed-json",
        ) from None
    del text, data
    records = _unwrap(doc, path)
    for i, rec in enumerate(records, 1):
        yield RawRecord(f"record {i}", i, rec)


def _unwrap(doc: Any, path: str) -> list[Any]:
    if isinstance(doc, list):
        if doc and all(isinstance(t, dict) and set(t) <= {"from", "value", "role", "content"} for t in doc):
            # A single conversation saved as a bare list of turns (axolotl's fixtures do this).
            return [{"conversations": doc}]
        return doc
    if isinstance(doc, dict):
        if "messages" in doc or "conversations" in doc:
            return [doc]  # one conversation saved as an object
        lists = [k for k, v in doc.items() if isinstance(v, list)]
        for key in ("data", "examples", "train", "rows", "instances"):
            if key in lists:
                return list(doc[key])
        if len(lists) == 1:
            return list(doc[lists[0]])
    raise DataError(
        path,
        "",
        "",
        "is not a list of records (or an object holding one)",
        "save the records as a JSON list or as JSONL",
        reason="malformed-json",
    )


def _iter_table(path: str, kind: str) -> Iterator[RawRecord]:
    import polars as pl

    try:
        if kind == "parquet":
            frames: Iterator[Any] = _parquet_batches(path)
        else:
            with open_binary(path) as fh:
                frames = iter([pl.read_csv(fh.read(), infer_schema=False)])
    except (pl.exceptions.PolarsError, OSError, ValueError) as e:
        raise DataError(
            path,
            "",
            "",
            f"cannot be read as {kind.upper()} ({e})",
            "check that the file is complete and of that type",
            reason="unreadable",
        ) from None
    n = 0
    for frame in frames:
        for row in frame.iter_rows(named=True):
            n += 1
            yield RawRecord(f"row {n}", n, _decode_json_cells(row))


def _parquet_batches(path: str) -> Iterator[Any]:
    import polars as pl
    import pyarrow.parquet as pq

    with open_binary(path) as fh:
        pf = pq.ParquetFile(fh if not path.endswith((".gz", ".zst")) else io.BytesIO(fh.read()))
        for batch in pf.iter_batches(batch_size=_BATCH_ROWS):
            yield pl.from_arrow(batch)


def _decode_json_cells(row: dict[str, Any]) -> dict[str, Any]:
    # CSV cannot hold nested lists; conversations stored as JSON strings are decoded here.
    for key in ("messages", "conversations", "instances"):
        val = row.get(key)
        if isinstance(val, str) and val.lstrip().startswith("["):
            with contextlib.suppress(json.JSONDecodeError):
                row[key] = json.loads(val)
    return row


def _iter_dataset(path: str) -> Iterator[RawRecord]:
    import datasets

    try:
        ds = datasets.load_from_disk(path)
    except (FileNotFoundError, ValueError) as e:
        raise ImdataError(f"{path}: not a `datasets.save_to_disk` folder ({e})") from None
    if isinstance(ds, datasets.DatasetDict):
        split = "train" if "train" in ds else next(iter(ds))
        ds = ds[split]
    n = 0
    for batch in ds.iter(batch_size=_BATCH_ROWS):
        keys = list(batch)
        for i in range(len(batch[keys[0]]) if keys else 0):
            n += 1
            yield RawRecord(f"row {n}", n, {k: batch[k][i] for k in keys})


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
    except Exception as e:  # noqa: BLE001 - any hub failure becomes one clear message
        raise ImdataError(
            f"{spec}: could not load from the Hugging Face hub ({type(e).__name__}: {str(e)[:200]}); "
            "if you are offline, save the dataset to disk first and pass the folder"
        ) from None
    for n, rec in enumerate(ds, 1):
        yield RawRecord(f"row {n}", n, rec)


class _Bad:
    """A line that could not even be parsed; the loader turns it into a DataError."""

    __slots__ = ("reason", "problem", "fix")

    def __init__(self, reason: str, problem: str, fix: str) -> None:
        self.reason, self.problem, self.fix = reason, problem, fix


def is_bad(value: Any) -> bool:
    """Whether a raw value is an unparseable line (see :func:`bad_to_error`)."""
    return isinstance(value, _Bad)


def bad_to_error(path: str, rec: RawRecord) -> DataError:
    """The error for an unparseable line."""
    bad = rec.value
    return DataError(path, rec.where, "", bad.problem, bad.fix, reason=bad.reason)


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
    """Refuse a destination that exists without ``force`` or cannot be written (see :mod:`imdata.atomic`)."""
    check_destination(target, force=force)
