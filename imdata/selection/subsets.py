"""Reproducible low-resource subsets (the Superficial Alignment Hypothesis: 1k, 2k, 5k ...).

Every strategy puts the eligible examples in a **priority order** and a subset of size
``n`` is the first ``n`` of that order, written back in the parent's order:

==========  ===============================================================================
random      a seeded permutation
stratified  a seeded permutation within each value of ``by``, interleaved so that every
            prefix keeps the parent's proportions (each stratum within one example)
longest     longest output first; ties broken by id (the "long is more" baseline)
ratio       nearest ``target_ratio`` first (distance ``|log r - log target|``, ties by id);
            with only ``min_ratio``/``max_ratio``, a seeded permutation of the examples in
            that window
score       examples with ``score_field >= min_score``, highest score first, ties in a
            seeded order (AlpaGasus-style ratings)
==========  ===============================================================================

With ``nested=True`` every size comes from one order, so each subset contains the smaller
ones (scaling curves). Without it each size draws its own order from ``(seed, n)``. The
deterministic strategies (``longest``, ``ratio`` with a target) are nested either way.

>>> from imdata.data.records import Example
>>> pairs = [[("user", "q " * i), ("assistant", "a " * (i + 1))] for i in range(1, 9)]
>>> exs = [Example.from_pairs(f"e{i}", p) for i, p in enumerate(pairs, 1)]
>>> rep = subset(exs, n=[2, 4], strategy="longest")
>>> [[ex.id for ex in s.examples] for s in rep.subsets]
[['e7', 'e8'], ['e5', 'e6', 'e7', 'e8']]
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from imdata.choices import DEFAULT_SEED, STRATEGIES, Strategy
from imdata.data.records import Example
from imdata.errors import DataError, ImdataError, OptionError
from imdata.selection.manifest import (
    ZERO_OUTPUT_RULE,
    Data,
    Manifest,
    Measures,
    Pool,
    api_call,
    check_copy_name,
    field_values,
    length_profile,
    manifest_path,
    measure,
    pool,
    write_examples,
)


@dataclass(frozen=True)
class Subset:
    """One subset: its size, seed, examples (in the parent's order) and manifest."""

    n: int
    seed: int
    examples: tuple[Example, ...]
    manifest: Manifest
    output: str | None = None

    @property
    def ids(self) -> list[str]:
        """The ids in output order."""
        return [ex.id for ex in self.examples]


@dataclass(frozen=True)
class SubsetReport:
    """Every subset made by one call, and what was noticed on the way."""

    strategy: str
    parent: int
    eligible: int
    subsets: tuple[Subset, ...]
    warnings: tuple[str, ...] = ()

    def rows(self) -> list[dict[str, Any]]:
        """One summary row per subset, for tables."""
        out = []
        for s in self.subsets:
            prof = s.manifest.profile["subset"]
            out.append(
                {
                    "output": s.output or "",
                    "n": s.n,
                    "seed": s.seed,
                    "examples": len(s.examples),
                    "instruction_mean": prof.get("instruction_mean"),
                    "output_mean": prof.get("output_mean"),
                    "ratio_of_means": prof.get("ratio_of_means"),
                }
            )
        return out


@dataclass(frozen=True)
class SubsetOptions:
    """How subsets are chosen and measured: every option of ``imdata subset`` but where to write.

    Built once by the CLI (or by :func:`subset` from its keyword arguments) and passed whole.

    Attributes:
        n: the size, or several sizes (one subset each).
        strategy: see the module docstring.
        seed: the seed, or several seeds (one subset per seed and size).
        nested: draw every size from one order so that each subset contains the smaller.
        by: the field whose proportions ``stratified`` keeps (``source``, ``id`` or a meta key).
        target_ratio: ``ratio``: take the examples nearest this instruction/output ratio.
        min_ratio: ``ratio``: keep only examples with at least this ratio.
        max_ratio: ``ratio``: keep only examples with at most this ratio.
        score_field: ``score``: the meta field holding the rating.
        min_score: ``score``: keep only examples rated at least this.
        strict: fail when fewer examples are eligible than asked for (default: take them all
            and say so in ``warnings``).
        template: the template lengths are measured under (words, the paper's unit).
        tokenizer: measure lengths in this tokenizer's tokens instead of words.
        to: write a ``spans`` export format instead of canonical JSONL.
    """

    n: int | Sequence[int] = 1000
    strategy: Strategy = "random"
    seed: int | Sequence[int] = DEFAULT_SEED
    nested: bool = False
    by: str | None = None
    target_ratio: float | None = None
    min_ratio: float | None = None
    max_ratio: float | None = None
    score_field: str | None = None
    min_score: float | None = None
    strict: bool = False
    template: str = "tulu"
    tokenizer: str | None = None
    to: str | None = None

    @property
    def sizes(self) -> list[int]:
        """``n`` as a list."""
        return [self.n] if isinstance(self.n, int) else list(self.n)

    @property
    def seeds(self) -> list[int]:
        """``seed`` as a list."""
        return [self.seed] if isinstance(self.seed, int) else list(self.seed)

    @property
    def one_order(self) -> bool:
        """Whether every size of a seed is the prefix of one order (nested, or not seeded)."""
        return self.nested or not _seeded(self.strategy, self.target_ratio)


def subset(
    data: Data,
    options: SubsetOptions | None = None,
    *,
    n: int | Sequence[int] = 1000,
    strategy: Strategy = "random",
    seed: int | Sequence[int] = DEFAULT_SEED,
    nested: bool = False,
    by: str | None = None,
    target_ratio: float | None = None,
    min_ratio: float | None = None,
    max_ratio: float | None = None,
    score_field: str | None = None,
    min_score: float | None = None,
    strict: bool = False,
    template: str = "tulu",
    tokenizer: str | None = None,
    output: str | os.PathLike[str] | None = None,
    to: str | None = None,
    force: bool = False,
    command: str | None = None,
) -> SubsetReport:
    """Select ``n`` examples (or several sizes, or several seeds) and describe each selection.

    ``data`` is one or more loaded datasets (pooled in order) or a list of examples. The
    selection options are the fields of :class:`SubsetOptions` (documented there), given as
    keyword arguments or as one ``options`` object, not both. ``output``: write each subset
    there (several: ``out-n1000-seed1.jsonl``), with a ``.subset.json`` manifest beside each;
    ``None`` writes nothing. ``force`` overwrites existing outputs. ``command`` is the command
    line recorded in the manifests (default: the equivalent Python call).
    """
    keywords = SubsetOptions(n=n, strategy=strategy, seed=seed, nested=nested, by=by, target_ratio=target_ratio,
                             min_ratio=min_ratio, max_ratio=max_ratio, score_field=score_field, min_score=min_score,
                             strict=strict, template=template, tokenizer=tokenizer, to=to)  # fmt: skip
    opts = _one_of(options, keywords)
    params = _check_options(opts)
    if output is not None:
        check_copy_name(output, to=opts.to, option="output", command="subset")
    pl_ = pool(data)
    m = measure(pl_.examples, template=opts.template, tokenizer=opts.tokenizer)
    eligible, scores, groups = _eligible(pl_.examples, m, opts)
    warnings = _shortfalls(pl_, opts, int(eligible.size))
    params.update(nested=opts.nested, strict=opts.strict, length_unit=m.unit, template=opts.template)
    params.update(tokenizer=opts.tokenizer, to=opts.to)
    command = command or _api_command(opts, pl_, params, output)
    draw = _Draw(opts, pl_, m, eligible, scores, groups, params, tuple(warnings), output, command)
    subsets = [draw.subset(k, s, order) for s in opts.seeds for k, order in draw.orders(s)]
    if output is not None:
        _write(subsets, opts, force, [i.path for i in pl_.inputs])
    return SubsetReport(opts.strategy, len(pl_.examples), int(eligible.size), tuple(subsets), tuple(warnings))


def _one_of(options: SubsetOptions | None, keywords: SubsetOptions) -> SubsetOptions:
    """The options object, or the keyword arguments when none is given; never both."""
    if options is None:
        return keywords
    if keywords != SubsetOptions():
        raise OptionError("give the subset options as keyword arguments or as one SubsetOptions, not both")
    return options


def _shortfalls(pl_: Pool, opts: SubsetOptions, eligible: int) -> list[str]:
    """What to warn about: clashing ids, and sizes above the eligible count (an error with ``strict``)."""
    warnings: list[str] = []
    if pl_.renamed:
        warnings.append(f"{pl_.renamed} ids clashed across inputs and were prefixed with their input's name")
    for k in sorted(opts.sizes):
        if k > eligible:
            msg = (
                f"asked for {k} examples but only {eligible} of {len(pl_.examples)} are eligible; "
                f"the subset holds all {eligible}"
            )
            if opts.strict:
                raise ImdataError(msg.split(";")[0] + "; ask for fewer, or drop --strict to take them all")
            warnings.append(msg)
    return warnings


def _api_command(opts: SubsetOptions, pl_: Pool, params: dict[str, Any], output: str | os.PathLike[str] | None) -> str:
    """The Python call that makes these subsets, for manifests made without a command line."""
    call = {"n": opts.n, "strategy": opts.strategy, "seed": opts.seed, "nested": opts.nested or None, **params}
    call.update(output=Path(output).name if output is not None else None)
    return api_call("subset", pl_.inputs, {k: v for k, v in call.items() if k not in ("length_unit",)})


@dataclass(frozen=True)
class _Draw:
    """What every subset of one call shares: the options, the pool, its measures, who is eligible."""

    opts: SubsetOptions
    pool: Pool
    m: Measures
    eligible: np.ndarray
    scores: np.ndarray | None
    groups: np.ndarray | None
    params: dict[str, Any]
    warnings: tuple[str, ...]
    output: str | os.PathLike[str] | None
    command: str

    @cached_property
    def ids(self) -> np.ndarray:
        """The pooled examples' ids (the tie-break of the deterministic orders)."""
        return np.array([ex.id for ex in self.pool.examples], dtype=object)

    @cached_property
    def parent_profile(self) -> dict[str, Any]:
        """The length profile of every pooled example."""
        return length_profile(self.m)

    def orders(self, seed: int) -> Iterator[tuple[int, np.ndarray]]:
        """Each size, smallest first, with the priority order whose head is its subset."""
        base: np.ndarray | None = None
        for k in sorted(self.opts.sizes):
            if not self.opts.one_order:
                yield k, self.order(np.random.default_rng([seed, k]))
                continue
            if base is None:
                base = self.order(np.random.default_rng(seed))
            yield k, base

    def order(self, rng: np.random.Generator) -> np.ndarray:
        """The eligible indices in the strategy's priority order."""
        o = self.opts
        return _order(o.strategy, self.eligible, self.m, self.ids, self.scores, self.groups, rng, o.target_ratio)

    def subset(self, k: int, seed: int, order: np.ndarray) -> Subset:
        """The first ``k`` of ``order``, in the parent's order, with its manifest."""
        take = np.sort(order[:k])
        chosen = tuple(self.pool.examples[i] for i in take)
        man = Manifest(
            kind="subset",
            strategy=self.opts.strategy,
            parameters={**self.params, "n": k},
            seed=seed,
            inputs=self.pool.inputs,
            outputs={"subset": [ex.id for ex in chosen]},
            profile={"subset": length_profile(self.m.take(take)), "parent": self.parent_profile},
            notes=self.notes(k),
            extra=self.extra(k, seed, take),
        )
        return Subset(k, seed, chosen, man, self.path(k, seed) if self.output else None)

    def notes(self, k: int) -> tuple[str, ...]:
        """The manifest's notes for the subset of size ``k``."""
        notes = [f"examples are written in the parent's order; {_ORDER_NOTE[self.opts.strategy]}"]
        if self.opts.strategy == "ratio":
            notes.append(ZERO_OUTPUT_RULE)
        return tuple(notes + [w for w in self.warnings if f"for {k} " in w or "clashed" in w])

    def extra(self, k: int, seed: int, take: np.ndarray) -> dict[str, Any]:
        """The manifest's provenance beyond the common fields."""
        extra: dict[str, Any] = {
            "eligible": int(self.eligible.size),
            "parent_examples": len(self.pool.examples),
            "command": self.command,
            "sources": self.pool.mix(take),
        }
        bigger = [x for x in sorted(self.opts.sizes) if x > k]
        if self.output and bigger and self.opts.one_order:
            extra["contained_in"] = Path(self.path(bigger[0], seed)).name
        if self.groups is not None:
            extra["strata"] = _strata(self.groups, self.eligible, take)
        if self.output:
            extra["output"] = Path(self.path(k, seed)).name
        return extra

    def path(self, k: int, seed: int) -> str:
        """Where the subset of size ``k`` and ``seed`` is written (only the varying parts tagged)."""
        assert self.output is not None  # callers check
        return _output_name(self.output, k, seed, len(self.opts.sizes) > 1, len(self.opts.seeds) > 1)


def _write(subsets: Sequence[Subset], opts: SubsetOptions, force: bool, inputs: list[str]) -> None:
    """Write every subset and its manifest (after all were made, so a bad option writes nothing)."""
    for sub in subsets:
        assert sub.output is not None  # set by _Draw.subset whenever there is an output
        write_examples(sub.examples, sub.output, to=opts.to, template=opts.template, tokenizer=opts.tokenizer,
                       force=force, inputs=inputs)  # fmt: skip
        sub.manifest.write(manifest_path(sub.output, "subset"), force=force)


_ORDER_NOTE = {
    "random": "chosen by a seeded permutation",
    "stratified": "chosen by seeded permutations within each stratum, interleaved to keep proportions",
    "longest": "chosen longest output first, ties broken by id",
    "ratio": "chosen nearest the target ratio (|log r - log target|, ties by id), or at random within the ratio window",
    "score": "chosen highest score first, ties in a seeded order",
}


def _seeded(strategy: str, target_ratio: float | None) -> bool:
    """Whether the strategy's order depends on the seed."""
    return strategy not in ("longest",) and not (strategy == "ratio" and target_ratio is not None)


def _check_options(o: SubsetOptions) -> dict[str, Any]:
    """Fail on options that contradict each other; return the strategy's own, for the manifest."""
    strategy, sizes, seeds = o.strategy, o.sizes, o.seeds
    opts: dict[str, Any] = {
        "by": o.by,
        "target_ratio": o.target_ratio,
        "min_ratio": o.min_ratio,
        "max_ratio": o.max_ratio,
        "score_field": o.score_field,
        "min_score": o.min_score,
    }
    if strategy not in STRATEGIES:
        raise OptionError(f"--strategy {strategy!r}: expected one of {', '.join(STRATEGIES)}")
    if not sizes:
        raise OptionError("--n: give at least one size")
    bad = [k for k in sizes if not isinstance(k, int) or k < 1]
    if bad:
        raise OptionError(f"--n {bad[0]}: sizes must be whole numbers of at least 1")
    if len(set(sizes)) != len(sizes) or len(set(seeds)) != len(seeds) or not seeds:
        raise OptionError("--n and --seeds: give each size and seed once")
    allowed = {
        "stratified": {"by"},
        "ratio": {"target_ratio", "min_ratio", "max_ratio"},
        "score": {"score_field", "min_score"},
    }.get(strategy, set())
    for key, val in opts.items():
        if val is not None and key not in allowed:
            flag = "--" + key.replace("_", "-")
            raise OptionError(f"{flag} does not apply to --strategy {strategy}; drop it or choose another strategy")
    if strategy == "stratified" and opts["by"] is None:
        raise OptionError("--strategy stratified needs --by FIELD (e.g. --by source)")
    if strategy == "score" and opts["score_field"] is None:
        raise OptionError("--strategy score needs --score-field FIELD")
    if strategy == "ratio":
        lo, hi, tgt = o.min_ratio, o.max_ratio, o.target_ratio
        if lo is None and hi is None and tgt is None:
            raise OptionError("--strategy ratio needs --target-ratio R, or --min-ratio/--max-ratio")
        if tgt is not None and not tgt > 0:
            raise OptionError(f"--target-ratio {tgt}: must be greater than 0")
        if lo is not None and hi is not None and not lo < hi:
            raise OptionError(f"--min-ratio {lo} --max-ratio {hi}: the minimum must be below the maximum")
    if not _seeded(strategy, o.target_ratio) and len(seeds) > 1:
        raise OptionError(f"--strategy {strategy} does not use the seed, so --seeds would write identical subsets")
    return {k: v for k, v in opts.items() if k in allowed}


def _eligible(
    exs: Sequence[Example], m: Measures, o: SubsetOptions
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Indices of eligible examples, scores (``score``) and stratum labels (``stratified``)."""
    strategy, by, score_field, min_score = o.strategy, o.by, o.score_field, o.min_score
    min_ratio, max_ratio = o.min_ratio, o.max_ratio
    idx = np.arange(len(exs))
    if strategy == "ratio":
        r = m.ratio
        keep = np.ones(len(exs), dtype=bool)
        if min_ratio is not None:
            keep &= r >= min_ratio
        if max_ratio is not None:
            keep &= r <= max_ratio
        return idx[keep], None, None
    if strategy == "score":
        assert score_field is not None  # checked by _check_options
        scores = np.array(
            [
                _number(v, ex, score_field)
                for v, ex in zip(field_values(exs, score_field, option="--score-field"), exs, strict=True)
            ]
        )
        keep = scores >= min_score if min_score is not None else np.ones(len(exs), dtype=bool)
        return idx[keep], scores, None
    if strategy == "stratified":
        assert by is not None  # checked by _check_options
        labels = np.array(
            [v if isinstance(v, str) else repr(v) for v in field_values(exs, by, option="--by")],
            dtype=object,
        )
        return idx, None, labels
    return idx, None, None


def _number(value: Any, ex: Example, name: str) -> float:
    number = _finite(value)
    if number is None:
        raise OptionError(f"--score-field {name}: example {ex.id!r} has {_shown(value)}, not a finite number; "
                          "fix the field (imdata subset leaves such records out, or names them with --on-error "
                          "raise)")  # fmt: skip
    return number


def _finite(value: Any) -> float | None:
    """A score as a finite float (a number, or a string holding one), else ``None``."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _shown(value: Any) -> str:
    """A value as the user's JSON file writes it (``NaN``, ``Infinity``, ``"high"``, ``null``)."""
    return json.dumps(value, ensure_ascii=False, default=str)[:60]


def score_check(field: str) -> Callable[[Example], None]:
    """A loader check for ``--strategy score``: a score that is not a finite number is a bad record.

    Passed as ``check`` to :func:`imdata.data.dataset.load`, it makes a ``NaN``, ``Infinity`` or
    ``"high"`` in ``field`` an error at its file and line (``--on-error raise``) or a skipped
    record counted as ``bad-score``, instead of a rank. A missing score is left to the
    selection, which names every example that lacks the field.
    """

    def check(ex: Example) -> None:
        value = ex.meta.get(field)
        if value is not None and _finite(value) is None:
            raise DataError("", "", field, f"is {_shown(value)}, not a finite number",
                            "fix the score, or choose another --score-field; --on-error skip leaves such "
                            "records out", reason="bad-score")  # fmt: skip

    return check


def _order(
    strategy: str,
    eligible: np.ndarray,
    m: Measures,
    ids: np.ndarray,
    scores: np.ndarray | None,
    groups: np.ndarray | None,
    rng: np.random.Generator,
    target_ratio: float | None,
) -> np.ndarray:
    """The eligible indices in priority order."""
    if strategy == "longest":
        # lexsort: last key is primary; ids as the tie-break make the order total.
        keys = np.argsort(np.argsort(ids[eligible].astype(str), kind="stable"), kind="stable")
        return eligible[np.lexsort((keys, -m.output[eligible]))]
    if strategy == "ratio" and target_ratio is not None:
        with np.errstate(divide="ignore"):
            dist = np.abs(np.log(m.ratio[eligible].astype(np.float64)) - np.log(target_ratio))
        dist = np.nan_to_num(dist, nan=np.inf)  # zero/zero -> farthest
        keys = np.argsort(np.argsort(ids[eligible].astype(str), kind="stable"), kind="stable")
        return eligible[np.lexsort((keys, dist))]
    if strategy == "score":
        assert scores is not None
        tie = rng.permutation(eligible.size)
        return eligible[np.lexsort((tie, -scores[eligible]))]
    if strategy == "stratified":
        assert groups is not None
        return stratified_order(groups[eligible], rng, eligible)
    return rng.permutation(eligible)


def stratified_order(labels: np.ndarray, rng: np.random.Generator, index: np.ndarray | None = None) -> np.ndarray:
    """An order of ``index`` whose every prefix keeps the proportions of ``labels``.

    Within a stratum of size ``s`` the ``r``-th example (in a seeded order) gets the key
    ``(r + 0.5) / s``; sorting all keys interleaves the strata, so the first ``k`` hold
    each stratum's share of ``k`` to within one example.

    >>> stratified_order(np.array(["a", "a", "a", "b"]), np.random.default_rng(0)).size
    4
    """
    index = np.arange(labels.size) if index is None else index
    values, inverse, counts = np.unique(labels.astype(str), return_inverse=True, return_counts=True)
    keys = np.empty(labels.size, dtype=np.float64)
    for g in range(values.size):
        members = np.flatnonzero(inverse == g)
        ranks = rng.permutation(members.size)
        keys[members] = (ranks + 0.5) / counts[g]
    group_tie = rng.permutation(values.size)[inverse]
    return index[np.lexsort((group_tie, keys))]


def _strata(groups: np.ndarray, eligible: np.ndarray, take: np.ndarray) -> dict[str, dict[str, int]]:
    parent = dict(zip(*np.unique(groups[eligible].astype(str), return_counts=True), strict=True))
    sub = dict(zip(*np.unique(groups[take].astype(str), return_counts=True), strict=True))
    return {str(k): {"parent": int(v), "subset": int(sub.get(k, 0))} for k, v in sorted(parent.items())}


def _output_name(output: str | os.PathLike[str], k: int, seed: int, many_n: bool, many_seeds: bool) -> str:
    """``out.jsonl`` -> ``out-n1000-seed1.jsonl`` (only the parts that vary)."""
    p = Path(output)
    tag = (f"-n{k}" if many_n else "") + (f"-seed{seed}" if many_seeds else "")
    if not tag:
        return str(p)
    suffix = "".join(s for s in p.suffixes[-2:] if s.lower() in (".jsonl", ".json", ".parquet", ".gz", ".zst"))
    stem = p.name[: len(p.name) - len(suffix)] if suffix else p.name
    return str(p.with_name(stem + tag + suffix))
