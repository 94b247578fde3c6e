r"""Chat templates that render an example into text plus character spans that tile it.

Each span has a kind (``template``, ``system``, ``instruction``, ``output`` or ``eos``) and
the index of the message (turn) it belongs to. Template spans are the chat format's own
text: role headers, separators, a preamble. Loss modes (:mod:`imdata.labels.labelling`) are defined on
these kinds, so a tokenizer is needed only to turn spans into token labels.

>>> r = get_template("tulu").render(Example.from_pairs("x", [("user", "Hi"), ("assistant", "Yo")]))
>>> r.text
'<|user|>\nHi\n<|assistant|>\nYo</s>'
>>> [(r.text[s.start:s.end], s.kind, s.turn) for s in r.spans]  # doctest: +NORMALIZE_WHITESPACE
[('<|user|>\n', 'template', 0), ('Hi', 'instruction', 0), ('\n', 'template', 0),
 ('<|assistant|>\n', 'template', 1), ('Yo', 'output', 1), ('</s>', 'eos', 1)]
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from imdata.data.records import Example, Message
from imdata.errors import TemplateError
from imdata.templates.rendered import CONTENT_KIND, Builder, Rendered, Template

BuiltinName = Literal["tulu", "alpaca", "chatml", "llama2", "vicuna"]
BUILTIN_TEMPLATES: tuple[str, ...] = get_args(BuiltinName)


def _fingerprint(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Tulu:
    r"""The Tulu / open-instruct format the paper trained with.

    ``<|role|>\n`` + content.strip() + ``\n`` per message, EOS before the newline after
    an assistant turn; the whole text is stripped and the tokenizer adds BOS. The newline
    after EOS belongs to the ``eos`` span, because open-instruct trains it.
    """

    eos: str = "</s>"
    name: str = "tulu"

    @property
    def fingerprint(self) -> str:
        return _fingerprint("tulu/1", self.eos)

    def render(self, example: Example) -> Rendered:
        b = Builder()
        for turn, m in enumerate(example.messages):
            b.add(f"<|{m.role}|>\n", "template", turn)
            b.add(m.full_content().strip(), CONTENT_KIND[m.role], turn)
            if m.role == "assistant":
                b.add(self.eos + "\n", "eos", turn)
            else:
                b.add("\n", "template", turn)
        return b.build(strip=True)

    def render_prompt(self, messages: Sequence[Message]) -> str:
        text = "".join(
            f"<|{m.role}|>\n{m.full_content().strip()}" + (f"{self.eos}\n" if m.role == "assistant" else "\n")
            for m in messages
        )
        return text + "<|assistant|>\n"


ALPACA_PREAMBLE = (
    "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n"
)
ALPACA_PREAMBLE_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides "
    "further context. Write a response that appropriately completes the request.\n\n"
)


@dataclass(frozen=True)
class Alpaca:
    """Stanford Alpaca's prompt: preamble, ``### Instruction:``, ``### Input:``, ``### Response:``.

    The preamble and the headers are template; a user turn's context (Alpaca's ``input``)
    goes under ``### Input:`` and counts as instruction. A system message replaces the
    preamble. Later turns repeat the Instruction/Response headers. ``### Response:`` is
    followed by a newline (the common axolotl/FastChat form; Stanford's script has none).
    """

    eos: str = "</s>"
    name: str = "alpaca"

    @property
    def fingerprint(self) -> str:
        return _fingerprint("alpaca/1", self.eos)

    def _preamble(self, messages: Sequence[Message], b: Builder) -> int:
        if messages and messages[0].role == "system":
            b.add(messages[0].content.strip(), "system", 0)
            b.add("\n\n", "template", 0)
            return 1
        first_user = next((m for m in messages if m.role == "user"), None)
        has_input = first_user is not None and bool(first_user.context.strip())
        b.add(ALPACA_PREAMBLE_INPUT if has_input else ALPACA_PREAMBLE, "template", 0)
        return 0

    def _body(self, messages: Sequence[Message], start: int, b: Builder) -> None:
        for turn in range(start, len(messages)):
            m = messages[turn]
            if m.role == "user":
                b.add("### Instruction:\n", "template", turn)
                b.add(m.content.strip(), "instruction", turn)
                if m.context.strip():
                    b.add("\n\n### Input:\n", "template", turn)
                    b.add(m.context.strip(), "instruction", turn)
                b.add("\n\n", "template", turn)
            elif m.role == "assistant":
                b.add("### Response:\n", "template", turn)
                b.add(m.content.strip(), "output", turn)
                b.add(self.eos, "eos", turn)
                b.add("\n\n", "template", turn)
            else:
                b.add(m.content.strip(), "system", turn)
                b.add("\n\n", "template", turn)

    def render(self, example: Example) -> Rendered:
        b = Builder()
        self._body(example.messages, self._preamble(example.messages, b), b)
        return b.build(strip=True)

    def render_prompt(self, messages: Sequence[Message]) -> str:
        b = Builder()
        self._body(messages, self._preamble(messages, b), b)
        return b.build(strip=False).text + "### Response:\n"


@dataclass(frozen=True)
class ChatML:
    r"""``<|im_start|>role\n`` + content + ``<|im_end|>\n``; the assistant's ``<|im_end|>`` is EOS."""

    eos: str = "<|im_end|>"
    name: str = "chatml"

    @property
    def fingerprint(self) -> str:
        return _fingerprint("chatml/1", self.eos)

    def render(self, example: Example) -> Rendered:
        b = Builder()
        for turn, m in enumerate(example.messages):
            b.add(f"<|im_start|>{m.role}\n", "template", turn)
            b.add(m.full_content().strip(), CONTENT_KIND[m.role], turn)
            b.add("<|im_end|>", "eos" if m.role == "assistant" else "template", turn)
            b.add("\n", "template", turn)
        return b.build()

    def render_prompt(self, messages: Sequence[Message]) -> str:
        body = "".join(f"<|im_start|>{m.role}\n{m.full_content().strip()}<|im_end|>\n" for m in messages)
        return body + "<|im_start|>assistant\n"


@dataclass(frozen=True)
class Llama2:
    r"""Meta's Llama-2-chat format: ``[INST] <<SYS>>\n…\n<</SYS>>\n\n… [/INST] … </s><s>[INST] …``.

    The first ``<s>`` is the tokenizer's BOS and is not in the text; later ones are
    template text.
    """

    eos: str = "</s>"
    bos: str = "<s>"
    name: str = "llama2"

    @property
    def fingerprint(self) -> str:
        return _fingerprint("llama2/1", self.eos, self.bos)

    def _build(self, messages: Sequence[Message], b: Builder) -> None:
        system = ""
        first = 0
        if messages and messages[0].role == "system":
            system, first = messages[0].content.strip(), 1
        opened = False
        for turn in range(first, len(messages)):
            m = messages[turn]
            if m.role == "user":
                b.add(("" if turn == first else self.bos) + "[INST] ", "template", turn)
                if system and not opened:
                    b.add("<<SYS>>\n", "template", 0)
                    b.add(system, "system", 0)
                    b.add("\n<</SYS>>\n\n", "template", 0)
                b.add(m.full_content().strip(), "instruction", turn)
                b.add(" [/INST]", "template", turn)
                opened = True
            elif m.role == "assistant":
                b.add(" ", "template", turn)
                b.add(m.content.strip(), "output", turn)
                b.add(" ", "template", turn)
                b.add(self.eos, "eos", turn)
            else:
                b.add(m.content.strip(), "system", turn)

    def render(self, example: Example) -> Rendered:
        b = Builder()
        self._build(example.messages, b)
        return b.build()

    def render_prompt(self, messages: Sequence[Message]) -> str:
        b = Builder()
        self._build(messages, b)
        return b.build().text


VICUNA_SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)


