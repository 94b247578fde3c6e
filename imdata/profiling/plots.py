"""The profile's figures (PNG, headless): lengths, ratios, instruction against output.

Length distributions (log scale) of instruction and output per dataset; the ratio per
dataset on one chart; instruction against output length per example.

Figures are built on :class:`matplotlib.figure.Figure` directly, so no global pyplot state
or display is involved, and saved atomically without a timestamp (same report, same bytes).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from imdata.data import files
from imdata.data.figures import horizontal, save_png

if TYPE_CHECKING:
    from imdata.profiling.summary import ProfileReport

PLOT_FILES = ("lengths.png", "ratio.png", "instruction_vs_output.png")
_INSTR_COLOR = "#2c7fb8"
_OUTPUT_COLOR = "#e6550d"
_SCATTER_MAX = 20000  # points drawn per dataset; a fixed-seed sample beyond that


def profile_plots(report: ProfileReport, folder: str | Path, *, force: bool = False) -> list[Path]:
    """Write the three profile figures into ``folder``; returns their paths.

    ``lengths.png``: per dataset, histograms of instruction and output length (log scale);
    ``ratio.png``: the per-example instruction/output ratio of every dataset on one chart,
    with the ratio of the means marked; ``instruction_vs_output.png``: one scatter per dataset.
    """
    paths = plot_paths(folder, force=force)
    groups = _groups(report)
    save_png(_lengths_figure(report, groups), paths[0], force=force)
    save_png(_ratio_figure(report, groups), paths[1], force=force)
    save_png(_scatter_figure(report, groups), paths[2], force=force)
    return paths


def plot_paths(folder: str | Path, *, force: bool = False) -> list[Path]:
    """The figure paths under ``folder``, checked writable (existing ones need ``force``)."""
    out = Path(folder)
    if out.exists() and not out.is_dir():
        from imdata.errors import OutputError

        raise OutputError(f"--plots {out}: is a file; give a folder for the figures")
    paths = [out / name for name in PLOT_FILES]
    for p in paths:
        files.check_writable(p, force=force)
    return paths


def _groups(report: ProfileReport) -> list[tuple[str, dict[str, np.ndarray]]]:
    frame = report.examples
    out = []
    for d in report.datasets:
        part = frame.filter(frame["dataset"] == d.name)
        out.append((d.name, {c: part[c].to_numpy() for c in ("instruction", "output", "ratio")}))
    return out


def _grid(n: int) -> tuple[int, int]:
    cols = min(n, 4)
    return math.ceil(n / cols), cols


def _figure(rows: int, cols: int, *, cell: tuple[float, float]) -> tuple[Any, list[Any]]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(cell[0] * cols, cell[1] * rows + 0.6), layout="constrained")
    return fig, fig.subplots(rows, cols, squeeze=False).ravel().tolist()


def _log_bins(values: list[np.ndarray]) -> np.ndarray:
    top = max(float(v.max()) for v in values if len(v)) if values else 1.0
    # edges between whole numbers: small lengths get one bin each instead of empty log bins
    edges = np.unique(np.round(np.logspace(0, math.log10(max(top, 2.0)) + 0.05, 40)))
    return np.concatenate([[0.5], edges + 0.5])


def _lengths_figure(report: ProfileReport, groups: list[tuple[str, dict[str, np.ndarray]]]) -> Any:
    rows, cols = _grid(len(groups))
    fig, axes = _figure(rows, cols, cell=(4.2, 3.0))
    bins = _log_bins([g[k] for _, g in groups for k in ("instruction", "output")])
    unit = report.unit
    for ax, (name, g) in zip(axes, groups, strict=False):
        for key, color in (("instruction", _INSTR_COLOR), ("output", _OUTPUT_COLOR)):
            vals = np.clip(g[key], 1, None)  # an empty turn (0) is drawn in the first bin
            ax.hist(vals, bins=bins, histtype="stepfilled", alpha=0.35, color=color)
            ax.hist(
                vals,
                bins=bins,
                histtype="step",
                color=color,
                linewidth=1.2,
                label=f"{key} (median {np.median(g[key]):,.0f})",
            )
        ax.set_xscale("log")
        ax.set_title(f"{name}  (n={len(g['output']):,})", fontsize=10)
        ax.set_xlabel(f"length ({unit}, log scale)")
        ax.set_ylabel("examples")
        ax.legend(fontsize=8, frameon=False)
    for ax in axes[len(groups) :]:
        ax.set_visible(False)
    fig.suptitle(_fit(f"Instruction and output lengths per dataset ({unit}, template {report.template})", cols))
    return fig


def _ratio_figure(report: ProfileReport, groups: list[tuple[str, dict[str, np.ndarray]]]) -> Any:
    from matplotlib.figure import Figure

    by_name = {d.name: d for d in report.datasets}
    order = sorted(groups, key=lambda g: by_name[g[0]].ratio or 0.0)
    fig = Figure(figsize=(9, 1.4 + 0.45 * len(order)), layout="constrained")
    ax = fig.subplots()
    data = [g["ratio"][~np.isnan(g["ratio"])] for _, g in order]
    data = [np.clip(d, 1e-3, None) if len(d) else np.array([np.nan]) for d in data]
    pos = np.arange(1, len(order) + 1)
    ax.boxplot(
        data,
        positions=pos,
        widths=0.6,
        whis=(5, 95),
        showfliers=False,
        patch_artist=True,
        boxprops={"facecolor": "#dfe9f3", "edgecolor": "#4a6785"},
        medianprops={"color": "#4a6785"},
        **horizontal(),
    )
    means = [by_name[n].ratio or np.nan for n, _ in order]
    ax.scatter(means, pos, marker="D", color="#c0392b", zorder=3, label="ratio of the means (the paper's)")
    for y, m in zip(pos, means, strict=True):
        if not np.isnan(m):
            ax.annotate(
                f"{m:.2f}",
                (m, y),
                xytext=(6, 6),
                textcoords="offset points",
                fontsize=8,
                color="#c0392b",
            )
    ax.plot([], [], color="#4a6785", label="median per-example ratio (box: quartiles)")
    ax.axvline(1.0, color="grey", linestyle="--", linewidth=1)
    ax.text(1.0, len(order) + 0.6, " instruction = output", fontsize=8, color="grey", va="center")
    ax.set_yticks(pos, [n for n, _ in order])
    ax.set_ylim(0.4, len(order) + 0.9)
    ax.set_xscale("log")
    ax.set_xlabel(
        f"instruction / output length per example ({report.unit}, log scale; box: quartiles, whiskers: 5-95%)"
    )
    ax.legend(loc="upper left", fontsize=8, framealpha=0.9)
    ax.set_title(
        "Instruction/output ratio per dataset (right of the line: instructions longer; IM helps most there)",
        fontsize=10,
    )
    return fig


def _scatter_figure(report: ProfileReport, groups: list[tuple[str, dict[str, np.ndarray]]]) -> Any:
    rows, cols = _grid(len(groups))
    fig, axes = _figure(rows, cols, cell=(3.8, 3.6))
    unit = report.unit
    top = max(max(float(g["instruction"].max()), float(g["output"].max())) for _, g in groups)
    lim = (0.8, max(top, 2.0) * 1.3)
    rng = np.random.default_rng(0)
    for ax, (name, g) in zip(axes, groups, strict=False):
        x, y = np.clip(g["instruction"], 1, None), np.clip(g["output"], 1, None)
        shown = len(x)
        if len(x) > _SCATTER_MAX:
            keep = np.sort(rng.choice(len(x), _SCATTER_MAX, replace=False))
            x, y, shown = x[keep], y[keep], _SCATTER_MAX
        alpha = float(np.clip(25 / math.sqrt(len(x)), 0.08, 0.7))  # small sets stay visible
        size = 10 if len(x) < 1000 else 4
        ax.scatter(x, y, s=size, alpha=alpha, color="#4a6785", linewidths=0, rasterized=True)
        ax.plot(lim, lim, color="grey", linestyle="--", linewidth=1, label="instruction = output")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(lim)
        ax.set_ylim(lim)
        ax.set_aspect("equal")
        n = len(g["output"])
        ax.set_title(
            f"{name}\n" + (f"{shown:,} of {n:,} examples shown" if shown < n else f"n={n:,}"),
            fontsize=9,
        )
        ax.set_xlabel(f"instruction ({unit})")
        ax.set_ylabel(f"output ({unit})")
        ax.legend(fontsize=7, frameon=False, loc="upper left")
    for ax in axes[len(groups) :]:
        ax.set_visible(False)
    fig.suptitle(_fit(f"Instruction against output length per example ({unit}, log-log)", cols))
    return fig


def _fit(title: str, cols: int) -> str:
    """A one-panel figure is too narrow for a long title: break it before the parenthesis."""
    return title.replace(" (", "\n(", 1) if cols == 1 else title


__all__ = ["PLOT_FILES", "plot_paths", "profile_plots"]
