"""The Arrow IPC streaming format, written without pyarrow (whose import and C++ allocator cost more than the batches).

A stream is a Schema message, RecordBatch messages and an end-of-stream marker
(https://arrow.apache.org/docs/format/Columnar.html#ipc-streaming-format). Each message is
the continuation marker ``0xFFFFFFFF``, the little-endian int32 length of its flatbuffer
metadata (padded so the body starts 8-byte aligned), the metadata (a ``Message`` table of
``format/Message.fbs``, MetadataVersion V5), then the body: the batch's buffers, each padded
to 8 bytes. The flatbuffers are encoded here by hand, front to back, for the few tables this
needs. Only the column types ``spans --to hf`` writes are supported, without nulls (null
count 0, validity buffers of length 0):

- ``"string"``: Arrow ``utf8``;
- ``"int8"``, ``"int16"``, ``"int32"``, ``"int64"``: signed integers;
- ``"list<int8>"`` ... ``"list<int64>"``: Arrow ``list`` (int32 offsets) of those, the child
  field named ``item`` as pyarrow names it.

>>> import io
>>> schema = [("id", "string"), ("input_ids", "list<int32>")]
>>> fh = io.BytesIO()
>>> write_schema(fh, schema)
>>> write_batch(fh, record_batch(schema, {"id": ["a", "b"], "input_ids": [[1, 2], []]}))
>>> write_end(fh)
>>> fh.getvalue()[-8:].hex()
'ffffffff00000000'
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np

#: the signed integer types, by name
INTS = ("int8", "int16", "int32", "int64")
_CONTINUATION = b"\xff\xff\xff\xff"
_V5 = 4  # MetadataVersion V5
_SCHEMA, _RECORD_BATCH = 1, 3  # MessageHeader union
_TYPE_INT, _TYPE_UTF8, _TYPE_LIST = 2, 5, 12  # Type union
_MAX_OFFSET = 2**31 - 1  # int32 offsets


def element_type(t: str) -> str | None:
    """The value type of a ``"list<...>"`` type, or None for a flat type: ``"list<int32>"`` → ``"int32"``.

    Raises ``ValueError`` for a type this module does not write.
    """
    inner = t[5:-1] if t.startswith("list<") and t.endswith(">") else None
    if (inner if inner is not None else t) not in (*INTS, "string") or inner == "string":
        raise ValueError(f"no Arrow IPC writer for column type {t!r}")
    return inner


def int_dtype(t: str) -> np.dtype[Any]:
    """The little-endian numpy dtype of a signed integer type: ``"int32"`` → ``<i4``."""
    return np.dtype(f"<i{int(t[3:]) // 8}")


@dataclass(frozen=True)
class RecordBatch:
    """One batch's Arrow layout: a (length, null count) node per field in pre-order, and its buffers in order.

    ``nbytes`` counts the buffers as pyarrow's ``RecordBatch.nbytes`` does (and ``datasets``'
    size estimate, by which shards are cut): an offsets buffer as 4 bytes a row, one offset
    fewer than it holds; no padding.
    """

    length: int
    nodes: list[tuple[int, int]]
    buffers: list[memoryview]
    nbytes: int


def record_batch(schema: Sequence[tuple[str, str]], columns: Mapping[str, Sequence[Any]]) -> RecordBatch:
    """Lay out ``columns`` (a sequence of values per schema column, all of one length) as an Arrow batch.

    A list column's values may be lists of ints or numpy arrays (packed already, which saves memory).
    """
    length = len(columns[schema[0][0]]) if schema else 0
    nodes: list[tuple[int, int]] = []
    buffers: list[memoryview] = []
    empty = memoryview(b"")  # a validity buffer: no nulls
    for name, t in schema:
        values = columns[name]
        if len(values) != length:
            raise ValueError(f"column {name!r} has {len(values)} values, the batch {length}")
        inner = element_type(t)
        nodes.append((length, 0))
        if t == "string":
            data = [v.encode() for v in values]
            buffers += [empty, _offsets(map(len, data), length).data, memoryview(b"".join(data))]
        elif inner is not None:
            dtype = int_dtype(inner)
            arrays = [np.asarray(v, dtype=dtype) for v in values]
            flat = (np.concatenate(arrays) if arrays else np.empty(0)).astype(dtype, copy=False)
            nodes.append((len(flat), 0))
            buffers += [empty, _offsets(map(len, arrays), length).data, empty, flat.data]
        else:
            buffers += [empty, np.ascontiguousarray(values, dtype=int_dtype(t)).data]
    offset_buffers = sum(t == "string" or element_type(t) is not None for _, t in schema)
    return RecordBatch(length, nodes, buffers, sum(b.nbytes for b in buffers) - 4 * offset_buffers)


def _offsets(lengths: Iterable[int], n: int) -> np.ndarray[Any, Any]:
    ends = np.cumsum(np.fromiter(lengths, np.int64, n))
    if n and ends[-1] > _MAX_OFFSET:
        raise ValueError(f"a batch holds {ends[-1]} values or bytes in one column; int32 offsets hold {_MAX_OFFSET}")
    return np.concatenate([np.zeros(1, "<i4"), ends.astype("<i4")])


def write_schema(fh: BinaryIO, schema: Sequence[tuple[str, str]], metadata: Mapping[str, str] | None = None) -> None:
    """Write the stream's Schema message: nullable fields, ``metadata`` as the schema's custom_metadata."""
    pairs = [_Table((k, v)) for k, v in (metadata or {}).items()]
    fields = _Vec(tuple(_field(name, t) for name, t in schema))
    schema_table = _Table((None, fields, _Vec(tuple(pairs)) if pairs else None))
    _write_message(fh, _SCHEMA, schema_table, 0)


def write_batch(fh: BinaryIO, batch: RecordBatch) -> None:
    """Write one RecordBatch message: its metadata, then its buffers, each at an 8-byte aligned offset."""
    spans, at = [], 0
    for b in batch.buffers:
        spans.append((at, b.nbytes))
        at += b.nbytes + _pad(b.nbytes)
    header = _Table(
        (
            _Scalar("<q", batch.length),
            _Structs(b"".join(struct.pack("<qq", *n) for n in batch.nodes), len(batch.nodes)),
            _Structs(b"".join(struct.pack("<qq", *s) for s in spans), len(spans)),
        )
    )
    _write_message(fh, _RECORD_BATCH, header, at)
    for b, (_, size) in zip(batch.buffers, spans, strict=True):
        fh.write(b)
        fh.write(bytes(_pad(size)))


def write_end(fh: BinaryIO) -> None:
    """Write the end-of-stream marker."""
    fh.write(_CONTINUATION + bytes(4))


def _field(name: str, t: str) -> _Table:
    inner = element_type(t)
    children: tuple[_Table, ...] = ()
    if inner is not None:
        kind, type_table, children = _TYPE_LIST, _Table(()), (_field("item", inner),)
    elif t == "string":
        kind, type_table = _TYPE_UTF8, _Table(())
    else:
        kind, type_table = _TYPE_INT, _Table((_Scalar("<i", int(t[3:])), _Scalar("<?", True)))
    # name, nullable, type_type, type, dictionary, children (readers want the vector even when empty)
    return _Table((name, _Scalar("<?", True), _Scalar("<B", kind), type_table, None, _Vec(children)))


def _write_message(fh: BinaryIO, header_type: int, header: _Table, body_length: int) -> None:
    message = _Table((_Scalar("<h", _V5), _Scalar("<B", header_type), header, _Scalar("<q", body_length)))
    meta = _flatbuffer(message)
    meta += bytes(_pad(len(meta)))  # the 8 bytes before it keep the body 8-byte aligned
    fh.write(_CONTINUATION + struct.pack("<i", len(meta)) + meta)


def _pad(size: int) -> int:
    return -size % 8


# --- flatbuffers (https://flatbuffers.dev/internals/), laid out front to back ---
# A table is an int32 soffset to its vtable (vtable = table - soffset), then its inline
# fields; the vtable is uint16 vtable size, uint16 table size, then a uint16 offset in the
# table per field id (0: absent). Strings, vectors and child tables are reached by uint32
# offsets relative to where the offset is stored, so each child is placed after its parent.
# Every scalar sits aligned to its size relative to the buffer's start.


@dataclass(frozen=True)
class _Scalar:
    fmt: str  # struct format, little-endian
    value: int | bool


@dataclass(frozen=True)
class _Vec:
    items: tuple[_Table | str, ...]  # a vector of offsets


@dataclass(frozen=True)
class _Structs:
    data: bytes  # a vector of 8-byte aligned structs, packed
    count: int


@dataclass(frozen=True)
class _Table:
    slots: tuple[_Scalar | _Table | _Vec | _Structs | str | None, ...]  # by field id; None: absent


def _flatbuffer(root: _Table) -> bytearray:
    buf = bytearray(4)  # the root table's offset
    _link(buf, 0, _place(buf, root))
    return buf


def _link(buf: bytearray, at: int, target: int) -> None:
    struct.pack_into("<I", buf, at, target - at)


def _align(buf: bytearray, align: int, skip: int = 0) -> None:
    """Zero-pad so that ``len(buf) + skip`` is a multiple of ``align``."""
    buf += bytes(-(len(buf) + skip) % align)


def _place(buf: bytearray, obj: _Table | _Vec | _Structs | str) -> int:
    """Append ``obj`` (and what it points to) to ``buf``; return where offsets to it must point."""
    if isinstance(obj, str):
        raw = obj.encode()
        _align(buf, 4)
        at = len(buf)
        buf += struct.pack("<I", len(raw)) + raw + b"\0"
        return at
    if isinstance(obj, _Structs):
        _align(buf, 8, skip=4)  # the elements, after the uint32 count, 8-byte aligned
        at = len(buf)
        buf += struct.pack("<I", obj.count) + obj.data
        return at
    if isinstance(obj, _Vec):
        _align(buf, 4)
        at = len(buf)
        buf += struct.pack("<I", len(obj.items)) + bytes(4 * len(obj.items))
        for i, item in enumerate(obj.items):
            _link(buf, at + 4 + 4 * i, _place(buf, item))
        return at
    present = [(slot, v) for slot, v in enumerate(obj.slots) if v is not None]
    # widest first, so each field is aligned without gaps after the 4-byte soffset
    by_size = sorted(present, key=lambda sv: -(struct.calcsize(sv[1].fmt) if isinstance(sv[1], _Scalar) else 4))
    where: dict[int, int] = {}
    size = 4
    for slot, v in by_size:
        width = struct.calcsize(v.fmt) if isinstance(v, _Scalar) else 4
        size += -size % width
        where[slot] = size
        size += width
    n = present[-1][0] + 1 if present else 0
    _align(buf, 2)
    vtable = len(buf)
    buf += struct.pack(f"<HH{n}H", 4 + 2 * n, size, *(where.get(slot, 0) for slot in range(n)))
    _align(buf, 8 if any(isinstance(v, _Scalar) and struct.calcsize(v.fmt) == 8 for _, v in present) else 4)
    table = len(buf)
    buf += bytes(size)
    struct.pack_into("<i", buf, table, table - vtable)
    for slot, v in present:
        if isinstance(v, _Scalar):
            struct.pack_into(v.fmt, buf, table + where[slot], v.value)
    for slot, v in present:
        if not isinstance(v, _Scalar):
            _link(buf, table + where[slot], _place(buf, v))
    return table
