"""Low-resource subsets: nested SAH subsets (1k, 2k, 5k) of the Alpaca data against the parent.

The Superficial Alignment Hypothesis experiments train on 1k-10k examples; the paper finds IM
helps most there. ``imdata.subset`` draws nested random subsets (each contains the smaller
ones) from AlpaGasus's random 9k, a random sample of Alpaca 52k, with three seeds, and
``imdata.profile`` measures each against the parent in words and LLaMA-2 tokens.
Writes results/low_resource.md and results/low_resource.png.
"""

from __future__ import annotations

from pathlib import Path

import _common as c

import imdata

PARENT = "alpagasus_random_9k"
SIZES = (1000, 2000, 5000)
SEEDS = (0, 1, 2)
HEAD = ["set", "examples", "instruction (words)", "output (words)", "instr/output (words)", "median ratio",
        "instr/output (tokens)", "IM/IT (tokens)", "output p90 (tokens)"]  # fmt: skip


def main(out: Path = c.RESULTS, sample: int | None = None) -> list[Path]:
    parent = c.dataset(PARENT, sample)
    sizes = SIZES if sample is None else tuple(max(1, n * sample // 10000) for n in SIZES)
    rep = imdata.subset(parent, n=list(sizes), nested=True, seed=list(SEEDS))
    subsets = {(s.seed, s.n): s for s in rep.subsets}
    for seed in SEEDS:  # nested: each subset holds the smaller ones
        for a, b in zip(sizes, sizes[1:], strict=False):
            assert set(subsets[(seed, a)].ids) <= set(subsets[(seed, b)].ids)
    data = [parent] + [
        imdata.Dataset(
            f"n{s.n}-seed{s.seed}", parent.path, parent.format, s.examples, parent.fingerprint, parent.skipped
        )  # fmt: skip
        for s in rep.subsets
    ]
    words = imdata.profile(data, unit="words")
    tokens = imdata.profile(data, tokenizer=c.tokenizer())
    rows = []
    for w, t in zip(words.datasets, tokens.datasets, strict=True):
        rows.append([w.name if w.name != PARENT else f"parent ({PARENT})", c.fmt(w.examples),
                     f"{w.instruction.mean:.2f}", f"{w.output.mean:.2f}", f"{w.ratio:.4f}", f"{w.median_ratio:.3f}",
                     f"{t.ratio:.4f}", f"{t.im_over_it:.3f}", c.fmt(t.output.p90, 0)])  # fmt: skip
    pw = words.datasets[0]
    spread = {n: [d.ratio for d in words.datasets[1:] if d.examples == n] for n in sizes}
    lines = [
        "# Low-resource subsets of the Alpaca data",
        "",
        f"Nested random subsets of {', '.join(f'{n:,}' for n in sizes)} examples of `{c.BY_NAME[PARENT].path}` "
        f"({pw.examples:,} Alpaca examples), seeds {', '.join(map(str, SEEDS))}, from "
        f"`imdata.subset(data, n={list(sizes)}, nested=True, seed={list(SEEDS)})`; each subset of a seed contains "
        "the smaller ones (checked). Lengths in words (the paper's unit, Tulu template) and LLaMA-2 tokens.",
        "",
        c.md_table(HEAD, rows),
        "",
        "The subsets keep the parent's profile: across seeds the ratio of means stays within "
        + "; ".join(f"{min(v):.3f}-{max(v):.3f} at {n:,}" for n, v in spread.items() if v)
        + f" (parent {pw.ratio:.3f}). Random SAH subsets change the number of examples, the paper's second factor, "
        "without moving the first (the ratio); to vary the ratio at a fixed size use "
        "`imdata subset --strategy ratio` or `imdata split --by ratio`.",
        "",
        "![Subsets against the parent](low_resource.png)",
    ]
    out.mkdir(parents=True, exist_ok=True)
    c.write_text(out / "low_resource.md", "\n".join(lines))
    _plot(words, sizes, out / "low_resource.png")
    return [out / "low_resource.md", out / "low_resource.png"]


def _plot(words: object, sizes: tuple[int, ...], path: Path) -> None:
    import numpy as np

    frame = words.examples  # type: ignore[attr-defined]
    ds = words.datasets  # type: ignore[attr-defined]
    fig = c.figure(figsize=(11, 4.2))
    ax1, ax2 = fig.subplots(1, 2)
    parent = ds[0]
    ax1.axhline(parent.ratio, color="black", lw=1, ls="--", label=f"parent ({parent.examples:,} examples)")
    colors = ["#1b9e77", "#d95f02", "#7570b3"]
    for i, seed in enumerate(SEEDS):
        pts = [(d.examples, d.ratio) for d in ds[1:] if d.name.endswith(f"seed{seed}")]
        ax1.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", color=colors[i % 3], label=f"seed {seed}")
    ax1.set_ylim(parent.ratio * 0.8, parent.ratio * 1.2)  # +-20%: small wobbles stay small
    ax1.set_xscale("log")
    ax1.set_xticks(list(sizes), [f"{n:,}" for n in sizes])
    ax1.minorticks_off()
    ax1.set_xlabel("subset size (examples, log scale)")
    ax1.set_ylabel("instruction / output, ratio of the means (words)")
    ax1.set_title("Ratio of nested subsets against the parent", fontsize=10)
    ax1.legend(fontsize=8)
    for name, color, lw in [(parent.name, "black", 2.0)] + [
        (f"n{n}-seed0", colors[j], 1.2) for j, n in enumerate(sizes)
    ]:
        vals = np.sort(frame.filter(frame["dataset"] == name)["output"].to_numpy())
        label = "parent" if name == parent.name else f"{name.split('-')[0][1:]} examples (seed 0)"
        ax2.plot(vals, np.arange(1, len(vals) + 1) / len(vals), color=color, lw=lw, label=label)
    ax2.set_xscale("log")
    ax2.set_xlabel("output length (Tulu words incl. the role tag, log scale)")
    ax2.set_ylabel("share of examples with at most this length")
    ax2.set_title("Output length distribution (CDF)", fontsize=10)
    ax2.legend(fontsize=8)
    fig.suptitle(f"Low-resource SAH subsets of {parent.name} (Alpaca data)")
    c.save_png(fig, path)


if __name__ == "__main__":
    c.run_script(main, __doc__, c.RESULTS)
