"""Turn one raw record of a known format into a canonical :class:`~imdata.data.records.Example`.

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

A dataset with its own column names is read through a **field map** (``--field KIND=NAME``):
``instruction=question output=answer`` reads a ``question``/``answer`` file as Alpaca;
``messages=dialog role=speaker content=text`` reads a conversation under ``dialog``. Every
message names a field as the user's file does (``conversations[3].value``, ``input``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Literal, get_args

from imdata.data.records import ROLES, Example, Message, Origin, Role, id_text
from imdata.errors import DataError, FormatError

FieldKind = Literal["instruction", "input", "output", "messages", "role", "content", "id"]
FIELD_KINDS: tuple[str, ...] = get_args(FieldKind)

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
#: the keys of a turn that are its role, content and context; every other key is kept in ``extra``
_TURN_KEYS = frozenset({"role", "content", "context", "from", "value"})


def parse_fields(items: Iterable[str]) -> dict[str, str]:
    """Parse ``KIND=NAME`` pairs (``--field``) into a field map.

    >>> parse_fields(["instruction=question", "output=answer"])
    {'instruction': 'question', 'output': 'answer'}
    """
    out: dict[str, str] = {}
    for item in items:
        kind, sep, name = item.partition("=")
        if not sep or kind not in FIELD_KINDS or not name:
            raise FormatError(f"--field {item!r}: expected KIND=NAME with KIND one of {', '.join(FIELD_KINDS)}")
        out[kind] = name
    return out


def detect_format(record: Any, fields: Mapping[str, str] | None = None) -> FormatName | None:
    """The format of a raw record, judged from its fields; ``None`` if unknown.

    >>> detect_format({"instruction": "a", "input": "", "output": "b"})
    'alpaca'
    >>> detect_format({"conversations": [{"from": "human", "value": "hi"}]})
    'sharegpt'
    >>> detect_format({"question": "a", "answer": "b"}, {"instruction": "question", "output": "answer"})
    'alpaca'
    """
    fields = fields or {}
    if isinstance(record, Mapping) and fields.get("messages") in record:
        return "messages"
    mapped = "instruction" in fields or "output" in fields
    if (
        mapped
        and isinstance(record, Mapping)
        and {fields.get("instruction", "instruction"), fields.get("output", "output")} <= set(record)
    ):
        return "alpaca"
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


def json_type(value: Any) -> str:
    """The JSON name of a parsed value's type, as a user's file would call it.

    >>> json_type(None), json_type(4.5), json_type([1])
    ('null', 'number', 'list')
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    for kind, name in ((str, "string"), (list, "list"), (Mapping, "object")):
        if isinstance(value, kind):
            return name
    return type(value).__name__


def record_format(
    record: Any, found: FormatName | None, fields: Mapping[str, str] | None, path: str, where: str
) -> FormatName:
    """The format to read one record in, under ``--input-format auto``.

    Each record's own fields decide, so one odd record (a LIMA list, a bare ``42``) cannot
    make every later record fail. A record whose fields match no format is read as ``found``
    (the format of the first record that told one), so its error names the field it lacks;
    before any record told a format, it is a bad record (``unknown-format``, ``not-an-object``).
    """
    own = detect_format(record, fields)
    if own is not None:
        return own
    if found is not None:
        return found
    fix = "--on-error skip leaves it out"
    if not isinstance(record, Mapping):
        raise DataError(path, where, "", f"is a {json_type(record)}, not a record (a JSON object)",
                        f"fix or remove it; {fix}", reason="not-an-object")  # fmt: skip
    raise DataError(path, where, "", f"cannot tell the format from the fields {sorted(map(str, record))}",
                    "name them with --field (e.g. --field instruction=question --field output=answer) "
                    f"or pass --input-format ({', '.join(FORMATS)}); {fix}", reason="unknown-format")  # fmt: skip


def to_examples(
    record: Any,
    fmt: FormatName,
    *,
    path: str,
    where: str,
    index: int,
    role_map: Mapping[str, Role] = DEFAULT_ROLE_MAP,
    fields: Mapping[str, str] | None = None,
    text: bytes | None = None,
) -> Iterator[Example]:
    """Convert one raw record; yields several examples for ``seed`` records.

    Each example keeps the record in its :class:`~imdata.data.records.Origin` (with ``text``, the
    record's bytes as stored, where the reader has them).
    """
    conv = _CONVERTERS.get(fmt)
    if conv is None:
        raise FormatError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    ctx = _Ctx(path, where, index, role_map, fields or {}, fmt, text)
    if fmt != "lima" and not isinstance(record, Mapping):
        raise ctx.err(
            "",
            f"is a {json_type(record)}, not an object",
            "fix the record or skip it with --on-error skip",
            "not-an-object",
        )
    yield from conv(record, ctx)


