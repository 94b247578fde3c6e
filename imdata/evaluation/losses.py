"""``imdata.loss``: a model's mean token loss per span kind, several models and sets side by side.

The paper explains Instruction Modelling's gain by less overfitting, and its evidence is
the loss **on output tokens only**, on the training set and on a held-out set, for the IT
and the IM model. A trainer's logged loss cannot show this: under IM it averages over the
instruction tokens too. This computes one model-agnostic measure for any checkpoint: the
data is rendered with a chat template, tokenized with each model's tokenizer, every token
gets a span kind by imdata's labelling rule, the model scores every token (no gradient),
and the token losses are averaged per kind group (``output`` is the paper's measure).

>>> rep = loss("split/", model=["ckpt/it", "ckpt/im"], names=["IT", "IM"])   # doctest: +SKIP
>>> rep.result("IT", "holdout").kinds["output"].loss                         # doctest: +SKIP
1.32
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from imdata import __version__
from imdata.choices import DEFAULT_SEED, Device, DType, LeakedAction
from imdata.data.dataset import Dataset, Progress, SkipLog
from imdata.data.records import Role
from imdata.errors import OptionError
from imdata.evaluation.inputs import Inputs, Part, resolve_inputs
from imdata.evaluation.kinds import KindGroup, parse_kinds
from imdata.evaluation.models import ModelSpec, context_length, load_model, resolve_device, resolve_models
from imdata.evaluation.scoring import kind_counts, score
from imdata.evaluation.stats import bootstrap
from imdata.labels.labelling import tokenize_examples
from imdata.templates.builtin import get_template

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class KindLoss:
    """Mean token loss over one kind group's tokens, with its bootstrap interval over examples."""

    loss: float | None  # None when the set has no token of this kind
    tokens: int
    ppl: float | None
    ci_low: float | None
    ci_high: float | None

    def to_dict(self) -> dict[str, Any]:
        """``{"loss", "tokens", "ppl", "ci_low", "ci_high"}``."""
        return {
            "loss": self.loss,
            "tokens": self.tokens,
            "ppl": self.ppl,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
        }


@dataclass(frozen=True)
class ModelLoss:
    """One model on one set of examples."""

    model: str
    dataset: str
    examples: int
    truncated: int  # examples cut at the maximum length
    kinds: Mapping[str, KindLoss]

    def to_dict(self) -> dict[str, Any]:
        """``{"model", "dataset", "examples", "truncated", "kinds": {KIND: {...}}}``."""
        return {
            "model": self.model,
            "dataset": self.dataset,
            "examples": self.examples,
            "truncated": self.truncated,
            "kinds": {k: v.to_dict() for k, v in self.kinds.items()},
        }


@dataclass(frozen=True)
class Difference:
    """``model`` minus ``baseline`` on the same examples, with a paired bootstrap interval."""

    dataset: str
    kind: str
    baseline: str
    model: str
    examples: int
    difference: float | None
    ci_low: float | None
    ci_high: float | None

    @property
    def significant(self) -> bool:
        """Whether the interval excludes zero."""
        lo, hi = self.ci_low, self.ci_high
        return lo is not None and hi is not None and (lo > 0 or hi < 0)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "dataset": self.dataset,
            "kind": self.kind,
            "baseline": self.baseline,
            "model": self.model,
            "examples": self.examples,
            "difference": self.difference,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "significant": self.significant,
        }


