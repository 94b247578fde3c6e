"""BLEU parity with sacrebleu, verbatim overlap, the parallel scorer and the nearest search."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from conftest import shared
from hypothesis import given, settings
from hypothesis import strategies as st
from sacrebleu.metrics.bleu import BLEU

from imdata.memorisation.bleu import corpus_bleu, exact_match, longest_overlap, score_pairs, sentence_bleu, signatures
from imdata.memorisation.memorization import memorize, paired_bootstrap
from imdata.memorisation.nearest import nearest

WORDS = st.lists(st.sampled_from(["a", "b", "c", "d", "the", "cat", "."]), max_size=30)


def _lcs_words(a: str, b: str) -> int:
    x, y = a.split(), b.split()
    best = 0
    prev = [0] * (len(y) + 1)
    for i in range(1, len(x) + 1):
        cur = [0] * (len(y) + 1)
        for j in range(1, len(y) + 1):
            if x[i - 1] == y[j - 1]:
                cur[j] = prev[j - 1] + 1
                best = max(best, cur[j])
        prev = cur
    return best


@given(WORDS, WORDS)
@settings(max_examples=300, deadline=None)
def test_longest_overlap_equals_dynamic_programming(a: list[str], b: list[str]) -> None:
    assert longest_overlap(" ".join(a), " ".join(b)) == _lcs_words(" ".join(a), " ".join(b))


def test_overlap_and_exact_match_examples() -> None:
    assert longest_overlap("the cat sat on the mat", "a cat sat on a mat") == 3
    assert longest_overlap("", "anything") == 0
    assert exact_match("Hello,\n world ", "Hello, world")
    assert not exact_match("Hello world", "hello world")


def test_signatures_name_sacrebleu_settings() -> None:
    sig = signatures()
    assert sig.sentence.startswith("nrefs:1|case:mixed|eff:yes|tok:13a|smooth:exp|version:")
    assert "eff:no" in sig.corpus


@given(WORDS, WORDS)
@settings(max_examples=100, deadline=None)
def test_nearest_is_brute_force_max_on_small_corpora(a: list[str], b: list[str]) -> None:
    rng = random.Random(len(a) * 31 + len(b))
    vocab = ["a", "b", "c", "d", "the", "cat", "."]
    refs = [" ".join(rng.choice(vocab) for _ in range(rng.randint(0, 12))) for _ in range(25)]
    refs += [" ".join(b)]
    outs = [" ".join(a), " ".join(b[:5])]
    res = nearest(outs, refs)
    for i, out in enumerate(outs):
        scores = [sentence_bleu(out, r) for r in refs]
        assert res.bleu[i] == max(scores)
        if max(scores) > 0:
            assert res.index[i] == scores.index(max(scores))


def _alpaca_eval(name: str) -> list[dict[str, str]]:
    data: list[dict[str, str]] = json.loads(shared(f"outputs/alpaca_eval/{name}.json").read_text())
    return data


def test_every_pair_and_corpus_bleu_equal_sacrebleu_on_real_outputs() -> None:
    train = shared("outputs/alpaca_eval/text_davinci_003.json")
    rep = memorize(str(train), [str(shared("outputs/alpaca_eval/alpaca-7b.json"))], match="instruction")
    frame = rep.runs[0].pairs_frame
    assert len(frame) == 805
    sent = BLEU(effective_order=True)
    for row in frame.iter_rows(named=True):
        assert row["bleu"] == sent.sentence_score(row["output"], [row["reference"]]).score
    expected = BLEU().corpus_score(frame["output"].to_list(), [frame["reference"].to_list()]).score
    assert rep.runs[0].corpus_bleu == expected
    assert rep.runs[0].bleu.mean == pytest.approx(float(np.mean(frame["bleu"].to_numpy())))


def test_parallel_scoring_is_identical_and_in_order() -> None:
    hyps = [r["output"] for r in _alpaca_eval("vicuna-7b")][:500]
    refs = [r["output"] for r in _alpaca_eval("text_davinci_003")][:500]
    one = score_pairs(hyps, refs, workers=1)
    two = score_pairs(hyps, refs, workers=2)
    assert one == two
    assert one.bleu[:20] == tuple(sentence_bleu(h, r) for h, r in zip(hyps[:20], refs[:20], strict=True))
    assert corpus_bleu(hyps, refs) == BLEU().corpus_score(hyps, [refs]).score


@pytest.mark.slow
def test_nearest_equals_brute_force_max_on_real_sample() -> None:
    refs = [r["output"] for r in json.loads(shared("code_alpaca/code_alpaca_2k.json").read_text())]
    refs += [r["output"] for r in json.loads(shared("alpagasus/claude_t45.json").read_text())][:1500]
    outs = [r["output"] for r in _alpaca_eval("alpaca-7b")]
    sample = random.Random(5).sample(range(len(outs)), 5)
    res = nearest([outs[i] for i in sample], refs)
    assert res.scored < 5 * len(refs) // 20  # a small share of all pairs is scored exactly
    sent = BLEU(effective_order=True)
    for k, i in enumerate(sample):
        scores = [sent.sentence_score(outs[i], [r]).score for r in refs]
        assert res.bleu[k] == max(scores)
        assert res.index[k] == scores.index(max(scores))


def test_paired_bootstrap_is_seeded_and_brackets_the_difference() -> None:
    rng = np.random.default_rng(3)
    a = rng.uniform(0, 40, 300)
    b = a - 2 + rng.normal(0, 3, 300)
    lo, hi = paired_bootstrap(a, b, n=500, seed=7)
    assert (lo, hi) == paired_bootstrap(a, b, n=500, seed=7)
    assert lo < float(np.mean(b - a)) < hi < 0
