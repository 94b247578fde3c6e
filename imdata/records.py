"""The canonical example every input format is normalised to.

An :class:`Example` is an id, a tuple of :class:`Message` objects, the source it came from
and free-form metadata. A user message may carry a ``context`` (Alpaca's ``input``, Dolly's
``context``): templates with a slot for it (``alpaca``) render it in its own section, the
others append it to the instruction after a blank line, as open-instruct's converters do.

>>> ex = Example.from_pairs("ex-1", [("user", "Hi"), ("assistant", "Hello!")])
>>> [m.role for m in ex.messages]
['user', 'assistant']
>>> ex.first_instruction
'Hi'
"""

from __future__ import annotations

import hashlib
import json
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

    def full_content(self) -> str:
        """The content with its context appended after a blank line (if any)."""
        if not self.context:
            return self.content
        return f"{self.content.rstrip()}\n\n{self.context.strip()}"

    def to_dict(self) -> dict[str, str]:
        """The open-instruct ``{"role", "content"}`` form (context folded into content)."""
        return {"role": self.role, "content": self.full_content()}


@dataclass(frozen=True, slots=True)
class Example:
    """A training example: an id and its messages, with where it came from."""

    id: str
    messages: tuple[Message, ...]
    source: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_pairs(cls, id: str, pairs: Iterable[tuple[Role, str]], *, source: str = "") -> Example:
        """Build an example from ``(role, content)`` pairs."""
        return cls(id=id, messages=tuple(Message(r, c) for r, c in pairs), source=source)

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
        """The canonical JSON form: ``{"id", "messages", "source", "meta"}``."""
        msgs: list[dict[str, str]] = []
        for m in self.messages:
            d = {"role": m.role, "content": m.content}
            if m.context:
                d["context"] = m.context
            msgs.append(d)
        return {"id": self.id, "messages": msgs, "source": self.source, "meta": dict(self.meta)}


def content_id(messages: Iterable[Message], prefix: str = "ex") -> str:
    """A stable id from the content alone, so it survives reordering and subsetting.

    >>> content_id([Message("user", "Hi"), Message("assistant", "Hello")])
    'ex-8c3cb0a8e01f'
    """
    payload = json.dumps(
        [[m.role, m.content, m.context] for m in messages],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return f"{prefix}-{hashlib.sha256(payload.encode()).hexdigest()[:12]}"
