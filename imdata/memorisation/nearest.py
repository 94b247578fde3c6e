"""For each model output, the training output of highest sentence BLEU, without scoring all pairs.

An inverted index maps each 1- to 4-gram of the training outputs (sacrebleu's 13a tokens) to
the examples holding it and how often. For one output, walking the postings of its own
n-grams gives every training example's clipped n-gram matches, hence sacrebleu's BLEU
statistics and an estimate of the score for all examples at once (vectorised, no pair
loop). The candidates are then scored exactly with sacrebleu in order of that estimate,
stopping once no remaining estimate can beat the best exact score. n-grams are hashed to
64 bits; a collision can only raise an estimate, so the search stays exact.

>>> res = nearest(["the cat sat on the mat"], ["a dog", "the cat sat on a mat", "cat"])
>>> int(res.index[0]), round(float(res.bleu[0]), 2)
(1, 53.73)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from imdata.memorisation.bleu import sentence_bleu

ORDER = 4
_MIX = np.uint64(0x9E3779B97F4A7C15)
#: references per block of :func:`estimate` (its temporaries stay under 100 KB)
_BLOCK = 3072
#: estimates are compared with exact scores with this relative slack for floating-point noise
_SLACK = 1e-9

IntArray = np.ndarray[Any, np.dtype[np.int64]]
FloatArray = np.ndarray[Any, np.dtype[np.float64]]
KeyArray = np.ndarray[Any, np.dtype[np.uint64]]


@dataclass(frozen=True)
class NearestResult:
    """Per output: the index of its nearest training output (-1: no shared word) and the BLEU."""

    index: IntArray
    bleu: FloatArray
    #: exact sacrebleu calls made, against ``len(outputs) * len(references)`` for all pairs
    scored: int


# sacrebleu's 13a tokenizer (``tokenizers/tokenizer_13a.py`` + ``tokenizer_re.py``), rewritten
# for speed with the same output: the first rule pads each punctuation mark with spaces; the
# space itself is in its class, but padding a space changes no split, so it is left out here
_PUNCT = re.compile(r"([\{-\~\[-\`!-\&\(-\+\:-\@\/])")  # one group: split keeps each mark
_DOT_AFTER = re.compile(r"[^0-9][\.,]")  # sub(r"([^0-9])([\.,])", r"\1 \2 "): x. -> x .
_DOT_BEFORE = re.compile(r"[\.,][^0-9]")  # sub(r"([\.,])([^0-9])", r" \1 \2"): .x ->  . x
_DASH = re.compile(r"([0-9])(-)")
# without two marks side by side, the two rules above split off exactly the marks not between
# two digits (no match can then consume a mark another match needs): one split, no callbacks
_MARK_RUN = re.compile(r"[\.,][\.,]")
_LONE_MARK = re.compile(r"([\.,](?:(?<![0-9].)|(?![0-9])))")  # the mark first: the engine scans for it


def words_13a(text: str) -> list[str]:
    """The tokens sacrebleu's BLEU counts n-grams over (13a, mixed case), as a list.

    >>> words_13a("Hello, world (2.5-3)!")
    ['Hello', ',', 'world', '(', '2.5', '-', '3', ')', '!']
    """
    line = text.rstrip().replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    if "&" in line:
        line = line.replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    line = " ".join(_PUNCT.split(f" {line} "))  # = _PUNCT.sub(r" \1 ", ...) up to runs of spaces
    if "." in line or "," in line:
        if _MARK_RUN.search(line) is None:
            line = " ".join(_LONE_MARK.split(line))
        else:  # a function is faster than a template with groups, which Python 3.11 expands in Python
            line = _DOT_BEFORE.sub(_space_around, _DOT_AFTER.sub(_space_after, line))
    if "-" in line:
        line = _DASH.sub(r"\1 \2 ", line)
    return line.split()


def _space_after(m: re.Match[str]) -> str:
    s = m[0]
    return f"{s[0]} {s[1]} "


def _space_around(m: re.Match[str]) -> str:
    s = m[0]
    return f" {s[0]} {s[1]}"


class _Vocab:
    def __init__(self) -> None:
        self._ids: dict[str, int] = {}

    def encode(self, text: str) -> KeyArray:
        words = words_13a(text)
        ids = self._ids
        return np.fromiter((ids.setdefault(w, len(ids) + 1) for w in words), np.uint64, len(words))


def _ngram_keys(ids: KeyArray, n: int) -> KeyArray:
    if len(ids) < n:
        return np.empty(0, np.uint64)
    keys = ids[: len(ids) - n + 1].copy()
    for j in range(1, n):
        keys = keys * _MIX + ids[j : len(ids) - n + 1 + j]  # wraps mod 2**64 by design
    return keys


class _Postings:
    """One n-gram order: sorted unique keys, and per key its (example, count) postings."""

    def __init__(self, texts: Sequence[KeyArray], n: int) -> None:
        per = [_ngram_keys(t, n) for t in texts]
        keys = np.concatenate(per) if per else np.empty(0, np.uint64)
        docs = np.repeat(np.arange(len(per), dtype=np.int64), [len(k) for k in per])
        order = np.lexsort((docs, keys))
        keys, docs = keys[order], docs[order]
        new = np.ones(len(keys), bool)
        new[1:] = (keys[1:] != keys[:-1]) | (docs[1:] != docs[:-1])
        starts = np.flatnonzero(new)
        self.counts = np.diff(np.append(starts, len(keys))).astype(np.float64)
        self.docs = docs[starts]
        pkeys = keys[starts]
        first = np.ones(len(pkeys), bool)
        first[1:] = pkeys[1:] != pkeys[:-1]
        self.key_start = np.flatnonzero(first)
        self.keys = pkeys[self.key_start]
        self.key_end = np.append(self.key_start[1:], len(pkeys))

    def matches(self, hyp: KeyArray, n_docs: int) -> FloatArray:
        """Clipped matches of ``hyp``'s n-grams against every example."""
        if len(hyp) == 0 or len(self.keys) == 0:
            return np.zeros(n_docs)
        hk, hc = np.unique(hyp, return_counts=True)
        pos = np.searchsorted(self.keys, hk)
        pos[pos == len(self.keys)] = 0
        hit = self.keys[pos] == hk
        pos, hc = pos[hit], hc[hit]
        if len(pos) == 0:
            return np.zeros(n_docs)
        lo, hi = self.key_start[pos], self.key_end[pos]
        lens = hi - lo
        offsets = np.repeat(lo - np.cumsum(lens) + lens, lens) + np.arange(lens.sum())
        clipped = np.minimum(self.counts[offsets], np.repeat(hc, lens).astype(np.float64))
        return np.bincount(self.docs[offsets], weights=clipped, minlength=n_docs).astype(np.float64)


