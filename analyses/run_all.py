"""Regenerate data_cards/ and analyses/results/ in one command (same inputs, same bytes).

    python analyses/run_all.py                 # everything, from ../shared/data (about 15 minutes on 2 cores)
    python analyses/run_all.py --sample 200 --cards /tmp/c --results /tmp/r   # a quick check (CI)

Each dataset is measured once (its data card) and the analyses reuse those measurements.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import _common as c
import cards
import low_resource
import memorisation
import ratio_landscape
import table5
import template_audit

STEPS = (
    ("data cards", cards.main, "cards"),
    ("Table 5", table5.main, "results"),
    ("ratio landscape", ratio_landscape.main, "results"),
    ("template-token audit", template_audit.main, "results"),
    ("low-resource subsets", low_resource.main, "results"),
    ("memorisation", memorisation.main, "results"),
)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cards", type=Path, default=c.CARDS, help="where the data cards go")
    ap.add_argument("--results", type=Path, default=c.RESULTS, help="where the analyses' tables and figures go")
    ap.add_argument("--sample", type=int, default=None, help="use only the first N examples of each input")
    ap.add_argument("--only", action="append", default=None, help="run only these steps (repeatable)")
    a = ap.parse_args(argv)
    if not c.DATA.is_dir():
        print(f"no data folder at {c.DATA}; set IMDATA_SHARED_DATA", file=sys.stderr)
        return 1
    for label, step, where in STEPS:
        if a.only and label not in a.only and step.__module__ not in a.only:
            continue
        t = time.perf_counter()
        paths = step(a.cards if where == "cards" else a.results, a.sample)
        print(f"{label}: {len(paths)} files in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
