"""Read a model's generations (one *run*) for memorisation analysis, counting every bad record.

Accepted records, detected per record:

=============== =================================================================
id + output      ``{"id", "output"}`` (also ``completion``, ``response``)
AlpacaEval       ``{"instruction", "input"?, "output", "generator"}``
prompt           ``{"prompt", "completion"}``: the prompt is matched as rendered
messages         ``{"messages": [...]}``: first user turn and the assistant turn after it
=============== =================================================================

Missing and non-string outputs, unreadable lines and repeated ids are left out and counted
by reason; empty outputs are kept (a model that answers nothing memorised nothing) and
counted too. Nothing is dropped without a count and a first example of the message.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from imdata.data import files
from imdata.data.dataset import dataset_name
from imdata.data.records import Message
from imdata.errors import DataError, ImdataError

_OUTPUT_FIELDS = ("output", "completion", "response")
_ID_FIELDS = ("id", "idx", "question_id", "example_id", "uid")


@dataclass(frozen=True, slots=True)
class Output:
    """One generation: where it was read, its id and instruction (if given) and its text."""

    where: str
    id: str | None
    instruction: str | None
    text: str


@dataclass(frozen=True)
class Run:
    """A model's outputs, with the records left out (or flagged) counted by reason."""

    name: str
    path: str
    fingerprint: str
    records: int
    outputs: tuple[Output, ...]
    problems: Mapping[str, int] = field(default_factory=dict)
    #: the first message seen for each problem, naming the record and the fix
    messages: Mapping[str, str] = field(default_factory=dict)


class _Log:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.first: dict[str, str] = {}

    def add(self, err: DataError) -> None:
        self.counts[err.reason] += 1
        self.first.setdefault(err.reason, str(err))


def load_run(path: str, *, name: str | None = None) -> Run:
    """Read one file of model outputs.

    The run is named ``name``, else the records' single ``generator``, else the file name.
    """
    log = _Log()
    outputs: list[Output] = []
    seen_ids: set[str] = set()
    generators: Counter[str] = Counter()
    records = 0
    for rec in files.iter_raw(path):
        records += 1
        try:
            if files.is_bad(rec.value):
                raise files.bad_to_error(path, rec)
            out = _parse(rec.value, path, rec.where)
        except DataError as err:
            log.add(err)
            continue
        gen = rec.value.get("generator")
        if isinstance(gen, str) and gen:
            generators[gen] += 1
        if out.id is not None:
            if out.id in seen_ids:
                log.add(
                    DataError(
                        path,
                        rec.where,
                        "id",
                        f"{out.id!r} repeats an earlier record; the first one is kept",
                        "give each output its own id",
                        reason="duplicate-id",
                    )
                )
                continue
            seen_ids.add(out.id)
        if not out.text.strip():
            log.add(
                DataError(
                    path,
                    rec.where,
                    "output",
                    "is empty; kept and scored (BLEU 0)",
                    "check the generation step if that is not intended",
                    reason="empty-output",
                )
            )
        outputs.append(out)
    if records == 0:
        raise ImdataError(f"{path}: holds no records; is it the right file?")
    if not name:
        name = next(iter(generators)) if len(generators) == 1 else dataset_name(path)
    return Run(name, path, files.fingerprint(path), records, tuple(outputs), dict(log.counts), log.first)


def _parse(rec: Any, path: str, where: str) -> Output:
    if not isinstance(rec, Mapping):
        raise DataError(
            path,
            where,
            "",
            f"is a {type(rec).__name__}, not an object",
            "write one JSON object per output",
            reason="not-an-object",
        )
    ident = next(
        (
            str(rec[k])
            for k in _ID_FIELDS
            if isinstance(rec.get(k), str | int) and not isinstance(rec.get(k), bool) and str(rec[k]) != ""
        ),
        None,
    )
    if "messages" in rec:
        instruction, text = _from_messages(rec["messages"], path, where)
        return Output(where, ident, instruction, text)
    key = next((k for k in _OUTPUT_FIELDS if k in rec), None)
    if key is None or rec[key] is None:
        raise DataError(
            path,
            where,
            key or "output",
            "is missing",
            "add the model's text as `output` (or `completion`)",
            reason="missing-output",
        )
    text = rec[key]
    if not isinstance(text, str):
        raise DataError(
            path,
            where,
            key,
            f"is a {type(text).__name__}, not a string",
            "write the generated text as a string",
            reason="non-string-output",
        )
    instruction = None
    if isinstance(rec.get("instruction"), str):
        inp = rec.get("input")
        instruction = Message("user", rec["instruction"], inp if isinstance(inp, str) else "").full_content()
    elif isinstance(rec.get("prompt"), str):
        instruction = rec["prompt"]
    return Output(where, ident, instruction, text)


def _from_messages(msgs: Any, path: str, where: str) -> tuple[str | None, str]:
    if not isinstance(msgs, list):
        raise DataError(path, where, "messages", "is not a list", "fix the record", reason="not-an-object")
    instruction: str | None = None
    for i, m in enumerate(msgs):
        role = m.get("role") if isinstance(m, Mapping) else None
        content = m.get("content") if isinstance(m, Mapping) else None
        if role == "user" and instruction is None:
            instruction = content if isinstance(content, str) else None
        elif role == "assistant" and instruction is not None:
            if content is None:
                break
            if not isinstance(content, str):
                raise DataError(
                    path,
                    where,
                    f"messages[{i}].content",
                    f"is a {type(content).__name__}, not a string",
                    "write the generated text as a string",
                    reason="non-string-output",
                )
            return instruction, content
    raise DataError(
        path,
        where,
        "messages",
        "has no assistant turn after the first user turn",
        "append the model's answer as an assistant message",
        reason="missing-output",
    )
