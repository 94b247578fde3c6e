from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import shared
from hypothesis import given, settings
from hypothesis import strategies as st

from imdata.cli import main
from imdata.data.records import Example, Message
from imdata.errors import OptionError
from imdata.selection.overlaps import normalise, overlap, shingles

TEXTS = [
    (
        "Give three tips for staying healthy.",
        "Eat a balanced diet, exercise regularly and sleep well every night.",
    ),
    (
        "Translate the sentence into French: the cat sleeps on the warm mat.",
        "Le chat dort sur le tapis chaud.",
    ),
    (
        "Write a haiku about the autumn wind in the mountains.",
        "Cold wind on the peaks, leaves fall in the valley.",
    ),
    (
        "Explain why the sky looks blue during the day.",
        "Sunlight is scattered by air molecules, blue the most.",
    ),
]


def ex(i: str, instr: str, out: str, context: str = "") -> Example:
    return Example(i, (Message("user", instr, context), Message("assistant", out)))


def test_normalise() -> None:
    assert normalise("  Hello,   World!\nIt's  me. ") == "hello world it s me"
    assert sorted(shingles("a b c d", 3)) == [("a", "b", "c"), ("b", "c", "d")]
    assert shingles("a b", 3) == frozenset([("a", "b")])


def test_exact_after_normalisation() -> None:
    b = [ex(f"b{i}", s, o) for i, (s, o) in enumerate(TEXTS)]
    a = [
        ex("a0", TEXTS[2][0].upper() + "  ", TEXTS[2][1].replace(",", " ;")),
        ex("a1", "Something else entirely here.", "no"),
    ]
    rep = overlap(a, b)
    assert (rep.matched, rep.exact, rep.near, rep.examples) == (1, 1, 0, 2)
    assert rep.pairs[0].to_dict() == {
        "a": "a0",
        "b": "b2",
        "b_input": "examples",
        "kind": "exact",
        "score": 1.0,
        "instruction": 1.0,
        "output": 1.0,
    }


@pytest.mark.parametrize(
    "wrap",
    [
        "Instruction: {}\n",
        "Plase answer the following request: {}\nAnswer:",
        "{} Output:",
        "Below is an instruction. Read it carefully.\n\n{}\n\n",
    ],
)
def test_containment_sees_through_wrappers(wrap: str) -> None:
    b = [ex(f"b{i}", s, o) for i, (s, o) in enumerate(TEXTS)]
    a = [ex(f"a{i}", wrap.format(s), o) for i, (s, o) in enumerate(TEXTS)]
    rep = overlap(a, b)
    assert rep.matched == len(TEXTS)
    assert [(p.a[1:], p.b[1:]) for p in rep.pairs] == [(str(i), str(i)) for i in range(len(TEXTS))]
    # the other direction too: B wrapped, A plain
    assert overlap(b, a).matched == len(TEXTS)


def test_label_between_instruction_and_input_breaks_nothing() -> None:
    b = [
        ex(
            "b",
            "Convert kilometers to miles given the following distance.",
            "27.96 miles",
            context="45 kilometers",
        )
    ]
    a = [
        ex(
            "a",
            "Instruction:Convert kilometers to miles given the following distance.\n\nInput: 45 kilometers\n\n",
            "27.96 miles",
        )
    ]
    assert overlap(a, b).matched == 1


def test_shared_passage_different_answer_is_not_a_match() -> None:
    passage = " ".join(f"word{i}" for i in range(80))
    b = [ex("b", "Who is mentioned first?", "Alice is mentioned first in the text.", context=passage)]
    a = [ex("a", "What year is it about?", "It is about the year 1999, clearly.", context=passage)]
    assert overlap(a, b).matched == 0
    assert overlap(a, b, fields=["instruction"]).matched == 1


