"""Labels on real chat templates of current model families, against an independent oracle.

For every template of ``tests/fixtures/templates/corpus.json`` (vendored files, and the
originals that ship inside the ``trl`` package), on real multi-turn conversations with and
without a system message, with a stand-in tokenizer carrying the model's real BOS/EOS and
special tokens: ``im`` trains 0 template tokens and masks 0 content tokens, every
end-of-turn marker the template writes is trained, ``it`` trains exactly the assistant
contents and their markers. The oracle (``label_oracle.py``) renders with jinja2 itself and
labels from offsets; it imports nothing from imdata. A conversation the template refuses or
cannot render verbatim must be refused by imdata too, with a message.

``analyses/support_matrix.py`` runs this file and turns the outcomes into the README table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import SHARED, shared
from label_oracle import Refused, corpus, expected_labels, jinja_render, locate, stand_in_tokenizer, template_source

from imdata.dataset import load
from imdata.errors import TemplateError
from imdata.records import Example, Message
from imdata.spans import IGNORE_INDEX, tokenize_examples
from imdata.templates import get_template
from imdata.tokens import TokenizerInfo, load_tokenizer

ROWS = {r["name"]: r for r in corpus()}
NAMES = sorted(ROWS)


def _conversations() -> list[Example]:
    lima = load(str(shared("instruction_modelling/lima_data.jsonl"))).examples
    multi = [e for e in lima if len(e.messages) >= 4][:4]
    single = [e for e in lima if len(e.messages) == 2][:3]
    alpaca = load(str(shared("alpagasus/claude_t45.json")), on_error="skip").examples
    with_input = [e for e in alpaca if e.messages[0].context][:3]
    base = [
        *multi,
        *single,
        *with_input,
        Example.from_pairs("hello", [("user", "Hello world"), ("assistant", "Hi there")]),
    ]
    out: list[Example] = []
    for e in base:
        msgs = tuple(Message(m.role, m.full_content().strip()) for m in e.messages)
        out.append(Example(e.id, msgs))
    for e in out[:4] + out[-1:]:
        system = Message("system", "You are a careful assistant. Answer briefly.")
        out.append(Example(e.id + "+system", (system, *e.messages)))
    return out


_CACHE: dict[str, Any] = {}


def _setup(name: str, tmp_root: Path) -> tuple[dict[str, Any], str, TokenizerInfo]:
    row = ROWS[name]
    source = template_source(row)
    if source is None:
        pytest.skip(f"{row['file']}: the trl package (the `train` extra) is not installed")
    if not (SHARED / "tokenizers" / row["base"]).is_dir():
        pytest.skip(f"real data not available: {SHARED / 'tokenizers' / row['base']}")
    folder = stand_in_tokenizer(row, SHARED, tmp_root / name)
    (folder / "chat_template.jinja").write_text(source, encoding="utf-8")
    return row, source, load_tokenizer(str(folder))


@pytest.fixture(scope="module")
def conversations() -> list[Example]:
    if "conv" not in _CACHE:
        _CACHE["conv"] = _conversations()
    return _CACHE["conv"]  # type: ignore[no-any-return]


def _oracle_encode(tok: TokenizerInfo, text: str) -> Any:
    starts_with_bos = bool(tok.bos) and text.startswith(tok.bos or "")
    return tok.tokenizer.encode(text, add_special_tokens=not (tok.adds_bos and starts_with_bos))


def check_template(name: str, tmp_root: Path, examples: list[Example]) -> dict[str, int]:
    """Compare imdata with the oracle on every conversation; return the counts."""
    row, source, tok = _setup(name, tmp_root)
    tmpl = get_template(str(tmp_root / name), eos=tok.eos, bos=tok.bos)
    counts = {"rendered": 0, "refused": 0, "tokens": 0, "mismatch_im": 0, "mismatch_it": 0, "markers": 0}
    for ex in examples:
        msgs = [m.to_dict() for m in ex.messages]
        try:
            text = jinja_render(source, msgs, bos=row["bos"], eos=row["eos"])
            regions = locate(text, msgs, row["eot"])
        except Refused:
            with pytest.raises(TemplateError):
                tmpl.render(ex)
            counts["refused"] += 1
            continue
        enc = _oracle_encode(tok, text)
        offsets = np.asarray(enc.offsets, dtype=np.int64).reshape(-1, 2)
        special = np.asarray(enc.special_tokens_mask, dtype=bool)
        counts["rendered"] += 1
        counts["tokens"] += len(enc.ids)
        counts["markers"] += sum(r.kind == "eot" for r in regions)
        for mode in ("im", "it"):
            (tz,) = tokenize_examples([ex], tmpl, tok, mode=mode)  # type: ignore[arg-type]
            assert tz.rendered.text == text, (name, ex.id)
            assert tz.input_ids.tolist() == enc.ids, (name, ex.id)
            want = expected_labels(regions, len(text), offsets, special, mode)
            got = tz.labels != IGNORE_INDEX
            bad = np.flatnonzero(want != got)
            counts[f"mismatch_{mode}"] += bad.size
            assert bad.size == 0, (
                name,
                ex.id,
                mode,
                [(enc.tokens[i], text[offsets[i][0] : offsets[i][1]], bool(want[i])) for i in bad[:8]],
            )
    return counts


@pytest.mark.parametrize("name", NAMES)
def test_template_renders_plain_conversations(name: str, tmp_path: Path, conversations: list[Example]) -> None:
    """Accepted: every user/assistant conversation (no system message) renders."""
    row, _, tok = _setup(name, tmp_path)
    tmpl = get_template(str(tmp_path / name), eos=tok.eos, bos=tok.bos)
    plain = [e for e in conversations if e.messages[0].role != "system"]
    for ex in plain:
        r = tmpl.render(ex)
        assert any(s.kind == "output" for s in r.spans), (name, ex.id)


@pytest.mark.parametrize("name", NAMES)
def test_labels_equal_the_oracle(name: str, tmp_path: Path, conversations: list[Example]) -> None:
    """IM verified: im and it labels equal the oracle's token for token, markers trained."""
    counts = check_template(name, tmp_path, conversations)
    assert counts["rendered"] >= 11, counts
    assert counts["mismatch_im"] == counts["mismatch_it"] == 0
    assert counts["markers"] > 0, "no end-of-turn marker found: check the corpus entry"


