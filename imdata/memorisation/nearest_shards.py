"""The exact nearest training output for each model output, the training side read in shards.

The training outputs are read once, in order, and cut into shards of bounded size. Each
shard is indexed on its own (:class:`_Index`) and searched for every model output, on a
process pool (or Ray Data, ``engine="ray"``); the shard winners are merged in shard order,
a later shard winning only with a higher score. So the result is the brute-force one (the
highest sacrebleu sentence BLEU, ties to the earliest training example) while memory follows
the shard, not the training side.

The first shard is searched first (its outputs split over the workers), then the others in
waves of as many shards as workers: the best exact score per output of all earlier shards
is the floor a wave must beat, so later shards score little with sacrebleu. (The waves
depend on ``workers`` only: the same workers, the same sacrebleu calls, on either engine.)
A search does not walk the postings of an output's common n-grams ("the", ", and"), the
longest ones: the rare n-grams' matches are counted from their postings and the common
ones' are bounded by their count in the output, which bounds every reference's BLEU from
above. Only references whose bound
reaches the floor get their common n-grams counted (by binary search) and then, in falling
order of the exact estimate, a sacrebleu score. n-grams are hashed to 48 bits; a collision
can only raise an estimate, so the search stays exact.

>>> res = stream_nearest(["the cat sat on the mat"], iter(["a dog", "the cat sat on a mat"]))
>>> res.index.tolist(), [round(b, 2) for b in res.bleu.tolist()]
([1], [53.73])
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

import numpy as np

from imdata.choices import EngineName
from imdata.errors import ImdataError
from imdata.memorisation.bleu import default_workers, sentence_bleu
from imdata.memorisation.nearest import _MIX, _SLACK, ORDER, FloatArray, IntArray, KeyArray, estimate, words_13a

#: a shard closes at this many references (at most 2**16: a posting packs its reference in
#: 16 bits) or characters, whichever comes first; the first shard, searched alone for the
#: first floors, is a quarter of that
SHARD_EXAMPLES = 15_000
SHARD_CHARS = 9_000_000
#: an n-gram whose postings cover more than 1/_COMMON of a shard is common: bounded, not walked
_COMMON = 64
#: references whose estimate is made exact before the first sacrebleu score of a shard
_SEED = 16
_LOW = np.uint64(0xFFFF)


@dataclass(frozen=True)
class ShardBest:
    """Per output, the winner of one shard: its index in the shard (-1: none beat the floor), BLEU."""

    index: IntArray
    bleu: FloatArray
    #: exact sacrebleu calls made in this shard
    scored: int


@dataclass(frozen=True)
class StreamNearest:
    """Per output, the index of the nearest training output in reading order (-1: none), its BLEU."""

    index: IntArray
    bleu: FloatArray
    #: exact sacrebleu calls made, against ``len(outputs) * references`` for all pairs
    scored: int
    #: how many references were read, in how many shards
    references: int
    shards: int


def _encode(text: str) -> KeyArray:
    # Python's own string hash: consistent within a process, which is all an index needs
    words = words_13a(text)
    return np.fromiter(map(hash, words), np.int64, len(words)).view(np.uint64)


def _grams(ids: KeyArray, n: int) -> KeyArray:
    if len(ids) < n:
        return np.empty(0, np.uint64)
    keys = ids[: len(ids) - n + 1].copy()
    for j in range(1, n):
        keys = keys * _MIX + ids[j : len(ids) - n + 1 + j]  # wraps mod 2**64 by design
    return keys >> np.uint64(16)


class _Query:
    """One output, encoded once per process: its length and per order its distinct n-grams."""

    def __init__(self, text: str) -> None:
        self.text = text
        ids = _encode(text)
        self.length = len(ids)
        self.grams = [np.unique(_grams(ids, n), return_counts=True) for n in range(1, ORDER + 1)]
        #: per order, where each of ``grams`` sits in :attr:`_Queries.keys`
        self.slots: list[IntArray] = []


class _Queries:
    """All outputs, encoded once per process, with per order the sorted union of their n-grams.

    A shard looks the union up in one pass (sorted keys into sorted keys: cache-friendly),
    and each output reads its own n-grams' places from it.
    """

    def __init__(self, texts: Sequence[str]) -> None:
        self.items = [_Query(t) for t in texts]
        self.keys: list[KeyArray] = []
        for k in range(ORDER):
            parts = [q.grams[k][0] for q in self.items]
            union = np.unique(np.concatenate(parts)) if parts else np.empty(0, np.uint64)
            self.keys.append(union)
            for q, part in zip(self.items, parts, strict=True):
                q.slots.append(np.searchsorted(union, part).astype(np.int32))  # 4 bytes an n-gram


class _Table:
    """One n-gram order of a shard: postings ``key << 16 | reference`` sorted, with counts."""

    def __init__(self, flat: KeyArray, doc: IntArray, n: int) -> None:
        keys = _grams(flat, n)
        inside = doc[: len(keys)] == doc[n - 1 :]  # the n-gram does not cross two references
        packed = keys[inside] << np.uint64(16) | doc[: len(keys)][inside].astype(np.uint64)
        del keys, inside
        packed.sort()
        new = np.ones(len(packed), bool)
        new[1:] = packed[1:] != packed[:-1]
        starts = np.flatnonzero(new)
        del new
        # a shard's memory is these arrays: 8 + 4 bytes a posting, 16 a distinct n-gram
        self.counts = np.diff(np.append(starts, len(packed))).astype(np.uint32)
        self.packed = packed[starts]
        del packed, starts
        keys = self.packed >> np.uint64(16)
        first = np.ones(len(keys), bool)
        first[1:] = keys[1:] != keys[:-1]
        #: the postings of key ``k`` are ``packed[bounds[k]:bounds[k + 1]]``
        self.bounds = np.append(np.flatnonzero(first), len(keys))
        self.keys = keys[self.bounds[:-1]]
        del keys, first

    def locate(self, keys: KeyArray) -> tuple[IntArray, np.ndarray[Any, np.dtype[np.bool_]]]:
        """Per key of the sorted ``keys``, its position here and whether it is here at all."""
        if len(self.keys) == 0:
            return np.zeros(len(keys), np.int64), np.zeros(len(keys), bool)
        pos = np.searchsorted(self.keys, keys)
        pos[pos == len(self.keys)] = 0
        return pos.astype(np.int32), self.keys[pos] == keys  # a shard holds far fewer than 2**31 n-grams

    def postings(self, pos: IntArray) -> IntArray:
        """How many references hold each key at ``pos``."""
        out: IntArray = self.bounds[pos + 1] - self.bounds[pos]
        return out

    def walk(self, pos: IntArray, hc: IntArray) -> tuple[IntArray, FloatArray]:
        """The (reference, clipped match) postings of the keys at ``pos``."""
        lo, hi = self.bounds[pos], self.bounds[pos + 1]
        lens = hi - lo
        offsets = np.repeat(lo - np.cumsum(lens) + lens, lens) + np.arange(lens.sum())
        refs = (self.packed[offsets] & _LOW).astype(np.int64)
        return refs, np.minimum(self.counts[offsets], np.repeat(hc, lens)).astype(np.float64)

    def find(self, pos: IntArray, hc: IntArray, refs: IntArray) -> FloatArray:
        """Clipped matches of the keys at ``pos`` in the references ``refs`` only (binary search)."""
        want = ((self.keys[pos][:, None] << np.uint64(16)) | refs.astype(np.uint64)[None, :]).ravel()
        at = np.searchsorted(self.packed, want)
        at[at == len(self.packed)] = 0
        hit = self.packed[at] == want
        clipped = np.where(hit, np.minimum(self.counts[at], np.repeat(hc, len(refs))), 0.0)
        out: FloatArray = clipped.reshape(len(pos), len(refs)).sum(axis=0)
        return out


class _Index:
    """One shard: its n-gram tables, and its references grouped by length."""

    def __init__(self, refs: Sequence[str]) -> None:
        ids = [_encode(r) for r in refs]
        self.refs = refs
        self.n = len(refs)
        lens = np.array([len(r) for r in ids], dtype=np.int64)
        flat = np.concatenate(ids) if ids else np.empty(0, np.uint64)
        del ids
        doc = np.repeat(np.arange(self.n, dtype=np.int64), lens)
        self.tables = [_Table(flat, doc, k) for k in range(1, ORDER + 1)]
        del flat, doc
        self.lens = lens.astype(np.float64)
        self.len_values, self.len_of = np.unique(self.lens, return_inverse=True)

    def search(self, q: _Query, found: _Found, floor: float) -> tuple[int, float, int]:
        """(reference, BLEU, sacrebleu calls) of the best reference scoring above ``floor``.

        With ``floor`` 0 the best reference of the shard; otherwise -1 unless one beats it.
        """
        if q.length == 0 or self.n == 0:
            return -1, 0.0, 0
        m = _Matches(self, q, found)
        t_bound = m.bound(m.dense[m.touched], self.lens[m.touched])
        l_bound = m.bound(np.zeros((len(self.len_values), ORDER)), self.len_values)  # untouched: by length
        best, best_j, scored, first = floor, -1, 0, -1
        if floor <= 0:  # no floor yet: score the most promising reference to get one
            first = self._first(m, t_bound, l_bound)
            if first >= 0:
                best, best_j, scored = sentence_bleu(q.text, self.refs[first]), first, 1
        low = best / (1 + _SLACK) if best > 0 else np.nextafter(0.0, 1.0)
        pick = l_bound[self.len_of] >= low
        pick[m.touched] = t_bound >= low
        cand = np.flatnonzero(pick)
        est = m.exact(cand)
        for o in np.argsort(-est, kind="stable").tolist():
            j = int(cand[o])
            # in falling order of the estimate, no later one can win (a floor from an earlier
            # shard is beaten only by a higher score, a score of this shard also by a tie)
            if est[o] <= 0 or est[o] * (1 + _SLACK) < best or (best_j < 0 and est[o] * (1 + _SLACK) <= best):
                break
            if j == first:
                continue
            score = sentence_bleu(q.text, self.refs[j])
            scored += 1
            if score > best or (score == best and 0 <= j < best_j):
                best, best_j = score, j
        return best_j, (best if best_j >= 0 else 0.0), scored

    def _first(self, m: _Matches, t_bound: FloatArray, l_bound: FloatArray) -> int:
        """The reference of highest exact estimate among the most promising few, or -1 if none shares a word."""
        if len(m.touched):
            seed = m.touched[np.argsort(-t_bound, kind="stable")[:_SEED]]
        else:
            seed = np.flatnonzero(self.len_of == int(np.argmax(l_bound)))[:_SEED]
        seed = np.sort(seed)
        est = m.exact(seed)
        return int(seed[int(np.argmax(est))]) if len(seed) and est.max() > 0 else -1


class _Matches:
    """One query's clipped n-gram matches in a shard: exact for rare n-grams, bounded for common ones."""

    def __init__(self, index: _Index, q: _Query, found: _Found) -> None:
        self.index, self.h = index, q.length
        n = index.n
        docs, weights = [], []
        self.common: list[tuple[IntArray, IntArray]] = []
        for k, t in enumerate(index.tables):
            at, there = found[k]
            hit = there[q.slots[k]]
            pos, hc = at[q.slots[k][hit]], q.grams[k][1][hit]
            is_common = t.postings(pos) * _COMMON > n
            self.common.append((pos[is_common], hc[is_common]))
            d, w = t.walk(pos[~is_common], hc[~is_common])
            docs.append(d * ORDER + k)
            weights.append(w)
        flat = np.concatenate(docs)
        counts = np.bincount(flat, np.concatenate(weights), minlength=n * ORDER)
        self.dense: FloatArray = counts.astype(np.float64, copy=False).reshape(n, ORDER)
        # a walked posting is a match (at least 1): the touched references are those posted
        seen = np.zeros(n, bool)
        seen[flat // ORDER] = True
        self.touched = np.flatnonzero(seen)
        self.common_sum = np.array([float(hc.sum()) for _, hc in self.common])

    def bound(self, rows: FloatArray, lens: FloatArray) -> FloatArray:
        """An upper bound of BLEU: every common n-gram counted as a match where it fits."""
        room = np.maximum(lens[:, None] - np.arange(ORDER), 0)  # a reference's n-grams per order
        return estimate(np.minimum(rows + np.minimum(self.common_sum, room), room), self.h, lens)

    def exact(self, cand: IntArray) -> FloatArray:
        """The exact estimate of the references ``cand``: the common n-grams looked up too."""
        index = self.index
        rows = self.dense[cand]
        for k, (pos, hc) in enumerate(self.common):
            t = index.tables[k]
            if not len(pos):
                continue
            if len(pos) * len(cand) * 8 < int(t.postings(pos).sum()) + index.n:
                rows[:, k] += t.find(pos, hc, cand)
            else:
                d, w = t.walk(pos, hc)
                rows[:, k] += np.bincount(d, w, minlength=index.n)[cand]
        return estimate(rows, self.h, index.lens[cand])


#: per order, where the sorted union of the outputs' n-grams sits in a shard's table, and whether it is there
_Found = list[tuple[IntArray, np.ndarray[Any, np.dtype[np.bool_]]]]


def search_shard(
    queries: _Queries, refs: Sequence[str], floors: FloatArray | None = None, lo: int = 0, hi: int | None = None
) -> ShardBest:
    """Outputs ``lo:hi``: each one's best reference in ``refs`` above its floor (ties: earliest), exactly."""
    index = _Index(refs)
    found = [t.locate(keys) for t, keys in zip(index.tables, queries.keys, strict=True)]
    part = queries.items[lo:hi]
    best = np.full(len(part), -1, dtype=np.int64)
    bleu = np.zeros(len(part))
    scored = 0
    for i, q in enumerate(part):
        best[i], bleu[i], s = index.search(q, found, 0.0 if floors is None else float(floors[lo + i]))
        scored += s
    return ShardBest(best, bleu, scored)


def shards(
    texts: Iterable[str], *, max_examples: int = SHARD_EXAMPLES, max_chars: int = SHARD_CHARS
) -> Iterator[list[str]]:
    """``texts`` cut into lists of at most ``max_examples`` texts or ``max_chars`` characters.

    The first list is a quarter of that: searched alone, it sets the first floors.
    """
    if max_examples > 2**16:
        raise ValueError(f"a shard holds at most {2**16} references")
    cur: list[str] = []
    size, first = 0, True
    for t in texts:
        cur.append(t)
        size += len(t)
        div = 4 if first else 1
        if len(cur) * div >= max_examples or size * div >= max_chars:
            yield cur
            cur, size, first = [], 0, False
    if cur:
        yield cur


def stream_nearest(
    outputs: Sequence[str],
    references: Iterable[str],
    *,
    workers: int | None = None,
    engine: EngineName = "local",
    max_examples: int = SHARD_EXAMPLES,
    max_chars: int = SHARD_CHARS,
    keep: Any = None,
) -> StreamNearest:
    """For each output, the reference of highest sentence BLEU, reading ``references`` once.

    Args:
        outputs: the model outputs (held in memory).
        references: the training outputs in order (any iterable: a generator streams).
        workers: shards searched at once, by processes or Ray tasks (default: all cores).
        engine: ``local`` (a process pool) or ``ray`` (a Ray Data task per shard).
        max_examples: a shard's most references (at most 65,536).
        max_chars: a shard's most characters.
        keep: called as ``keep(start, refs, index)`` in shard order with the shard's first
            index, its references and every output's nearest reference so far (-1: none),
            before the shard is let go: the caller keeps what it needs of the winners.
    """
    merged = _Merge(len(outputs), keep)
    parts = shards(references, max_examples=max_examples, max_chars=max_chars)
    first = next(parts, None)
    if first is not None:
        n_workers = default_workers() if workers is None else max(1, workers)
        if engine == "ray":
            merged.add(first, search_shard(_Queries(outputs), first))
            _on_ray(list(outputs), parts, merged, n_workers)
        else:
            _on_pool(list(outputs), first, parts, merged, n_workers)
    return StreamNearest(merged.index, merged.bleu, merged.scored, merged.start, merged.shards)


class _Merge:
    """Shard winners folded in shard order: a later shard wins only with a higher score."""

    def __init__(self, n: int, keep: Any) -> None:
        self.index = np.full(n, -1, dtype=np.int64)
        self.bleu = np.zeros(n)
        self.scored = self.start = self.shards = 0
        self._keep = keep

    def add(self, refs: list[str], best: ShardBest) -> None:
        better = (best.index >= 0) & ((best.bleu > self.bleu) | (self.index < 0))
        self.index[better] = best.index[better] + self.start
        self.bleu[better] = best.bleu[better]
        self.scored += best.scored
        if self._keep is not None:
            self._keep(self.start, refs, self.index)
        self.start += len(refs)
        self.shards += 1


_QUERIES: list[_Queries] = []


def _init_worker(outputs: list[str]) -> None:
    _QUERIES[:] = [_Queries(outputs)]


def _search_task(refs: list[str], floors: FloatArray) -> ShardBest:
    return search_shard(_QUERIES[0], refs, floors)


def _first_task(refs: list[str], lo: int, hi: int) -> ShardBest:
    """The first shard (no floors yet) for the outputs ``lo:hi``: its search is split by output."""
    return search_shard(_QUERIES[0], refs, lo=lo, hi=hi)


def _first_on_pool(pool: ProcessPoolExecutor, refs: list[str], n: int, workers: int) -> list[Future[ShardBest]]:
    cuts = np.linspace(0, n, workers + 1).astype(int).tolist()
    return [pool.submit(_first_task, refs, a, b) for a, b in itertools.pairwise(cuts)]


def _joined(jobs: list[Future[ShardBest]]) -> ShardBest:
    found = [f.result() for f in jobs]
    return ShardBest(
        np.concatenate([f.index for f in found]), np.concatenate([f.bleu for f in found]), sum(f.scored for f in found)
    )


def _waves(parts: Iterator[list[str]], size: int) -> Iterator[list[list[str]]]:
    while wave := list(itertools.islice(parts, size)):
        yield wave


def _on_pool(outputs: list[str], first: list[str], parts: Iterator[list[str]], merged: _Merge, workers: int) -> None:
    """The first shard split by output over ``workers`` processes, then the rest a wave at a time."""
    waves = _waves(parts, workers)
    if workers == 1:
        queries = _Queries(outputs)
        for refs in itertools.chain([first], itertools.chain.from_iterable(waves)):
            merged.add(refs, search_shard(queries, refs, merged.bleu.copy() if merged.shards else None))
        return
    # spawn, not fork: the parent may hold polars/duckdb threads
    ctx = multiprocessing.get_context("spawn")
    try:
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(outputs,)) as pool:
            first_jobs = _first_on_pool(pool, first, len(outputs), workers)
            wave: list[list[str]] | None = next(waves, None)  # read while the first shard is searched
            merged.add(first, _joined(first_jobs))
            while wave is not None:
                floors = merged.bleu.copy()
                futures = [pool.submit(_search_task, refs, floors) for refs in wave]
                upcoming = next(waves, None)  # read while the wave is searched
                for refs, fut in zip(wave, futures, strict=True):
                    merged.add(refs, fut.result())
                wave = upcoming
    except BrokenProcessPool:
        raise ImdataError(
            "the nearest-search processes stopped before finishing (out of memory?); if you call "
            'imdata from a script, put the call under `if __name__ == "__main__":`, or pass workers=1'
        ) from None


