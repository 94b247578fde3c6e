"""Labels: tulu+it equals open-instruct's rule token for token; im trains exactly the
instruction and output tokens and no template token, for every template."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import shared
from label_oracle import Region, expected_labels
from test_templates import CHATML_JINJA, LLAMA2_JINJA

from imdata.data.dataset import load
from imdata.data.records import Example, Message
from imdata.labels.labelling import IGNORE_INDEX, token_kinds, token_kinds_from_offsets, tokenize_examples
from imdata.labels.tokens import TokenizerInfo, load_tokenizer
from imdata.templates.builtin import BUILTIN_TEMPLATES, get_template
from imdata.templates.jinja import JinjaTemplate
from imdata.templates.rendered import Template


def open_instruct_labels(tok: object, messages: list[dict[str, str]], eos: str) -> tuple[list[int], list[int]]:
    """open-instruct's `encode_with_messages_format`, re-implemented from its definition:
    message boundaries come from tokenizing message prefixes."""

    def concat(msgs: list[dict[str, str]]) -> str:
        out = ""
        for m in msgs:
            if m["role"] == "system":
                out += "<|system|>\n" + m["content"].strip() + "\n"
            elif m["role"] == "user":
                out += "<|user|>\n" + m["content"].strip() + "\n"
            else:
                out += "<|assistant|>\n" + m["content"].strip() + eos + "\n"
        return out

    ids = tok.encode(concat(messages).strip()).ids  # type: ignore[attr-defined]
    labels = list(ids)
    for i, m in enumerate(messages):
        if m["role"] == "assistant":
            continue
        start = 0 if i == 0 else len(tok.encode(concat(messages[:i])).ids)  # type: ignore[attr-defined]
        prefix = concat(messages[: i + 1])
        if i < len(messages) - 1 and messages[i + 1]["role"] == "assistant":
            prefix += "<|assistant|>\n"
        end = len(tok.encode(prefix).ids)  # type: ignore[attr-defined]
        labels[start:end] = [IGNORE_INDEX] * (min(end, len(labels)) - start)
    return ids, labels


def raw_examples(path: Path) -> list[Example]:
    """Every line of a messages file as an Example, bypassing imdata's loader checks."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        out.append(Example(rec["id"], tuple(Message(m["role"], m["content"]) for m in rec["messages"])))
    return out


@pytest.mark.slow
def test_tulu_it_equals_open_instruct_on_the_paper_files(paper_files: list[Path], llama2_tokenizer: Path) -> None:
    tok = load_tokenizer(str(llama2_tokenizer))
    tmpl = get_template("tulu", eos=tok.eos)
    checked = 0
    for path in paper_files:
        examples = raw_examples(path)
        for tz in tokenize_examples(examples, tmpl, tok, mode="it"):
            msgs = [{"role": m.role, "content": m.content} for m in tz.example.messages]
            ids, labels = open_instruct_labels(tok.tokenizer, msgs, tok.eos)
            assert tz.input_ids.tolist() == ids, tz.example.id
            assert tz.labels.tolist() == labels, tz.example.id
            checked += 1
    assert checked == 1030 + 2996 + 5305


def content_regions(text: str, example: Example, tmpl: Template, markers: list[str]) -> list[Region]:
    """Where each message's content sits in the text, found by string search alone, and the
    end-of-turn marker right after each assistant content."""
    out: list[Region] = []
    pos = 0
    for m in example.messages:
        parts = [m.content.strip()]
        if m.context and tmpl.name == "alpaca":
            parts.append(m.context.strip())
        elif m.context:
            parts = [m.full_content().strip()]
        for part in parts:
            k = text.find(part, pos)
            assert k >= 0, (example.id, part[:40])
            out.append(Region(k, k + len(part), m.role))
            pos = k + len(part)
        if m.role == "assistant":
            j = pos + len(text[pos:]) - len(text[pos:].lstrip(" "))
            hit = next((e for e in markers if text.startswith(e, j)), None)
            if hit:
                out.append(Region(j, j + len(hit), "eot"))
                pos = j + len(hit)
    return out


