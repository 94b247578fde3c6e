"""How `imdata overlap` grows with size, against scoring every pair.

Both sides are drawn (seeded, disjoint ids) from the real Alpaca, AlpaGasus and Code Alpaca
files in ../shared/data, so they share the real duplicates those sets have. The baseline is
the naive method: containment of every pair, timed on a sample of pairs in this run and
scaled to n x n. Times are medians of --repeats runs, loading excluded.

    python benchmarks/bench_overlap.py            # 1k, 2k, 5k, 10k per side
    python benchmarks/bench_overlap.py --sizes 1000,2000 --repeats 1
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import imdata
from imdata.selection.overlaps import example_fields, overlap, shingles

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FILES = [
    "alpaca/alpaca_5000_pr152.json",
    "alpagasus/random_9k.json",
    "alpagasus/claude_t45.json",
    "alpagasus/dolly_3k.json",
    "code_alpaca/code_alpaca_2k.json",
    "code_alpaca/new_codealpaca.json",
]


def naive_seconds_per_pair(a, b, pairs: int = 200_000) -> float:  # type: ignore[no-untyped-def]
    """Time the all-pairs baseline (per-field n-gram sets, containment of the smaller)."""
    sa = [[shingles(t, 3) for t in example_fields(ex)] for ex in a]
    sb = [[shingles(t, 3) for t in example_fields(ex)] for ex in b]
    rng = np.random.default_rng(0)
    ia, ib = rng.integers(0, len(sa), pairs), rng.integers(0, len(sb), pairs)
    start = time.perf_counter()
    for i, j in zip(ia.tolist(), ib.tolist(), strict=True):
        x, y = sa[i], sb[j]
        min(len(x[f] & y[f]) / (min(len(x[f]), len(y[f])) or 1) for f in (0, 1))
    return (time.perf_counter() - start) / pairs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,2000,5000,10000")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"real data not found at {SHARED}")
    exs = []
    seen: set[str] = set()
    for f in FILES:
        for ex in imdata.load(str(SHARED / f), on_error="skip").examples:
            if ex.id not in seen:
                seen.add(ex.id)
                exs.append(ex)
    perm = np.random.default_rng(0).permutation(len(exs))
    sizes = [int(s) for s in args.sizes.split(",")]
    if 2 * max(sizes) > len(exs):
        sys.exit(f"only {len(exs)} examples: sizes up to {len(exs) // 2} per side")
    overlap(exs[:200], exs[200:400])  # warm up: imports, polars thread pool
    per_pair = naive_seconds_per_pair([exs[i] for i in perm[:2000]], [exs[i] for i in perm[-2000:]])
    print(f"pool: {len(exs):,} real examples; naive baseline {per_pair * 1e6:.2f} us/pair (this run)")
    head = (
        "n per side",
        "imdata s",
        "scored pairs",
        "naive pairs",
        "naive s (est.)",
        "speed-up",
        "matched",
    )
    widths = (10, 9, 13, 14, 15, 9, 8)
    print(" ".join(h.rjust(w) for h, w in zip(head, widths, strict=True)))
    for n in sizes:
        a = [exs[i] for i in perm[:n]]
        b = [exs[i] for i in perm[n : 2 * n]]
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            rep = overlap(a, b)
            times.append(time.perf_counter() - t0)
        med = statistics.median(times)
        naive = per_pair * n * n
        cells = (
            f"{n:,}",
            f"{med:.2f}",
            f"{rep.candidates_scored:,}",
            f"{rep.naive_pairs:,}",
            f"{naive:.1f}",
            f"{naive / med:.0f}x",
            f"{rep.matched:,}",
        )
        print(" ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True)))


if __name__ == "__main__":
    main()
