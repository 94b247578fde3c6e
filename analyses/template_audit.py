"""The template-token audit: what each loss mode trains under each built-in template.

For the paper's three training files, in LLaMA-2 tokens: the tokens that `it`, `im` and
`all` put in the loss under every built-in template, and what the paper's released code
trained (imdata.reports.released rebuilds its labels: it masks only the first `<s><|user|>\\n`).
Writes results/template_audit.md and results/template_audit.png.
"""

from __future__ import annotations

from pathlib import Path

import _common as c

import imdata
from imdata.reports.released import released_audit
from imdata.templates.builtin import BUILTIN_TEMPLATES

FILES = ("lima_data", "alpagasus_3k_dolly", "alpagasus_claude_t45_alpaca")
_COLORS = {"output": "#e6550d", "instruction": "#2c7fb8", "template": "#9e9ac8", "bos": "#d9d9d9"}


def main(out: Path = c.RESULTS, sample: int | None = None) -> list[Path]:
    data = [c.dataset(n, sample) for n in FILES]
    tok = c.tokenizer()
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for t in BUILTIN_TEMPLATES:
        rep = imdata.profile(data, tokenizer=tok, template=t)
        for d in rep.datasets:
            ex = rep.examples.filter(rep.examples["dataset"] == d.name)
            total = int(ex["total"].sum())
            body = int((ex["instruction"] + ex["output"] + ex["template"]).sum())
            counts[(d.name, t)] = {"total": total, "it": d.trained_it, "im": d.trained_im, "all": body}
    released = {r.name: r for r in released_audit(data, tokenizer=tok, max_length=None).rows}
    rows = []
    for name in FILES:
        for t in BUILTIN_TEMPLATES:
            k = counts[(name, t)]
            tpl = k["all"] - k["im"]
            rel = released[name] if t == "tulu" else None
            rows.append(
                [name if t == BUILTIN_TEMPLATES[0] else "", f"`{t}`", c.fmt(k["total"]), c.fmt(k["it"]),
                 c.fmt(k["im"]), c.fmt(k["all"]), f"{tpl / k['total']:.1%}",
                 "" if rel is None else f"{rel.released_trained:,} ({rel.template_in_loss:,} template)"]
            )  # fmt: skip
    tulu = {n: counts[(n, "tulu")] for n in FILES}
    lines = [
        "# Template-token audit",
        "",
        "LLaMA-2 tokens of the paper's three training files under every built-in template, whole sequences (no "
        "truncation). `it` trains output and EOS (the paper's IT baseline), `im` adds the instruction and system "
        "turns (the paper's definition of IM), `all` also trains the template (role headers, the Alpaca preamble, "
        "separators); BOS is never trained. `template share`: the tokens `all` adds over `im`, as a share of all "
        "tokens.",
        "",
        c.md_table(["file", "template", "tokens", "it", "im", "all", "template share", "released IM code"], rows),
        "",
        '**What the paper\'s released code trained.** Its `--use_lm_loss` masks the token ids of `"<|user|>\\n"`, '
        '`"<|system|>\\n"` and `"wa\\n"`, each encoded with BOS, so only the `<s><|user|>\\n` that starts each '
        "example ever matches; every later template token is trained (`imdata.reports.released`, Tulu template):",
        "",
        *[
            f"- `{n}`: {r.released_trained:,} loss tokens against {tulu[n]['im']:,} for the paper's definition "
            f"(`im`): {r.template_in_loss:,} template tokens in the loss, {r.template_per_example:.2f} per example, "
            f"{r.template_share:.1%} of its loss tokens; tokens trained by `im` but not by the released code: "
            f"{r.im_only}."
            for n, r in released.items()
        ],
        "",
        _short_note(counts),
        "",
        "![Where the tokens go under each template](template_audit.png)",
    ]
    out.mkdir(parents=True, exist_ok=True)
    c.write_text(out / "template_audit.md", "\n".join(lines))
    _plot(counts, released, out / "template_audit.png")
    return [out / "template_audit.md", out / "template_audit.png"]


def _short_note(counts: dict) -> str:
    name = FILES[-1]
    k = counts[(name, "alpaca")]
    tpl, instr = k["all"] - k["im"], k["im"] - k["it"]
    return (
        f"The template weighs most where examples are short: on `{name}` under `alpaca` (the Stanford preamble and "
        f"`###` headers) `all` adds {tpl:,} template tokens, {tpl / instr:.2f}x the {instr:,} instruction tokens "
        "that `im` adds over `it`."
    )


def _plot(counts: dict, released: dict, path: Path) -> None:
    import numpy as np

    fig = c.figure(figsize=(12, 4.4))
    axes = fig.subplots(1, len(FILES), sharey=True)
    temps = list(BUILTIN_TEMPLATES)
    y = np.arange(len(temps))[::-1]
    for ax, name in zip(axes, FILES, strict=True):
        left = np.zeros(len(temps))
        parts = {
            "output": [counts[(name, t)]["it"] for t in temps],
            "instruction": [counts[(name, t)]["im"] - counts[(name, t)]["it"] for t in temps],
            "template": [counts[(name, t)]["all"] - counts[(name, t)]["im"] for t in temps],
            "bos": [counts[(name, t)]["total"] - counts[(name, t)]["all"] for t in temps],
        }
        totals = np.array([counts[(name, t)]["total"] for t in temps], dtype=float)
        labels = {"output": "output + EOS (it)", "instruction": "+ instruction (im)",
                  "template": "+ template (all)", "bos": "BOS (never trained)"}  # fmt: skip
        for key, vals in parts.items():
            share = np.array(vals) / totals * 100
            ax.barh(y, share, left=left, color=_COLORS[key], label=labels[key], height=0.65)
            left += share
        r = released[name]
        ax.scatter([r.released_trained / counts[(name, "tulu")]["total"] * 100], [y[temps.index("tulu")] + 0.45],
                   marker="v", color="black", s=50, zorder=4, label="released IM code's loss (tulu)")  # fmt: skip
        ax.set_title(f"{name}\n({counts[(name, 'tulu')]['total']:,} tokens under tulu)", fontsize=9)
        ax.set_xlabel("share of all tokens (%)")
        ax.set_xlim(0, 100)
    axes[0].set_yticks(y, temps)
    axes[0].set_ylabel("template")
    handles, labels_ = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels_, loc="outside lower center", ncol=5, fontsize=8, frameon=False)
    fig.suptitle("Which tokens each loss mode trains, per template (LLaMA-2 tokens; bars stack it ⊂ im ⊂ all)")
    c.save_png(fig, path)


if __name__ == "__main__":
    c.run_script(main, __doc__, c.RESULTS)