@dataclass(frozen=True)
class Vicuna:
    """FastChat's vicuna_v1.1: ``SYSTEM USER: … ASSISTANT: …</s>USER: …``.

    Without a system message the default Vicuna system prompt is used, as template text.
    """

    eos: str = "</s>"
    name: str = "vicuna"

    @property
    def fingerprint(self) -> str:
        return _fingerprint("vicuna/1", self.eos)

    def _build(self, messages: Sequence[Message], b: Builder) -> None:
        start = 0
        if messages and messages[0].role == "system":
            b.add(messages[0].content.strip(), "system", 0)
            start = 1
        else:
            b.add(VICUNA_SYSTEM, "template", 0)
        for turn in range(start, len(messages)):
            m = messages[turn]
            if m.role == "assistant":
                b.add(" ASSISTANT: ", "template", turn)
                b.add(m.content.strip(), "output", turn)
                b.add(self.eos, "eos", turn)
            else:
                b.add(" USER: " if turn == start else "USER: ", "template", turn)
                b.add(m.full_content().strip(), CONTENT_KIND[m.role], turn)

    def render(self, example: Example) -> Rendered:
        b = Builder()
        self._build(example.messages, b)
        return b.build()

    def render_prompt(self, messages: Sequence[Message]) -> str:
        b = Builder()
        self._build(messages, b)
        return b.build().text + " ASSISTANT:"


_BUILTIN = {"tulu": Tulu, "alpaca": Alpaca, "chatml": ChatML, "llama2": Llama2, "vicuna": Vicuna}


def get_template(
    spec: str,
    *,
    eos: str | None = None,
    bos: str | None = None,
    eot: str | None = None,
    date: str | None = None,
) -> Template:
    """A built-in template by name, or a Hugging Face Jinja template from a path.

    Args:
        spec: ``tulu``, ``alpaca``, ``chatml``, ``llama2``, ``vicuna``; or a
            ``tokenizer_config.json``, a ``.jinja``/``.j2`` file, or a folder holding one.
        eos: the EOS string to render (default: the template's own, e.g. ``</s>``); pass the
            tokenizer's EOS so the text tokenizes to the real EOS token.
        bos: the BOS string, for templates that write it in the text.
        eot: the end-of-turn marker (``--eot``). A built-in template writes it after each
            assistant turn instead of ``eos``; for a Jinja template it names the marker the
            template writes, instead of finding it (see :mod:`imdata.templates.jinja`).
        date: the day ``strftime_now`` reports in Jinja templates (``YYYY-MM-DD``).
    """
    if spec in _BUILTIN:
        if date is not None:  # a built-in template writes no date, but a mistyped day is still an error
            from imdata.templates.jinja import parse_date

            parse_date(date)
        cls = _BUILTIN[spec]
        kwargs: dict[str, str] = {}
        if spec == "chatml":
            if eot is not None and eot != "<|im_end|>":
                raise TemplateError(f"--eot {eot!r}: the chatml template always closes a turn with <|im_end|>")
        elif eot is not None or eos is not None:
            kwargs["eos"] = eot if eot is not None else eos  # type: ignore[assignment]
        if bos is not None and spec == "llama2":
            kwargs["bos"] = bos
        return cls(**kwargs)  # type: ignore[no-any-return]
    from imdata.templates.jinja import load_jinja_template

    try:
        return load_jinja_template(spec, eos=eos, bos=bos, eot=eot, date=date)
    except FileNotFoundError:
        raise TemplateError(
            f"--template {spec!r}: not a built-in template ({', '.join(BUILTIN_TEMPLATES)}) and no such file or folder"
        ) from None
