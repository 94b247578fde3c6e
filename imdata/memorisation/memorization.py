"""BLEU-based memorisation: how closely a model's outputs reproduce its training outputs.

Each output is paired with a training example (by id, by instruction, or with the nearest
training output by BLEU), scored with sacrebleu (see :mod:`imdata.memorisation.bleu`), and summarised per
run. Several runs are compared with a baseline over the examples they share: the difference
of mean BLEU and a seeded paired-bootstrap confidence interval, so a drop can be told from
noise. Outputs and training examples that pair with nothing are counted, never dropped.

>>> rep = memorize("train.jsonl", ["it.jsonl", "im.jsonl"], match="id")   # doctest: +SKIP
>>> rep.comparisons[0].difference, rep.comparisons[0].ci_low          # doctest: +SKIP
(-1.9, -2.6)
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import polars as pl

from imdata import __version__
from imdata.choices import MATCHES, EngineName, Match
from imdata.data.dataset import Dataset
from imdata.data.records import Example
from imdata.errors import ImdataError, OptionError
from imdata.memorisation.bleu import Signatures, corpus_bleu, score_pairs, signatures
from imdata.memorisation.generations import Output, Run, load_run
from imdata.memorisation.nearest import FloatArray, IntArray
from imdata.memorisation.nearest_shards import StreamNearest, stream_nearest
from imdata.memorisation.pairing import TrainReader, TrainSide, load_train, norm, pair_index, pair_run

SCHEMA_VERSION = 1

PAIR_SCHEMA = {
    "key": pl.Utf8,
    "output_id": pl.Utf8,
    "where": pl.Utf8,
    "train_id": pl.Utf8,
    "bleu": pl.Float64,
    "overlap_words": pl.Int64,
    "exact": pl.Boolean,
    "instruction": pl.Utf8,
    "output": pl.Utf8,
    "reference": pl.Utf8,
}


@dataclass(frozen=True, slots=True)
class BleuStats:
    """Sentence-BLEU distribution of one run; ``above_*`` are shares (0-1) of pairs."""

    mean: float
    median: float
    p90: float
    above_50: float
    above_80: float


@dataclass(frozen=True)
class RunReport:
    """One run's scores: the summary, what was left out, and every pair (``pairs_frame``)."""

    name: str
    path: str
    fingerprint: str
    records: int
    pairs: int
    bleu: BleuStats
    corpus_bleu: float
    exact_matches: int
    overlap_mean: float
    overlap_max: int
    unmatched_train: int
    problems: Mapping[str, int]
    messages: Mapping[str, str]
    pairs_frame: pl.DataFrame

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON form (without the per-pair rows)."""
        return {
            "name": self.name,
            "path": self.path,
            "fingerprint": self.fingerprint,
            "records": self.records,
            "pairs": self.pairs,
            "bleu": asdict(self.bleu),
            "corpus_bleu": self.corpus_bleu,
            "exact_matches": self.exact_matches,
            "overlap_words": {"mean": self.overlap_mean, "max": self.overlap_max},
            "unmatched_train": self.unmatched_train,
            "problems": dict(self.problems),
            "messages": dict(self.messages),
        }


@dataclass(frozen=True, slots=True)
class Comparison:
    """``run`` minus ``baseline`` in mean sentence BLEU over their shared examples."""

    baseline: str
    run: str
    shared: int
    mean_baseline: float | None
    mean_run: float | None
    difference: float | None
    ci_low: float | None
    ci_high: float | None

    @property
    def significant(self) -> bool:
        """Whether the confidence interval excludes zero."""
        return self.ci_low is not None and self.ci_high is not None and (self.ci_low > 0 or self.ci_high < 0)


@dataclass(frozen=True)
class MemorizationReport:
    """Everything ``imdata memorize`` prints, stores and plots."""

    match: str
    train: TrainSide
    runs: tuple[RunReport, ...]
    comparisons: tuple[Comparison, ...]
    signatures: Signatures
    seed: int
    bootstrap: int
    confidence: float
    template: str
    #: nearest matching only: exact sacrebleu calls made, and what all pairs would take
    nearest_scored: int | None = None
    all_pairs: int | None = None

    @property
    def most_memorized(self) -> str | None:
        """The run with the highest mean sentence BLEU."""
        scored = [r for r in self.runs if r.pairs]
        return max(scored, key=lambda r: r.bleu.mean).name if scored else None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: ``{"runs": [...], "comparisons": [...], ...}`` with stable keys."""
        return {
            "schema_version": SCHEMA_VERSION,
            "imdata_version": __version__,
            "match": self.match,
            "train": {
                "paths": list(self.train.paths),
                "fingerprints": list(self.train.fingerprints),
                "examples": self.train.size,
                "skipped": dict(self.train.skipped),
                "problems": dict(self.train.problems),
                "messages": dict(self.train.messages),
            },
            "sacrebleu": {"sentence": self.signatures.sentence, "corpus": self.signatures.corpus},
            "seed": self.seed,
            "bootstrap": self.bootstrap,
            "confidence": self.confidence,
            "template": self.template,
            "most_memorized": self.most_memorized,
            "nearest": None
            if self.nearest_scored is None
            else {"scored": self.nearest_scored, "all_pairs": self.all_pairs},
            "runs": [r.to_dict() for r in self.runs],
            "comparisons": [{**asdict(c), "significant": c.significant} for c in self.comparisons],
        }


