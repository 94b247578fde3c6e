"""The memorisation study on the AlpacaEval outputs, paired and nearest (imdata.memorize).

- Paired: text-davinci-003 wrote the Alpaca training outputs, so its AlpacaEval outputs are
  the training side (matched by instruction); alpaca-7b, trained on Alpaca, is the baseline
  the other models are compared with.
- Nearest: every model's outputs against the Alpaca subsets we have (Alpaca 5k, AlpaGasus
  random 9k and Claude 5k, Code Alpaca 2k); each output is paired with the training output
  of highest BLEU.

Writes results/memorisation.md and its figures (tables and figures only; no output text).
Run it under ``if __name__ == "__main__"``: scoring uses a process pool.
"""

from __future__ import annotations

from pathlib import Path

import _common as c

import imdata
from imdata.memorisation import plots as memo_plots
from imdata.memorisation import report as memo_report
from imdata.memorisation.generations import Run, load_run

OUTPUTS = "outputs/alpaca_eval"
TEACHER = "text_davinci_003.json"
BASELINE = "alpaca-7b.json"
NEAREST_TRAIN = ("alpaca_5000_pr152", "alpagasus_random_9k", "alpagasus_claude_t45", "code_alpaca_2k")


def _runs(files: list[str], sample: int | None) -> list[Run]:
    runs = [
        load_run(c.data_path(f"{OUTPUTS}/{f}"), name=f.removesuffix(".json")) for f in files
    ]  # file names: one generator is a 70-character run id
    if sample is None:
        return runs
    return [Run(r.name, r.path, r.fingerprint, r.records, r.outputs[:sample], r.problems, r.messages) for r in runs]


def main(out: Path = c.RESULTS, sample: int | None = None) -> list[Path]:
    files = sorted(p.name for p in (c.DATA / OUTPUTS).glob("*.json"))
    others = [f for f in files if f not in (TEACHER, BASELINE)]
    if sample is not None:
        others = others[:2]
    teacher = imdata.load(c.data_path(f"{OUTPUTS}/{TEACHER}"), name="text_davinci_003")
    if sample is not None:
        teacher = imdata.Dataset(teacher.name, teacher.path, teacher.format, teacher.examples[:sample],
                                 teacher.fingerprint, teacher.skipped)  # fmt: skip
    paired = imdata.memorize(teacher, _runs([BASELINE, *others], sample), match="instruction")
    train = [c.dataset(n, sample) for n in NEAREST_TRAIN]
    nearest = imdata.memorize(train, _runs([BASELINE, TEACHER, *others], sample), match="nearest")
    fig_dir = out / "memorisation"
    figures = []
    for tag, rep in (("paired", paired), ("nearest", nearest)):
        for stem, plot in (("bleu_distributions", memo_plots.plot_distributions), ("bleu_cdf", memo_plots.plot_cdf),
                           ("bleu_differences", memo_plots.plot_differences)):  # fmt: skip
            path = fig_dir / f"{tag}_{stem}.png"
            plot(rep, path, force=True)
            figures.append(path)
    best = max(paired.runs, key=lambda r: r.bleu.mean)
    lines = [
        "# Memorisation on the AlpacaEval outputs",
        "",
        "Sentence BLEU (sacrebleu, up to 4-grams) between each model output and a training output, as the "
        "paper's memorisation analysis scores generations against training outputs. Computed with "
        "`imdata.memorize`; tables and figures only, no output text.",
        "",
        "## Paired: the teacher's outputs as the training side",
        "",
        "text-davinci-003 wrote the Alpaca training outputs, so its 805 AlpacaEval outputs stand in for the "
        "training outputs, matched by instruction. alpaca-7b (LLaMA-7B fine-tuned on Alpaca) is the baseline; "
        "every other model is compared with it (paired bootstrap, 95% interval).",
        "",
        memo_report.render(paired, "markdown"),
        "",
        f"{best.name} reproduces the teacher most: mean BLEU {best.bleu.mean:.2f}, "
        f"{best.exact_matches} exact copies; " + _lowest(paired) + ".",
        "",
        "![paired distributions](memorisation/paired_bleu_distributions.png)",
        "",
        "![paired differences](memorisation/paired_bleu_differences.png)",
        "",
        "## Nearest: each output against the Alpaca subsets we have",
        "",
        "Each output is paired with the training output of highest BLEU in "
        + ", ".join(f"`{c.BY_NAME[n].path}`" for n in NEAREST_TRAIN)
        + " (repeats across files count once).",
        "",
        memo_report.render(nearest, "markdown"),
        "",
        "![nearest distributions](memorisation/nearest_bleu_distributions.png)",
        "",
        "![nearest CDF](memorisation/nearest_bleu_cdf.png)",
        "",
        "![nearest differences](memorisation/nearest_bleu_differences.png)",
    ]
    c.write_text(out / "memorisation.md", "\n".join(lines))
    return [out / "memorisation.md", *figures]


def _lowest(rep: object) -> str:
    runs = sorted(rep.runs, key=lambda r: r.bleu.mean)  # type: ignore[attr-defined]
    lo = runs[0]
    real = sum(1 for x in rep.comparisons if x.significant)  # type: ignore[attr-defined]
    n = len(rep.comparisons)  # type: ignore[attr-defined]
    return f"{lo.name} least ({lo.bleu.mean:.2f}); {real} of {n} differences from alpaca-7b exclude zero"


if __name__ == "__main__":
    c.run_script(main, __doc__, c.RESULTS)
