"""Mean token loss and its bootstrap interval over examples, and paired model differences.

The mean token loss of a set of examples is a ratio: all their token losses summed over
all their tokens (so long examples weigh more, as in a trainer's loss). Its interval
resamples *examples*, not tokens, because the tokens of one example are not independent:
each resample draws the examples with replacement (as multinomial counts, the same
distribution as drawing indices) and recomputes the ratio. Every model and kind is
evaluated on the same resamples, so the difference between two models is paired.

>>> sums = np.array([[[2.0], [4.0], [6.0]]])          # 1 model, 3 examples, 1 kind
>>> counts = np.array([[[1], [2], [3]]])
>>> est = bootstrap(sums, counts, n=200, seed=0, confidence=0.9)
>>> float(est.loss[0, 0]), bool(est.low[0, 0] <= 2.0 <= est.high[0, 0])
(2.0, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_CHUNK = 200  # resamples at a time


@dataclass(frozen=True)
class Estimates:
    """Per model and kind: the loss and its interval; per model pair: the paired difference."""

    loss: np.ndarray  # (models, kinds); nan where a kind has no token
    low: np.ndarray
    high: np.ndarray
    #: ``(models, kinds)`` each model minus the baseline, with its interval (the baseline's row is 0)
    diff: np.ndarray
    diff_low: np.ndarray
    diff_high: np.ndarray


def bootstrap(
    sums: np.ndarray,
    counts: np.ndarray,
    *,
    n: int,
    seed: int | list[int],
    confidence: float,
    baseline: int = 0,
) -> Estimates:
    """Ratio estimates with percentile intervals from ``n`` resamples of the examples.

    Args:
        sums: summed token loss, shape ``(models, examples, kinds)``.
        counts: token counts, same shape.
        n: resamples.
        seed: seeds the one generator that draws every resample.
        confidence: coverage of the intervals (0.95: a 95% interval).
        baseline: the model the others are differenced against.
    """
    s = np.asarray(sums, dtype=np.float64)
    c = np.asarray(counts, dtype=np.float64)
    loss = _ratio(s.sum(axis=1), c.sum(axis=1))
    n_models, n_examples, n_kinds = s.shape
    rng = np.random.default_rng(seed)
    est = np.empty((n, n_models, n_kinds))
    uniform = np.full(n_examples, 1.0 / n_examples)
    for start in range(0, n, _CHUNK):
        k = min(_CHUNK, n - start)
        weights = rng.multinomial(n_examples, uniform, size=k).astype(np.float64)  # (k, examples)
        est[start : start + k] = _ratio(np.einsum("ke,meg->kmg", weights, s), np.einsum("ke,meg->kmg", weights, c))
    alpha = (1 - confidence) / 2
    low, high = _quantiles(est, alpha)
    diffs = est - est[:, baseline : baseline + 1, :]
    diff_low, diff_high = _quantiles(diffs, alpha)
    return Estimates(loss, low, high, loss - loss[baseline : baseline + 1], diff_low, diff_high)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        out: np.ndarray = np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)
    return out


def _quantiles(est: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    finite = np.isfinite(est)
    low = np.full(est.shape[1:], np.nan)
    high = np.full(est.shape[1:], np.nan)
    ok = finite.any(axis=0)
    if ok.any():
        q = np.nanquantile(np.where(finite, est, np.nan)[:, ok], [alpha, 1 - alpha], axis=0)
        low[ok], high[ok] = q[0], q[1]
    return low, high


__all__ = ["Estimates", "bootstrap"]
