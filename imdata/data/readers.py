r"""The one reader of files: containers and parsers, every failure a named error with a position.

Both engines read through :func:`read_records` (``local`` on a file it opens, ``ray`` on
the raw stream a Ray read task hands it), so they see the same records and the same errors.

Two kinds of trouble are told apart:

* a **damaged container** (a truncated or corrupt ``.gz`` or ``.zst`` stream, a Parquet
  file that is not one, bytes that are not text, a CSV row that does not parse) stops the
  read with a :class:`~imdata.errors.DataError` naming the file and how far it got, even
  under ``--on-error skip``: the rest of the file is unknown, so nothing can be counted;
* a **bad record** (a JSONL line that is not JSON, a lone surrogate ``"\ud800"``, nesting
  deeper than a parser can follow, an integer no JSON tool can carry) becomes a ``_Bad``
  value at its line, which the loader raises or, under ``--on-error skip``, counts.

A UTF-8 byte-order mark at the start of a file is read past, as Python's ``utf-8-sig`` does.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from imdata.errors import DataError

_BATCH_ROWS = 4096
_CHUNK = 1 << 22  # bytes (or characters) read at a time
_BOM = "\ufeff"
_FIX_CONTAINER = "the file is damaged or cut short; download or write it again"
_FIX_JSON = "fix the file; a JSON file must hold one list of records"


@dataclass(frozen=True, slots=True)
class RawRecord:
    """A record as read, with where it was found (``line 3``, ``record 3`` or ``row 3``)."""

    where: str
    index: int
    value: Any
    #: the record's bytes as stored, where the container has one record per line (JSONL)
    text: bytes | None = None


class _Bad:
    """A record that could not be parsed; the loader turns it into a DataError."""

    __slots__ = ("reason", "problem", "fix", "field")

    def __init__(self, reason: str, problem: str, fix: str, field: str = "") -> None:
        self.reason, self.problem, self.fix, self.field = reason, problem, fix, field


def is_bad(value: Any) -> bool:
    """Whether a raw value is an unparseable record (see :func:`bad_to_error`)."""
    return isinstance(value, _Bad)


def bad_record(reason: str, problem: str, fix: str, field: str = "") -> Any:
    """A bad-record marker, as a reader makes one (for values that travel between processes)."""
    return _Bad(reason, problem, fix, field)


def bad_fields(value: Any) -> tuple[str, str, str, str]:
    """What a bad-record marker says: ``(reason, problem, fix, field)``, the arguments of :func:`bad_record`."""
    return value.reason, value.problem, value.fix, value.field


def bad_to_error(path: str, rec: RawRecord) -> DataError:
    """The error for an unparseable record."""
    bad = rec.value
    return DataError(path, rec.where, bad.field, bad.problem, bad.fix, reason=bad.reason)


# --- containers --------------------------------------------------------------------------


def open_binary(path: str) -> IO[bytes]:
    """Open a file for reading, decompressing ``.gz`` and ``.zst`` transparently."""
    try:
        fh = open(path, "rb")  # noqa: SIM115 - handed to the decompressor, closed with it
    except OSError as e:
        raise DataError(path, "", "", f"cannot be opened ({e.strerror})", "check the path and its permissions",
                        reason="unreadable") from None  # fmt: skip
    return decompressed(fh, path)


def decompressed(fh: IO[bytes], path: str) -> IO[bytes]:
    """``fh`` (raw bytes as stored) decompressed by the name's suffix: ``.gz``, ``.zst`` or none."""
    name = path.lower()
    fh = _python_stream(fh)
    if name.endswith(".gz"):
        import gzip

        return gzip.GzipFile(fileobj=fh, mode="rb")  # type: ignore[return-value]
    if name.endswith(".zst"):
        return io.BufferedReader(_Zstd(fh), buffer_size=1 << 20)
    return fh


class _Zstd(io.RawIOBase):
    """A zstd stream that, unlike ``zstandard.stream_reader``, fails on a cut-short frame."""

    def __init__(self, fh: IO[bytes]) -> None:
        import zstandard

        self._fh, self._zstd = fh, zstandard.ZstdDecompressor()
        self._obj: Any = None
        self._out = b""
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        while not self._out and not self._done:
            raw = self._fh.read(1 << 20)
            if not raw:
                self._done = True
                if self._obj is not None and not self._obj.eof:
                    raise EOFError("the zstd stream ends in the middle of a frame")
                break
            while raw:
                if self._obj is None or self._obj.eof:
                    self._obj = self._zstd.decompressobj()
                self._out += self._obj.decompress(raw)
                raw = self._obj.unused_data if self._obj.eof else b""
        n = min(len(buf), len(self._out))
        buf[:n] = self._out[:n]
        self._out = self._out[n:]
        return n

    def close(self) -> None:
        self._fh.close()
        super().close()


