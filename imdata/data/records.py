"""The canonical example every input format is normalised to.

An :class:`Example` is an id, a tuple of :class:`Message` objects, the source it came from
and free-form metadata. A user message may carry a ``context`` (Alpaca's ``input``, Dolly's
``context``): templates with a slot for it (``alpaca``) render it in its own section, the
others append it to the instruction after a blank line, as open-instruct's converters do.

Nothing a record holds is lost: a message keeps its other keys (``weight``, ``name``,
``tool_calls``) in ``extra``, and an example keeps the record it was read from in
``origin``, so selections can write the input records back unchanged and the canonical
form (:meth:`Example.to_dict`) reads back to the same example.

>>> ex = Example.from_pairs("ex-1", [("user", "Hi"), ("assistant", "Hello!")])
>>> [m.role for m in ex.messages]
['user', 'assistant']
>>> ex.first_instruction
'Hi'
"""

from __future__ import annotations

import base64
import datetime
import decimal
import hashlib
import json
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

Role = Literal["system", "user", "assistant"]
ROLES: tuple[str, ...] = get_args(Role)


@dataclass(frozen=True, slots=True)
class Message:
    """One turn of a conversation."""

    role: Role
    content: str
    context: str = ""
    #: the message's other keys as read (``weight``, ``train``, ``name``, ``tool_calls`` ...)
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def trained(self) -> bool:
        """False when the record excludes this turn from the loss (``weight: 0``, ``train: false``).

        This is axolotl's per-message convention; a turn without either key is trained as
        the loss mode says.

        >>> Message("assistant", "ok", extra={"weight": 0}).trained
        False
        """
        for key in ("weight", "train"):
            if key in self.extra and self.extra[key] is not None:
                return bool(self.extra[key])
        return True

    def full_content(self) -> str:
        """The content with its context appended after a blank line (if any)."""
        if not self.context:
            return self.content
        return f"{self.content.rstrip()}\n\n{self.context.strip()}"

    def to_dict(self) -> dict[str, Any]:
        """The open-instruct ``{"role", "content"}`` form (context folded into content)."""
        return {"role": self.role, "content": self.full_content(), **self.extra}


@dataclass(frozen=True, slots=True)
class Origin:
    """The record an example was read from, so that a selection can write it back unchanged."""

    #: the record as parsed
    record: Any
    #: its record format (``alpaca``, ``sharegpt`` ...)
    format: str
    #: the record's own id as it was typed (``1.5``, ``true``), ``None`` when it has none
    id_value: Any = None
    #: for records holding several examples (``seed`` instances): which one this is
    part: int | None = None
    #: the record's bytes as stored, where the reader keeps them (JSONL lines)
    text: bytes | None = None
    #: the field each message came from, as the file names it (``conversations[3].value``)
    fields: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Example:
    """A training example: an id and its messages, with where it came from."""

    id: str
    messages: tuple[Message, ...]
    source: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)
    origin: Origin | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_pairs(cls, id: str, pairs: Iterable[tuple[Role, str]], *, source: str = "") -> Example:
        """Build an example from ``(role, content)`` pairs."""
        return cls(id=id, messages=tuple(Message(r, c) for r, c in pairs), source=source)

    @property
    def untrained_turns(self) -> frozenset[int]:
        """Indices of the messages the record excludes from the loss (``weight: 0``, ``train: false``)."""
        return frozenset(i for i, m in enumerate(self.messages) if m.extra and not m.trained)

    @property
    def first_instruction(self) -> str:
        """The first user turn with its context: the prompt the paper generates from."""
        for m in self.messages:
            if m.role == "user":
                return m.full_content()
        return ""

    @property
    def first_output(self) -> str:
        """The first assistant turn (the output the paper compares generations with)."""
        for m in self.messages:
            if m.role == "assistant":
                return m.content
        return ""

    def to_dict(self) -> dict[str, Any]:
        """The canonical JSON form: ``{"id", "messages", "source", "meta"}``.

        It reads back to the same example: the id keeps its type, a message keeps its
        context and its other keys.

        >>> Example("7", (Message("user", "q", "c", {"name": "a"}),), origin=Origin({}, "x", 7)).to_dict()["messages"]
        [{'role': 'user', 'content': 'q', 'context': 'c', 'name': 'a'}]
        """
        msgs: list[dict[str, Any]] = []
        for m in self.messages:
            d: dict[str, Any] = {"role": m.role, "content": m.content}
            if m.context:
                d["context"] = m.context
            d.update((k, v) for k, v in m.extra.items() if k not in d)
            msgs.append(d)
        ident = self.id
        if self.origin is not None and self.origin.id_value is not None and id_text(self.origin.id_value) == self.id:
            ident = self.origin.id_value
        return {"id": ident, "messages": msgs, "source": self.source, "meta": dict(self.meta)}


def id_text(value: Any) -> str:
    """An id as text: strings as they are, other scalars as JSON writes them.

    >>> id_text("a"), id_text(3), id_text(1.5), id_text(True)
    ('a', '3', '1.5', 'true')
    """
    return value if isinstance(value, str) else json.dumps(value)


def content_id(messages: Iterable[Message], prefix: str = "ex", occurrence: int = 1) -> str:
    """A stable id from the content alone, so it survives reordering and subsetting.

    The ``occurrence``-th copy of the same content (exact duplicates are data) gets
    ``-<occurrence>`` appended, so ids stay unique and the same file gives the same ids.

    >>> content_id([Message("user", "Hi"), Message("assistant", "Hello")])
    'ex-8c3cb0a8e01f'
    """
    payload = json.dumps(
        [[m.role, m.content, m.context] for m in messages],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    base = f"{prefix}-{hashlib.sha256(payload.encode()).hexdigest()[:12]}"
    return base if occurrence == 1 else f"{base}-{occurrence}"


def json_default(obj: Any) -> Any:
    """JSON for the metadata values a reader yields beyond what orjson writes itself.

    Parquet and ``datasets`` columns can hold bytes (written as base64 text, as the JSON
    forms of protobuf and BigQuery write them), decimals (their exact digits, as text) and
    durations (seconds); dates and times are ISO 8601, as orjson writes them itself.
    """
    if isinstance(obj, numbers.Integral):  # numpy scalars from a tokenizer or a table
        return int(obj)
    if isinstance(obj, numbers.Real) and not isinstance(obj, decimal.Decimal):
        return float(obj)
    if isinstance(obj, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(obj)).decode("ascii")
    if isinstance(obj, decimal.Decimal):
        return str(obj)
    if isinstance(obj, datetime.timedelta):
        return obj.total_seconds()
    if isinstance(obj, datetime.date | datetime.time):  # for json.dumps; orjson writes these itself
        return obj.isoformat()
    return str(obj)  # a value no reader here yields: its text rather than a failed export