def check_labels_against_text(tok: TokenizerInfo, tmpl: Template, examples: list[Example], markers: list[str]) -> int:
    """im trains every token touching a message's content or end marker and none other; it
    trains only assistant content and markers. Judged from offsets and string search (the
    oracle in label_oracle.py), not from imdata's spans; straddling tokens included."""
    tokens_checked = 0
    it = {tz.example.id: tz for tz in tokenize_examples(examples, tmpl, tok, mode="it")}
    for tz in tokenize_examples(examples, tmpl, tok, mode="im"):
        text = tz.rendered.text
        regions = content_regions(text, tz.example, tmpl, markers)
        special = np.asarray(tz.encoding.special_tokens_mask, dtype=bool)
        for mode, labels in (("im", tz.labels), ("it", it[tz.example.id].labels)):
            want = expected_labels(regions, len(text), tz.offsets, special, mode)
            bad = np.flatnonzero(want != (labels != IGNORE_INDEX))
            assert bad.size == 0, (
                tmpl.name,
                tz.example.id,
                mode,
                [(text[tz.offsets[i][0] : tz.offsets[i][1]], bool(want[i])) for i in bad[:5]],
            )
        tokens_checked += len(tz.input_ids)
    return tokens_checked


def real_sample() -> list[Example]:
    lima = load(str(shared("instruction_modelling/lima_data.jsonl"))).examples
    multi = [e for e in lima if len(e.messages) > 2][:6]
    alpaca = load(str(shared("alpagasus/claude_t45.json")), on_error="skip").examples
    with_input = [e for e in alpaca if e.messages[0].context][:10]
    system = (
        Example(
            "sys",
            (
                Message("system", "You answer in French."),
                Message("user", "Hello there"),
                Message("assistant", "Bonjour !"),
                Message("user", "Thanks"),
                Message("assistant", "De rien."),
            ),
        ),
    )
    return list(lima[:20]) + multi + with_input + list(alpaca[:10]) + list(system)


@pytest.mark.parametrize("name", BUILTIN_TEMPLATES)
def test_im_trains_content_and_no_template_token(name: str, llama2_tokenizer: Path) -> None:
    tok = load_tokenizer(str(llama2_tokenizer))
    markers = {"tulu": [tok.eos + "\n", tok.eos], "chatml": ["<|im_end|>"]}.get(name, [tok.eos])
    tmpl = get_template(name, eos=tok.eos, bos=tok.bos)
    assert check_labels_against_text(tok, tmpl, real_sample(), markers) > 5000


@pytest.mark.parametrize(("source", "marker"), [(CHATML_JINJA, "<|im_end|>"), (LLAMA2_JINJA, "</s>")])
def test_im_with_real_jinja_templates(source: str, marker: str, llama2_tokenizer: Path) -> None:
    tok = load_tokenizer(str(llama2_tokenizer))
    tmpl = JinjaTemplate(source, name="jinja", eos=tok.eos, bos=tok.bos or "<s>")
    sample = [Example(e.id, tuple(Message(m.role, m.full_content()) for m in e.messages)) for e in real_sample()]
    assert check_labels_against_text(tok, tmpl, sample, [marker]) > 5000


def test_every_header_is_masked_in_every_turn(llama2_tokenizer: Path) -> None:
    tok = load_tokenizer(str(llama2_tokenizer))
    lima = [e for e in load(str(shared("instruction_modelling/lima_data.jsonl"))).examples if len(e.messages) > 2]
    for tz in tokenize_examples(lima, get_template("tulu", eos=tok.eos), tok, mode="im"):
        text = tz.rendered.text
        for header in ("<|user|>", "<|assistant|>"):
            k = text.find(header)
            while k >= 0:
                for i, (s, e) in enumerate(tz.offsets):
                    if s < k + len(header) and e > k and text[s:e].strip():
                        assert tz.labels[i] == IGNORE_INDEX, (tz.example.id, header, k)
                k = text.find(header, k + 1)


