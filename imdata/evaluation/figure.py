"""The loss report's figure: per kind, each model's loss on each set, with its interval.

One panel per kind group; the sets (train, held-out, ...) along the x axis, one colour per
model, the points of a model joined so that its train-to-held-out gap reads as a slope.
Built on :class:`matplotlib.figure.Figure` (no pyplot state) and saved without a timestamp.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from imdata.data.figures import save_png

if TYPE_CHECKING:
    from imdata.evaluation.losses import LossReport

_COLORS = ("#2c7fb8", "#e6550d", "#31a354", "#756bb1", "#636363", "#e7298a", "#a6761d", "#1b9e77")


def plot_losses(report: LossReport, path: Path, *, force: bool = False) -> None:
    """Write ``path`` (PNG): loss per kind group, set and model, with bootstrap intervals."""
    from matplotlib.figure import Figure

    sets = [d["name"] for d in report.datasets if d["examples"]]
    models = [c.name for c in report.checkpoints]
    kinds = [g.name for g in report.kinds]
    cols = 2 if len(kinds) == 4 else min(len(kinds), 3)
    rows = -(-len(kinds) // cols)
    fig = Figure(figsize=(4.2 * cols, 3.4 * rows + 0.6), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    width = 0.5 / max(len(models), 1)
    for ax, kind in zip(axes, kinds, strict=False):
        for m, model in enumerate(models):
            x = np.arange(len(sets)) + (m - (len(models) - 1) / 2) * width
            y, lo, hi = [], [], []
            for s in sets:
                v = report.result(model, s).kinds[kind]
                y.append(np.nan if v.loss is None else v.loss)
                lo.append(np.nan if v.ci_low is None or v.loss is None else v.loss - v.ci_low)
                hi.append(np.nan if v.ci_high is None or v.loss is None else v.ci_high - v.loss)
            color = _COLORS[m % len(_COLORS)]
            ax.errorbar(x, y, yerr=[lo, hi], fmt="o-", color=color, capsize=3, lw=1.2, ms=5, label=model)
        ax.set_title(kind)
        ax.set_xticks(np.arange(len(sets)), sets, rotation=20 if len(sets) > 3 else 0)
        ax.set_ylabel("mean token loss (nats)")
        ax.grid(axis="y", alpha=0.3)
    for ax in axes[len(kinds) :]:
        ax.set_visible(False)
    pct = f"{report.confidence:.0%}"
    fig.suptitle(f"Loss per span kind, template {report.template} ({pct} bootstrap intervals over examples)")
    if models:
        fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=min(len(models), 6))
    save_png(fig, path, force=force)


__all__ = ["plot_losses"]
