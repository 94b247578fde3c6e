"""Split data by instruction/output ratio, and hold out a test set that does not leak.

Every example lands in exactly one output of a split:

- ``by="ratio"``: buckets ``bucket-1`` (lowest ratio) .. ``bucket-K``, cut at quantiles
  of the ratio (default) or at fixed ``edges`` (bucket ``i`` holds ``edges[i-1] <= r <
  edges[i]``). Examples with a zero-length output (ratio undefined) go to the top bucket.
  With ``equal_size``, every bucket is down-sampled (seeded) to the smallest one, so that
  the buckets differ in ratio only; the rest go to ``surplus``.
- ``holdout=0.1``: ``holdout`` gets a random 10% (stratified by ``by`` when it names a
  field, by ratio bucket when ``by="ratio"``); the rest is ``train`` (or the buckets). The
  held-out set is checked against the training side with :func:`imdata.selection.overlaps.overlap`;
  leaks are reported, or moved to the training side with ``leaks="move"``.

Seeds: the held-out draw uses ``default_rng([seed, 1])``, the down-sampling of bucket ``i``
``default_rng([seed, 2, i])``.

>>> from imdata.data.records import Example
>>> pairs = [[("user", "q " * i), ("assistant", "a a a")] for i in range(1, 9)]
>>> exs = [Example.from_pairs(f"e{i}", p) for i, p in enumerate(pairs)]
>>> rep = split(exs, by="ratio", buckets=2)
>>> [(p.name, len(p.examples)) for p in rep.parts]
[('bucket-1', 4), ('bucket-2', 4)]
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from imdata.choices import DEFAULT_SEED, LEAK_ACTIONS, PART_SUFFIXES, LeakAction
from imdata.data.records import Example
from imdata.errors import ImdataError, OptionError, OutputError
from imdata.selection.manifest import (
    ZERO_OUTPUT_RULE,
    Data,
    Manifest,
    Measures,
    Pool,
    api_call,
    field_values,
    length_profile,
    measure,
    pool,
    write_examples,
)
from imdata.selection.overlaps import DEFAULT_THRESHOLD, OverlapReport, overlap
from imdata.selection.subsets import stratified_order

MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True)
class Part:
    """One output of a split."""

    name: str
    examples: tuple[Example, ...]
    #: ``[low, high)`` ratio edges of a bucket (``None`` = unbounded), else ``None``
    edges: tuple[float | None, float | None] | None = None


@dataclass(frozen=True)
class SplitReport:
    """The parts of a split, its manifest, and the leak check of a held-out set."""

    parts: tuple[Part, ...]
    manifest: Manifest
    leaks: OverlapReport | None = None
    moved: int = 0
    output: str | None = None
    warnings: tuple[str, ...] = ()

    def rows(self) -> list[dict[str, Any]]:
        """One row per part, for tables."""
        out = []
        for p in self.parts:
            prof = self.manifest.profile[p.name]
            lo, hi = p.edges if p.edges else (None, None)
            out.append(
                {
                    "part": p.name,
                    "examples": len(p.examples),
                    "ratio_from": lo,
                    "ratio_to": hi,
                    "instruction_mean": prof.get("instruction_mean"),
                    "output_mean": prof.get("output_mean"),
                    "ratio_of_means": prof.get("ratio_of_means"),
                }
            )
        return out


@dataclass(frozen=True)
class SplitOptions:
    """How a split is made and measured: every option of ``imdata split`` but where to write.

    Built once by the CLI (or by :func:`split` from its keyword arguments) and passed whole.

    Attributes:
        by: ``"ratio"`` for ratio buckets; any other name is the field the held-out set is
            stratified by (``source``, ``id`` or a meta key).
        buckets: how many ratio buckets (default 4, or ``len(edges) + 1``).
        edges: fixed, increasing ratio edges instead of quantiles.
        equal_size: down-sample every bucket to the smallest.
        holdout: the fraction of examples to hold out, in (0, 1).
        seed: the seed of the held-out draw and of the down-sampling.
        leaks: what to do with held-out examples also found in the training side:
            ``report`` them, ``move`` them to the training side, or ``fail``.
        leak_threshold: the containment above which a held-out example counts as leaked.
        template: the template lengths are measured under (words, the paper's unit).
        tokenizer: measure lengths in this tokenizer's tokens instead of words.
        to: write a ``spans`` export format instead of canonical JSONL.
        suffix: how each part file is named, and so written: ``.jsonl`` (``.gz``, ``.zst``
            compressed), ``.json`` (a list) or ``.parquet`` (the records' columns).
    """

    by: str | None = None
    buckets: int | None = None
    edges: Sequence[float] | None = None
    equal_size: bool = False
    holdout: float | None = None
    seed: int = DEFAULT_SEED
    leaks: LeakAction = "report"
    leak_threshold: float = DEFAULT_THRESHOLD
    template: str = "tulu"
    tokenizer: str | None = None
    to: str | None = None
    suffix: str = ".jsonl"


def check_suffix(suffix: str, to: str | None) -> None:
    """Refuse a part suffix that is unknown or names a format ``to`` cannot be written in, before any work."""
    if suffix not in PART_SUFFIXES:
        raise OptionError(f"--suffix {suffix}: expected one of {', '.join(PART_SUFFIXES)}")
    if to not in (None, "messages") and suffix == ".parquet":
        raise OptionError(
            f"--suffix .parquet: split --to {to} writes JSONL; use --suffix .jsonl or .jsonl.gz, "
            "or leave out --to to copy the records"
        )


def split(
    data: Data,
    options: SplitOptions | None = None,
    *,
    by: str | None = None,
    buckets: int | None = None,
    edges: Sequence[float] | None = None,
    equal_size: bool = False,
    holdout: float | None = None,
    seed: int = DEFAULT_SEED,
    leaks: LeakAction = "report",
    leak_threshold: float = DEFAULT_THRESHOLD,
    template: str = "tulu",
    tokenizer: str | None = None,
    output: str | os.PathLike[str] | None = None,
    to: str | None = None,
    suffix: str = ".jsonl",
    force: bool = False,
    command: str | None = None,
) -> SplitReport:
    """Split examples into ratio buckets and/or a held-out set; each example in one output.

    ``data`` is one or more loaded datasets (pooled in order) or a list of examples. The
    split options are the fields of :class:`SplitOptions` (documented there), given as
    keyword arguments or as one ``options`` object, not both. ``output`` is a folder to write
    one file per part (``bucket-1.jsonl`` ..., named with ``suffix``) and ``manifest.json``
    into; ``force`` writes into a folder that already holds files, overwriting them.
    ``command`` is the command line recorded in the manifest
    (default: the equivalent Python call).
    """
    keywords = SplitOptions(by=by, buckets=buckets, edges=edges, equal_size=equal_size, holdout=holdout, seed=seed,
                            leaks=leaks, leak_threshold=leak_threshold, template=template, tokenizer=tokenizer,
                            to=to, suffix=suffix)  # fmt: skip
    if options is not None and keywords != SplitOptions():
        raise OptionError("give the split options as keyword arguments or as one SplitOptions, not both")
    o = options or keywords
    k = _check(o.by, o.buckets, o.edges, o.equal_size, o.holdout, o.leaks)
    check_suffix(o.suffix, o.to)
    pl_ = pool(data)
    m = measure(pl_.examples, template=o.template, tokenizer=o.tokenizer)
    out_dir = _check_dir(output, force) if output is not None else None
    held = _hold_out(pl_.examples, m, k, o) if o.holdout is not None else _HeldOut()
    parts, notes, warnings = _parts(pl_.examples, m, held, k, o)
    if pl_.renamed:
        warnings.append(f"{pl_.renamed} ids clashed across inputs and were prefixed with their input's name")
    params = _params(o, k, m.unit)
    command = command or api_call("split", pl_.inputs, {**params, "seed": o.seed, "output": _name(output)})
    man = _manifest(pl_, m, parts, o, params, held, tuple(notes + warnings), command)
    if out_dir is not None:
        _write(out_dir, parts, man, o, [i.path for i in pl_.inputs], force)
    return SplitReport(tuple(parts), man, held.report, held.moved, str(out_dir) if out_dir else None, tuple(warnings))


def _write(out: Path, parts: Sequence[Part], man: Manifest, o: SplitOptions, inputs: list[str], force: bool) -> None:
    """Write every part as ``NAME + suffix`` and the manifest into the folder ``out``."""
    for p in parts:
        write_examples(p.examples, out / f"{p.name}{o.suffix}", to=o.to, template=o.template,
                       tokenizer=o.tokenizer, force=force, inputs=inputs)  # fmt: skip
    man.write(out / MANIFEST_NAME, force=force)


@dataclass(frozen=True)
class _HeldOut:
    """The held-out examples (indices into the pool) and their leak check."""

    index: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    report: OverlapReport | None = None
    moved: int = 0
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def _hold_out(exs: Sequence[Example], m: Measures, k: int, o: SplitOptions) -> _HeldOut:
    """Draw the held-out set (stratified by ``by``) and check it against the training side."""
    assert o.holdout is not None  # callers check
    size = max(1, round(o.holdout * len(exs)))
    if size >= len(exs):
        raise ImdataError(f"--holdout {o.holdout}: would hold out all {len(exs)} examples; use a smaller fraction")
    held = np.sort(stratified_order(_strata_labels(exs, m, k, o), np.random.default_rng([o.seed, 1]))[:size])
    rest = np.setdiff1d(np.arange(len(exs)), held)
    report = overlap([exs[i] for i in held], [exs[i] for i in rest], threshold=o.leak_threshold)
    warnings: list[str] = []
    moved = 0
    if report.matched:
        msg = (
            f"{report.matched} of {len(held)} held-out examples also occur in the training "
            f"side ({report.exact} exact, {report.near} near-duplicates at containment "
            f">= {o.leak_threshold})"
        )
        if o.leaks == "fail":
            raise ImdataError(msg + "; pass --leaks move to move them to the training side")
        if o.leaks == "move":
            leaked = {p.a for p in report.pairs}
            keep = np.array([exs[i].id not in leaked for i in held], dtype=bool)
            moved = int((~keep).sum())
            held = held[keep]
            msg += f"; moved {moved} to the training side"
        warnings.append(msg)
    note = f"held-out examples checked against the training side: {report.matched} leaked" + (
        f", {moved} moved to training" if moved else ""
    )
    return _HeldOut(held, report, moved, tuple(warnings), (note,))


def _strata_labels(exs: Sequence[Example], m: Measures, k: int, o: SplitOptions) -> np.ndarray:
    """What the held-out draw keeps the proportions of: ratio buckets, a field, or nothing."""
    if o.by == "ratio":
        labels: np.ndarray = _bucket_of(m.ratio, _edges(m.ratio, k, o.edges)).astype(str)
        return labels
    if o.by is not None:
        return np.array(
            [v if isinstance(v, str) else repr(v) for v in field_values(exs, o.by, option="--by")],
            dtype=object,
        )
    return np.zeros(len(exs), dtype=str)


def _parts(
    exs: Sequence[Example], m: Measures, held: _HeldOut, k: int, o: SplitOptions
) -> tuple[list[Part], list[str], list[str]]:
    """The outputs in order (holdout, then the buckets and surplus or train), with notes and warnings."""
    train = np.setdiff1d(np.arange(len(exs)), held.index)
    parts = [Part("holdout", tuple(exs[i] for i in held.index))] if o.holdout is not None else []
    notes, warnings = list(held.notes), list(held.warnings)
    if o.by == "ratio":
        buckets, empty = _buckets(exs, m, train, k, o)
        parts += buckets
        warnings += empty
        notes.append(ZERO_OUTPUT_RULE)
        notes.append(
            "bucket i holds ratios r with edge[i-1] <= r < edge[i]; edges are "
            + ("fixed" if o.edges is not None else "quantiles of the (training side's) ratios")
        )
    else:
        parts.append(Part("train", tuple(exs[i] for i in train)))
    if sum(len(p.examples) for p in parts) != len(exs):  # the invariant every caller relies on
        raise ImdataError("internal error: a split lost or duplicated examples; please report it")
    return parts, notes, warnings


def _buckets(
    exs: Sequence[Example], m: Measures, train: np.ndarray, k: int, o: SplitOptions
) -> tuple[list[Part], list[str]]:
    """The training side cut into ``k`` ratio buckets (and the surplus of ``equal_size``), and warnings."""
    cut = _edges(m.ratio[train], k, o.edges)
    which = _bucket_of(m.ratio[train], cut)
    members = [train[which == b] for b in range(k)]
    empty = [str(b + 1) for b in range(k) if members[b].size == 0]
    warnings = []
    if empty:
        warnings.append(f"bucket(s) {', '.join(empty)} are empty (many equal ratios); use fewer buckets or --edges")
    bounds = [None, *cut.tolist(), None]
    surplus: list[np.ndarray] = []
    if o.equal_size:
        if empty:
            raise ImdataError(
                f"--equal-size: bucket {empty[0]} is empty, so every bucket would be; "
                "use fewer buckets or other --edges"
            )
        smallest = min(x.size for x in members)
        for b in range(k):
            perm = np.random.default_rng([o.seed, 2, b]).permutation(members[b])
            surplus.append(perm[smallest:])
            members[b] = np.sort(perm[:smallest])
    parts = [Part(f"bucket-{b + 1}", tuple(exs[i] for i in members[b]), (bounds[b], bounds[b + 1])) for b in range(k)]
    if o.equal_size:
        parts.append(Part("surplus", tuple(exs[i] for i in np.sort(np.concatenate(surplus)))))
    return parts, warnings


def _params(o: SplitOptions, k: int, unit: str) -> dict[str, Any]:
    """The split's parameters as the manifest records them."""
    return {
        "by": o.by,
        "buckets": k if o.by == "ratio" else None,
        "edges": list(o.edges) if o.edges else None,
        "equal_size": o.equal_size,
        "holdout": o.holdout,
        "leaks": o.leaks,
        "leak_threshold": o.leak_threshold,
        "length_unit": unit,
        "template": o.template,
        "tokenizer": o.tokenizer,
        "to": o.to,
    }


def _manifest(
    pl_: Pool,
    m: Measures,
    parts: Sequence[Part],
    o: SplitOptions,
    params: dict[str, Any],
    held: _HeldOut,
    notes: tuple[str, ...],
    command: str,
) -> Manifest:
    """The split's manifest: parameters, inputs, each part's ids, profile, sources and leaks."""
    pos = {ex.id: i for i, ex in enumerate(pl_.examples)}
    profile = {"parent": length_profile(m)}
    for p in parts:
        profile[p.name] = length_profile(m.take(np.array([pos[ex.id] for ex in p.examples], dtype=np.int64)))
    extra: dict[str, Any] = {
        "files": {p.name: f"{p.name}{o.suffix}" for p in parts},
        "sources": {p.name: pl_.mix([pos[ex.id] for ex in p.examples]) for p in parts},
        "command": command,
    }
    if o.by == "ratio":
        extra["bucket_edges"] = {p.name: list(p.edges) for p in parts if p.edges}
    if held.report is not None:
        extra["leaks"] = {
            "matched": held.report.matched,
            "exact": held.report.exact,
            "near": held.report.near,
            "moved": held.moved,
            "pairs": [
                {**pr.to_dict(), "a_input": pl_.input_of[pos[pr.a]], "b_input": pl_.input_of[pos[pr.b]]}
                for pr in held.report.pairs
            ],
        }
    return Manifest(
        kind="split",
        strategy="ratio-buckets" if o.by == "ratio" else "holdout",
        parameters=params,
        seed=o.seed,
        inputs=pl_.inputs,
        outputs={p.name: [ex.id for ex in p.examples] for p in parts},
        profile=profile,
        notes=notes,
        extra=extra,
    )


def _check(
    by: str | None,
    buckets: int | None,
    edges: Sequence[float] | None,
    equal_size: bool,
    holdout: float | None,
    leaks: str,
) -> int:
    """Validate the options; return the number of ratio buckets."""
    if leaks not in LEAK_ACTIONS:
        raise OptionError(f"--leaks {leaks!r}: expected one of {', '.join(LEAK_ACTIONS)}")
    if holdout is not None and not 0 < holdout < 1:
        raise OptionError(f"--holdout {holdout}: must be a fraction between 0 and 1, e.g. 0.1")
    if by != "ratio":
        used = [f for f, v in (("--buckets", buckets), ("--edges", edges)) if v is not None]
        if equal_size:
            used.append("--equal-size")
        if used:
            raise OptionError(f"{', '.join(used)} only apply to --by ratio")
        if holdout is None:
            raise OptionError(
                "nothing to split: pass --by ratio (buckets) and/or --holdout FRACTION"
                + (f" (--by {by} stratifies a held-out set)" if by else "")
            )
        return 0
    if edges is not None:
        vals = list(edges)
        if not vals:
            raise OptionError("--edges: give at least one edge, e.g. --edges 0.5,1,2")
        if any(not math.isfinite(v) or v < 0 for v in vals):
            raise OptionError(f"--edges {','.join(map(str, vals))}: edges must be finite ratios >= 0")
        if any(b <= a for a, b in zip(vals, vals[1:], strict=False)):
            raise OptionError(f"--edges {','.join(map(str, vals))}: edges must be strictly increasing")
        if buckets is not None and buckets != len(vals) + 1:
            raise OptionError(
                f"--buckets {buckets} and {len(vals)} edges disagree: {len(vals)} edges make "
                f"{len(vals) + 1} buckets; drop --buckets"
            )
        return len(vals) + 1
    k = 4 if buckets is None else buckets
    if k < 2:
        raise OptionError(f"--buckets {k}: must be at least 2")
    return k


def _edges(ratio: np.ndarray, k: int, edges: Sequence[float] | None) -> np.ndarray:
    """The k-1 inner edges: fixed, or quantiles of the finite ratios."""
    if edges is not None:
        return np.asarray(edges, dtype=np.float64)
    finite = ratio[np.isfinite(ratio)]
    if finite.size == 0:
        return np.full(k - 1, np.inf)
    cut: np.ndarray = np.quantile(finite, np.arange(1, k) / k).round(6)
    return cut


def _bucket_of(ratio: np.ndarray, cut: np.ndarray) -> np.ndarray:
    """Bucket index per example; ``inf`` (zero-length output) lands in the top bucket."""
    out: np.ndarray = np.searchsorted(cut, ratio, side="right")
    return out


def _name(output: str | os.PathLike[str] | None) -> str | None:
    return Path(output).name if output is not None else None


def _check_dir(output: str | os.PathLike[str], force: bool) -> Path:
    out = Path(output)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: is a file; -o takes a folder for split outputs")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise OutputError(f"{out}: folder is not empty; pass --force to write into it")
    return out


__all__ = ["split", "SplitOptions", "SplitReport", "Part", "LEAK_ACTIONS", "check_suffix"]
