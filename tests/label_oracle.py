"""An independent oracle for loss labels: it shares no code with imdata's span machinery.

It renders a chat template with jinja2 itself (the way transformers does), finds each
message's content in the text by plain string search, finds the end-of-turn marker the model
card documents right after each assistant content, and labels every token from the
tokenizer's character offsets:

* a token that touches no content and no end marker is template: never trained;
* otherwise it belongs to the last content (or marker) it touches; ``im`` trains it,
  ``it`` trains it when that is an assistant content or its end marker;
* tokens the tokenizer adds (BOS) are never trained.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

FIXTURES = Path(__file__).parent / "fixtures" / "templates"
ORACLE_DATE = datetime(2024, 7, 26)


class Refused(Exception):
    """The template raised, or did not render a message's content verbatim."""


def jinja_render(source: str, messages: Sequence[dict[str, str]], *, bos: str | None, eos: str | None) -> str:
    """Render as transformers' ``apply_chat_template`` does (sandbox, trim/lstrip blocks)."""
    from jinja2 import nodes
    from jinja2.ext import Extension
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class Generation(Extension):  # transformers' {% generation %} tag, rendered as its body
        tags = {"generation"}

        def parse(self, parser: Any) -> Any:
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return nodes.Scope(body, lineno=lineno)

    def raise_exception(message: str) -> None:
        raise Refused(message)

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols", Generation]
    )
    env.filters["tojson"] = lambda x, indent=None, **_: json.dumps(x, ensure_ascii=False, indent=indent)
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = ORACLE_DATE.strftime
    return env.from_string(source).render(
        messages=list(messages), bos_token=bos or "", eos_token=eos or "", add_generation_prompt=False
    )


@dataclass(frozen=True)
class Region:
    start: int
    end: int
    kind: str  # system | user | assistant | eot


def locate(
    text: str, messages: Sequence[dict[str, str]], eot: Sequence[str], final_eos: str | None = None
) -> list[Region]:
    """Each message's content, in order, by string search; the end marker after each assistant;
    and ``final_eos`` when it is all that follows the last assistant's marker (Phi-3 writes it)."""
    out: list[Region] = []
    pos = 0
    markers = sorted(eot, key=len, reverse=True)
    for m in messages:
        content = m["content"].strip()
        k = text.find(content, pos)
        if k < 0:
            raise Refused(f"{m['role']} content not rendered verbatim")
        out.append(Region(k, k + len(content), m["role"]))
        pos = k + len(content)
        if m["role"] == "assistant":
            j = pos + len(text[pos:]) - len(text[pos:].lstrip())
            hit = next((e for e in markers if e and text.startswith(e, j)), None)
            if hit is not None:
                out.append(Region(j, j + len(hit), "eot"))
                pos = j + len(hit)
    if final_eos and messages and messages[-1]["role"] == "assistant" and out[-1].kind == "eot":
        rest = text[pos:]
        if rest.strip() == final_eos:
            k = pos + rest.index(final_eos)
            out.append(Region(k, k + len(final_eos), "eot"))
    return out


def expected_labels(
    regions: Sequence[Region], text_len: int, offsets: np.ndarray, special: np.ndarray, mode: str
) -> np.ndarray:
    """True where a token carries the loss under ``mode`` (``it`` or ``im``)."""
    owner = np.full(text_len + 1, -1, dtype=np.int64)
    for i, r in enumerate(regions):
        owner[r.start : r.end] = i
    trained = np.zeros(len(offsets), dtype=bool)
    for t, (s, e) in enumerate(offsets):
        if special[t]:
            continue
        touched = owner[s:e] if e > s else owner[s : s + 1]
        touched = touched[touched >= 0]
        if touched.size == 0:
            continue
        kind = regions[int(touched.max())].kind
        trained[t] = mode == "im" or kind in ("assistant", "eot")
    return trained


# --- the corpus ----------------------------------------------------------------------------------


def corpus() -> list[dict[str, Any]]:
    """Every template of the corpus, with its model's BOS/EOS strings and special tokens."""
    rows: list[dict[str, Any]] = json.loads((FIXTURES / "corpus.json").read_text(encoding="utf-8"))
    return rows


def template_source(row: dict[str, Any]) -> str | None:
    """The template text: a vendored fixture, or a file shipped inside the ``trl`` package."""
    where, _, name = row["file"].partition(":")
    if where == "fixtures":
        return (FIXTURES / name).read_text(encoding="utf-8")
    try:
        import trl
    except ImportError:
        return None
    path = Path(trl.__file__).parent / "chat_templates" / name
    return path.read_text(encoding="utf-8") if path.is_file() else None


def stand_in_tokenizer(row: dict[str, Any], shared_data: Path, folder: Path) -> Path:
    """A tokenizer folder: the shared LLaMA-2 or GPT-2 ``tokenizer.json`` with this family's
    special tokens added, BOS added the way the real tokenizer adds it, and a
    ``tokenizer_config.json`` naming its BOS and EOS."""
    from tokenizers import AddedToken, Tokenizer, processors

    tok = Tokenizer.from_file(str(shared_data / "tokenizers" / row["base"] / "tokenizer.json"))
    bos, eos = row.get("bos"), row["eos"]
    specials = [t for t in [bos, eos, *row.get("specials", [])] if t]
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in dict.fromkeys(specials)])
    if row.get("adds_bos") and bos:
        tok.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, tok.token_to_id(bos))]
        )
    else:
        tok.post_processor = processors.TemplateProcessing(single="$A", pair="$A $B", special_tokens=[])
    folder.mkdir(parents=True, exist_ok=True)
    tok.save(str(folder / "tokenizer.json"))
    config = {"bos_token": bos, "eos_token": eos, "chat_template": template_source(row)}
    (folder / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    return folder
