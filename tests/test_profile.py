"""imdata.profile: paper parity (Table 5), token counts against direct encoding, the fast
per-span counter against the reference rule, summaries, and bad input."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from conftest import EXAMPLES, SHARED, shared
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from imdata.data.dataset import SkipLog, load
from imdata.data.records import Example, Message
from imdata.errors import ImdataError, OptionError, TokenizerError
from imdata.labels.labelling import KIND_CODE, token_kinds
from imdata.labels.tokens import TokenizerInfo, load_tokenizer
from imdata.profiling.profiler import COLUMNS, profile, span_token_counts, word_kind_counts
from imdata.profiling.summary import summarise
from imdata.templates.builtin import get_template

PAPER_NAMES = {
    "LIMA": "lima_data",
    "Alpagasus Dolly 3k": "alpagasus_3k_dolly",
    "Alpagasus Alpaca 5k": "alpagasus_claude_t45_alpaca",
}


def table5() -> dict[str, dict[str, str]]:
    path = SHARED.parent / "paper" / "table5.csv"
    if not path.exists():
        pytest.skip(f"paper table not available: {path}")
    with path.open(encoding="utf-8") as fh:
        return {row["dataset"]: row for row in csv.DictReader(fh)}


# --- parity with the paper ------------------------------------------------------------------


@pytest.fixture(scope="module")
def paper_report() -> object:
    files = [shared(f"instruction_modelling/{n}.jsonl") for n in PAPER_NAMES.values()]
    return profile(files)


def test_table5_words_exactly(paper_report: object) -> None:
    expected = table5()
    got = {d.name: d for d in paper_report.datasets}  # type: ignore[attr-defined]
    for paper_name, name in PAPER_NAMES.items():
        row, d = expected[paper_name], got[name]
        assert d.unit == "words"
        assert d.examples == int(row["size"])
        printed = {
            "total_mean": d.total.mean, "output_mean": d.output.mean, "output_sd": d.output.sd,
            "instruction_mean": d.instruction.mean, "instruction_sd": d.instruction.sd,
        }  # fmt: skip
        for col, value in printed.items():
            assert f"{value:.2f}" == row[col], (paper_name, col, value)
        # the ratios are printed with up to 4 decimals (trailing zeros dropped)
        assert round(d.ratio, 4) == float(row["instruction_over_output"]), paper_name
        assert round(1 / d.ratio, 4) == float(row["output_over_instruction"]), paper_name


def test_alpaca_5k_keeps_empty_outputs_and_says_so(paper_report: object) -> None:
    d = {d.name: d for d in paper_report.datasets}["alpagasus_claude_t45_alpaca"]  # type: ignore[attr-defined]
    assert dict(d.warnings) == {"empty-output": 4}
    assert d.to_dict()["warnings"] == {"total": 4, "reasons": {"empty-output": 4}}
    assert "kept 4 records with warnings (empty-output 4)" in paper_report.render("table")  # type: ignore[attr-defined]
    assert d.output_empty == 4 and d.quality["empty_outputs"] == 4 and d.quality["empty_turns"] == {"empty-output": 4}  # type: ignore[attr-defined]


def test_trained_words_follow_the_word_kinds(paper_report: object) -> None:
    frame = paper_report.examples  # type: ignore[attr-defined]
    assert frame.columns == list(COLUMNS)
    # IM trains the instruction words too, never fewer than IT; template words are never trained
    assert (frame["trained_im"] >= frame["trained_it"]).all()
    assert (frame["trained_im"] + frame["template"] <= frame["total"] + frame["turns"]).all()


@pytest.mark.slow
def test_token_counts_match_direct_encoding(paper_files: list[Path], llama2_tokenizer: Path) -> None:
    from tokenizers import Tokenizer

    report = profile(paper_files, tokenizer=str(llama2_tokenizer))
    assert report.unit == "tokens"
    raw = Tokenizer.from_file(str(llama2_tokenizer))
    tpl = get_template("tulu", eos="</s>")
    frame = report.examples
    for path, d in zip(paper_files, report.datasets, strict=True):
        rows = frame.filter(pl.col("dataset") == d.name)
        examples = load(str(path)).examples
        rendered = [tpl.render(ex) for ex in examples]
        encs = raw.encode_batch([r.text for r in rendered], add_special_tokens=True)
        expect: dict[str, list[int]] = {k: [] for k in ("instruction", "output", "template", "total", "im")}
        for r, enc in zip(rendered, encs, strict=True):
            per = dict.fromkeys(KIND_CODE, 0)
            for (start, _), special in zip(enc.offsets, enc.special_tokens_mask, strict=True):
                if special:
                    continue
                span = next(s for s in r.spans if s.start <= start < s.end or s is r.spans[-1])
                per[span.kind] += 1
            expect["instruction"].append(per["system"] + per["instruction"])
            expect["output"].append(per["output"] + per["eos"])
            expect["template"].append(per["template"])
            expect["total"].append(len(enc.ids))
            expect["im"].append(per["system"] + per["instruction"] + per["output"] + per["eos"])
        assert rows["id"].to_list() == [ex.id for ex in examples]
        for col in ("instruction", "output", "template", "total"):
            assert rows[col].to_list() == expect[col], (d.name, col)
        assert rows["trained_it"].to_list() == expect["output"]
        assert rows["trained_im"].to_list() == expect["im"]
        assert d.trained_it == sum(expect["output"])


# --- the fast per-span counter ------------------------------------------------------------------

texts = st.lists(st.sampled_from(list("ab ,.\n\t") + ["é", "😀", "中", "  ", "</s>", "hello"]), max_size=15).map(
    "".join
)
conversations = st.lists(st.tuples(texts, texts), min_size=1, max_size=3)


def _reference(rendered: object, enc: object, max_length: int | None) -> tuple[list[int], list[int]]:
    kinds = token_kinds(rendered, enc).astype(np.int64)  # type: ignore[arg-type]
    counts = np.bincount(kinds[kinds >= 0], minlength=len(KIND_CODE)).tolist()
    tail = kinds[max_length:] if max_length is not None else kinds[:0]
    return counts, np.bincount(tail[tail >= 0], minlength=len(KIND_CODE)).tolist()


@settings(max_examples=150, deadline=None)
@given(
    conv=conversations,
    system=texts,
    template=st.sampled_from(["tulu", "alpaca", "chatml", "llama2"]),
    max_length=st.one_of(st.none(), st.integers(1, 40)),
)
def test_span_counts_equal_token_kinds(
    conv: list[tuple[str, str]], system: str, template: str, max_length: int | None
) -> None:
    tok = _llama2()
    msgs = ([Message("system", system)] if system.strip() else []) + [
        Message(role, text)
        for u, a in conv
        for role, text in (("user", u), ("assistant", a))  # type: ignore[misc]
    ]
    r = get_template(template, eos=tok.eos, bos=tok.bos).render(Example("x", tuple(msgs)))
    enc = tok.encode_batch([r.text])[0]
    assert span_token_counts(r, enc, max_length) == _reference(r, enc, max_length)


_LLAMA2: list[TokenizerInfo] = []


def _llama2() -> TokenizerInfo:
    if not _LLAMA2:
        _LLAMA2.append(load_tokenizer(str(shared("tokenizers/llama2/tokenizer.json"))))
    return _LLAMA2[0]


def test_span_counts_fall_back_where_characters_have_no_token() -> None:
    # a word-level tokenizer drops whitespace: a span starting on "\n" maps to no token
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"[UNK]": 0, "</s>": 1}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    r = get_template("tulu").render(Example.from_pairs("x", [("user", "hi there"), ("assistant", "yo  you")]))
    enc = tok.encode(r.text)
    assert span_token_counts(r, enc, 3) == _reference(r, enc, 3)


@settings(max_examples=100, deadline=None)
@given(conv=conversations, template=st.sampled_from(["tulu", "alpaca", "vicuna"]))
def test_word_kinds_follow_the_first_character(conv: list[tuple[str, str]], template: str) -> None:
    msgs = tuple(Message(role, t) for u, a in conv for role, t in (("user", u), ("assistant", a)))  # type: ignore[misc]
    r = get_template(template).render(Example("x", msgs))
    ends = np.array([s.end for s in r.spans])
    expect = [0] * len(KIND_CODE)
    import re

    for m in re.finditer(r"\S+", r.text):
        span = r.spans[int(np.searchsorted(ends, m.start(), side="right"))]
        expect[KIND_CODE[span.kind]] += 1
    assert word_kind_counts(r) == expect
    assert sum(expect) == len(r.text.split())


# --- summaries ------------------------------------------------------------------------------------


def test_summary_statistics_by_hand() -> None:
    frame = pl.DataFrame({
        "dataset": ["d"] * 4, "id": list("abcd"), "turns": [2, 2, 2, 4],
        "instruction": [1, 2, 3, 10], "output": [2, 2, 0, 4], "template": [1, 1, 1, 2],
        "total": [3, 4, 3, 14], "ratio": [0.5, 1.0, None, 2.5],
        "trained_it": [2, 2, 0, 4], "trained_im": [3, 4, 3, 14],
        "truncated": [0, 0, 0, 4], "lost_it": [0, 0, 0, 3], "lost_im": [0, 0, 0, 4],
    })  # fmt: skip
    d = summarise(
        frame,
        name="d",
        path="d.jsonl",
        fingerprint="f",
        format="messages",
        unit="tokens",
        log=SkipLog(),
        max_length=10,
    )
    assert d.instruction.mean == 4.0
    assert math.isclose(d.instruction.sd, math.sqrt(((1 - 4) ** 2 + 4 + 1 + 36) / 4))  # population sd
    assert d.instruction.median == 2.5
    assert math.isclose(d.instruction.p90, 3 + 0.7 * 7)  # linear between the 3rd and 4th values
    assert d.instruction.max == 10
    assert d.ratio == 4.0 / 2.0  # ratio of the means
    assert d.median_ratio == 1.0  # over the three examples with an output
    assert d.output_empty == 1
    assert (d.trained_it, d.trained_im, d.im_over_it) == (8, 24, 3.0)
    assert (d.truncated, d.truncated_tokens, d.lost_it, d.lost_im) == (1, 4, 3, 4)


def test_json_shape_is_stable() -> None:
    report = profile(EXAMPLES / "tiny_chat.jsonl")
    doc = json.loads(report.to_json())
    (d,) = doc["datasets"]
    assert {"name", "examples", "unit", "instruction", "output", "total", "ratio", "median_ratio",
            "trained", "truncation", "skipped", "warnings"} <= set(d)  # fmt: skip
    assert set(d["instruction"]) == {"mean", "sd", "median", "p90", "p99", "max", "sum"}
    assert d["name"] == "tiny_chat" and d["unit"] == "words" and d["truncation"] is None
    assert report.to_json() == profile(EXAMPLES / "tiny_chat.jsonl").to_json()  # same input, same bytes
    text = report.to_json()
    assert text == json.dumps(json.loads(text), sort_keys=True, indent=2, ensure_ascii=False)


def test_streamed_path_equals_loaded_dataset() -> None:
    path = EXAMPLES / "tiny_chat.jsonl"
    a, b = profile(path, unit="chars"), profile(load(str(path)), unit="chars")
    assert_frame_equal(a.examples, b.examples)
    assert a.datasets == b.datasets


def test_chars_unit_adds_up() -> None:
    report = profile(EXAMPLES / "tiny_alpaca.json", unit="chars", template="alpaca")
    f = report.examples
    assert (f["instruction"] + f["output"] + f["template"] == f["total"]).all()
    assert (f["trained_it"] == f["output"]).all()
    assert (f["trained_im"] == f["instruction"] + f["output"]).all()


def test_skipped_records_are_counted_in_the_report(tmp_path: Path) -> None:
    src = tmp_path / "mixed.jsonl"
    good = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}
    src.write_text(
        json.dumps(good) + "\n{not json\n" + json.dumps({**good, "id": "b"}) + "\n",
        encoding="utf-8",
    )
    with pytest.raises(ImdataError, match="line 2"):
        profile(src, on_error="raise")
    report = profile(src)  # skip is the default
    (d,) = report.datasets
    assert d.examples == 2 and dict(d.skipped) == {"malformed-json": 1}
    assert json.loads(report.to_json())["datasets"][0]["skipped"] == {
        "total": 1,
        "reasons": {"malformed-json": 1},
    }
    assert "skipped 1 record (malformed-json 1); not profiled" in report.render("table")
    assert len(report.skip_logs[0].rejected) == 1


# --- bad input --------------------------------------------------------------------------------


def test_tokens_without_a_tokenizer() -> None:
    with pytest.raises(OptionError, match="--unit tokens needs a tokenizer"):
        profile(EXAMPLES / "tiny_chat.jsonl", unit="tokens")


def test_max_length_counts_tokens() -> None:
    with pytest.raises(OptionError, match="--max-length counts tokens"):
        profile(EXAMPLES / "tiny_chat.jsonl", max_length=10)


def test_tokenizer_that_cannot_load(tmp_path: Path) -> None:
    bad = tmp_path / "tokenizer.json"
    bad.write_text("{}", encoding="utf-8")
    with pytest.raises(TokenizerError, match="not a tokenizers"):
        profile(EXAMPLES / "tiny_chat.jsonl", tokenizer=str(bad))
    with pytest.raises(TokenizerError, match="no such tokenizer"):
        profile(EXAMPLES / "tiny_chat.jsonl", tokenizer=str(tmp_path / "missing.json"))


def test_empty_dataset(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(ImdataError, match="empty.jsonl: no usable examples; is the file empty"):
        profile(empty)


def test_names_must_match_and_differ() -> None:
    path = EXAMPLES / "tiny_chat.jsonl"
    with pytest.raises(OptionError, match="--name was given 1 times for 2 datasets"):
        profile([path, path], names=["a"])
    with pytest.raises(OptionError, match="two datasets are named 'tiny_chat'"):
        profile([path, path])
    report = profile([path, path], names=["a", "b"])
    assert [d.name for d in report.datasets] == ["a", "b"]


def test_progress_is_reported_per_dataset() -> None:
    calls: list[tuple[str, int]] = []
    report = profile(
        [EXAMPLES / "tiny_chat.jsonl", EXAMPLES / "tiny_alpaca.json"],
        on_progress=lambda name, done, total: calls.append((name, done)),
        batch_size=2,
    )
    sizes = {d.name: d.examples for d in report.datasets}
    assert calls[-1] == ("tiny_alpaca", sizes["tiny_alpaca"])
    assert ("tiny_chat", sizes["tiny_chat"]) in calls
    assert all(done <= sizes[name] for name, done in calls)
