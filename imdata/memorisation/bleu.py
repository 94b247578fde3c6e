"""BLEU exactly as sacrebleu computes it, on all cores, plus verbatim overlap and exact match.

Sentence BLEU is ``sacrebleu.metrics.BLEU(effective_order=True).sentence_score`` (13a
tokenisation, 4-grams, exp smoothing, mixed case) and corpus BLEU is
``sacrebleu.metrics.BLEU().corpus_score``: imdata never re-implements the metric, it only
spreads the calls over processes, so every score is sacrebleu's own number.

>>> round(sentence_bleu("the cat sat on the mat", "the cat sat on the mat"), 2)
100.0
>>> longest_overlap("a b c d e", "x b c d y")
3
>>> exact_match(" Hello  world ", "Hello world")
True
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from imdata.choices import EngineName
from imdata.errors import ImdataError

#: with the default workers, fewer pairs than this are scored in this process: starting a
#: spawned pool costs about a second, about what 1,000 pairs take to score
_MIN_PARALLEL = 2000


@dataclass(frozen=True, slots=True)
class Signatures:
    """sacrebleu's reproducibility signatures for the sentence and the corpus scores."""

    sentence: str
    corpus: str


@dataclass(frozen=True, slots=True)
class PairScores:
    """Per-pair scores, in the order of the pairs given."""

    bleu: tuple[float, ...]
    overlap: tuple[int, ...]
    exact: tuple[bool, ...]


@lru_cache(maxsize=1)
def sentence_metric() -> Any:
    """The sacrebleu metric behind every sentence score (one per process)."""
    from sacrebleu.metrics.bleu import BLEU

    return BLEU(effective_order=True)


@lru_cache(maxsize=1)
def corpus_metric() -> Any:
    """The sacrebleu metric behind corpus scores: its defaults, as papers report them."""
    from sacrebleu.metrics.bleu import BLEU

    return BLEU()


def signatures() -> Signatures:
    """The signatures to print beside the scores.

    >>> signatures().sentence.startswith("nrefs:1|case:mixed|eff:yes|tok:13a|smooth:exp")
    True
    """
    from sacrebleu.metrics.bleu import BLEU

    # a signature needs the number of references, which sacrebleu learns on first use
    sent, corp = BLEU(effective_order=True), BLEU()
    sent.sentence_score("a", ["a"])
    corp.corpus_score(["a"], [["a"]])
    return Signatures(str(sent.get_signature()), str(corp.get_signature()))


def sentence_bleu(hypothesis: str, reference: str) -> float:
    """Sacrebleu's sentence BLEU of one hypothesis against one reference."""
    return float(sentence_metric().sentence_score(hypothesis, [reference]).score)


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Sacrebleu's corpus BLEU of aligned hypotheses and references (0.0 when empty)."""
    if not hypotheses:
        return 0.0
    return float(corpus_metric().corpus_score(list(hypotheses), [list(references)]).score)


def exact_match(output: str, reference: str) -> bool:
    """Whether two texts are equal once runs of whitespace are treated as one space."""
    return output.split() == reference.split()


def longest_overlap(output: str, reference: str) -> int:
    """The longest run of whitespace-separated words that both texts contain verbatim.

    A suffix automaton over the reference's words, walked with the output's words: linear
    in the two lengths, so long outputs cost no more than short ones.
    """
    out_w, ref_w = output.split(), reference.split()
    if not out_w or not ref_w:
        return 0
    nxt: list[dict[str, int]] = [{}]
    link, length = [-1], [0]
    last = 0
    for w in ref_w:
        cur = len(length)
        length.append(length[last] + 1)
        link.append(0)
        nxt.append({})
        p = last
        while p != -1 and w not in nxt[p]:
            nxt[p][w] = cur
            p = link[p]
        if p != -1:
            q = nxt[p][w]
            if length[p] + 1 == length[q]:
                link[cur] = q
            else:
                clone = len(length)
                length.append(length[p] + 1)
                link.append(link[q])
                nxt.append(dict(nxt[q]))
                while p != -1 and nxt[p].get(w) == q:
                    nxt[p][w] = clone
                    p = link[p]
                link[q] = link[cur] = clone
        last = cur
    best = state = run = 0
    for w in out_w:
        while state and w not in nxt[state]:
            state = link[state]
            run = length[state]
        if w in nxt[state]:
            state = nxt[state][w]
            run += 1
            best = max(best, run)
        else:
            run = 0
    return best