@pytest.mark.parametrize("tokenizer", ["llama2", "mistral", "gpt2"])
def test_boundary_lookup_equals_reading_every_offset(tokenizer: str) -> None:
    tok = load_tokenizer(str(shared(f"tokenizers/{tokenizer}/tokenizer.json")))
    sample = real_sample()
    for name in BUILTIN_TEMPLATES:
        tmpl = get_template(name, eos=tok.eos, bos=tok.bos)
        rendered = [tmpl.render(e) for e in sample]
        for r, enc in zip(rendered, tok.encode_batch([r.text for r in rendered]), strict=True):
            assert np.array_equal(token_kinds(r, enc), token_kinds_from_offsets(r, enc)), (
                tokenizer,
                name,
            )


def test_max_length_truncates_and_reports(llama2_tokenizer: Path) -> None:
    tok = load_tokenizer(str(llama2_tokenizer))
    ex = load(str(shared("instruction_modelling/lima_data.jsonl"))).examples[:3]
    full = list(tokenize_examples(ex, get_template("tulu"), tok, mode="im"))
    cut = list(tokenize_examples(ex, get_template("tulu"), tok, mode="im", max_length=64))
    for f, c in zip(full, cut, strict=True):
        assert len(c.input_ids) == min(64, len(f.input_ids))
        assert c.truncated == len(f.input_ids) - len(c.input_ids)
        assert np.array_equal(c.labels, f.labels[:64])


def test_special_token_strings_in_content_are_text(llama2_tokenizer: Path, tmp_path: Path) -> None:
    """Content is text, not control tokens: a literal </s> or <s> in a message never becomes
    the EOS/BOS id (so it never carries loss as one); the template's own EOS still does."""
    from imdata.export.exporter import spans as export_spans

    tok = load_tokenizer(str(llama2_tokenizer))
    ex = Example.from_pairs("x", [("user", "What does </s> mean? <s> too"), ("assistant", "It ends </s> a text.")])
    plain = Example.from_pairs("y", [("user", "What does it mean?"), ("assistant", "It ends a text.")])
    for mode in ("im", "it"):
        (tz,) = tokenize_examples([ex], get_template("tulu", eos=tok.eos), tok, mode=mode)
        eos_id, bos_id = tok.tokenizer.token_to_id("</s>"), tok.tokenizer.token_to_id("<s>")
        assert tz.content_specials == 3
        assert tz.input_ids.tolist().count(eos_id) == 1 and tz.input_ids[-1] == eos_id  # the template's EOS
        assert tz.input_ids.tolist().count(bos_id) == 1 and tz.labels[0] == IGNORE_INDEX  # the tokenizer's BOS
        text = tz.rendered.text
        pieces = [text[s:e] for s, e in tz.offsets]
        assert pieces.count("</s>") == 1 and "".join(pieces).count("</") == 3  # two in content, as text
    (tz,) = tokenize_examples([plain], get_template("tulu", eos=tok.eos), tok, mode="im")
    assert tz.content_specials == 0
    report = export_spans([ex, plain], output=tmp_path / "o.jsonl", tokenizer=tok)
    assert report.content_special_tokens == 3
    manifest = json.loads((tmp_path / "o.jsonl.manifest.json").read_text())
    assert manifest["content_special_tokens"] == 3


@pytest.mark.parametrize("few", [0, 10**9])
def test_many_special_strings_in_a_long_conversation_are_text(
    llama2_tokenizer: Path, monkeypatch: pytest.MonkeyPatch, few: int
) -> None:
    """Past a few positions they are placed in one array pass: the same tokens either way."""
    import imdata.labels.tokens as tokens_mod

    monkeypatch.setattr(tokens_mod, "_FEW", few)
    tok = load_tokenizer(str(llama2_tokenizer))
    pairs = [p for i in range(12) for p in (("user", f"Line {i} </s> ends? <s>"), ("assistant", f"No </s> {i}"))]
    (tz,) = tokenize_examples([Example.from_pairs("m", pairs)], get_template("tulu", eos=tok.eos), tok, mode="im")
    eos_id = tok.tokenizer.token_to_id("</s>")
    assert tz.content_specials == 36  # two in each user turn, one in each answer
    assert tz.input_ids.tolist().count(eos_id) == 12  # the template's EOS after each answer, nothing else
    assert [tz.rendered.text[s:e] for s, e in tz.offsets].count("</s>") == 12
