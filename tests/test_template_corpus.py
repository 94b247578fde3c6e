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

from imdata.data.dataset import load
from imdata.data.records import Example, Message
from imdata.errors import TemplateError
from imdata.labels.labelling import IGNORE_INDEX, tokenize_examples
from imdata.labels.tokens import TokenizerInfo, load_tokenizer
from imdata.templates.builtin import get_template

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
            regions = locate(text, msgs, row["eot"], final_eos=row["eos"])
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
    print("counts " + " ".join(f"{k}={v}" for k, v in sorted(counts.items())))
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
        ends = [s for s in tz.rendered.spans if s.kind == "eos" and tz.rendered.text[s.start : s.end] == marker]
        assert len(ends) == n_assistant == len({s.turn for s in ends}), (name, tz.example.id)
        trained = tz.labels[tz.input_ids == marker_id]
        assert (trained == marker_id).sum() == n_assistant, (name, tz.example.id)


# --- refusals are bad records; rendering is deterministic; --eot; turns with no marker ---------


def _cli(*args: str) -> tuple[int, str, str]:
    from click.testing import CliRunner

    from imdata.cli import main

    r = CliRunner().invoke(main, list(args))
    return r.exit_code, r.stdout, r.stderr


def _write_jsonl(path: Path, records: list[dict[str, Any]]) -> str:
    import json

    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return str(path)


