"""Write a data card for every instruction dataset in the data folder: data_cards/NAME.md."""

from __future__ import annotations

from pathlib import Path

import _common as c

from imdata.reports.dataset_card import write_card


def main(out: Path = c.CARDS, sample: int | None = None) -> list[Path]:
    written = []
    for k in c.KNOWN:
        written += write_card(c.card(k.name, sample), out / f"{k.name}.md", force=True)
    rows = [
        [f"[{k.name}]({k.name}.md)", c.fmt(c.card(k.name, sample).word_summary.examples),
         c.fmt(c.card(k.name, sample).word_summary.ratio, 3), k.paper or "", k.license.split(" (")[0]]
        for k in c.KNOWN
    ]  # fmt: skip
    index = [
        "# Data cards",
        "",
        "One card per instruction dataset in `../shared/data`: statistics and figures only, never the data. "
        "Regenerate them (and `analyses/results/`) with `python analyses/run_all.py`.",
        "",
        c.md_table(["card", "examples", "instr/output (words)", "paper's Table 5 row", "licence"], rows),
    ]
    c.write_text(out / "README.md", "\n".join(index))
    return written + [out / "README.md"]


if __name__ == "__main__":
    c.run_script(main, __doc__, c.CARDS)
