"""Per-message training flags (axolotl's ``weight: 0`` / ``train: false``) are kept and respected."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import shared

from imdata.cli import main
from imdata.data.dataset import load
from imdata.labels.labelling import IGNORE_INDEX, tokenize_examples
from imdata.labels.tokens import load_tokenizer
from imdata.templates.builtin import get_template

TURNS = [
    {"role": "user", "content": "Name a prime."},
    {"role": "assistant", "content": "Nine is prime.", "weight": 0},
    {"role": "user", "content": "Are you sure?"},
    {"role": "assistant", "content": "No: seven is prime."},
]


@pytest.fixture
def chat(tmp_path: Path) -> Path:
    p = tmp_path / "chat.jsonl"
    rows = [
        {"id": "w", "messages": TURNS},
        {"id": "plain", "messages": [{k: v for k, v in t.items() if k != "weight"} for t in TURNS]},
    ]
    p.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return p


@pytest.mark.parametrize("mode", ["it", "im", "all"])
def test_weight_zero_turn_carries_no_loss(chat: Path, mode: str) -> None:
    tok = load_tokenizer(str(shared("tokenizers/llama2/tokenizer.json")))
    tmpl = get_template("tulu", eos=tok.eos, bos=tok.bos)
    ds = load(str(chat))
    assert ds.examples[0].messages[1].trained is False and ds.examples[0].untrained_turns == {1}
    weighted, plain = list(tokenize_examples(ds.examples, tmpl, tok, mode=mode))  # type: ignore[arg-type]
    assert weighted.input_ids.tolist() == plain.input_ids.tolist()
    text = weighted.rendered.text
    turn1 = [s for s in weighted.rendered.spans if s.turn == 1 and s.kind != "template"]
    lo, hi = turn1[0].start, turn1[-1].end
    off = weighted.offsets
    inside = (off[:, 0] >= lo) & (off[:, 1] <= hi) & (off[:, 1] > off[:, 0])
    assert inside.any() and "Nine is prime." in text[lo:hi]
    assert (weighted.labels[inside] == IGNORE_INDEX).all()
    assert (plain.labels[inside] != IGNORE_INDEX).all()
    # every other token is labelled exactly as without the flag
    assert (weighted.labels[~inside] == plain.labels[~inside]).all()


def test_spans_and_axolotl_exports_say_so(chat: Path, tmp_path: Path) -> None:
    out = tmp_path / "s.jsonl"
    res = CliRunner().invoke(main, ["spans", str(chat), "-o", str(out)])
    assert res.exit_code == 0, res.output
    row = json.loads(out.read_text(encoding="utf-8").splitlines()[0])
    off = [s for s in row["spans"] if s.get("trained") is False]
    assert off and {s["turn"] for s in off} == {1} and {s["kind"] for s in off} <= {"output", "eos"}
    ax = tmp_path / "a.jsonl"
    assert CliRunner().invoke(main, ["spans", str(chat), "--to", "axolotl", "-o", str(ax)]).exit_code == 0
    segs = json.loads(ax.read_text(encoding="utf-8").splitlines()[0])["segments"]
    assert not any(s["label"] and "Nine is prime." in s["text"] for s in segs)
    assert any(s["label"] and "seven is prime." in s["text"] for s in segs)


def test_flags_survive_a_subset(chat: Path, tmp_path: Path) -> None:
    out = tmp_path / "sub.jsonl"
    assert CliRunner().invoke(main, ["subset", str(chat), "--n", "2", "-o", str(out)]).exit_code == 0
    again = load(str(out))
    assert again.examples[0].messages[1].extra == {"weight": 0}
    canon = tmp_path / "canon.jsonl"
    assert (
        CliRunner().invoke(main, ["subset", str(chat), "--n", "2", "--to", "messages", "-o", str(canon)]).exit_code == 0
    )
    assert load(str(canon)).examples[0].untrained_turns == {1}


@pytest.mark.parametrize("max_length", [None, 20])
def test_profile_trained_counts_leave_out_untrained_turns(chat: Path, max_length: int | None) -> None:
    """profile's 'tokens each mode trains' are the labels spans writes, weight 0 included."""
    from imdata.profiling.profiler import profile

    tokenizer = str(shared("tokenizers/llama2/tokenizer.json"))
    rep = profile([str(chat)], tokenizer=tokenizer, max_length=max_length)
    rows = {r["id"]: r for r in rep.examples.to_dicts()}
    tok = load_tokenizer(tokenizer)
    tmpl = get_template("tulu", eos=tok.eos, bos=tok.bos)
    examples = load(str(chat)).examples
    for mode in ("it", "im"):
        for tz in tokenize_examples(examples, tmpl, tok, mode=mode):
            keep = tz.labels != IGNORE_INDEX
            assert rows[tz.example.id][f"trained_{mode}"] == int(keep.sum()), (mode, tz.example.id)
            if max_length is not None:
                assert rows[tz.example.id][f"lost_{mode}"] == int(keep[max_length:].sum()), (mode, tz.example.id)
    # the untrained answer is real output: lengths count it, the loss does not
    assert rows["w"]["output"] == rows["plain"]["output"]
    assert rows["w"]["trained_it"] < rows["plain"]["trained_it"]
    assert rows["w"]["trained_im"] < rows["plain"]["trained_im"]


@pytest.mark.parametrize("unit", ["words", "chars"])
def test_profile_in_words_and_characters_leaves_out_untrained_turns(chat: Path, unit: str) -> None:
    from imdata.profiling.profiler import profile

    rows = {r["id"]: r for r in profile([str(chat)], unit=unit).examples.to_dicts()}  # type: ignore[arg-type]
    w, plain = rows["w"], rows["plain"]
    # "Nine is prime." and its EOS span ("</s>" and the newline after it, a word that began in
    # the answer) are the only difference between the two
    dropped = 3 if unit == "words" else len("Nine is prime.") + len("</s>\n")
    assert plain["trained_it"] - w["trained_it"] == dropped
    assert plain["trained_im"] - w["trained_im"] == dropped
    assert w["output"] == plain["output"]


def test_card_token_figures_leave_out_untrained_turns(chat: Path) -> None:
    """The card's trained tokens and truncation losses are profile's, weight 0 included."""
    from imdata.profiling.profiler import profile
    from imdata.reports.dataset_card import card

    tokenizer = str(shared("tokenizers/llama2/tokenizer.json"))
    c = card(str(chat), tokenizer=tokenizer, max_lengths=[20])
    assert c.tokens is not None
    prof = profile([str(chat)], tokenizer=tokenizer, max_length=20)
    cols = ["id", "trained_it", "trained_im"]
    assert c.tokens.examples.select(cols).sort("id").to_dicts() == prof.examples.select(cols).sort("id").to_dicts()
    rows = {r["id"]: r for r in prof.examples.to_dicts()}
    assert rows["w"]["trained_it"] < rows["plain"]["trained_it"]
    (cut,) = c.truncation
    lost = [sum(r[f"lost_{m}"] for r in rows.values()) for m in ("it", "im")]
    assert [cut.lost_it, cut.lost_im] == lost