ALTERNATING = [
    {"id": "ok-1", "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]},
    {
        "id": "two-users",
        "messages": [
            {"role": "user", "content": "A"},
            {"role": "user", "content": "B"},
            {"role": "assistant", "content": "C"},
        ],
    },
    {"id": "ok-2", "messages": [{"role": "user", "content": "Yo"}, {"role": "assistant", "content": "Hey"}]},
]


def test_a_refused_record_is_a_bad_record(tmp_path: Path) -> None:
    data = _write_jsonl(tmp_path / "chat.jsonl", ALTERNATING)
    tmpl = str(Path(__file__).parent / "fixtures" / "templates" / "mistral-v0.2.jinja")
    out = tmp_path / "o.jsonl"
    code, stdout, stderr = _cli("spans", data, "-t", tmpl, "-o", str(out), "--on-error", "raise")
    assert code == 1 and stdout == "" and "Traceback" not in stderr and not out.exists()
    assert "chat.jsonl, line 2: `messages` of record 'two-users' cannot be rendered" in stderr
    assert "Conversation roles must alternate" in stderr and "--on-error skip" in stderr
    rejects = tmp_path / "rejects.jsonl"
    code, _, stderr = _cli("spans", data, "-t", tmpl, "-o", str(out), "--on-error", "skip", "--rejects", str(rejects))
    assert code == 0, stderr
    assert "skipped 1 record: template-raised 1" in stderr and "wrote 2 examples" in stderr
    (row,) = [__import__("json").loads(x) for x in rejects.read_text().splitlines()]
    assert row["where"] == "line 2" and row["reason"] == "template-raised" and row["record"]["id"] == "two-users"
    assert [__import__("json").loads(x)["id"] for x in out.read_text().splitlines()] == ["ok-1", "ok-2"]


def test_a_dropped_system_message_is_refused_per_record(tmp_path: Path) -> None:
    recs = [
        ALTERNATING[0],
        {"id": "sys", "messages": [{"role": "system", "content": "Be brief."}, *ALTERNATING[0]["messages"]]},
    ]
    data = _write_jsonl(tmp_path / "chat.jsonl", recs)
    tmpl = str(Path(__file__).parent / "fixtures" / "templates" / "mistral-v0.3.jinja")  # has no system slot
    code, _, stderr = _cli("spans", data, "-t", tmpl, "-o", str(tmp_path / "o.jsonl"), "--on-error", "skip")
    assert code == 0 and "skipped 1 record: template-drops-message 1" in stderr


def test_rendering_does_not_depend_on_the_day(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import datetime as dt

    import imdata.templates.jinja as jinja_mod

    row = ROWS["llama-3.2"]
    source = template_source(row)
    if source is None:
        pytest.skip("the trl package is not installed")
    (tmp_path / "t.jinja").write_text(source, encoding="utf-8")
    ex = Example.from_pairs("x", [("user", "Hello world"), ("assistant", "Hi there")])
    today = get_template(str(tmp_path / "t.jinja")).render(ex).text

    class Tomorrow(dt.datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return dt.datetime(2031, 1, 1)

    monkeypatch.setattr(jinja_mod, "datetime", Tomorrow)
    assert get_template(str(tmp_path / "t.jinja")).render(ex).text == today
    assert "Today Date: 26 Jul 2024" in today
    other = get_template(str(tmp_path / "t.jinja"), date="2025-01-02")
    assert "Today Date: 02 Jan 2025" in other.render(ex).text
    assert other.fingerprint != get_template(str(tmp_path / "t.jinja")).fingerprint
    data = _write_jsonl(tmp_path / "d.jsonl", ALTERNATING[:1])
    code, _, stderr = _cli(
        "spans", data, "-t", str(tmp_path / "t.jinja"), "--date", "2025-01-02", "-o", str(tmp_path / "o.jsonl")
    )
    assert code == 0, stderr
    manifest = __import__("json").loads((tmp_path / "o.jsonl.manifest.json").read_text())
    assert manifest["provenance"]["template_date"] == "2025-01-02"
    for date, day in ((["--date", "2025-01-02"], "02 Jan 2025"), ([], "26 Jul 2024")):  # prompts render alike
        prompts = tmp_path / f"prompts{len(date)}.jsonl"
        code, _, stderr = _cli("prompts", data, "-t", str(tmp_path / "t.jinja"), *date, "-o", str(prompts))
        assert code == 0, stderr
        assert f"Today Date: {day}" in __import__("json").loads(prompts.read_text().splitlines()[0])["prompt"]
    code, _, stderr = _cli(
        "spans", data, "-t", str(tmp_path / "t.jinja"), "--date", "yesterday", "-o", str(tmp_path / "p.jsonl")
    )
    assert code == 1 and "--date 'yesterday': expected a day as YYYY-MM-DD" in stderr
    # a built-in template writes no date, yet a mistyped one is an error
    for argv in (["spans", "-o", str(tmp_path / "b.jsonl")], ["profile"]):
        code, _, stderr = _cli(*argv, data, "--date", "2025-13-01")
        assert code == 1 and "--date '2025-13-01': expected a day as YYYY-MM-DD" in stderr, stderr


def test_eot_names_the_marker_and_missing_markers_are_reported(tmp_path: Path) -> None:
    qwen15 = str(Path(__file__).parent / "fixtures" / "templates" / "qwen1.5.jinja")
    data = _write_jsonl(tmp_path / "d.jsonl", [ALTERNATING[0], ALTERNATING[2]])
    code, _, stderr = _cli("spans", data, "-t", qwen15, "-o", str(tmp_path / "o.jsonl"))
    # Qwen1.5's template writes no <|im_end|> after the last assistant turn
    assert code == 0 and "warning: 2 assistant turns end with no end-of-turn marker (first: ok-1)" in stderr
    ex = Example.from_pairs("x", [("user", "Hi"), ("assistant", "Yo"), ("user", "Again"), ("assistant", "Sure")])
    r = get_template(qwen15).render(ex)
    assert [r.text[s.start : s.end] for s in r.spans if s.kind == "eos"] == ["<|im_end|>"]
    zephyr = str(Path(__file__).parent / "fixtures" / "templates" / "zephyr.jinja")
    r = get_template(zephyr, eos="</s>", eot="</s>\n").render(ex)
    assert [r.text[s.start : s.end] for s in r.spans if s.kind == "eos"] == ["</s>\n", "</s>\n"]
    r = get_template(zephyr, eos="</s>", eot="<|nothing|>").render(ex)
    assert not [s for s in r.spans if s.kind == "eos"]


def test_profile_takes_eot_as_spans_does(tmp_path: Path) -> None:
    """profile --eot counts what spans --eot trains: the marker after each answer is trained text."""
    import json

    zephyr = str(Path(__file__).parent / "fixtures" / "templates" / "zephyr.jinja")
    data = _write_jsonl(tmp_path / "d.jsonl", [ALTERNATING[0], ALTERNATING[2]])

    def profiled(*eot: str) -> int:
        code, out, err = _cli("profile", data, "-t", zephyr, "--unit", "chars", "--format", "json", *eot)
        assert code == 0, err
        return int(json.loads(out)["datasets"][0]["trained"]["it"])

    def spans_trained(*eot: str) -> int:
        out = tmp_path / f"s{len(eot)}.jsonl"
        code, _, err = _cli("spans", data, "-t", zephyr, "-o", str(out), "--force", *eot)
        assert code == 0, err
        rows = [json.loads(x) for x in out.read_text().splitlines()]
        return sum(s["end"] - s["start"] for r in rows for s in r["spans"] if s["kind"] in ("output", "eos"))

    with_eot = ("--eot", "</s>\n")
    assert profiled(*with_eot) == spans_trained(*with_eot)
    assert profiled() == spans_trained()
    assert profiled(*with_eot) > profiled()  # the flag reaches profile's rendering


def test_card_takes_eot_and_date_as_profile_does(tmp_path: Path, llama2_tokenizer: Path) -> None:
    """The card's token figures are profile's under the same --eot and --date."""
    from imdata.profiling.profiler import profile
    from imdata.reports.dataset_card import card

    zephyr = str(Path(__file__).parent / "fixtures" / "templates" / "zephyr.jinja")
    data = _write_jsonl(tmp_path / "d.jsonl", [ALTERNATING[0], ALTERNATING[2]])
    tok = str(llama2_tokenizer)
    cols = ["id", "trained_it", "trained_im", "total"]

    def trained(eot: str | None) -> list[dict[str, Any]]:
        c = card(data, tokenizer=tok, template=zephyr, eot=eot, date="2025-01-02")
        assert c.tokens is not None
        prof = profile([data], tokenizer=tok, template=zephyr, eot=eot, date="2025-01-02")
        assert c.tokens.examples.select(cols).to_dicts() == prof.examples.select(cols).to_dicts()
        return c.tokens.examples.select(cols).to_dicts()  # type: ignore[no-any-return]

    assert sum(r["trained_it"] for r in trained("</s>\n")) > sum(r["trained_it"] for r in trained(None))
    out = tmp_path / "card.md"
    args = ["-k", tok, "-t", zephyr, "--eot", "</s>\n", "--date", "2025-01-02", "--no-plots", "-o", str(out)]
    code, _, err = _cli("card", data, *args)
    assert code == 0 and out.exists(), err
    assert 'end-of-turn marker `"</s>\\n"` (`--eot`), day 2025-01-02 (`--date`)' in out.read_text()
    # a mistyped day is refused before any reading: no card, no rejects file
    rejects = tmp_path / "rej.jsonl"
    args = ["-t", zephyr, "--date", "yesterday", "--rejects", str(rejects), "--no-plots", "-o", str(tmp_path / "x.md")]
    code, _, err = _cli("card", data, *args)
    assert code != 0 and "yesterday" in err and "reading" not in err
    assert not (tmp_path / "x.md").exists() and not rejects.exists()


def test_builtin_and_jinja_chatml_label_alike(llama2_tokenizer: Path) -> None:
    from test_templates import CHATML_JINJA

    from imdata.templates.jinja import JinjaTemplate

    tok = load_tokenizer(str(llama2_tokenizer))  # EOS </s>, not <|im_end|>
    ex = Example.from_pairs(
        "x", [("system", "S"), ("user", "Hi"), ("assistant", "Yo"), ("user", "A"), ("assistant", "B")]
    )
    jinja = JinjaTemplate(CHATML_JINJA, eos=tok.eos, bos=tok.bos or "<s>")
    for mode in ("it", "im"):
        (a,) = tokenize_examples([ex], get_template("chatml", eos=tok.eos), tok, mode=mode)  # type: ignore[arg-type]
        (b,) = tokenize_examples([ex], jinja, tok, mode=mode)  # type: ignore[arg-type]
        assert a.rendered.text == b.rendered.text and a.labels.tolist() == b.labels.tolist()
        eos = [[r.text[s.start : s.end] for s in r.spans if s.kind == "eos"] for r in (a.rendered, b.rendered)]
        assert eos[0] == eos[1] == ["<|im_end|>", "<|im_end|>"]


# --- {% generation %} templates: it labels equal transformers' assistant mask ------------------

TRAINING = {
    "llama-3": "llama3_training.jinja",
    "qwen2.5": "qwen2_5_training.jinja",
    "qwen3": "qwen3_training.jinja",
    "gemma": "gemma_training.jinja",
    "gemma3": "gemma3_training.jinja",
    "phi-3": "phi3_training.jinja",
    "phi-3.5": "phi3_5_training.jinja",
    "deepseek-r1-distill": "deepseek_r1_distill_training.jinja",
}

# template text trl's training templates put inside {% generation %}: imdata masks it (it is the
# template's, not the conversation's), transformers trains it. Counted, and said in the matrix.
TEMPLATE_IN_GENERATION = {"deepseek-r1-distill": {"<｜Assistant｜>"}, "qwen3": {"<think>", "</think>"}}


@pytest.mark.parametrize("name", NAMES)
def test_it_labels_equal_transformers_assistant_mask(name: str, tmp_path: Path, conversations: list[Example]) -> None:
    """IT parity: where TRL ships a ``{% generation %}`` variant of the template, imdata's ``it``
    labels equal ``apply_chat_template(..., return_assistant_tokens_mask=True)`` token for token,
    except whitespace-only template tokens right after an end marker (the ``\\n`` in
    ``<end_of_turn>\\n``), which imdata masks by design; those are counted here."""
    if name not in TRAINING:
        pytest.skip(f"{name}: no {{% generation %}} variant of this template ships with trl")
    transformers = pytest.importorskip("transformers")
    row, _, tok = _setup(name, tmp_path)
    import trl

    source = (Path(trl.__file__).parent / "chat_templates" / TRAINING[name]).read_text(encoding="utf-8")
    (tmp_path / "training.jinja").write_text(source, encoding="utf-8")
    hf = transformers.PreTrainedTokenizerFast(
        tokenizer_file=str(tmp_path / name / "tokenizer.json"), bos_token=row["bos"], eos_token=row["eos"]
    )
    hf.chat_template = source
    tmpl = get_template(str(tmp_path / "training.jinja"), eos=tok.eos, bos=tok.bos)
    compared = whitespace_only = headers = 0
    for ex in conversations:
        msgs = [m.to_dict() for m in ex.messages]
        try:
            out = hf.apply_chat_template(msgs, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
        except Exception:  # the template refuses (e.g. a system message): imdata must too
            with pytest.raises(TemplateError):
                tmpl.render(ex)
            continue
        (tz,) = tokenize_examples([ex], tmpl, tok, mode="it")  # type: ignore[arg-type]
        real = np.asarray(tz.encoding.special_tokens_mask, dtype=bool) == 0
        ids = tz.input_ids[real]
        assert ids.tolist() == list(out["input_ids"]), (name, ex.id)
        ours = tz.labels[real] != IGNORE_INDEX
        theirs = np.asarray(out["assistant_masks"], dtype=bool)
        for i in np.flatnonzero(ours != theirs):
            s, e = tz.offsets[real][i]
            piece = tz.rendered.text[s:e]
            assert theirs[i] and not ours[i], (name, ex.id, piece, bool(ours[i]))
            if piece.strip():
                assert piece in TEMPLATE_IN_GENERATION.get(name, set()), (name, ex.id, piece)
                headers += 1
            else:
                whitespace_only += 1
        compared += int(real.sum())
    assert compared > 1000
    print(f"parity tokens={compared} whitespace={whitespace_only} other={headers}")
