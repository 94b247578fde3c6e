"""Turn one raw record of a known format into a canonical :class:`~imdata.records.Example`.

Formats (detected from the fields, overridable with ``--format``):

========== ===========================================================================
alpaca      ``instruction``, ``input`` (optional), ``output`` (also model outputs such
            as AlpacaEval's, which add ``generator``)
dolly       ``instruction``, ``context`` (optional), ``response``
sharegpt    ``conversations``: list of ``{"from", "value"}``, roles mapped by a role map
messages    ``messages``: list of ``{"role", "content"}`` (open-instruct / OpenAI form)
prompt      ``prompt`` and ``completion`` (or ``response``)
lima        a list of alternating strings (user first), bare or under ``conversations``
seed        ``instruction`` and ``instances``: one example per ``{"input", "output"}``
========== ===========================================================================
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Literal, get_args

from imdata.errors import DataError, FormatError
from imdata.records import ROLES, Example, Message, Role

FormatName = Literal["alpaca", "dolly", "sharegpt", "messages", "prompt", "lima", "seed"]
FORMATS: tuple[str, ...] = get_args(FormatName)

#: The roles real ShareGPT dumps contain, mapped to canonical roles.
DEFAULT_ROLE_MAP: Mapping[str, Role] = {
    "system": "system",
    "human": "user",
    "user": "user",
    "prompter": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "chatgpt": "assistant",
    "bing": "assistant",
    "bard": "assistant",
    "model": "assistant",
    "bot": "assistant",
}

_ID_FIELDS = ("id", "idx", "question_id", "example_id", "uid")


def detect_format(record: Any) -> FormatName | None:
    """The format of a raw record, judged from its fields; ``None`` if unknown.

    >>> detect_format({"instruction": "a", "input": "", "output": "b"})
    'alpaca'
    >>> detect_format({"conversations": [{"from": "human", "value": "hi"}]})
    'sharegpt'
    """
    if isinstance(record, list):
        return "lima" if all(isinstance(x, str) for x in record) else None
    if not isinstance(record, Mapping):
        return None
    if "messages" in record:
        return "messages"
    if "conversations" in record:
        conv = record["conversations"]
        if isinstance(conv, list) and conv and all(isinstance(x, str) for x in conv):
            return "lima"
        if isinstance(conv, list) and conv and isinstance(conv[0], Mapping):
            return "messages" if "role" in conv[0] else "sharegpt"
        return "sharegpt"
    if "instruction" in record and "instances" in record:
        return "seed"
    if "instruction" in record and "output" in record:
        return "alpaca"
    if "instruction" in record and "response" in record:
        return "dolly"
    if "prompt" in record and ("completion" in record or "response" in record):
        return "prompt"
    return None


def to_examples(
    record: Any,
    fmt: FormatName,
    *,
    path: str,
    where: str,
    index: int,
    role_map: Mapping[str, Role] = DEFAULT_ROLE_MAP,
) -> Iterator[Example]:
    """Convert one raw record; yields several examples for ``seed`` records."""
    conv = _CONVERTERS.get(fmt)
    if conv is None:
        raise FormatError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    ctx = _Ctx(path, where, index, role_map)
    if fmt != "lima" and not isinstance(record, Mapping):
        raise ctx.err("", f"is a {type(record).__name__}, not an object", "fix the record")
    yield from conv(record, ctx)


class _Ctx:
    __slots__ = ("path", "where", "index", "role_map")

    def __init__(self, path: str, where: str, index: int, role_map: Mapping[str, Role]):
        self.path, self.where, self.index, self.role_map = path, where, index, role_map

    def err(self, field: str, problem: str, fix: str, reason: str = "invalid") -> DataError:
        return DataError(self.path, self.where, field, problem, fix, reason=reason)

    def text(self, rec: Mapping[str, Any], key: str, *, required: bool = True) -> str:
        if key not in rec or rec[key] is None:
            if required:
                raise self.err(key, "is missing", "add it or choose another --input-format", "missing-field")
            return ""
        val = rec[key]
        if not isinstance(val, str):
            raise self.err(key, f"is a {type(val).__name__}, not a string", "make it a string", "not-a-string")
        return val

    def ident(self, rec: Any) -> str | None:
        if isinstance(rec, Mapping):
            for k in _ID_FIELDS:
                v = rec.get(k)
                if isinstance(v, str | int) and not isinstance(v, bool) and str(v) != "":
                    return str(v)
        return None

    def meta(self, rec: Any, used: set[str]) -> dict[str, Any]:
        if not isinstance(rec, Mapping):
            return {}
        return {k: v for k, v in rec.items() if k not in used and k not in _ID_FIELDS}


def _instr_output(rec: Mapping[str, Any], ctx: _Ctx, instr: str, context: str, output: str) -> Iterator[Example]:
    msgs = (
        Message("user", ctx.text(rec, instr), ctx.text(rec, context, required=False)),
        Message("assistant", ctx.text(rec, output)),
    )
    yield _example(rec, ctx, msgs, {instr, context, output})


def _alpaca(rec: Mapping[str, Any], ctx: _Ctx) -> Iterator[Example]:
    return _instr_output(rec, ctx, "instruction", "input", "output")


def _dolly(rec: Mapping[str, Any], ctx: _Ctx) -> Iterator[Example]:
    # Self-Instruct predictions name Dolly's "context" "input".
    context = "context" if "context" in rec or "input" not in rec else "input"
    return _instr_output(rec, ctx, "instruction", context, "response")


def _prompt(rec: Mapping[str, Any], ctx: _Ctx) -> Iterator[Example]:
    out = "completion" if "completion" in rec else "response"
    msgs = (Message("user", ctx.text(rec, "prompt")), Message("assistant", ctx.text(rec, out)))
    yield _example(rec, ctx, msgs, {"prompt", out})


def _seed(rec: Mapping[str, Any], ctx: _Ctx) -> Iterator[Example]:
    instr = ctx.text(rec, "instruction")
    instances = rec["instances"]
    if not isinstance(instances, list) or not instances:
        raise ctx.err("instances", "is not a non-empty list", "fix the record", "invalid")
    base = ctx.ident(rec) or f"{ctx.index}"
    for k, inst in enumerate(instances):
        if not isinstance(inst, Mapping):
            raise ctx.err(f"instances[{k}]", "is not an object", "fix the record")
        sub = _Ctx(ctx.path, ctx.where, ctx.index, ctx.role_map)
        msgs = (
            Message("user", instr, _field_text(inst, "input", sub, f"instances[{k}]", False)),
            Message("assistant", _field_text(inst, "output", sub, f"instances[{k}]", True)),
        )
        meta = ctx.meta(rec, {"instruction", "instances"})
        yield Example(f"{base}#{k}", msgs, ctx.path, meta)


def _field_text(rec: Mapping[str, Any], key: str, ctx: _Ctx, prefix: str, required: bool) -> str:
    try:
        return ctx.text(rec, key, required=required)
    except DataError as e:
        raise ctx.err(f"{prefix}.{key}", e.problem, e.fix, e.reason) from None


def _turns(rec: Mapping[str, Any], ctx: _Ctx, list_key: str, role_key: str, text_key: str) -> Iterator[Example]:
    turns = rec[list_key]
    if not isinstance(turns, list):
        raise ctx.err(list_key, f"is a {type(turns).__name__}, not a list", "fix the record")
    msgs: list[Message] = []
    for i, t in enumerate(turns):
        f = f"{list_key}[{i}]"
        if not isinstance(t, Mapping):
            raise ctx.err(f, "is not an object", f"make it {{{role_key!r}, {text_key!r}}}")
        raw_role = t.get(role_key)
        if not isinstance(raw_role, str):
            raise ctx.err(f"{f}.{role_key}", "is missing or not a string", "add the role", "missing-field")
        role = ctx.role_map.get(raw_role.lower())
        if role is None:
            known = ", ".join(sorted(set(ctx.role_map)))
            raise ctx.err(
                f"{f}.{role_key}",
                f"is {raw_role!r}; expected one of {known}",
                f"map it with --role-map {raw_role}=user|assistant|system",
                "unknown-role",
            )
        msgs.append(Message(role, _field_text(t, text_key, ctx, f, True)))
    yield _example(rec, ctx, tuple(msgs), {list_key})


def _messages(rec: Mapping[str, Any], ctx: _Ctx) -> Iterator[Example]:
    key = "messages" if "messages" in rec else "conversations"
    return _turns(rec, ctx, key, "role", "content")


def _sharegpt(rec: Mapping[str, Any], ctx: _Ctx) -> Iterator[Example]:
    return _turns(rec, ctx, "conversations", "from", "value")


def _lima(rec: Any, ctx: _Ctx) -> Iterator[Example]:
    turns = rec.get("conversations") if isinstance(rec, Mapping) else rec
    if not isinstance(turns, list):
        raise ctx.err("conversations", "is not a list of strings", "fix the record")
    msgs: list[Message] = []
    for i, t in enumerate(turns):
        if not isinstance(t, str):
            raise ctx.err(f"conversations[{i}]", f"is a {type(t).__name__}, not a string", "fix it")
        msgs.append(Message("user" if i % 2 == 0 else "assistant", t))
    yield _example(rec, ctx, tuple(msgs), {"conversations"})


def _example(rec: Any, ctx: _Ctx, msgs: tuple[Message, ...], used: set[str]) -> Example:
    validate_messages(msgs, ctx.path, ctx.where)
    ident = ctx.ident(rec) or ""
    return Example(ident, msgs, ctx.path, ctx.meta(rec, used))


def validate_messages(msgs: tuple[Message, ...], path: str, where: str) -> None:
    """Reject conversations a trainer cannot learn from, naming the turn at fault."""
    if not msgs:
        raise DataError(path, where, "messages", "is empty", "drop the record", reason="empty-conversation")
    if not any(m.role == "assistant" for m in msgs):
        raise DataError(
            path,
            where,
            "messages",
            "has no assistant turn, so nothing would be trained",
            "drop the record or add the output",
            reason="no-assistant-turn",
        )
    for i, m in enumerate(msgs):
        if m.role not in ROLES:
            raise DataError(
                path,
                where,
                f"messages[{i}].role",
                f"is {m.role!r}",
                "fix the role",
                reason="unknown-role",
            )


def empty_turns(msgs: tuple[Message, ...], path: str, where: str) -> list[DataError]:
    """Warnings for turns with no text: kept (the paper's files have them), but reported."""
    out = []
    for i, m in enumerate(msgs):
        if not m.content.strip():
            reason = "empty-output" if m.role == "assistant" else "empty-message"
            effect = "IT trains only its EOS" if m.role == "assistant" else "only its header is rendered"
            out.append(
                DataError(
                    path,
                    where,
                    f"messages[{i}].content",
                    f"({m.role}) is empty; kept, {effect}",
                    "remove or fill in the record if that is not intended",
                    reason=reason,
                )
            )
    return out


_CONVERTERS = {
    "alpaca": _alpaca,
    "dolly": _dolly,
    "prompt": _prompt,
    "seed": _seed,
    "messages": _messages,
    "sharegpt": _sharegpt,
    "lima": _lima,
}