def memorize(
    train: str | Dataset | Sequence[str | Dataset],
    outputs: Sequence[str | Run],
    *,
    names: Sequence[str] | None = None,
    match: Match = "instruction",
    template: str = "tulu",
    baseline: str | None = None,
    seed: int = 0,
    bootstrap: int = 1000,
    confidence: float = 0.95,
    workers: int | None = None,
    engine: EngineName = "local",
) -> MemorizationReport:
    """Score each run's outputs against the training outputs and compare the runs.

    Args:
        train: the training data (a path, a loaded dataset, or several).
        outputs: one file of generations (or a loaded :class:`~imdata.memorisation.generations.Run`) per run.
        names: run names, one per output file (default: ``generator`` or the file name).
        match: ``id`` or ``instruction`` pair each output with its training example;
            ``nearest`` pairs it with the training output of highest BLEU.
        template: renders training prompts, to match outputs that carry a rendered ``prompt``.
        baseline: the run the others are compared with (default: the first).
        seed: seed of the paired bootstrap of the difference of means.
        bootstrap: number of bootstrap resamples.
        confidence: coverage of the bootstrap interval (0.95: a 95% interval).
        workers: processes for scoring (default: all cores).
        engine: ``local`` (a process pool here) or ``ray`` (Ray Data; identical scores).
    """
    runs = _load_runs(train, outputs, names, match, baseline)
    pairing = _pair(train, runs, match, template, workers, engine)
    reports = _score(pairing, match, workers, engine)
    base = baseline or (reports[0].name if reports else "")
    comps = tuple(
        _compare(next(r for r in reports if r.name == base), r, seed=seed, n=bootstrap, confidence=confidence)
        for r in reports
        if r.name != base
    )
    s = pairing.side
    side = TrainSide(s.paths, s.fingerprints, s.examples, s.skipped, dict(pairing.log), pairing.messages, s.size)
    return MemorizationReport(
        match,
        side,
        tuple(reports),
        comps,
        signatures(),
        seed,
        bootstrap,
        confidence,
        template,
        pairing.nearest_scored,
        pairing.all_pairs,
    )


def _load_runs(
    train: str | Dataset | Sequence[str | Dataset],
    outputs: Sequence[str | Run],
    names: Sequence[str] | None,
    match: Match,
    baseline: str | None,
) -> list[Run]:
    """Check the options and load every run, each under its own name."""
    if match not in MATCHES:
        raise OptionError(f"--match {match!r}: expected one of {', '.join(MATCHES)}")
    if names and len(names) != len(outputs):
        raise OptionError(f"{len(names)} --name for {len(outputs)} --outputs; give one name per output file")
    if not isinstance(train, str | Dataset) and not train:
        raise OptionError("no training data given; pass at least one --train file")
    if not outputs:
        raise OptionError("no model outputs given; pass at least one --outputs file")
    runs = [o if isinstance(o, Run) else load_run(o, name=names[i] if names else None) for i, o in enumerate(outputs)]
    if names:
        runs = [
            Run(n, r.path, r.fingerprint, r.records, r.outputs, r.problems, r.messages)
            for n, r in zip(names, runs, strict=True)
        ]
    dupes = [n for n, c in Counter(r.name for r in runs).items() if c > 1]
    if dupes:
        raise OptionError(f"two runs are named {dupes[0]!r}; name each one with --name")
    if baseline is not None and baseline not in {r.name for r in runs}:
        raise OptionError(f"--baseline {baseline!r} is not a run; runs: {', '.join(r.name for r in runs)}")
    return runs


#: a run, its (output, training index or -1) pairs, and its problem counts and messages
_RunPairs = tuple[Run, list[tuple[Output, int]], Counter[str], dict[str, str]]


