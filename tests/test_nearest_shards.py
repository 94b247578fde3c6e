"""The streaming nearest search: sacrebleu's tokens, and the same winners as the in-memory index."""

from __future__ import annotations

import json
import random

import pytest
from conftest import shared
from hypothesis import given, settings
from hypothesis import strategies as st
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

from imdata.memorisation.bleu import sentence_bleu
from imdata.memorisation.nearest import nearest, words_13a
from imdata.memorisation.nearest_shards import shards, stream_nearest

# the characters sacrebleu's 13a rules treat specially, and their neighbours
PIECES = ["a", "B", "1", "9", ".", ",", "-", "-\n", "\n", " ", "\t", "(", "/", "'", "&amp;", "&quot;", "&lt;", "&"]
PIECES += ["<skipped>", "2.5", "..", ",-", "é", "x.", "$", "~", "_", "]", "@"]


@given(st.lists(st.sampled_from(PIECES), max_size=14))
@settings(max_examples=400, deadline=None)
def test_words_13a_are_sacrebleus_tokens(pieces: list[str]) -> None:
    text = "".join(pieces)
    assert words_13a(text) == Tokenizer13a()(text.rstrip()).split()


@pytest.mark.parametrize(
    "text",
    # lone marks (one split), and marks side by side (sacrebleu's two rules, in order)
    ["a.5", "5.a", "5,000.25", ".5", "5.", "a,b", "1.2.3", " , ", "x.,5", "5.,x", "a..5", "9,.9", "1...2,,3"],
)
def test_words_13a_around_periods_and_commas(text: str) -> None:
    assert words_13a(text) == Tokenizer13a()(text).split()


def test_words_13a_on_real_outputs() -> None:
    texts = [r["output"] for r in json.loads(shared("alpaca/alpaca_5000_pr152.json").read_text())]
    tok = Tokenizer13a()
    assert [words_13a(t) for t in texts] == [tok(t.rstrip()).split() for t in texts]


def test_no_training_output_means_no_nearest_on_either_index() -> None:
    for res in (nearest(["a b", ""], []), stream_nearest(["a b", ""], iter([]))):
        assert res.index.tolist() == [-1, -1] and res.bleu.tolist() == [0.0, 0.0] and res.scored == 0


def test_shards_cut_in_order_and_the_first_is_a_quarter() -> None:
    parts = list(shards((str(i) for i in range(23)), max_examples=8))
    assert [len(p) for p in parts] == [2, 8, 8, 5]
    assert [t for p in parts for t in p] == [str(i) for i in range(23)]
    assert [len(p) for p in shards(["abcd"] * 5, max_chars=8)] == [1, 2, 2]


def _drop_words(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    for _ in range(min(3, len(words) - 1)):
        del words[rng.randrange(len(words))]
    return " ".join(words)


@pytest.fixture(scope="module")
def corpus() -> tuple[list[str], list[str]]:
    """As the benchmark builds its 300k set, at a size CI affords: 2,000 real training outputs
    and two copies of them with three words dropped per copy; 200 AlpacaEval outputs."""
    base = [r["output"] for r in json.loads(shared("alpagasus/random_9k.json").read_text())][:1000]
    base += [r["output"] for r in json.loads(shared("alpagasus/dolly_3k.json").read_text())][:1000]
    rng = random.Random(1)
    refs = base + [_drop_words(t, rng) for _ in range(2) for t in base]
    outs = [
        r["output"]
        for n in ("alpaca-7b", "vicuna-7b")
        for r in json.loads(shared(f"outputs/alpaca_eval/{n}.json").read_text())
    ]
    return [outs[i] for i in random.Random(0).sample(range(len(outs)), 200)], refs


@pytest.mark.slow
def test_streaming_index_equals_in_memory_index_on_200_outputs(corpus: tuple[list[str], list[str]]) -> None:
    outs, refs = corpus
    before = nearest(outs, refs)
    # 1,000 references a shard: seven shards (the first of 250), searched by two processes
    now = stream_nearest(outs, iter(refs), workers=2, max_examples=1000)
    assert now.shards == 7 and now.references == len(refs)
    assert now.index.tolist() == before.index.tolist()
    assert now.bleu.tolist() == before.bleu.tolist()
    assert now.scored < len(outs) * len(refs) // 50


def test_streaming_index_is_brute_force_on_a_sample(corpus: tuple[list[str], list[str]]) -> None:
    outs, refs = corpus[0][:4], corpus[1][:1500]
    now = stream_nearest(outs, iter(refs), workers=1, max_examples=400)
    for k, out in enumerate(outs):
        scores = [sentence_bleu(out, r) for r in refs]
        assert now.bleu[k] == max(scores)
        assert now.index[k] == scores.index(max(scores))


def test_ties_go_to_the_earliest_reference_across_shards() -> None:
    refs = ["a b c", "x y z", "the cat sat", "q", "the cat sat", "the cat sat"]
    res = stream_nearest(["the cat sat"], iter(refs), workers=1, max_examples=2)
    assert res.index.tolist() == [2] and res.shards == 4
    assert stream_nearest(["nothing shared"], iter(refs), workers=1).index.tolist() == [-1]


# the instruction files the benchmark builds its training sets from (ShareGPT's first exchanges too)
_TRAIN_FILES = ["alpaca/alpaca_5000_pr152.json", "alpagasus/random_9k.json", "alpagasus/claude_t45.json",
                "alpagasus/dolly_3k.json", "alpagasus/helpfulness_t45.json", "code_alpaca/code_alpaca_2k.json",
                "code_alpaca/new_codealpaca.json"]  # fmt: skip


def _training_outputs(n: int) -> list[str]:
    """``n`` training outputs as bench_memorize_scale builds them: the shared files' outputs and
    ShareGPT's first answers, shuffled, then copies with three words dropped per copy."""
    import gzip

    base = [r["output"] for f in _TRAIN_FILES for r in json.loads(shared(f).read_text())]
    convs = json.loads(
        gzip.decompress(shared("sharegpt/sharegpt_v3_unfiltered_cleaned_split.first17671.json.gz").read_bytes())
    )
    for c in convs:
        t = c["conversations"]
        if (
            len(t) >= 2
            and t[0]["from"] == "human"
            and t[1]["from"] == "gpt"
            and t[0]["value"].strip()
            and t[1]["value"].strip()
        ):
            base.append(t[1]["value"])
    random.Random(0).shuffle(base)
    rng = random.Random(1)
    return [base[i] if i < len(base) else _drop_words(base[i % len(base)], rng) for i in range(n)]


@pytest.mark.slow
def test_streaming_index_equals_in_memory_index_at_300k(corpus: tuple[list[str], list[str]]) -> None:
    """The issue's scale: 300,000 training outputs, 200 AlpacaEval outputs, both indexes."""
    outs = corpus[0]
    refs = _training_outputs(300_000)
    before = nearest(outs, refs)
    now = stream_nearest(outs, iter(refs), workers=2)
    assert now.references == 300_000 and now.shards > 10
    assert now.index.tolist() == before.index.tolist()
    assert now.bleu.tolist() == before.bleu.tolist()