@pytest.mark.parametrize("name", NAMES)
def test_first_output_token_is_trained(name: str, tmp_path: Path) -> None:
    """``▁Hi`` after ``[/INST] `` (the space merged into the first word) trains under it and im."""
    _, _, tok = _setup(name, tmp_path)
    tmpl = get_template(str(tmp_path / name), eos=tok.eos, bos=tok.bos)
    ex = Example.from_pairs("hello", [("user", "Hello world"), ("assistant", "Hi there")])
    for mode in ("it", "im"):
        (tz,) = tokenize_examples([ex], tmpl, tok, mode=mode)  # type: ignore[arg-type]
        k = tz.rendered.text.index("Hi there")
        first = next(i for i, (s, e) in enumerate(tz.offsets) if s <= k < e)
        assert tz.labels[first] == tz.input_ids[first], (
            name,
            mode,
            tok.tokenizer.id_to_token(int(tz.input_ids[first])),
        )


@pytest.mark.parametrize(
    ("name", "marker"),
    [("gemma", "<end_of_turn>"), ("phi-3", "<|end|>"), ("llama-3.1", "<|eot_id|>"), ("llama-3", "<|eot_id|>")],
)
def test_every_end_of_turn_marker_is_trained(
    name: str, marker: str, tmp_path: Path, conversations: list[Example]
) -> None:
    _, _, tok = _setup(name, tmp_path)
    tmpl = get_template(str(tmp_path / name), eos=tok.eos, bos=tok.bos)
    plain = [e for e in conversations if e.messages[0].role != "system"]
    marker_id = tok.tokenizer.token_to_id(marker)
    for tz in tokenize_examples(plain, tmpl, tok, mode="it"):
        n_assistant = sum(m.role == "assistant" for m in tz.example.messages)
        ends = [s for s in tz.rendered.spans if s.kind == "eos"]
        assert len(ends) == n_assistant and all(tz.rendered.text[s.start : s.end] == marker for s in ends)
        trained = tz.labels[tz.input_ids == marker_id]
        assert (trained == marker_id).sum() == n_assistant, (name, tz.example.id)