def _python_stream(fh: Any) -> IO[bytes]:
    """``fh`` itself if it is one of Python's binary streams, else ``fh`` wrapped as one.

    pyarrow's files claim to be ``io.IOBase`` but cannot be iterated by line or wrapped as text.
    """
    import gzip

    if isinstance(fh, io.BufferedReader | io.BytesIO | io.FileIO | gzip.GzipFile):
        return fh  # type: ignore[return-value]
    return io.BufferedReader(_Adapter(fh))


class _Adapter(io.RawIOBase):
    """Any object with ``read(n)`` (a pyarrow stream a Ray task opens) as a Python binary stream."""

    def __init__(self, fh: Any) -> None:
        self._fh = fh

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        data = self._fh.read(len(buf))
        buf[: len(data)] = data
        return len(data)


def _container_errors() -> tuple[type[BaseException], ...]:
    """What a damaged file raises while it is read, from every library that reads one."""
    errors: list[type[BaseException]] = [OSError, EOFError, zlib.error, ValueError, csv.Error]
    try:
        import zstandard

        errors.append(zstandard.ZstdError)
    except ImportError:  # pragma: no cover - zstandard is a dependency
        pass
    try:
        import pyarrow as pa

        errors.append(pa.ArrowException)
    except ImportError:  # pragma: no cover
        pass
    return tuple(errors)


def read_records(fh: IO[bytes], path: str, kind: str) -> Iterator[RawRecord]:
    """The raw records of ``fh`` (decompressed bytes of one input of ``kind``), in order.

    Whatever a container or parser raises becomes a DataError that names ``path`` and the
    last record read; a DataError raised by a reader passes as it is.
    """
    reader: Callable[[IO[bytes], str], Iterator[RawRecord]] = _READERS[kind]
    last: RawRecord | None = None
    try:
        for rec in reader(_python_stream(fh), path):
            last = rec
            yield rec
    except DataError:
        raise
    except _container_errors() as e:
        where = f"after {last.where}" if last is not None else "before the first record"
        raise DataError(path, where, "", f"cannot be read ({_describe(e)})", _FIX_CONTAINER,
                        reason="damaged-file") from None  # fmt: skip