@dataclass(frozen=True)
class _Pairing:
    """Every run's outputs paired with training examples, and what the training side reported."""

    side: TrainSide
    examples: Mapping[int, Example] | Sequence[Example]
    runs: list[_RunPairs]
    log: Counter[str]
    messages: dict[str, str]
    #: nearest matching only: exact sacrebleu calls made, and what all pairs would take
    nearest_scored: int | None = None
    all_pairs: int | None = None


def _pair(
    train: str | Dataset | Sequence[str | Dataset],
    runs: Sequence[Run],
    match: Match,
    template: str,
    workers: int | None,
    engine: EngineName,
) -> _Pairing:
    """Pair each output with a training example: by id or instruction, or the nearest by BLEU."""
    if match == "nearest":
        side, examples, found = _nearest(train, runs, workers, engine)
        paired: list[_RunPairs] = []
        pos = 0
        for r in runs:
            idx = found.index[pos : pos + len(r.outputs)].tolist()
            pos += len(r.outputs)
            paired.append((r, list(zip(r.outputs, idx, strict=True)), Counter(r.problems), dict(r.messages)))
        all_pairs = sum(len(r.outputs) for r in runs) * side.size
        return _Pairing(side, examples, paired, Counter(side.problems), dict(side.messages), found.scored, all_pairs)
    side = load_train(train)
    log: Counter[str] = Counter(side.problems)
    msgs = dict(side.messages)
    index = pair_index(side, match, template, log, msgs)
    return _Pairing(side, side.examples, [(r, *pair_run(r, match, index)) for r in runs], log, msgs)


def _score(pairing: _Pairing, match: Match, workers: int | None, engine: EngineName) -> list[RunReport]:
    """Score every pair (one batch over all runs) and summarise each run."""
    examples = pairing.examples
    refs = {j: examples[j].first_output for _, ps, _, _ in pairing.runs for _, j in ps if j >= 0}
    hyps = [o.text for _, ps, _, _ in pairing.runs for o, _ in ps]
    ref_texts = [refs[j] if j >= 0 else "" for _, ps, _, _ in pairing.runs for _, j in ps]
    scores = score_pairs(hyps, ref_texts, workers=workers, engine=engine)
    reports: list[RunReport] = []
    pos = 0
    for run, ps, log, msgs in pairing.runs:
        n = len(ps)
        frame = _pairs_frame(
            ps,
            examples,
            scores.bleu[pos : pos + n],
            scores.overlap[pos : pos + n],
            # an output with no reference (nearest found none) copied nothing, though "" == ""
            [e and j >= 0 for e, (_, j) in zip(scores.exact[pos : pos + n], ps, strict=True)],
            by_output=match == "nearest",
        )
        run_refs = ref_texts[pos : pos + n]
        pos += n
        if match == "nearest":
            _count_unpaired(run, ps, log, msgs)
        unmatched = pairing.side.size - (frame["train_id"].drop_nulls().n_unique() if n else 0)
        reports.append(_run_report(run, frame, run_refs, unmatched, log, msgs))
    return reports


def _count_unpaired(run: Run, ps: Sequence[tuple[Output, int]], log: Counter[str], msgs: dict[str, str]) -> None:
    """Count the outputs the nearest search paired with nothing (they share no token)."""
    none = sum(1 for _, j in ps if j < 0)
    if none:
        log["no-shared-token"] = none
        msgs.setdefault(
            "no-shared-token",
            f"{run.path}: {none} outputs share no token with any training output; they score 0 with no nearest example",
        )


def _nearest(
    train: str | Dataset | Sequence[str | Dataset], runs: Sequence[Run], workers: int | None, engine: EngineName
) -> tuple[TrainSide, dict[int, Example], StreamNearest]:
    """Each output's nearest training output, the training side streamed in shards.

    Only the examples that win some output are kept (memory follows the shards in flight).
    """
    reader = TrainReader(train)
    buffer: deque[Example] = deque()
    kept: dict[int, Example] = {}

    def texts() -> Iterator[str]:
        for ex in reader:
            # the record as read (parsed, and a JSONL line's bytes) is not reported: only the
            # example waits in the buffer, about half the memory of a shard in flight
            buffer.append(replace(ex, origin=None) if ex.origin is not None else ex)
            yield ex.first_output

    def keep(start: int, refs: Sequence[str], index: IntArray) -> None:
        shard = [buffer.popleft() for _ in refs]
        winners = set(index.tolist())
        for j in winners:
            if start <= j < start + len(refs):
                kept[j] = shard[j - start]
        for j in [j for j in kept if j not in winners]:
            del kept[j]

    flat = [o.text for r in runs for o in r.outputs]
    found = stream_nearest(flat, texts(), workers=workers, engine=engine, keep=keep)
    wanted = {int(j) for j in found.index.tolist() if j >= 0}
    examples = {j: kept[j] for j in sorted(wanted)}
    return reader.side(list(examples.values())), examples, found


