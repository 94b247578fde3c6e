"""Hugging Face Jinja chat templates, with spans found by rendering sentinel contents.

No per-template heuristics: each message's content is replaced by a unique sentinel, the
template is rendered once, and everything between sentinels is template text. The real
render must then equal that skeleton with each sentinel replaced by the content (as is, or
stripped, if the template trims it); anything else is reported, never guessed. Templates
run in Jinja's immutable sandbox, as ``transformers`` runs them.

**End-of-turn markers come from the template.** Whatever the template writes right after
an assistant's content (whitespace aside) that looks like a control marker (``<|eot_id|>``,
``<|im_end|>``, ``<end_of_turn>``, ``<|end|>``, ``<|end_of_turn|>``, ``</s>``,
``<｜end▁of▁sentence｜>``...) is that turn's ``eos`` span, whether or not it is the
tokenizer's EOS string. A marker that opens something (its name says start, begin, a role,
a header) is not an end marker, so a template that writes none leaves the turn without an
``eos`` span (counted and reported by the export). ``eot`` names the marker instead.

**Rendering is deterministic**: ``strftime_now`` (Llama-3.1/3.2 templates print today's
date) returns ``date``, a fixed day recorded in the fingerprint, not the clock's.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date as Date
from datetime import datetime
from pathlib import Path
from typing import Any

from imdata.data.records import Example, Message
from imdata.errors import TemplateError
from imdata.templates.rendered import CONTENT_KIND, Builder, Rendered

_OPEN, _CLOSE = "\ue000", "\ue001"  # private-use code points: no template touches them
#: the day ``strftime_now`` reports unless ``--date`` says otherwise (Llama-3.1's own default)
DEFAULT_DATE = "2024-07-26"
_MARKER = re.compile(r"<[|｜]?/?[^\s<>|｜]{1,60}[|｜]?>")
_OPENERS = re.compile(r"start|begin|user|assistant|system|header|role|inst", re.IGNORECASE)


def _sentinel(i: int) -> str:
    return f"{_OPEN}{i}{_CLOSE}"


@dataclass(frozen=True)
class JinjaTemplate:
    """A chat template written in Jinja, as in a ``tokenizer_config.json``."""

    source: str
    name: str = "jinja"
    eos: str = "</s>"
    bos: str = "<s>"
    eot: str | None = None
    date: str = DEFAULT_DATE
    _compiled: Any = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        from jinja2 import TemplateError as JinjaError

        from imdata.templates.sandbox import sandbox_environment

        env = sandbox_environment(
            trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols", _generation_tag()]
        )
        env.filters["tojson"] = lambda x, indent=None, **_: json.dumps(x, ensure_ascii=False, indent=indent)
        env.globals["raise_exception"] = _raise
        day = parse_date(self.date)
        env.globals["strftime_now"] = lambda fmt: datetime(day.year, day.month, day.day).strftime(fmt)
        try:
            object.__setattr__(self, "_compiled", env.from_string(self.source))
        except JinjaError as e:
            raise TemplateError(f"{self.name}: the chat template does not compile ({e})") from None

    @property
    def fingerprint(self) -> str:
        key = "\x1f".join(("jinja/2", self.source, self.eos, self.bos, self.eot or "", self.date))
        return hashlib.sha256(key.encode()).hexdigest()[:16]

    def _run(self, messages: Sequence[dict[str, str]], *, generation: bool) -> str:
        from imdata.templates.sandbox import render_bounded

        context = {"messages": list(messages), "bos_token": self.bos, "eos_token": self.eos,
                   "add_generation_prompt": generation}  # fmt: skip
        try:
            return render_bounded(self._compiled, context, name=self.name)
        except _TemplateRaised as e:
            raise TemplateError(
                f"{self.name}: the chat template refused the conversation: {e}", reason="template-raised"
            ) from None

    def render(self, example: Example) -> Rendered:
        msgs = example.messages
        skeleton = self._run(
            [{"role": m.role, "content": _sentinel(i)} for i, m in enumerate(msgs)],
            generation=False,
        )
        pieces = _split_skeleton(skeleton, len(msgs), self.name)
        real = self._run([{"role": m.role, "content": m.full_content()} for m in msgs], generation=False)
        b = Builder()
        pos = 0
        for i, m in enumerate(msgs):
            tmpl = pieces[i]
            if not real.startswith(tmpl, pos):
                raise _mismatch(self.name, example, i)
            self._add_template(b, tmpl, i - 1, i, after_assistant=i > 0 and msgs[i - 1].role == "assistant")
            pos += len(tmpl)
            content = _match_content(real, pos, m.full_content(), pieces[i + 1])
            if content is None:
                raise _mismatch(self.name, example, i)
            b.add(content, CONTENT_KIND[m.role], i)
            pos += len(content)
        tail = pieces[-1]
        if real[pos:] != tail:
            raise _mismatch(self.name, example, len(msgs) - 1)
        last = len(msgs) - 1
        self._add_template(b, tail, last, last, after_assistant=bool(msgs) and msgs[-1].role == "assistant")
        return b.build()

    def _add_template(self, b: Builder, text: str, prev: int, turn: int, *, after_assistant: bool) -> None:
        # The marker that closes an assistant turn is the first thing after its content
        # (whitespace aside); it belongs to that turn (``prev``).
        marker = self.end_marker(text) if after_assistant else None
        if marker is not None:
            k = len(text) - len(text.lstrip())
            b.add(text[:k], "template", prev)
            b.add(marker, "eos", prev)
            rest = text[k + len(marker) :]
            if prev == turn and self.eos and rest.strip() == self.eos != marker:
                # the EOS some templates write after the last turn's marker (Phi-3) closes it too
                j = rest.index(self.eos)
                b.add(rest[:j], "template", turn)
                b.add(self.eos, "eos", turn)
                rest = rest[j + len(self.eos) :]
            b.add(rest, "template", turn)
            return
        b.add(text, "template", turn)

    def end_marker(self, after: str) -> str | None:
        r"""The end-of-turn marker at the start of ``after`` (the text after an assistant's content).

        >>> JinjaTemplate("").end_marker("<|im_end|>\n<|im_start|>user\n")
        '<|im_end|>'
        >>> JinjaTemplate("").end_marker("<|start_header_id|>user") is None
        True
        """
        rest = after.lstrip()
        if self.eot is not None:
            return self.eot if self.eot and rest.startswith(self.eot) else None
        m = _MARKER.match(rest)
        if m is None or _OPENERS.search(m.group()):
            return None
        return m.group()

    def render_prompt(self, messages: Sequence[Message]) -> str:
        return self._run([m.to_dict() for m in messages], generation=True)


def _split_skeleton(skeleton: str, n: int, name: str) -> list[str]:
    pieces: list[str] = []
    pos = 0
    for i in range(n):
        s = _sentinel(i)
        k = skeleton.find(s, pos)
        if k < 0 or skeleton.count(s) != 1:
            raise TemplateError(
                f"{name}: the chat template does not render message {i} exactly once "
                "(it drops, repeats or reorders messages), so its spans cannot be found",
                reason="template-drops-message",
            )
        pieces.append(skeleton[pos:k])
        pos = k + len(s)
    pieces.append(skeleton[pos:])
    return pieces


def _match_content(real: str, pos: int, content: str, following: str) -> str | None:
    for cand in (content, content.strip(), content.rstrip(), content.lstrip()):
        if real.startswith(cand, pos) and real.startswith(following, pos + len(cand)):
            return cand
    return None


def _mismatch(name: str, example: Example, turn: int) -> TemplateError:
    return TemplateError(
        f"{name}: example {example.id!r}, message {turn}: the template changes the content in a "
        "way other than stripping it, so its spans cannot be found exactly; use a built-in template",
        reason="template-rewrites-content",
    )


def _generation_tag() -> Any:
    """The ``{% generation %}`` tag of transformers (it marks assistant text), rendered as its body."""
    from jinja2 import nodes
    from jinja2.ext import Extension

    class Generation(Extension):
        tags = {"generation"}

        def parse(self, parser: Any) -> Any:
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return nodes.Scope(body, lineno=lineno)

    return Generation


class _TemplateRaised(TemplateError):
    pass


def _raise(message: str) -> None:
    raise _TemplateRaised(message)


def load_jinja_template(
    spec: str,
    *,
    eos: str | None = None,
    bos: str | None = None,
    eot: str | None = None,
    date: str | None = None,
) -> JinjaTemplate:
    """Load a chat template from a tokenizer_config.json, a .jinja file, or a folder."""
    p = Path(spec)
    folder = p.name + "/" if p.is_dir() else ""
    if p.is_dir():
        for cand in ("chat_template.jinja", "tokenizer_config.json"):
            if (p / cand).is_file():
                p = p / cand
                break
        else:
            raise TemplateError(f"{spec}: no chat_template.jinja or tokenizer_config.json in this folder")
    if not p.is_file():
        raise FileNotFoundError(spec)
    text = p.read_text(encoding="utf-8")
    cfg_bos, cfg_eos = None, None
    if p.suffix == ".json":
        try:
            cfg = json.loads(text)
        except json.JSONDecodeError as e:
            raise TemplateError(f"{spec}: not valid JSON ({e.msg}, line {e.lineno})") from None
        tmpl = cfg.get("chat_template")
        if isinstance(tmpl, list):
            named = {t.get("name"): t.get("template") for t in tmpl if isinstance(t, dict)}
            tmpl = named.get("default")
        if not isinstance(tmpl, str):
            raise TemplateError(f"{spec}: has no `chat_template`; choose a built-in template instead")
        text = tmpl
        cfg_bos, cfg_eos = _token_str(cfg.get("bos_token")), _token_str(cfg.get("eos_token"))
    return JinjaTemplate(
        source=text,
        name=folder + p.name,
        eos=eos or cfg_eos or "</s>",
        bos=bos or cfg_bos or "<s>",
        eot=eot,
        date=date or DEFAULT_DATE,
    )


def parse_date(value: str) -> Date:
    """``--date``'s day, or a :class:`TemplateError` naming the flag."""
    try:
        return Date.fromisoformat(value)
    except ValueError:
        raise TemplateError(f"--date {value!r}: expected a day as YYYY-MM-DD") from None


def _token_str(tok: Any) -> str | None:
    if isinstance(tok, dict):
        tok = tok.get("content")
    return tok if isinstance(tok, str) else None