def _describe(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    name = {"BadGzipFile": "not a gzip file", "EOFError": "the compressed stream is cut short"}.get(type(e).__name__)
    if name and not text:
        return name
    text = text[:200]
    return f"{name}: {text}" if name else f"{type(e).__name__}: {text}"


# --- parsers -----------------------------------------------------------------------------

# a \\ud800-\\udfff escape may be a lone surrogate; 20+ digits may be an integer of 2^64 or more
_SURROGATE = re.compile(r"\\[uU][dD][89a-fA-F]")
_INT_RANGE = (-(1 << 63), (1 << 64) - 1)


class _OutOfRange(Exception):
    """An integer literal outside the 64-bit range: the record is read again and checked whole."""


def _checked_int(text: str) -> int:
    # the parser's hook for integer literals: far cheaper than searching every text for 20 digits
    value = int(text)
    if not _INT_RANGE[0] <= value <= _INT_RANGE[1]:
        raise _OutOfRange
    return value


_CHECKED = json.JSONDecoder(parse_int=_checked_int)
_PLAIN = json.JSONDecoder()


def _raw_decode(text: str, pos: int) -> tuple[Any, int, bool]:
    """``JSONDecoder.raw_decode``, and whether the value must be checked (an integer out of range)."""
    try:
        value, end = _CHECKED.raw_decode(text, pos)
        return value, end, False
    except _OutOfRange:
        value, end = _PLAIN.raw_decode(text, pos)
        return value, end, True


def parse_json(text: str) -> Any:
    """One JSON value, or a ``_Bad`` saying why it cannot be a record (syntax, nesting, surrogate, integer)."""
    big = False
    try:
        try:
            value = _CHECKED.decode(text)  # json.loads(text), integers checked as they are read
        except _OutOfRange:
            value, big = json.loads(text), True
    except json.JSONDecodeError as e:
        return _Bad("malformed-json", f"is not valid JSON ({e.msg} at column {e.colno})", "fix or remove the line")
    except RecursionError:
        return _Bad("too-deep", "nests too deeply to be read", "flatten the record or remove it")
    if big or _SURROGATE.search(text):
        return _check_value(value)
    return value


def _check_value(value: Any) -> Any:
    problem = _first_problem(value, "", 0)
    if problem is None:
        return value
    field, what = problem
    if what == "surrogate":
        return _Bad("invalid-unicode", "holds a lone surrogate (an escape such as \\ud800 that is not a character)",
                    "fix the text, or remove the record", field)  # fmt: skip
    return _Bad("integer-too-large", "is an integer outside the 64-bit range, which JSON tools cannot carry",
                "store it as a string", field)  # fmt: skip


def _first_problem(value: Any, field: str, depth: int) -> tuple[str, str] | None:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return field, "surrogate"
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return None if _INT_RANGE[0] <= value <= _INT_RANGE[1] else (field, "integer")
    if depth > 200:
        return None
    if isinstance(value, dict):
        for k, v in value.items():
            key = k if isinstance(k, str) else str(k)
            found = _first_problem(key, field, depth + 1) or _first_problem(
                v, f"{field}.{key}" if field else key, depth + 1
            )
            if found:
                return found
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found = _first_problem(v, f"{field}[{i}]", depth + 1)
            if found:
                return found
    return None


def _utf8_error(path: str, line: int, e: UnicodeDecodeError, offset: int) -> DataError:
    return DataError(path, f"line {line}", "", f"is not valid UTF-8 (byte {offset + e.start})",
                     "re-encode the file as UTF-8", reason="invalid-utf8")  # fmt: skip


def _read_jsonl(fh: IO[bytes], path: str) -> Iterator[RawRecord]:
    for n, raw in enumerate(fh, 1):
        if n == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        if not raw.strip():
            continue
        where = f"line {n}"
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            bad = _Bad(
                "invalid-utf8", f"is not valid UTF-8 (byte {e.start} of the line)", "re-encode the file as UTF-8"
            )
            yield RawRecord(where, n, bad)
            continue
        yield RawRecord(where, n, parse_json(line), raw.rstrip(b"\r\n"))


def _read_json(fh: IO[bytes], path: str) -> Iterator[RawRecord]:
    """A JSON list is streamed record by record; anything else is parsed whole."""
    stream = _JsonList(fh, path)
    yield from stream.records()
    if stream.whole is not None:
        yield from _read_json_whole(stream.whole, path)


class _JsonList:
    """Records of a top-level JSON list, read in chunks: memory stays at one chunk plus one record.

    When the file is not a plain list of records (an object holding one, or a single
    conversation saved as a list of turns), ``records`` stops and ``whole`` holds the text.
    """

    def __init__(self, fh: IO[bytes], path: str) -> None:
        self.fh, self.path = fh, path
        self.utf8 = codecs.getincrementaldecoder("utf-8")()
        self.buf, self.pos, self.eof, self.lines_before, self.bytes_read = "", 0, False, 0, 0
        self.whole: str | None = None

    def more(self) -> bool:
        raw = self.fh.read(_CHUNK)
        self.eof = not raw
        try:
            text = self.utf8.decode(raw, final=self.eof)
        except UnicodeDecodeError as e:
            line = self.lines_before + self.buf.count("\n") + raw.count(b"\n", 0, max(e.start, 0)) + 1
            raise _utf8_error(self.path, line, e, self.bytes_read) from None
        if not self.bytes_read and text.startswith(_BOM):
            text = text[1:]
        self.bytes_read += len(raw)
        if self.pos > _CHUNK:  # drop what has been parsed
            self.lines_before += self.buf.count("\n", 0, self.pos)
            self.buf, self.pos = self.buf[self.pos :], 0
        self.buf += text
        return not self.eof

    def skip_ws(self) -> None:
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in " \t\r\n":
                self.pos += 1
            if self.pos < len(self.buf) or not self.more():
                return

    def bad(self, problem: str) -> DataError:
        line = self.lines_before + self.buf.count("\n", 0, self.pos) + 1
        column = self.pos - self.buf.rfind("\n", 0, self.pos)  # 1-based; a long line may start before buf
        return DataError(self.path, f"line {line}, column {column}", "", f"is not valid JSON ({problem})",
                         _FIX_JSON, reason="malformed-json")  # fmt: skip

    def _rest(self) -> str:
        while self.more():
            pass
        return self.buf

    def records(self) -> Iterator[RawRecord]:
        self.skip_ws()
        if self.pos >= len(self.buf) or self.buf[self.pos] != "[":
            self.whole = self._rest()
            return
        self.pos += 1
        n = 0
        while True:
            self.skip_ws()
            if self.pos >= len(self.buf):
                raise self.bad("the list is not closed")
            if self.buf[self.pos] == "]":
                self.pos += 1
                self.skip_ws()
                if self.pos < len(self.buf):
                    raise self.bad("there is more after the list's closing ']'")
                return
            if n:
                if self.buf[self.pos] != ",":
                    raise self.bad(f"expected ',' or ']' but found {self.buf[self.pos]!r}")
                self.pos += 1
                self.skip_ws()
            while True:  # more() may drop parsed text and move self.pos: read it afresh each time
                try:
                    value, end, big = _raw_decode(self.buf, self.pos)
                    if end < len(self.buf) or self.eof:
                        break
                except json.JSONDecodeError as e:
                    if self.eof:
                        self.pos = e.pos
                        raise self.bad(e.msg) from None
                except RecursionError:
                    raise self.bad("a record nests too deeply to be read") from None
                if not self.more() and self.pos >= len(self.buf):
                    raise self.bad("the list is not closed")
            n += 1
            if n == 1 and _is_turn(value):
                self.whole = self._rest()
                return
            text = self.buf[self.pos : end]
            self.pos = end
            yield RawRecord(f"record {n}", n, _check_value(value) if big or _SURROGATE.search(text) else value)


def _is_turn(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and set(value) <= {"from", "value", "role", "content"}


def _read_json_whole(text: str, path: str) -> Iterator[RawRecord]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(path, f"line {e.lineno}", "", f"is not valid JSON ({e.msg}, column {e.colno})",
                        _FIX_JSON, reason="malformed-json") from None  # fmt: skip
    except RecursionError:
        raise DataError(path, "", "", "nests too deeply to be read", "flatten the records",
                        reason="too-deep") from None  # fmt: skip
    records = unwrap(doc, path)
    for i, rec in enumerate(records, 1):
        yield RawRecord(f"record {i}", i, _check_value(rec))


def unwrap(doc: Any, path: str) -> list[Any]:
    """The list of records a parsed JSON document holds."""
    if isinstance(doc, list):
        if doc and all(_is_turn(t) for t in doc):
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
    raise DataError(path, "", "", "is not a list of records (or an object holding one)",
                    "save the records as a JSON list or as JSONL", reason="malformed-json")  # fmt: skip


def _read_csv(fh: IO[bytes], path: str) -> Iterator[RawRecord]:
    text = io.TextIOWrapper(fh, encoding="utf-8-sig", errors="strict", newline="")
    try:
        yield from _csv_rows(text, path)
    finally:
        text.detach()  # the caller closes ``fh``


def _csv_rows(text: IO[str], path: str) -> Iterator[RawRecord]:
    csv.field_size_limit(1 << 30)
    reader = csv.reader(text, strict=True)
    try:
        header = next(reader, None)
    except UnicodeDecodeError as e:
        raise _utf8_error(path, 1, e, 0) from None
    if header is None:
        return
    n = 0
    while True:
        try:
            row = next(reader, None)
        except UnicodeDecodeError as e:
            raise _utf8_error(path, reader.line_num + 1, e, 0) from None
        except csv.Error as e:
            raise DataError(path, f"line {reader.line_num}", "", f"is not valid CSV ({e})",
                            "fix the quoting on that line", reason="damaged-file") from None  # fmt: skip
        if row is None:
            return
        if not row:
            continue
        n += 1
        where = f"row {n}"
        if len(row) > len(header):
            problem = f"has {len(row)} fields; the header (line 1) has {len(header)}"
            yield RawRecord(where, n, _Bad("malformed-csv", f"(line {reader.line_num}) {problem}", "fix the row"))
            continue
        record = {k: (v if v != "" else None) for k, v in zip(header, row, strict=False)}
        for k in header[len(row) :]:
            record[k] = None
        yield RawRecord(where, n, decode_json_cells(record))


def _read_parquet(fh: IO[bytes], path: str) -> Iterator[RawRecord]:
    import polars as pl
    import pyarrow.parquet as pq

    source: Any = fh if _seekable(fh) else io.BytesIO(fh.read())
    n = 0
    for batch in pq.ParquetFile(source).iter_batches(batch_size=_BATCH_ROWS):
        for row in pl.from_arrow(batch).iter_rows(named=True):  # type: ignore[union-attr]
            n += 1
            yield RawRecord(f"row {n}", n, decode_json_cells(row))


def _seekable(fh: Any) -> bool:
    try:
        return bool(fh.seekable()) and not hasattr(fh, "_fp")  # a GzipFile seeks by re-reading: read it once
    except (AttributeError, ValueError):
        return False


def decode_json_cells(row: dict[str, Any]) -> dict[str, Any]:
    """CSV and Parquet cells cannot hold nested lists; conversations stored as JSON strings are decoded."""
    for key in ("messages", "conversations", "instances"):
        val = row.get(key)
        if isinstance(val, str) and val.lstrip().startswith("["):
            parsed = parse_json(val)
            if not is_bad(parsed):
                row[key] = parsed
    return row


_READERS: dict[str, Callable[[IO[bytes], str], Iterator[RawRecord]]] = {
    "jsonl": _read_jsonl,
    "json": _read_json,
    "csv": _read_csv,
    "parquet": _read_parquet,
}

__all__ = [
    "RawRecord",
    "bad_fields",
    "bad_record",
    "bad_to_error",
    "decompressed",
    "is_bad",
    "open_binary",
    "parse_json",
    "read_records",
    "unwrap",
]
