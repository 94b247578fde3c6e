"""The ratio landscape: every dataset we have by instruction/output ratio and size.

The paper names these two factors as what decides whether IM beats IT. Our datasets are
placed from their data cards; the paper's datasets at their published Table 5 positions.
Writes results/ratio_landscape.md and results/ratio_landscape.png.
"""

from __future__ import annotations

from pathlib import Path

import _common as c
from table5 import printed

from imdata.reports.dataset_card import FEW_EXAMPLES, LONG_INSTRUCTIONS


def main(out: Path = c.RESULTS, sample: int | None = None) -> list[Path]:
    paper = printed()
    ours = []
    for k in c.KNOWN:
        card = c.card(k.name, sample)
        w, t = card.word_summary, card.token_summary
        ours.append((k, w.examples, w.ratio, t.ratio, t.im_over_it))
    rows = []
    for k, n, rw, rt, gain in sorted(ours, key=lambda x: -x[2]):
        favour = (rw >= LONG_INSTRUCTIONS) + (n <= FEW_EXAMPLES)
        rows.append([f"[{k.name}](../../data_cards/{k.name}.md)", c.fmt(n), c.fmt(rw, 3), c.fmt(rt, 3),
                     f"{gain:.2f}x", ["neither", "one", "both"][favour], k.paper or ""])  # fmt: skip
    prow = [
        [name, f"{int(r['size']):,}", f"{float(r['instruction_over_output']):.3f}"]
        for name, r in sorted(paper.items(), key=lambda kv: -float(kv[1]["instruction_over_output"]))
    ]
    lines = [
        "# The ratio landscape",
        "",
        "The paper finds IM beats IT most when instructions are long relative to outputs and when examples are "
        "few. Every dataset we have, by those two factors (ratio of the mean instruction to the mean output length, "
        "Tulu template; IM/IT = loss tokens IM trains over those IT trains, LLaMA-2 tokens). `factors` counts how many "
        f"of the two favour IM, reading 'long instructions' as a ratio of at least {LONG_INSTRUCTIONS:g} and 'few "
        f"examples' as at most {FEW_EXAMPLES:,} (imdata's reading; the paper gives no thresholds).",
        "",
        c.md_table(
            ["dataset", "examples", "instr/output (words)", "(tokens)", "IM/IT", "factors", "paper's Table 5 row"], rows
        ),  # fmt: skip
        "",
        _heavy(ours),
        "",
        "The paper's datasets as published (Table 5, words):",
        "",
        c.md_table(["Table 5 row", "examples", "instr/output"], prow),
        "",
        "![The ratio landscape](ratio_landscape.png)",
    ]
    out.mkdir(parents=True, exist_ok=True)
    c.write_text(out / "ratio_landscape.md", "\n".join(lines))
    _plot(ours, paper, out / "ratio_landscape.png")
    return [out / "ratio_landscape.md", out / "ratio_landscape.png"]


def _heavy(ours: list) -> str:
    heavy = [f"`{k.name}` ({rw:.2f}, {n:,} examples)" for k, n, rw, _rt, _g in ours if rw >= LONG_INSTRUCTIONS]
    return (
        f"Of the {len(ours)} datasets we have, {len(heavy)} reach a ratio of {LONG_INSTRUCTIONS:g}"
        + (": " + ", ".join(heavy) if heavy else "")
        + ". The paper's instruction-heavy sets (Less MMLU Chat, Less Tydiqa, Less BBH ICL, Science Literature: "
        "ratios 3.3 to 26) are not public in this form, so the regime where the paper reports IM's largest gains is "
        "one we can place but not measure on training-sized data."
    )


_PAPER_LABEL = {
    "Science Literature": (-7, -3, "right"),
    "Tulu V2 (10%)": (0, -13, "center"),
    "Tulu V2 (20%)": (0, 8, "center"),
    "Tulu V2 (50%)": (0, 8, "center"),
    "Tulu V2": (6, -3, "left"),
    "Alpagasus Dolly 9k": (6, -9, "left"),
}


def _plot(ours: list, paper: dict[str, dict[str, str]], path: Path) -> None:
    import numpy as np

    fig = c.figure(figsize=(10, 6.6))
    ax = fig.subplots()
    ax.set_xscale("log")
    ax.set_yscale("log")
    xlim, ylim = (12, 600_000), (0.05, 60)
    ax.fill_between([xlim[0], FEW_EXAMPLES], LONG_INSTRUCTIONS, ylim[1], color="#2ca25f", alpha=0.10, lw=0)
    ax.text(14, 40, "long instructions, few examples:\nwhere the paper finds IM helps most", fontsize=8,
            color="#1b7a43", va="top")  # fmt: skip
    ax.axhline(1.0, color="grey", ls="--", lw=0.8)
    ax.text(xlim[1] * 0.9, 1.06, "instruction = output", fontsize=7, color="grey", ha="right")
    for name, r in paper.items():
        x, y = int(r["size"]), float(r["instruction_over_output"])
        ax.scatter(x, y, s=80, facecolors="none", edgecolors="#555555", lw=1.2, zorder=3)
        dx, dy, ha = _PAPER_LABEL.get(name, (6, -3, "left"))
        ax.annotate(name, (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=7, color="#555555", ha=ha)
    # the crowded middle (1.5k-20k examples) gets its labels in a column on the left, with leader lines
    crowd = sorted((o for o in ours if 1500 <= o[1] <= 20000), key=lambda o: o[2])
    slots = np.geomspace(0.12, 0.7, len(crowd)) if crowd else []
    for k, n, rw, _rt, _g in ours:
        ax.scatter(n, rw, s=36, color="#c0392b", zorder=4)
        if k.paper:
            p = paper[k.paper]
            ax.plot([int(p["size"]), n], [float(p["instruction_over_output"]), rw], color="#c0392b", lw=0.6,
                    ls=":", zorder=2)  # fmt: skip
        if any(o[0] is k for o in crowd):
            slot = slots[[o[0] for o in crowd].index(k)]
            ax.annotate(
                k.name,
                (n, rw),
                xytext=(700, slot),
                textcoords="data",
                fontsize=7,
                color="#c0392b",
                ha="right",
                va="center",
                arrowprops={"arrowstyle": "-", "color": "#e8a39b", "lw": 0.6},
            )
        else:
            dy = -11 if k.name == "self_instruct_user_oriented" else 4  # clear of alpaca_seed_tasks
            ax.annotate(k.name, (n, rw), xytext=(5, dy), textcoords="offset points", fontsize=7, color="#c0392b")
    ax.scatter([], [], s=80, facecolors="none", edgecolors="#555555", label="the paper's datasets (Table 5 as printed)")
    ax.scatter([], [], s=36, color="#c0392b", label="datasets we have (imdata card)")
    ax.plot([], [], color="#c0392b", lw=0.6, ls=":", label="our file ↔ its Table 5 row")
    ax.set_xlim(xlim)
    ax.set_ylim(ylim)
    ax.set_xlabel("number of examples (log scale)")
    ax.set_ylabel("instruction / output length, ratio of the means (words, log scale)")
    ax.set_title("Instruction/output ratio against size: the two factors that decide IM vs IT")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.25, which="major")
    c.save_png(fig, path)


if __name__ == "__main__":
    c.run_script(main, __doc__, c.RESULTS)