@dataclass(frozen=True)
class Checkpoint:
    """Which model was scored, for provenance."""

    name: str
    source: str
    fingerprint: str
    tokenizer: str
    tokenizer_fingerprint: str
    max_length: int | None  # the length sequences were cut at for this model

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class LossReport:
    """Per model, set and kind group: the loss, and each model minus the baseline."""

    results: tuple[ModelLoss, ...]
    differences: tuple[Difference, ...]
    checkpoints: tuple[Checkpoint, ...]
    datasets: tuple[dict[str, Any], ...]  # name, path, fingerprint, examples
    kinds: tuple[KindGroup, ...]
    template: str
    template_fingerprint: str
    device: str
    dtype: str
    batch_tokens: int
    pack: bool
    bootstrap: int
    seed: int
    confidence: float
    notes: tuple[str, ...]
    #: what loading left out, per input file
    skipped: Mapping[str, SkipLog] = field(default_factory=dict)
    #: per model, set and example: ``{kind}_loss`` (summed) and ``{kind}_tokens`` per kind group
    examples: Any = field(repr=False, default=None)

    def result(self, model: str, dataset: str) -> ModelLoss:
        """The result of ``model`` on ``dataset``."""
        for r in self.results:
            if r.model == model and r.dataset == dataset:
                return r
        raise KeyError((model, dataset))

    def to_dict(self) -> dict[str, Any]:
        """The JSON report (documented in the README; dump with sorted keys)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "imdata_version": __version__,
            "models": [r.to_dict() for r in self.results],
            "differences": [d.to_dict() for d in self.differences],
            "checkpoints": [c.to_dict() for c in self.checkpoints],
            "datasets": list(self.datasets),
            "kinds": {g.name: sorted(g.kinds) for g in self.kinds},
            "template": self.template,
            "template_fingerprint": self.template_fingerprint,
            "device": self.device,
            "dtype": self.dtype,
            "batch_tokens": self.batch_tokens,
            "pack": self.pack,
            "bootstrap": self.bootstrap,
            "seed": self.seed,
            "confidence": self.confidence,
            "notes": list(self.notes),
            "skipped": {path: log.counts for path, log in self.skipped.items() if log.total},
        }


def loss(
    data: str | Dataset | Sequence[str | Dataset],
    *,
    model: str | Sequence[str],
    names: Sequence[str] | None = None,
    template: str = "tulu",
    tokenizer: str | None = None,
    kinds: str | Sequence[str] | None = None,
    max_length: int | None = None,
    batch_tokens: int = 4096,
    pack: bool = False,
    device: Device = "auto",
    dtype: DType = "auto",
    baseline: str | None = None,
    bootstrap: int = 1000,
    seed: int = DEFAULT_SEED,
    confidence: float = 0.95,
    leaked: LeakedAction = "separate",
    input_format: str = "auto",
    role_map: Mapping[str, Role] | None = None,
    fields: Mapping[str, str] | None = None,
    on_error: str = "skip",
    on_progress: Progress | None = None,
) -> LossReport:
    """Mean token loss per model, set of examples and span-kind group.

    Args:
        data: files, ``imdata split`` folders (train and held-out side by side), or datasets.
        model: checkpoint folders (``config.json``, weights, ``tokenizer.json``) or hub ids.
        names: a name per model (default: the folder's name).
        template: the chat template the models were trained with.
        tokenizer: a tokenizer for every model (default: each model's own).
        kinds: kind groups, e.g. ``"output,instruction,it"`` (see :mod:`imdata.evaluation.kinds`).
        max_length: cut sequences at this many tokens (default: each model's context length).
        batch_tokens: tokens per forward pass, padding included.
        pack: several sequences per row (see :mod:`imdata.evaluation.scoring`).
        device: ``cpu``, ``cuda`` or ``auto`` (CUDA when present).
        dtype: ``auto`` is bfloat16 on a GPU that supports it, else float32.
        baseline: the model the others are differenced against (default: the first).
        bootstrap: resamples of the examples for every interval.
        seed: seeds the resamples (set ``i`` uses ``(seed, i)``).
        confidence: coverage of the intervals.
        leaked: held-out examples that leaked into training: ``separate``, ``exclude`` or ``include``.
        input_format: record format of the inputs (``auto``: detected).
        role_map: source role -> system/user/assistant.
        fields: the inputs' own field names (``{"instruction": "question"}``, as ``--field``).
        on_error: ``skip`` bad records and count them (default), or ``raise`` at the first.
        on_progress: called as ``(model name, tokens scored, tokens in all)`` after each batch.
    """
    groups = parse_kinds(kinds)
    _check(batch_tokens, max_length, bootstrap, confidence)
    specs = resolve_models([model] if isinstance(model, str) else list(model), names=names, tokenizer=tokenizer)
    stats = _Stats(_baseline(specs, baseline), bootstrap, seed, confidence)
    dev, dt = resolve_device(device, dtype)
    inputs = resolve_inputs(data, fmt=input_format, role_map=role_map, fields=fields, on_error=on_error, leaked=leaked)
    run = _Scoring(template, groups, dev, dt, max_length, batch_tokens, pack, on_progress)
    return _report(specs, inputs, run, stats, _score_models(specs, inputs, run))


@dataclass(frozen=True)
class _Stats:
    """How the intervals are drawn: the baseline model's index, resamples, seed and coverage."""

    base: int
    n: int
    seed: int
    confidence: float


def _report(specs: list[ModelSpec], inputs: Inputs, run: _Scoring, stats: _Stats, scored: _Scored) -> LossReport:
    results, diffs = _summarise(specs, inputs.parts, run.groups, scored, stats)
    return LossReport(
        results=results,
        differences=diffs,
        checkpoints=scored.checkpoints,
        datasets=tuple(
            {"name": p.name, "path": p.path, "fingerprint": p.fingerprint, "examples": len(p.examples)}
            for p in inputs.parts
        ),
        kinds=run.groups,
        template=run.template,
        template_fingerprint=scored.template_fingerprint,
        device=run.device,
        dtype=run.dtype,
        batch_tokens=run.batch_tokens,
        pack=run.pack,
        bootstrap=stats.n,
        seed=stats.seed,
        confidence=stats.confidence,
        notes=tuple(inputs.notes) + tuple(_notes(specs, results)),
        skipped=inputs.skipped,
        examples=_frame(specs, inputs.parts, run.groups, scored.sums, scored.counts),
    )


@dataclass(frozen=True)
class _Scoring:
    """How every model is run: the options that travel together from :func:`loss` to the scorer."""

    template: str
    groups: tuple[KindGroup, ...]
    device: str
    dtype: str
    max_length: int | None
    batch_tokens: int
    pack: bool
    on_progress: Progress | None


@dataclass(frozen=True)
class _Scored:
    """Per model, example and kind group: summed loss and token count; which examples were cut."""

    sums: np.ndarray
    counts: np.ndarray
    cut: np.ndarray
    checkpoints: tuple[Checkpoint, ...]
    template_fingerprint: str


def _score_models(specs: list[ModelSpec], inputs: Inputs, run: _Scoring) -> _Scored:
    """Load each model in turn, score every example with it, and free it before the next."""
    examples = [ex for p in inputs.parts for ex in p.examples]
    if not examples:
        raise OptionError("no examples to score (every held-out example leaked and --leaked exclude?)")
    tokenized = _tokenize(specs, examples, run.template)
    tables = np.stack([g.table() for g in run.groups], axis=1)  # (slots, groups)
    wanted: np.ndarray = np.asarray(tables.any(axis=1))
    shape = (len(specs), len(examples), len(run.groups))
    sums, counts = np.zeros(shape), np.zeros(shape, dtype=np.int64)
    cut = np.zeros((len(specs), len(examples)), dtype=bool)
    checkpoints = []
    for m, spec in enumerate(specs):
        ids, kinds_, _ = tokenized[spec.tokenizer.fingerprint]
        net = load_model(spec, device=run.device, dtype=run.dtype)
        limit = run.max_length or context_length(net)
        if limit is not None:
            cut[m] = [len(x) > limit for x in ids]
            ids, kinds_ = [x[:limit] for x in ids], [k[:limit] for k in kinds_]
        per_slot = score(net, ids, kinds_, wanted=wanted, batch_tokens=run.batch_tokens, pack=run.pack,
                         pad_id=_pad_id(spec, net), on_batch=_ticker(run.on_progress, spec.name, ids))  # fmt: skip
        sums[m] = per_slot @ tables
        counts[m] = kind_counts(kinds_) @ tables.astype(np.int64)
        checkpoints.append(
            Checkpoint(spec.name, spec.source, spec.fingerprint, spec.tokenizer.name, spec.tokenizer.fingerprint, limit)
        )
        del net
        _free(run.device)
    fingerprint = tokenized[specs[0].tokenizer.fingerprint][2]
    return _Scored(sums, counts, cut, tuple(checkpoints), fingerprint)


def _ticker(on_progress: Progress | None, name: str, ids: list[np.ndarray]) -> Callable[[int], None] | None:
    """``score``'s per-batch token counts as ``on_progress(name, tokens so far, tokens in all)``."""
    if on_progress is None:
        return None
    total, done = sum(len(x) for x in ids), 0

    def tick(tokens: int) -> None:
        nonlocal done
        done += tokens
        on_progress(name, done, total)

    return tick


def _check(batch_tokens: int, max_length: int | None, n: int, confidence: float) -> None:
    if batch_tokens < 1:
        raise OptionError(f"--batch-tokens {batch_tokens}: must be at least 1")
    if max_length is not None and max_length < 2:
        raise OptionError(f"--max-length {max_length}: must be at least 2 (the first token has no loss)")
    if n < 1:
        raise OptionError(f"--bootstrap {n}: must be at least 1")
    if not 0 < confidence < 1:
        raise OptionError(f"--confidence {confidence}: must be between 0 and 1, e.g. 0.95")


def _baseline(specs: list[ModelSpec], baseline: str | None) -> int:
    if baseline is None:
        return 0
    for i, s in enumerate(specs):
        if baseline in (s.name, s.source):
            return i
    raise OptionError(f"--baseline {baseline}: not one of the models ({', '.join(s.name for s in specs)})")


def _tokenize(
    specs: list[ModelSpec], examples: list[Any], template: str
) -> dict[str, tuple[list[np.ndarray], list[np.ndarray], str]]:
    """Token ids and kinds of every example, once per distinct tokenizer."""
    out: dict[str, tuple[list[np.ndarray], list[np.ndarray], str]] = {}
    for spec in specs:
        tok = spec.tokenizer
        if tok.fingerprint in out:
            continue
        tmpl = get_template(template, eos=tok.eos, bos=tok.bos)
        ids, kinds = [], []
        for tz in tokenize_examples(examples, tmpl, tok, mode="all"):
            ids.append(tz.input_ids)
            kinds.append(tz.kinds)
        out[tok.fingerprint] = (ids, kinds, tmpl.fingerprint)
    return out


def _pad_id(spec: ModelSpec, net: Any) -> int:
    from imdata.export.hf import pad_id

    value = getattr(net.config, "pad_token_id", None)
    return value if isinstance(value, int) and value >= 0 else pad_id(spec.tokenizer)


def _free(device: str) -> None:
    import gc

    gc.collect()
    if device == "cuda":
        import torch

        torch.cuda.empty_cache()


def _summarise(
    specs: list[ModelSpec],
    parts: tuple[Part, ...],
    groups: tuple[KindGroup, ...],
    scored: _Scored,
    stats: _Stats,
) -> tuple[tuple[ModelLoss, ...], tuple[Difference, ...]]:
    sums, counts, cut = scored.sums, scored.counts, scored.cut
    base, n, seed, confidence = stats.base, stats.n, stats.seed, stats.confidence
    results: list[ModelLoss] = []
    diffs: list[Difference] = []
    at = 0
    for d, part in enumerate(parts):
        sl = slice(at, at + len(part.examples))
        at = sl.stop
        if not part.examples:
            continue
        est = bootstrap(sums[:, sl], counts[:, sl], n=n, seed=[seed, d], confidence=confidence, baseline=base)
        tokens = counts[:, sl].sum(axis=1)
        for m, spec in enumerate(specs):
            per_kind = {
                g.name: KindLoss(
                    _finite(est.loss[m, j]),
                    int(tokens[m, j]),
                    _finite(math.exp(est.loss[m, j])) if np.isfinite(est.loss[m, j]) else None,
                    _finite(est.low[m, j]),
                    _finite(est.high[m, j]),
                )
                for j, g in enumerate(groups)
            }
            results.append(ModelLoss(spec.name, part.name, len(part.examples), int(cut[m, sl].sum()), per_kind))
            if m == base:
                continue
            for j, g in enumerate(groups):
                diffs.append(
                    Difference(
                        part.name,
                        g.name,
                        specs[base].name,
                        spec.name,
                        len(part.examples),
                        _finite(est.diff[m, j]),
                        _finite(est.diff_low[m, j]),
                        _finite(est.diff_high[m, j]),
                    )
                )
    return tuple(results), tuple(diffs)


def _finite(x: float) -> float | None:
    """``x`` as a JSON-ready float, None where it is not finite (no tokens of a kind)."""
    return float(x) if np.isfinite(x) else None


def _notes(specs: list[ModelSpec], results: tuple[ModelLoss, ...]) -> list[str]:
    out = []
    if len({s.tokenizer.fingerprint for s in specs}) > 1:
        out.append("the models use different tokenizers, so their token losses are over different tokens")
    for r in results:
        if r.truncated:
            out.append(f"{r.model} on {r.dataset}: {r.truncated} examples cut at the maximum length (--max-length)")
    return out


def _frame(
    specs: list[ModelSpec], parts: tuple[Part, ...], groups: tuple[KindGroup, ...], sums: np.ndarray, counts: np.ndarray
) -> Any:
    import polars as pl

    names = [p.name for p in parts for _ in p.examples]
    ids = [ex.id for p in parts for ex in p.examples]
    frames = []
    for m, spec in enumerate(specs):
        cols: dict[str, Any] = {"model": [spec.name] * len(ids), "dataset": names, "id": ids}
        for j, g in enumerate(groups):
            cols[f"{g.name}_loss"] = sums[m, :, j]
            cols[f"{g.name}_tokens"] = counts[m, :, j]
        frames.append(pl.DataFrame(cols))
    return pl.concat(frames)


__all__ = ["Checkpoint", "Difference", "KindLoss", "LossReport", "ModelLoss", "SCHEMA_VERSION", "loss"]
