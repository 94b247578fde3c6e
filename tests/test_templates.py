"""Templates: spans tile the text, contents appear verbatim, Jinja spans need no heuristics."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imdata.data.records import Example, Message
from imdata.errors import TemplateError
from imdata.templates.builtin import BUILTIN_TEMPLATES, get_template
from imdata.templates.jinja import JinjaTemplate, load_jinja_template
from imdata.templates.rendered import Rendered

# A ChatML chat template written here in Jinja, in the form model repos ship it.
CHATML_JINJA = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] | trim + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
# A Llama-2-chat style template with a system block and a role check.
LLAMA2_JINJA = (
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
    "{% set system_message = false %}{% endif %}"
    "{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if loop.index0 == 0 and system_message != false %}"
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
    "{% else %}{% set content = message['content'] %}{% endif %}"
    "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' ' + content.strip() + ' ' + eos_token }}{% endif %}"
    "{% endfor %}"
)

text_st = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\ue000\ue001"),
    min_size=1,
    max_size=40,
).filter(lambda s: s.strip() != "")


@st.composite
def conversations(draw: st.DrawFn) -> Example:
    turns = draw(st.integers(1, 4))
    msgs: list[Message] = []
    if draw(st.booleans()):
        msgs.append(Message("system", draw(text_st)))
    for _ in range(turns):
        msgs.append(Message("user", draw(text_st), draw(st.sampled_from(["", "some context"]))))
        msgs.append(Message("assistant", draw(text_st)))
    return Example("x", tuple(msgs))


def assert_tiles(r: Rendered) -> None:
    pos = 0
    for s in r.spans:
        assert s.start == pos and s.end > s.start
        pos = s.end
    assert pos == len(r.text)


@pytest.mark.parametrize("name", BUILTIN_TEMPLATES)
@settings(max_examples=60, deadline=None)
@given(ex=conversations())
def test_builtin_spans_tile_and_hold_the_contents(name: str, ex: Example) -> None:
    r = get_template(name).render(ex)
    assert_tiles(r)
    contents = {"system": [], "instruction": [], "output": []}  # type: dict[str, list[str]]
    for s in r.spans:
        if s.kind in contents:
            contents[s.kind].append(r.text[s.start : s.end])
    joined = {k: "\n".join(v) for k, v in contents.items()}
    for m in ex.messages:
        kind = {"system": "system", "user": "instruction", "assistant": "output"}[m.role]
        assert m.content.strip() in joined[kind]
    for s in r.spans:
        if s.kind == "eos":
            assert r.text[s.start : s.end].strip() == "</s>" or name == "chatml"


@settings(max_examples=60, deadline=None)
@given(ex=conversations())
def test_jinja_chatml_spans_equal_the_builtin(ex: Example) -> None:
    ex = Example(ex.id, tuple(Message(m.role, m.full_content()) for m in ex.messages))
    jinja = JinjaTemplate(CHATML_JINJA, name="chatml.jinja", eos="<|im_end|>").render(ex)
    builtin = get_template("chatml").render(ex)
    assert jinja.text == builtin.text
    assert char_kinds(jinja) == char_kinds(builtin)


def char_kinds(r: Rendered) -> list[str]:
    return [s.kind for s in r.spans for _ in range(s.end - s.start)]


def test_jinja_llama2_template_marks_eos_and_system() -> None:
    t = JinjaTemplate(LLAMA2_JINJA, name="llama2.jinja", eos="</s>", bos="<s>")
    ex = Example(
        "x",
        (
            Message("system", "Be brief."),
            Message("user", " Hi "),
            Message("assistant", "Hello"),
            Message("user", "Bye"),
            Message("assistant", "Ciao"),
        ),
    )
    r = t.render(ex)
    assert_tiles(r)
    got = [(r.text[s.start : s.end], s.kind) for s in r.spans]
    assert ("Be brief.", "system") in got and ("</s>", "eos") in got
    assert (" Hi", "instruction") in got, "the template rstrips this content (strip() after the system block)"
    with pytest.raises(TemplateError, match="must alternate"):
        t.render(Example("y", (Message("user", "a"), Message("user", "b"), Message("assistant", "c"))))


def test_jinja_template_that_rewrites_content_is_refused() -> None:
    t = JinjaTemplate("{% for m in messages %}{{ m['content'] | upper }}{% endfor %}", name="shout")
    with pytest.raises(TemplateError, match="changes the content"):
        t.render(Example.from_pairs("x", [("user", "hi"), ("assistant", "yo")]))


def test_jinja_sandbox_blocks_attribute_escape() -> None:
    t = JinjaTemplate("{{ messages.__class__.__mro__ }}", name="evil")
    with pytest.raises(TemplateError):
        t.render(Example.from_pairs("x", [("user", "hi"), ("assistant", "yo")]))


def test_load_template_from_tokenizer_config(tmp_path: Path) -> None:
    import json

    cfg = tmp_path / "tokenizer_config.json"
    cfg.write_text(json.dumps({"chat_template": CHATML_JINJA, "eos_token": "<|im_end|>", "bos_token": "<s>"}))
    t = get_template(str(cfg))
    assert isinstance(t, JinjaTemplate) and t.eos == "<|im_end|>"
    assert get_template(str(tmp_path)).source == CHATML_JINJA
    assert t.render_prompt([Message("user", "hi")]).endswith("<|im_start|>assistant\n")
    (tmp_path / "none.json").write_text("{}")
    with pytest.raises(TemplateError, match="no `chat_template`"):
        load_jinja_template(str(tmp_path / "none.json"))
    with pytest.raises(TemplateError, match="not a built-in template"):
        get_template("no-such-template")


def test_tulu_is_exactly_the_paper_format() -> None:
    ex = Example(
        "x",
        (
            Message("system", " S "),
            Message("user", "U\n"),
            Message("assistant", " A"),
            Message("user", "U2"),
            Message("assistant", "A2"),
        ),
    )
    want = "<|system|>\nS\n<|user|>\nU\n<|assistant|>\nA</s>\n<|user|>\nU2\n<|assistant|>\nA2</s>"
    assert get_template("tulu").render(ex).text == want
    assert get_template("tulu").render_prompt(ex.messages[:2]) == "<|system|>\nS\n<|user|>\nU\n<|assistant|>\n"


def test_alpaca_preamble_depends_on_input() -> None:
    t = get_template("alpaca")
    with_input = t.render(Example("x", (Message("user", "Add", "2 3"), Message("assistant", "5"))))
    assert with_input.text.startswith("Below is an instruction that describes a task, paired with an input")
    assert "### Input:\n2 3\n\n### Response:\n5</s>" in with_input.text
    plain = t.render(Example.from_pairs("y", [("user", "Hi"), ("assistant", "Yo")]))
    assert plain.text.endswith("### Instruction:\nHi\n\n### Response:\nYo</s>")