def _on_ray(outputs: list[str], parts: Iterator[list[str]], merged: _Merge, workers: int) -> None:
    """A Ray Data task per shard, a wave of ``workers`` shards at a time (spilled to Parquet)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import ray.data

    from imdata.data.ray_runtime import ray_init

    with tempfile.TemporaryDirectory(prefix="imdata-nearest-") as tmp:
        for w, wave in enumerate(_waves(parts, workers)):
            files = [os.path.join(tmp, f"shard-{w:06d}-{k:03d}.parquet") for k in range(len(wave))]
            for refs, path in zip(wave, files, strict=True):
                pq.write_table(pa.table({"ref": refs}), path)
            ray_init()
            ds = ray.data.from_items([{"k": k, "path": p} for k, p in enumerate(files)]).map_batches(
                _RayShard,
                fn_constructor_kwargs={"outputs": outputs, "floors": merged.bleu.copy()},
                batch_size=1,
                concurrency=len(wave),  # a wave has at most `workers` shards
            )
            rows = sorted(ds.iter_rows(), key=lambda r: int(r["k"]))
            for row, refs in zip(rows, wave, strict=True):
                merged.add(refs, ShardBest(np.asarray(row["index"]), np.asarray(row["bleu"]), int(row["scored"])))
            for path in files:
                os.unlink(path)


class _RayShard:
    def __init__(self, outputs: list[str], floors: FloatArray) -> None:
        self.queries = _Queries(outputs)
        self.floors = floors

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        import pyarrow.parquet as pq

        found = [search_shard(self.queries, pq.read_table(p)["ref"].to_pylist(), self.floors) for p in batch["path"]]
        return {
            "k": batch["k"],
            "index": np.stack([f.index for f in found]),
            "bleu": np.stack([f.bleu for f in found]),
            "scored": np.array([f.scored for f in found]),
        }
