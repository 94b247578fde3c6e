"""Our Arrow IPC streams, read back by pyarrow (the independent reader), equal the tables pyarrow builds."""

from __future__ import annotations

import io
import random
from typing import Any

import pyarrow as pa
import pytest

from imdata.export import arrow_ipc

INTS = {"int8": pa.int8(), "int16": pa.int16(), "int32": pa.int32(), "int64": pa.int64()}
ALL_TYPES = ["string", *INTS, *(f"list<{t}>" for t in INTS)]
#: code points from ASCII, Latin-1, Greek, CJK and emoji (4 UTF-8 bytes), NUL included
CHARS = [*"ab z\x00\n", "é", "ß", "λ", "中", "文", "🙂", "👩\u200d💻"]


def _arrow(t: str) -> pa.DataType:
    return pa.string() if t == "string" else pa.list_(INTS[t[5:-1]]) if t.startswith("list<") else INTS[t]


def _int(rng: random.Random, t: str) -> int:
    bits = int(t[3:])
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return rng.choice([lo, hi, 0, -1, rng.randint(lo, hi)])


def _value(rng: random.Random, t: str) -> Any:
    if t == "string":
        return "".join(rng.choice(CHARS) for _ in range(rng.choice([0, 0, 1, 5, 40])))
    if t.startswith("list<"):
        n = rng.choice([0, 0, 1, 3, 17, 5000])  # empty and long lists
        return [_int(rng, t[5:-1]) for _ in range(n)]
    return _int(rng, t)


def _stream(schema: list[tuple[str, str]], batches: list[dict[str, list[Any]]], meta: dict[str, str]) -> bytes:
    fh = io.BytesIO()
    arrow_ipc.write_schema(fh, schema, meta)
    for cols in batches:
        arrow_ipc.write_batch(fh, arrow_ipc.record_batch(schema, cols))
    arrow_ipc.write_end(fh)
    return fh.getvalue()


@pytest.mark.parametrize(
    ("seed", "sizes"),
    [
        (0, []),
        (1, [0]),
        (2, [1]),
        (3, [64]),
        (4, [3, 0, 1, 64, 7]),
        (5, [random.Random(5).randint(0, 40) for _ in range(30)]),
    ],
    ids=["no-batch", "0-rows", "1-row", "64-rows", "mixed", "30-batches"],
)
def test_pyarrow_reads_our_stream_as_the_table_it_builds(seed: int, sizes: list[int]) -> None:
    rng = random.Random(seed)
    schema = [(f"c{i}_{t}", t) for i, t in enumerate(ALL_TYPES)]
    batches = [{name: [_value(rng, t) for _ in range(n)] for name, t in schema} for n in sizes]
    meta = {"huggingface": '{"info": {"features": "é🙂"}}', "other": ""}
    expected_schema = pa.schema([(name, _arrow(t)) for name, t in schema], metadata=meta)
    arrays = [[pa.array(cols[name], _arrow(t)) for name, t in schema] for cols in batches]
    expected = pa.Table.from_batches(
        [pa.record_batch(a, schema=expected_schema) for a in arrays], schema=expected_schema
    )
    reader = pa.ipc.open_stream(_stream(schema, batches, meta))
    got = list(reader)
    assert [b.num_rows for b in got] == sizes
    table = pa.Table.from_batches(got, schema=reader.schema)
    table.validate(full=True)
    assert reader.schema.equals(expected_schema, check_metadata=True)
    assert table.equals(expected, check_metadata=True)


def test_a_table_without_metadata_and_one_column() -> None:
    data = _stream([("n", "int64")], [{"n": [1, -(2**63)]}], {})
    table = pa.ipc.open_stream(data).read_all()
    assert table.schema.metadata is None and table.to_pydict() == {"n": [1, -(2**63)]}


def test_batch_nbytes_is_pyarrows() -> None:
    rng = random.Random(7)
    schema = [("s", "string"), ("l", "list<int16>"), ("i", "int32")]
    cols = {name: [_value(rng, t) for _ in range(50)] for name, t in schema}
    ours = arrow_ipc.record_batch(schema, cols)
    theirs = pa.record_batch([pa.array(cols[name], _arrow(t)) for name, t in schema], names=[n for n, _ in schema])
    assert ours.nbytes == theirs.nbytes


@pytest.mark.parametrize("t", ["uint8", "float32", "list<string>", "list<list<int32>>", "large_string"])
def test_a_type_it_does_not_write_is_refused(t: str) -> None:
    with pytest.raises(ValueError, match="no Arrow IPC writer for column type"):
        arrow_ipc.write_schema(io.BytesIO(), [("x", t)])