def _score_chunk(pairs: Sequence[tuple[str, str]]) -> list[tuple[float, int, bool]]:
    return [(sentence_bleu(h, r), longest_overlap(h, r), exact_match(h, r)) for h, r in pairs]


def default_workers() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def score_pairs(
    hypotheses: Sequence[str],
    references: Sequence[str],
    *,
    workers: int | None = None,
    engine: EngineName = "local",
) -> PairScores:
    """Score aligned pairs: sentence BLEU, longest verbatim overlap (words), exact match.

    The pairs are cut into chunks scored by a process pool; results come back in the order
    given and are identical to a single-process loop (``workers=1``). With ``workers=None``
    (all cores) small batches are scored in this process. ``engine="ray"`` scores them as
    Ray Data ``map_batches`` instead (``RAY_ADDRESS`` points it at a cluster).
    """
    if len(hypotheses) != len(references):
        raise ValueError("hypotheses and references differ in length")
    pairs = list(zip(hypotheses, references, strict=True))
    if engine == "ray":
        return _score_on_ray(pairs)
    n_workers = default_workers() if workers is None else max(1, workers)
    if n_workers == 1 or len(pairs) < 2 or (workers is None and len(pairs) < _MIN_PARALLEL):
        rows = _score_chunk(pairs)
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        from concurrent.futures.process import BrokenProcessPool

        size = max(50, math.ceil(len(pairs) / (n_workers * 8)))
        chunks = [pairs[i : i + size] for i in range(0, len(pairs), size)]
        # spawn, not fork: the parent may hold polars/duckdb threads
        ctx = multiprocessing.get_context("spawn")
        try:
            with ProcessPoolExecutor(max_workers=n_workers, mp_context=ctx) as pool:
                rows = [row for chunk in pool.map(_score_chunk, chunks) for row in chunk]
        except BrokenProcessPool:
            raise ImdataError(
                "the BLEU scoring processes stopped before finishing; if you call imdata from a "
                'script, put the call under `if __name__ == "__main__":` (processes are spawned), '
                "or pass workers=1"
            ) from None
    return PairScores(tuple(r[0] for r in rows), tuple(r[1] for r in rows), tuple(r[2] for r in rows))


def _score_batch(batch: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    rows = _score_chunk(list(zip(batch["h"].tolist(), batch["r"].tolist(), strict=True)))
    return {
        "i": batch["i"],
        "bleu": np.array([r[0] for r in rows], dtype=np.float64),
        "overlap": np.array([r[1] for r in rows], dtype=np.int64),
        "exact": np.array([r[2] for r in rows], dtype=bool),
    }


def _score_on_ray(pairs: list[tuple[str, str]]) -> PairScores:
    """The per-pair stage as Ray Data ``map_batches``; rows come back and are put in order."""
    import ray.data

    from imdata.data.ray_runtime import ray_init

    ray_init()
    items = [{"i": k, "h": h, "r": r} for k, (h, r) in enumerate(pairs)]
    if not items:
        return PairScores((), (), ())
    ds = ray.data.from_items(items).map_batches(_score_batch, batch_format="numpy", batch_size=256)
    rows = sorted(ds.take_all(), key=lambda row: int(row["i"]))
    return PairScores(
        tuple(float(r["bleu"]) for r in rows),
        tuple(int(r["overlap"]) for r in rows),
        tuple(bool(r["exact"]) for r in rows),
    )