def _pairs_frame(
    ps: Sequence[tuple[Output, int]],
    examples: Mapping[int, Example] | Sequence[Example],
    bleu: Sequence[float],
    overlap: Sequence[int],
    exact: Sequence[bool],
    *,
    by_output: bool,
) -> pl.DataFrame:
    rows: dict[str, list[Any]] = {k: [] for k in PAIR_SCHEMA}
    seen: Counter[str] = Counter()
    for (out, j), b, ov, ex in zip(ps, bleu, overlap, exact, strict=True):
        tex = examples[j] if j >= 0 else None
        if by_output:
            key = out.id or (norm(out.instruction) if out.instruction else out.where)
            seen[key] += 1
            key = key if seen[key] == 1 else f"{key}#{seen[key]}"
        else:
            key = tex.id if tex else out.where
        rows["key"].append(key)
        rows["output_id"].append(out.id)
        rows["where"].append(out.where)
        rows["train_id"].append(tex.id if tex else None)
        rows["bleu"].append(b)
        rows["overlap_words"].append(ov)
        rows["exact"].append(ex)
        rows["instruction"].append(
            out.instruction if out.instruction is not None else (tex.first_instruction if tex else None)
        )
        rows["output"].append(out.text)
        rows["reference"].append(tex.first_output if tex else None)
    return pl.DataFrame(rows, schema=PAIR_SCHEMA)


def _run_report(
    run: Run,
    frame: pl.DataFrame,
    refs: Sequence[str],
    unmatched_train: int,
    log: Counter[str],
    msgs: Mapping[str, str],
) -> RunReport:
    b = frame["bleu"].to_numpy()
    n = len(b)
    stats = (
        BleuStats(
            *(
                float(x)
                for x in (
                    b.mean(),
                    np.median(b),
                    np.percentile(b, 90),
                    (b > 50).mean(),
                    (b > 80).mean(),
                )
            )
        )
        if n
        else BleuStats(0.0, 0.0, 0.0, 0.0, 0.0)
    )
    ov = frame["overlap_words"]
    return RunReport(
        run.name,
        run.path,
        run.fingerprint,
        run.records,
        n,
        stats,
        corpus_bleu(frame["output"].to_list(), refs),
        int(frame["exact"].sum()),
        float(ov.to_numpy().mean()) if n else 0.0,
        int(ov.to_numpy().max()) if n else 0,
        unmatched_train,
        dict(sorted(log.items())),
        dict(sorted(msgs.items())),
        frame,
    )


def paired_bootstrap(
    a: Sequence[float] | FloatArray,
    b: Sequence[float] | FloatArray,
    *,
    n: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """Percentile CI of ``mean(b - a)`` from ``n`` resamples of the pairs (seeded).

    >>> lo, hi = paired_bootstrap([10, 20, 30, 40], [12, 21, 33, 41], n=200, seed=1)
    >>> 1.0 <= lo <= hi <= 3.0
    True
    """
    d = np.asarray(b, dtype=np.float64) - np.asarray(a, dtype=np.float64)
    if len(d) == 0 or n <= 0:
        raise ImdataError("paired bootstrap needs at least one shared example and one resample")
    rng = np.random.default_rng(seed)
    means = np.empty(n)
    for s in range(0, n, 200):  # batches keep memory at 200 x pairs
        k = min(200, n - s)
        means[s : s + k] = d[rng.integers(0, len(d), size=(k, len(d)))].mean(axis=1)
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(means, [alpha, 1 - alpha])
    return float(lo), float(hi)


def _compare(base: RunReport, run: RunReport, *, seed: int, n: int, confidence: float) -> Comparison:
    joined = base.pairs_frame.select("key", "bleu").join(
        run.pairs_frame.select("key", "bleu"), on="key", how="inner", suffix="_run"
    )
    if joined.is_empty():
        return Comparison(base.name, run.name, 0, None, None, None, None, None)
    a, b = joined["bleu"].to_numpy(), joined["bleu_run"].to_numpy()
    lo, hi = paired_bootstrap(a, b, n=n, seed=seed, confidence=confidence)
    return Comparison(base.name, run.name, len(a), float(a.mean()), float(b.mean()), float((b - a).mean()), lo, hi)
