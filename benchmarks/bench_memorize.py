"""Benchmark `imdata memorize` scoring against the loops a user would otherwise write.

1. Paired scoring: imdata's process pool (BLEU + verbatim overlap + exact match, all cores)
   against a single-process `sacrebleu` sentence-BLEU loop on the same pairs; the BLEU values
   must be identical and in order.
2. Nearest matching: 805 AlpacaEval outputs against the Alpaca-family training outputs in
   ../shared/data (~21.5k), against the estimated time of scoring every pair with sacrebleu
   (measured on a random sample of pairs, extrapolated).

Run: python benchmarks/bench_memorize.py [--repeats 3] [--runs 4]. Prints medians and ratios.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

from sacrebleu.metrics.bleu import BLEU

from imdata.memorisation.bleu import default_workers, score_pairs
from imdata.memorisation.nearest import nearest

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
AE = DATA / "outputs" / "alpaca_eval"
TRAIN = [
    "alpaca/alpaca_5000_pr152.json",
    "alpagasus/random_9k.json",
    "alpagasus/claude_t45.json",
    "code_alpaca/code_alpaca_2k.json",
]
RUNS = [
    "alpaca-7b",
    "vicuna-7b",
    "gpt4",
    "tulu-2-dpo-7b",
    "guanaco-7b",
    "falcon-7b-instruct",
    "oasst-sft-pythia-12b",
    "llama-2-7b-chat-hf",
]


def outputs(name: str) -> list[str]:
    return [r["output"] for r in json.loads((AE / f"{name}.json").read_text())]


def bench_paired(n_runs: int, repeats: int) -> None:
    ref = outputs("text_davinci_003")
    hyps = [h for name in RUNS[:n_runs] for h in outputs(name)]
    refs = ref * n_runs

    def loop() -> list[float]:
        # a fresh metric each time: sacrebleu caches tokenised lines per tokenizer, and the
        # pool's workers start cold, so a warm loop would not be a fair baseline
        metric = BLEU(effective_order=True)
        return [metric.sentence_score(h, [r]).score for h, r in zip(hyps, refs, strict=True)]

    times: dict[str, list[float]] = {"loop": [], "pool": []}
    for _ in range(repeats):  # interleaved, so load from other processes hits both alike
        t = time.perf_counter()
        base = loop()
        times["loop"].append(time.perf_counter() - t)
        t = time.perf_counter()
        ours = score_pairs(hyps, refs, workers=default_workers())
        times["pool"].append(time.perf_counter() - t)
        assert list(ours.bleu) == base, "pool scores differ from sacrebleu"
    base_t, ours_t = statistics.median(times["loop"]), statistics.median(times["pool"])
    print(f"paired: {len(hyps):,} pairs, {default_workers()} cores, median of {repeats}; identical scores")
    print(f"  sacrebleu loop, 1 process (BLEU only):     {base_t:7.2f} s")
    print(f"  imdata score_pairs (BLEU+overlap+exact):   {ours_t:7.2f} s   ratio {base_t / ours_t:.2f}x")


def bench_nearest(sample_pairs: int) -> None:
    refs = [r["output"] for f in TRAIN for r in json.loads((DATA / f).read_text())]
    outs = outputs("alpaca-7b")
    t = time.perf_counter()
    res = nearest(outs, refs)
    near_t = time.perf_counter() - t
    rng = random.Random(0)
    pairs = [(rng.choice(outs), rng.choice(refs)) for _ in range(sample_pairs)]
    metric = BLEU(effective_order=True)
    t = time.perf_counter()
    for h, r in pairs:
        metric.sentence_score(h, [r])
    per_pair = (time.perf_counter() - t) / sample_pairs
    all_pairs = len(outs) * len(refs)
    est = per_pair * all_pairs
    print(f"nearest: {len(outs)} outputs x {len(refs):,} training outputs = {all_pairs:,} pairs")
    print(
        f"  imdata nearest (index + exact rescoring):  {near_t:7.2f} s   "
        f"({res.scored:,} pairs scored exactly, {res.scored / all_pairs:.4%})"
    )
    print(
        f"  all pairs with sacrebleu, 1 process (est.): {est:7.0f} s = {est / 60:.0f} min "
        f"({per_pair * 1e6:.0f} us/pair over {sample_pairs:,} sampled pairs)   "
        f"ratio {est / near_t:.0f}x"
    )
    print(f"  mean nearest BLEU {res.bleu.mean():.2f}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--runs", type=int, default=4, help="AlpacaEval runs in the paired benchmark")
    ap.add_argument("--sample-pairs", type=int, default=3000)
    args = ap.parse_args()
    if not DATA.exists():
        print(f"skipped: {DATA} not found", file=sys.stderr)
        return 0
    bench_paired(args.runs, args.repeats)
    bench_nearest(args.sample_pairs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