class _Ctx:
    __slots__ = ("path", "where", "index", "role_map", "fields", "fmt", "text")

    def __init__(
        self,
        path: str,
        where: str,
        index: int,
        role_map: Mapping[str, Role],
        fields: Mapping[str, str],
        fmt: str,
        text: bytes | None,
    ):
        self.path, self.where, self.index, self.role_map = path, where, index, role_map
        self.fields, self.fmt, self.text = fields, fmt, text

    def name(self, kind: str, default: str) -> str:
        """The user's name for a field: the ``--field`` mapping, else the format's own."""
        return self.fields.get(kind, default)

    def err(self, field: str, problem: str, fix: str, reason: str = "invalid") -> DataError:
        return DataError(self.path, self.where, field, problem, fix, reason=reason)

    def text_of(self, rec: Mapping[str, Any], key: str, *, required: bool = True, label: str = "") -> str:
        label = label or key
        if key not in rec or rec[key] is None:
            if not required:
                return ""
            if key in rec:
                raise self.err(label, "is null", 'give it a text (an empty one is "")', "null-field")
            fix = "add it, or name the field that holds it with --field (or choose --input-format)"
            raise self.err(label, "is missing", fix, "missing-field")
        val = rec[key]
        if not isinstance(val, str):
            what = _number_text(val) if isinstance(val, float) else f"a {json_type(val)}"
            raise self.err(label, f"is {what}, not a string", "make it a string", "not-a-string")
        return val

    def ident(self, rec: Any) -> tuple[str, Any, str] | None:
        """``(id as text, id as typed, the field it is in)``, or ``None`` if the record has none."""
        if isinstance(rec, Mapping):
            keys = (self.fields["id"],) if "id" in self.fields else _ID_FIELDS
            for k in keys:
                v = rec.get(k)
                if isinstance(v, str | int | float) and str(v) != "":
                    return id_text(v), v, k
        return None

    def example(
        self, rec: Any, msgs: tuple[Message, ...], used: set[str], names: tuple[str, ...], list_key: str
    ) -> Example:
        validate_messages(msgs, self.path, self.where, list_key=list_key)
        found = self.ident(rec)
        ident, value, id_key = found if found else ("", None, "")
        meta = self.meta(rec, used | {id_key})
        source = self.path
        if self.fmt == "messages" and isinstance(rec, Mapping):
            # imdata's canonical form carries its source and meta: read them back as written
            if isinstance(rec.get("source"), str):
                source = rec["source"]
                meta.pop("source", None)
            if isinstance(rec.get("meta"), Mapping):
                inner = dict(meta.pop("meta"))
                meta = {**meta, **inner}
        origin = Origin(rec, self.fmt, value, None, self.text, names)
        return Example(ident, msgs, source, meta, origin)

    def meta(self, rec: Any, used: set[str]) -> dict[str, Any]:
        if not isinstance(rec, Mapping):
            return {}
        return {k: v for k, v in rec.items() if k not in used}


def _instr_output(rec: Mapping[str, Any], ctx: _Ctx, instr: str, context: str, output: str) -> Iterator[Example]:
    instr, context, output = ctx.name("instruction", instr), ctx.name("input", context), ctx.name("output", output)
    msgs = (
        Message("user", ctx.text_of(rec, instr), ctx.text_of(rec, context, required=False)),
        Message("assistant", ctx.text_of(rec, output)),
    )
    yield ctx.example(rec, msgs, {instr, context, output}, (instr, output), instr)


def _alpaca(rec: Mapping[str, Any], ctx: _Ctx) -> Iterator[Example]:
    return _instr_output(rec, ctx, "instruction", "input", "output")


def _dolly(rec: Mapping[str, Any], ctx: _Ctx) -> Iterator[Example]:
    # Self-Instruct predictions name Dolly's "context" "input".
    context = "context" if "context" in rec or "input" not in rec else "input"
    return _instr_output(rec, ctx, "instruction", context, "response")


def _prompt(rec: Mapping[str, Any], ctx: _Ctx) -> Iterator[Example]:
    out = "completion" if "completion" in rec else "response"
    return _instr_output(rec, ctx, "prompt", "", out)