def estimate(correct: FloatArray, hyp_len: int, ref_lens: FloatArray) -> FloatArray:
    """Sacrebleu's ``compute_bleu`` (exp smoothing, effective order), vectorised over references.

    ``correct`` is (references, 4) clipped matches; returns one score per reference.
    """
    n_refs = len(ref_lens)
    if hyp_len == 0:
        return np.zeros(n_refs)
    if n_refs > _BLOCK:  # in blocks: a temporary past malloc's mmap threshold costs page faults
        parts = [estimate(correct[i : i + _BLOCK], hyp_len, ref_lens[i : i + _BLOCK]) for i in range(0, n_refs, _BLOCK)]
        return np.concatenate(parts)
    bp = np.where(hyp_len < ref_lens, np.exp(1 - ref_lens / hyp_len), 1.0)
    eff = min(hyp_len, ORDER)
    # all orders at once (a few whole-matrix operations, not a dozen per order); the
    # arithmetic per element is sacrebleu's, in its order
    c = np.ascontiguousarray(correct[:, :eff].T)
    totals = (hyp_len - np.arange(eff, dtype=np.float64))[:, None]  # order n has hyp_len - n + 1
    zero = c == 0
    smooth = 1.0 + zero  # doubled at each order without a match (exact: powers of two)
    for n in range(1, eff):
        smooth[n] *= smooth[n - 1]
    logp = np.log(np.where(zero, 100.0 / (smooth * totals), 100.0 * c / totals))
    logs = logp[0].copy()
    for n in range(1, eff):
        logs += logp[n]
    score = bp * np.exp(logs / eff)
    # a matrix-vector product: numpy's sum along a short last axis is many times slower
    return np.where(correct @ np.ones(correct.shape[1]) > 0, score, 0.0)


def nearest(outputs: Sequence[str], references: Sequence[str]) -> NearestResult:
    """For each output, the reference with the highest sacrebleu sentence BLEU.

    Ties go to the earliest reference; an output sharing no token with any reference gets
    index -1 and BLEU 0.0.
    """
    vocab = _Vocab()
    ref_ids = [vocab.encode(r) for r in references]
    ref_lens = np.array([len(r) for r in ref_ids], dtype=np.float64)
    tables = [_Postings(ref_ids, n) for n in range(1, ORDER + 1)]
    n_refs = len(references)
    index = np.full(len(outputs), -1, dtype=np.int64)
    bleu = np.zeros(len(outputs))
    scored = 0
    for i, out in enumerate(outputs):
        hyp = vocab.encode(out)
        correct = np.stack([t.matches(_ngram_keys(hyp, n), n_refs) for n, t in enumerate(tables, 1)], 1)
        est = estimate(correct, len(hyp), ref_lens)
        first = int(np.argmax(est)) if n_refs else -1
        if first < 0 or est[first] <= 0:  # no reference, or none sharing a token
            continue
        best, best_j = sentence_bleu(out, references[first]), first
        scored += 1
        # only references whose estimate could reach the best exact score are scored
        cand = np.flatnonzero(est * (1 + _SLACK) >= best)
        for j in cand[np.argsort(-est[cand], kind="stable")]:
            if j == first or est[j] * (1 + _SLACK) < best:
                continue
            score = sentence_bleu(out, references[j])
            scored += 1
            if score > best or (score == best and j < best_j):
                best, best_j = score, int(j)
        index[i], bleu[i] = best_j, best
    return NearestResult(index, bleu, scored)
