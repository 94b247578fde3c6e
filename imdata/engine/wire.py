r"""Raw records as they travel between Ray stages and lie in the spill folder: JSON text, read back exactly.

A record read by :mod:`imdata.data.readers` is JSON-like (objects, lists, strings, 64-bit
integers, floats including ``NaN`` and ``Infinity``), may hold what Parquet files and
``datasets`` folders store beyond JSON (dates, times, durations, decimals, bytes), or is a
bad-record marker saying why it could not be read. :func:`encode` writes any of these as
JSON text, and :func:`decode` reads that back to an equal value of the same type. Values
JSON cannot hold travel as ``{"\u0000imdata": [kind, payload]}`` (an object of the record's
own holding that key is escaped the same way, so nothing is mistaken for a tag).

Decoding builds only plain values: a spill folder written by someone else cannot run code
(as unpickling it could); bytes that are not this encoding are a clear error.

>>> decode(encode({"a": [1, float("inf"), b"\x00"]}))
{'a': [1, inf, b'\x00']}
"""

from __future__ import annotations

import base64
import datetime as dt
import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import orjson

from imdata.data.readers import bad_fields, bad_record, is_bad
from imdata.errors import ImdataError

_TAG = "\x00imdata"
_TAG_TEXT = orjson.dumps(_TAG)  # how the tag key appears in encoded text
_INT_RANGE = (-(1 << 63), (1 << 64) - 1)  # what orjson writes as a number


def encode(value: Any) -> bytes:
    """``value`` as JSON text; :func:`decode` gives it back (see the module's docstring)."""
    return orjson.dumps(_plain(value))


def decode(data: bytes) -> Any:
    """The value :func:`encode` wrote; anything else raises :class:`~imdata.errors.ImdataError`."""
    try:
        value = orjson.loads(data)
        return _typed(value) if _TAG_TEXT in data else value
    except (orjson.JSONDecodeError, ValueError, TypeError, KeyError, IndexError) as e:
        raise ImdataError(
            f"a spilled record is not imdata's record encoding ({type(e).__name__}: {str(e)[:120]}); "
            "give --spill an empty folder"
        ) from None


def _plain(v: Any) -> Any:
    t = type(v)
    if v is None or t is str or t is bool:
        return v
    if t is int:
        return v if _INT_RANGE[0] <= v <= _INT_RANGE[1] else _tag("int", str(v))
    if t is float:
        return v if math.isfinite(v) else _tag("float", repr(v))
    if t is list:
        return [_plain(x) for x in v]
    if t is dict:
        if _TAG not in v and all(type(k) is str for k in v):
            return {k: _plain(x) for k, x in v.items()}
        return _tag("dict", [[_plain(k), _plain(x)] for k, x in v.items()])
    return _special(v)


def _special(v: Any) -> Any:
    """A value JSON has no type for, tagged with its kind."""
    if is_bad(v):
        return _tag("bad", list(bad_fields(v)))
    for kind, types, to_text, _ in _KINDS:
        if isinstance(v, types):
            return _tag(kind, to_text(v))
    raise ImdataError(
        f"a record holds a {type(v).__module__}.{type(v).__name__} value, which --engine ray cannot carry "
        "between its stages; use --engine local"
    )


def _tag(kind: str, payload: Any) -> dict[str, Any]:
    return {_TAG: [kind, payload]}


def _typed(v: Any) -> Any:
    if type(v) is list:
        return [_typed(x) for x in v]
    if type(v) is not dict:
        return v
    if _TAG not in v:
        return {k: _typed(x) for k, x in v.items()}
    kind, payload = v[_TAG]
    if kind == "int":
        return int(payload)
    if kind == "float":
        return float(payload)
    if kind == "dict":
        return {_typed(k): _typed(x) for k, x in payload}
    if kind == "bad":
        return bad_record(*(str(x) for x in payload))
    return _FROM_TEXT[kind](payload)


def _datetime_text(v: dt.datetime) -> list[Any]:
    zone = getattr(v.tzinfo, "key", None)  # a zoneinfo zone keeps its name; others their offset
    return [v.isoformat(), zone if isinstance(zone, str) else None]


def _datetime(payload: list[Any]) -> dt.datetime:
    value = dt.datetime.fromisoformat(payload[0])
    if payload[1] is None:
        return value
    from zoneinfo import ZoneInfo

    return value.replace(tzinfo=ZoneInfo(payload[1]))


_KINDS: tuple[tuple[str, type | tuple[type, ...], Callable[[Any], Any], Callable[[Any], Any]], ...] = (
    ("datetime", dt.datetime, _datetime_text, _datetime),  # before date: a datetime is a date
    ("date", dt.date, dt.date.isoformat, dt.date.fromisoformat),
    ("time", dt.time, dt.time.isoformat, dt.time.fromisoformat),
    ("timedelta", dt.timedelta, lambda v: [v.days, v.seconds, v.microseconds], lambda p: dt.timedelta(*p)),
    ("decimal", Decimal, str, Decimal),
    ("bytes", bytes, lambda v: base64.b64encode(v).decode(), base64.b64decode),
    ("tuple", tuple, lambda v: [_plain(x) for x in v], lambda p: tuple(_typed(x) for x in p)),
)
_FROM_TEXT: dict[str, Callable[[Any], Any]] = {kind: back for kind, _, _, back in _KINDS}

__all__ = ["decode", "encode"]