def test_no_all_pairs() -> None:
    b = [
        ex(
            f"b{i}",
            f"question number {i} about topic {i * 7} please",
            f"answer {i} is {i * 3} units",
        )
        for i in range(300)
    ]
    a = [
        ex(
            f"a{i}",
            f"question number {i} about topic {i * 7} please",
            f"answer {i} is {i * 3} units",
        )
        for i in range(0, 300, 3)
    ]
    rep = overlap(a, b)
    assert rep.matched == 100 and rep.exact == 100
    assert rep.candidates_scored < rep.naive_pairs / 20


@settings(max_examples=25, deadline=None)
@given(st.lists(st.text(alphabet="abcdefg ", min_size=1, max_size=60), min_size=1, max_size=15))
def test_every_example_finds_itself(texts: list[str]) -> None:
    data = [ex(f"x{i}", t, t[::-1] or "x") for i, t in enumerate(texts)]
    usable = [d for d in data if normalise(d.messages[0].content) and normalise(d.messages[1].content)]
    rep = overlap(usable, usable) if usable else None
    if rep is not None:
        assert rep.matched == len(usable)
        assert json.loads(json.dumps(rep.to_dict()))["examples"] == len(usable)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threshold": 0}, "threshold"),
        ({"threshold": 1.5}, "threshold"),
        ({"ngram": 0}, "at least 1"),
        ({"fields": ["prompt"]}, "choose from"),
    ],
)
def test_bad_options(kwargs: dict, message: str) -> None:
    data = [ex("a", "x y z", "w")]
    with pytest.raises(OptionError, match=message):
        overlap(data, data, **kwargs)


def write(path: Path, rows: list[dict]) -> str:
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return str(path)


def test_cli_json_and_table(tmp_path: Path) -> None:
    b = write(
        tmp_path / "b.jsonl",
        [
            {
                "id": f"b{i}",
                "messages": [{"role": "user", "content": s}, {"role": "assistant", "content": o}],
            }
            for i, (s, o) in enumerate(TEXTS)
        ],
    )
    a = write(
        tmp_path / "a.jsonl",
        [
            {
                "id": "a0",
                "messages": [
                    {"role": "user", "content": "Instruction: " + TEXTS[1][0]},
                    {"role": "assistant", "content": TEXTS[1][1]},
                ],
            },
            {
                "id": "a1",
                "messages": [
                    {"role": "user", "content": "Nothing like the others at all"},
                    {"role": "assistant", "content": "indeed not"},
                ],
            },
        ],
    )
    res = CliRunner().invoke(main, ["overlap", a, b, "--format", "json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert (out["matched"], out["examples"]) == (1, 2)
    assert out["pairs"][0]["a"] == "a0" and out["pairs"][0]["b"] == "b1"
    assert list(out) == sorted(out)
    assert "1 of 2 examples" in res.stderr
    table = CliRunner().invoke(main, ["overlap", a, b])
    assert table.exit_code == 0 and table.stdout.splitlines()[0].split()[:3] == [
        "a",
        "examples",
        "matched",
    ]
    csv = CliRunner().invoke(main, ["overlap", a, b, "--format", "csv"])
    assert csv.stdout.splitlines()[0] == "a,b,b_input,kind,score,instruction,output"
    bad = CliRunner().invoke(main, ["overlap", a, b, "--threshold", "2"])
    assert bad.exit_code == 2


@pytest.mark.slow
def test_real_reformatted_copies_are_found() -> None:
    import imdata

    wrapped = imdata.load(str(shared("instruction_modelling/alpagasus_claude_t45_alpaca.jsonl")))
    plain = imdata.load(str(shared("alpagasus/claude_t45.json")))
    rep = overlap(wrapped, plain)
    assert rep.matched == rep.examples == 5305 and rep.b_matched == 5305
    assert rep.near > 3000  # the wrappers make most of them inexact
    pos = {e.id: i for i, e in enumerate(plain.examples)}
    best = {}
    for p in rep.pairs:
        best.setdefault(p.a, p.b)
    assert all(pos[b] == int(a.rsplit("_", 1)[1]) for a, b in best.items())  # same rows, same order