def _seed(rec: Mapping[str, Any], ctx: _Ctx) -> Iterator[Example]:
    instr = ctx.text_of(rec, ctx.name("instruction", "instruction"))
    instances = rec.get("instances")
    if not isinstance(instances, list) or not instances:
        raise ctx.err("instances", "is not a non-empty list", "fix the record or skip it with --on-error skip")
    found = ctx.ident(rec)
    base = found[0] if found else f"{ctx.index}"
    meta = ctx.meta(rec, {"instruction", "instances", found[2] if found else ""})
    for k, inst in enumerate(instances):
        label = f"instances[{k}]"
        if not isinstance(inst, Mapping):
            raise ctx.err(label, "is not an object", "fix the record or skip it with --on-error skip")
        msgs = (
            Message("user", instr, ctx.text_of(inst, "input", required=False, label=f"{label}.input")),
            Message("assistant", ctx.text_of(inst, "output", label=f"{label}.output")),
        )
        validate_messages(msgs, ctx.path, ctx.where, list_key="instances")
        origin = Origin(rec, "seed", None, k, ctx.text, ("instruction", f"{label}.output"))
        yield Example(f"{base}#{k}", msgs, ctx.path, meta, origin)


def _turns(rec: Mapping[str, Any], ctx: _Ctx, list_key: str, role_key: str, text_key: str) -> Iterator[Example]:
    list_key = ctx.name("messages", list_key)
    if list_key not in rec:
        raise ctx.err(list_key, "is missing", "name the field that holds the turns with --field messages=NAME")
    turns = rec[list_key]
    if turns is None:
        raise ctx.err(list_key, "is null", "give it the list of turns, or remove the record", "null-field")
    if not isinstance(turns, list):
        raise ctx.err(
            list_key, f"is a {json_type(turns)}, not a list", "fix the record or skip it with --on-error skip"
        )
    role_key, text_key = ctx.name("role", role_key), ctx.name("content", text_key)
    msgs: list[Message] = []
    names: list[str] = []
    for i, t in enumerate(turns):
        f = f"{list_key}[{i}]"
        if not isinstance(t, dict) and not isinstance(t, Mapping):  # dict first: the ABC check is slow
            what = "is null" if t is None else f"is a {json_type(t)}, not an object"
            raise ctx.err(f, what, f"make it {{{role_key!r}, {text_key!r}}}", "null-field" if t is None else "invalid")
        raw_role = t.get(role_key)
        if not isinstance(raw_role, str):
            state = ("is missing", "missing-field") if role_key not in t else ("is null", "null-field")
            if raw_role is not None:
                state = (f"is a {json_type(raw_role)}, not a string", "not-a-string")
            raise ctx.err(
                f"{f}.{role_key}", state[0], "add the role, or name its field with --field role=NAME", state[1]
            )
        role = ctx.role_map.get(raw_role.lower())
        if role is None:
            known = ", ".join(sorted(set(ctx.role_map)))
            raise ctx.err(
                f"{f}.{role_key}",
                f"is {raw_role!r}; expected one of {known}",
                f"map it with --role-map {raw_role}=user|assistant|system",
                "unknown-role",
            )
        content = ctx.text_of(t, text_key, label=f"{f}.{text_key}")
        context = t.get("context") if role_key == "role" else None
        extra = {
            k: v
            for k, v in t.items()
            if k not in (role_key, text_key) and not (k == "context" and isinstance(context, str))
        }
        msgs.append(Message(role, content, context if isinstance(context, str) else "", extra))
        names.append(f"{f}.{text_key}")
    yield ctx.example(rec, tuple(msgs), {list_key}, tuple(names), list_key)


def _messages(rec: Mapping[str, Any], ctx: _Ctx) -> Iterator[Example]:
    key = "messages" if "messages" in rec else "conversations"
    return _turns(rec, ctx, key, "role", "content")


def _sharegpt(rec: Mapping[str, Any], ctx: _Ctx) -> Iterator[Example]:
    return _turns(rec, ctx, "conversations", "from", "value")


def _lima(rec: Any, ctx: _Ctx) -> Iterator[Example]:
    turns = rec.get("conversations") if isinstance(rec, Mapping) else rec
    key = "conversations" if isinstance(rec, Mapping) else "record"
    if not isinstance(turns, list):
        raise ctx.err(key, "is not a list of strings", "fix the record or skip it with --on-error skip")
    msgs: list[Message] = []
    for i, t in enumerate(turns):
        if not isinstance(t, str):
            raise ctx.err(
                f"{key}[{i}]",
                "is null" if t is None else f"is a {json_type(t)}, not a string",
                "fix it or skip the record with --on-error skip",
                "null-field" if t is None else "not-a-string",
            )
        msgs.append(Message("user" if i % 2 == 0 else "assistant", t))
    names = tuple(f"{key}[{i}]" for i in range(len(msgs)))
    yield ctx.example(rec, tuple(msgs), {"conversations"}, names, key)


