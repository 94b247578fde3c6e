"""Raw records cross Ray's stages and lie in ``--spill`` as JSON text that reads back to the same values."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imdata.data.readers import bad_fields, bad_record, is_bad
from imdata.engine import wire
from imdata.errors import ImdataError


def same(a: Any, b: Any) -> bool:
    """Equal values of the same types all the way down (NaN equals NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if is_bad(a):
        return bad_fields(a) == bad_fields(b)
    return bool(a == b)


EDGES = [
    (1 << 64) - 1, -(1 << 63), 1 << 70, -(1 << 70), 0.1, -0.0, 1e308, 5e-324,
    float("nan"), float("inf"), float("-inf"), True, None, "", "\x00imdata", "é\u2028😀",
    {"\x00imdata": ["int", "1"]}, {1: "a", "b": 2}, (1, "x"),
    dt.date(2024, 2, 29), dt.datetime(2024, 1, 2, 3, 4, 5, 6), dt.datetime(2024, 1, 2, tzinfo=dt.UTC),
    dt.datetime(2024, 7, 1, 12, tzinfo=ZoneInfo("Europe/Paris")),
    dt.time(23, 59, 1, 5), dt.timedelta(days=-2, seconds=5),
    Decimal("1.2300"), Decimal("-1E+5"), b"", b"\x80\x00pickle", bad_record("too-deep", "nests", "flatten", "a.b"),
]  # fmt: skip


@pytest.mark.parametrize("value", EDGES, ids=[f"{i}-{type(v).__name__}" for i, v in enumerate(EDGES)])
def test_every_value_a_reader_yields_reads_back_the_same(value: Any) -> None:
    assert same(wire.decode(wire.encode(value)), value)
    assert same(wire.decode(wire.encode({"k": [value, {"v": value}]})), {"k": [value, {"v": value}]})


def test_a_zone_keeps_its_name() -> None:
    when = dt.datetime(2024, 7, 1, 12, tzinfo=ZoneInfo("Europe/Paris"))
    assert wire.decode(wire.encode(when)).tzinfo == ZoneInfo("Europe/Paris")


json_values = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers(-(1 << 63), (1 << 64) - 1)
    | st.text(st.characters(exclude_categories=["Cs"])),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=30,
)  # fmt: skip


@given(json_values)
def test_any_json_value_reads_back_the_same(value: Any) -> None:
    assert same(wire.decode(wire.encode(value)), value)


def test_a_value_it_cannot_carry_is_a_clear_error() -> None:
    with pytest.raises(ImdataError, match=r"holds a builtins\.set value, which --engine ray cannot carry"):
        wire.encode({"s": {1}})


@pytest.mark.parametrize("data", [b"\x80\x04K\x01.", b'{"\\u0000imdata": ["nope", 1]}', b'{"\\u0000imdata": 3}'])
def test_what_is_not_the_encoding_is_refused(data: bytes) -> None:
    with pytest.raises(ImdataError, match="not imdata's record encoding"):
        wire.decode(data)
