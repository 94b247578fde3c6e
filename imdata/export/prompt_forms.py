r"""Generation prompts for memorisation: one per training example, from its first user turn.

The paper prompts the fine-tuned model with each training example's first user turn and
greedy-decodes; the output is then compared with the training output (``imdata memorize``).
System messages before that turn are kept, since the model was trained with them.

>>> from imdata.data.records import Example
>>> ex = Example.from_pairs("a1", [("user", "Hi"), ("assistant", "Hello"), ("user", "More")])
>>> prompt_row(ex, get_template("tulu"), form="prompt")
{'id': 'a1', 'prompt': '<|user|>\nHi\n<|assistant|>\n'}
>>> prompt_row(ex, get_template("tulu"), form="messages")
{'id': 'a1', 'messages': [{'role': 'user', 'content': 'Hi'}]}
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from imdata.choices import PromptForm
from imdata.data import files
from imdata.data.dataset import Dataset
from imdata.data.output_names import check_name
from imdata.data.records import Example, Message
from imdata.templates.builtin import get_template
from imdata.templates.rendered import Template


@dataclass(frozen=True, slots=True)
class PromptsReport:
    """What ``prompts`` wrote: how many prompts, and the examples left out by reason."""

    output: str
    written: int
    form: str
    template: str
    template_fingerprint: str
    skipped: dict[str, int]


def prompt_messages(example: Example) -> tuple[Message, ...]:
    """The messages up to and including the first user turn (``()`` if it has none)."""
    for i, m in enumerate(example.messages):
        if m.role == "user":
            return tuple(x for x in example.messages[:i] if x.role == "system") + (m,)
    return ()


def prompt_row(example: Example, template: Template, *, form: PromptForm = "prompt") -> dict[str, Any]:
    """One output line: ``{"id", "prompt"}`` rendered by ``template``, or OpenAI ``messages``."""
    msgs = prompt_messages(example)
    if form == "messages":
        return {"id": example.id, "messages": [m.to_dict() for m in msgs]}
    return {"id": example.id, "prompt": template.render_prompt(msgs)}


def check_prompts_name(output: str, *, option: str) -> None:
    """Refuse an output name that says a format other than JSONL, before any work."""
    check_name(output, option=option, writes="prompts writes prompt JSONL", fix="name it .jsonl or .jsonl.gz")


def prompts(
    data: Dataset | Iterable[Dataset],
    *,
    output: str,
    template: str = "tulu",
    form: PromptForm = "prompt",
    force: bool = False,
    eot: str | None = None,
    date: str | None = None,
) -> PromptsReport:
    """Write one generation prompt per training example as JSONL, keeping each example's id.

    Examples without a user turn cannot be prompted; they are counted as ``no-user-turn``.
    ``eot`` and ``date`` render the template as :func:`imdata.spans` does with them (a
    Llama-3.1 prompt states the day).
    """
    check_prompts_name(output, option="output")
    tmpl = get_template(template, eot=eot, date=date)
    sets = [data] if isinstance(data, Dataset) else list(data)
    skipped: dict[str, int] = {}
    written = 0
    with files.atomic_output(output, force=force) as fh:
        for ds in sets:
            for ex in ds.examples:
                if not prompt_messages(ex):
                    skipped["no-user-turn"] = skipped.get("no-user-turn", 0) + 1
                    continue
                fh.write(json.dumps(prompt_row(ex, tmpl, form=form), ensure_ascii=False) + "\n")
                written += 1
    return PromptsReport(output, written, form, tmpl.name, tmpl.fingerprint, skipped)
