"""The memorisation report's figures: BLEU distributions per run, their CDFs, and differences."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from imdata.data.figures import horizontal, save_png

if TYPE_CHECKING:
    from imdata.memorisation.memorization import MemorizationReport, RunReport

_BASE_COLOR = "#c0392b"
_OTHER_COLOR = "#2c7fb8"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _by_mean(report: MemorizationReport) -> list[RunReport]:
    return sorted((r for r in report.runs if r.pairs), key=lambda r: r.bleu.mean)


def _baseline(report: MemorizationReport) -> str:
    return report.comparisons[0].baseline if report.comparisons else ""


def plot_distributions(report: MemorizationReport, path: Path, *, force: bool = False) -> None:
    """Box plots of sentence BLEU per run, highest mean on top, means marked."""
    plt = _pyplot()
    runs = _by_mean(report)
    base = _baseline(report)
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.38 * len(runs)))
    data = [r.pairs_frame["bleu"].to_numpy() for r in runs]
    box = ax.boxplot(
        data,
        **horizontal(),
        widths=0.6,
        patch_artist=True,
        showfliers=True,
        flierprops={"marker": ".", "markersize": 2, "alpha": 0.3, "markeredgecolor": "#555"},
        medianprops={"color": "black"},
    )
    for patch, r in zip(box["boxes"], runs, strict=True):
        patch.set_facecolor(_BASE_COLOR if r.name == base else _OTHER_COLOR)
        patch.set_alpha(0.55)
    ax.scatter(
        [r.bleu.mean for r in runs],
        range(1, len(runs) + 1),
        marker="D",
        s=18,
        color="black",
        zorder=3,
        label="mean",
    )
    ax.set_yticks(range(1, len(runs) + 1), [r.name for r in runs])
    against = "the nearest training output" if report.match == "nearest" else "the training output"
    ax.set_xlabel(f"sentence BLEU against {against} (sacrebleu)")
    ax.set_xlim(-1, 101)
    ax.grid(axis="x", alpha=0.3)
    title = "Memorisation BLEU per run"
    if base:
        title += f" (baseline {base} in red)"
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    save_png(fig, path, force=force, tight=True)
    plt.close(fig)


def plot_cdf(report: MemorizationReport, path: Path, *, force: bool = False) -> None:
    """Empirical CDFs of sentence BLEU, one line per run; a log BLEU axis spreads the low scores."""
    plt = _pyplot()
    runs = _by_mean(report)[::-1]
    base = _baseline(report)
    fig, ax = plt.subplots(figsize=(9, 5.5))
    # colour follows the rank by mean BLEU, so the legend and the lines read in the same order
    cmap = plt.get_cmap("viridis")
    for i, r in enumerate(runs):
        x = np.sort(r.pairs_frame["bleu"].to_numpy())
        y = np.arange(1, len(x) + 1) / len(x)
        is_base = r.name == base
        ax.step(
            np.maximum(x, 0.1),
            y,
            where="post",
            color=_BASE_COLOR if is_base else cmap(0.92 * i / max(1, len(runs) - 1)),
            linewidth=2.6 if is_base else 1.2,
            zorder=3 if is_base else 2,
            label=f"{r.name} (mean {r.bleu.mean:.1f})",
        )
    ax.set_xscale("log")
    ax.set_xlim(0.1, 100)
    ax.set_xticks([0.1, 1, 5, 10, 20, 50, 100], ["≤0.1", "1", "5", "10", "20", "50", "100"])
    ax.set_ylim(0, 1)
    ax.set_xlabel("sentence BLEU (log scale)")
    ax.set_ylabel("share of pairs at or below")
    ax.grid(alpha=0.3)
    title = "CDF of memorisation BLEU (further right = more memorised)"
    ax.set_title(title + (f"; baseline {base} in red" if base else ""))
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
    save_png(fig, path, force=force, tight=True)
    plt.close(fig)


def plot_differences(report: MemorizationReport, path: Path, *, force: bool = False) -> None:
    """Difference of mean BLEU from the baseline with its bootstrap confidence interval."""
    plt = _pyplot()
    comps = sorted((c for c in report.comparisons if c.difference is not None), key=lambda c: c.difference or 0)
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.38 * len(comps)))
    ys = np.arange(len(comps))
    diffs = np.array([c.difference for c in comps], dtype=float)
    lo = diffs - np.array([c.ci_low for c in comps], dtype=float)
    hi = np.array([c.ci_high for c in comps], dtype=float) - diffs
    colors = [_OTHER_COLOR if c.significant else "#999999" for c in comps]
    for y, d, low, high, color in zip(ys, diffs, lo, hi, colors, strict=True):
        ax.errorbar([d], [y], xerr=[[low], [high]], fmt="none", ecolor=color, elinewidth=2, capsize=3)
    ax.scatter(diffs, ys, color=colors, zorder=3)
    ax.axvline(0, color="black", linewidth=1)
    ax.set_yticks(ys, [f"{c.run} (n={c.shared})" for c in comps])
    base = comps[0].baseline if comps else ""
    pct = round(report.confidence * 100)
    ax.set_xlabel(f"mean BLEU of run minus {base} over shared examples, {pct}% paired-bootstrap CI")
    ax.set_title(f"Difference from {base} (grey: CI includes 0)")
    ax.grid(axis="x", alpha=0.3)
    save_png(fig, path, force=force, tight=True)
    plt.close(fig)