def _number_text(value: float) -> str:
    """``NaN`` and ``Infinity`` as a JSON file writes them; other numbers as "a number"."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    return "a number"


def validate_messages(msgs: tuple[Message, ...], path: str, where: str, *, list_key: str = "messages") -> None:
    """Reject conversations a trainer cannot learn from, naming the field as the file does."""
    if not msgs:
        raise DataError(
            path,
            where,
            list_key,
            "is empty",
            "remove the record (--on-error skip leaves it out)",
            reason="empty-conversation",
        )
    if not any(m.role == "assistant" for m in msgs):
        raise DataError(
            path,
            where,
            list_key,
            "has no assistant turn, so nothing would be trained",
            "add the output, map the role with --role-map, or leave the record to --on-error skip",
            reason="no-assistant-turn",
        )
    for i, m in enumerate(msgs):
        if m.role not in ROLES:
            raise DataError(
                path, where, f"{list_key}[{i}]", f"has role {m.role!r}", "map it with --role-map", reason="unknown-role"
            )


def field_names(ex: Example) -> tuple[str, ...]:
    """The field each message of ``ex`` came from, as the input file names it."""
    if ex.origin is not None and len(ex.origin.fields) == len(ex.messages):
        return ex.origin.fields
    return tuple(f"messages[{i}].content" for i in range(len(ex.messages)))


def empty_turns(ex: Example, path: str, where: str) -> list[DataError]:
    """Warnings for turns with no text: kept (the paper's files have them), but reported."""
    out = []
    names = field_names(ex)
    for i, m in enumerate(ex.messages):
        if not m.content.strip():
            reason = "empty-output" if m.role == "assistant" else "empty-message"
            effect = "IT trains only its EOS" if m.role == "assistant" else "only its header is rendered"
            ident = f" (id {ex.id})" if ex.id else ""
            out.append(
                DataError(
                    path,
                    where,
                    names[i],
                    f"({m.role}) is empty{ident}; kept, {effect}",
                    "remove or fill in the record if that is not intended",
                    reason=reason,
                )
            )
    return out


def nonfinite_numbers(ex: Example, path: str, where: str) -> list[DataError]:
    """A warning if a kept record holds ``NaN`` or ``Infinity`` outside its text (metadata, turn keys).

    Python's ``json`` reads them, but they are not JSON: strict readers (pyarrow,
    ``datasets.load_dataset("json")``) refuse a file that holds them. The record is kept; outputs
    that copy records (``subset``, ``split``, rejects) write the value as read, exports that
    re-encode them (``spans``, ``--to messages``) write ``null``. One warning per record.
    """
    places = [(k, v) for k, v in ex.meta.items() if not isinstance(v, str)]
    if any(m.extra for m in ex.messages):  # the field names are built only where a turn has keys
        names = field_names(ex)
        places += [(f"{n}.{k}", v) for n, m in zip(names, ex.messages, strict=True) for k, v in m.extra.items()]
    for name, value in places:
        found = _nonfinite(value, name, 0)
        if found is not None:
            field, number = found
            return [DataError(path, where, field, f"is {_number_text(number)}, which is not standard JSON; kept, "
                              "copies of the record write it as read, span exports as null",
                              "write it as null or as a string if strict JSON readers must load the output",
                              reason="non-finite-number")]  # fmt: skip
    return []


def _nonfinite(value: Any, field: str, depth: int) -> tuple[str, float] | None:
    if isinstance(value, float):
        return None if value - value == 0 else (field, value)
    if depth > 50:
        return None
    if isinstance(value, Mapping):
        items: Iterable[tuple[str, Any]] = ((f"{field}.{k}", v) for k, v in value.items())
    elif isinstance(value, list):
        items = ((f"{field}[{i}]", v) for i, v in enumerate(value))
    else:
        return None
    for name, v in items:
        found = _nonfinite(v, name, depth + 1)
        if found is not None:
            return found
    return None


_CONVERTERS = {
    "alpaca": _alpaca,
    "dolly": _dolly,
    "prompt": _prompt,
    "seed": _seed,
    "messages": _messages,
    "sharegpt": _sharegpt,
    "lima": _lima,
}
