"""One enormous record: `imdata spans -k` and `imdata profile -k` on a 100,000-turn conversation.

The conversation (alternating user and assistant turns of 3-12 words, as
`tests/test_long_record.py` builds it) is written to a temporary JSONL file. Each command
runs in its own process, rounds interleaved; medians are printed, with the ratio of
`spans` to `profile` (target: within 3x; a per-span tokenizer lookup made it 75 s against
2 s). `tests/test_long_record.py` bounds the same commands' work by counting calls.

Run: python benchmarks/bench_long_record.py [--turns 100000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(os.environ.get("IMDATA_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
TOKENIZER = DATA / "tokenizers" / "llama2" / "tokenizer.json"
WORDS = ["the", "cat", "sat", "on", "a", "mat", "and", "then", "it", "went", "home", "to", "sleep", "quietly"]
WORDS += [",", "said", "Ada", "."]


def timed(args: list[str]) -> float:
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "imdata", *args], capture_output=True, check=False)
    if proc.returncode:
        sys.exit(f"imdata {args[0]} failed: {proc.stderr.decode(errors='replace')[-2000:]}")
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--turns", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if not TOKENIZER.exists():
        print(f"skipped: {TOKENIZER} not found", file=sys.stderr)
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="bench_long_record_"))
    src = tmp / "long.jsonl"
    rng = random.Random(args.turns)
    msgs = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": " ".join(rng.choices(WORDS, k=rng.randint(3, 12)))}
        for i in range(args.turns)
    ]
    src.write_text(json.dumps({"id": "long", "messages": msgs}) + "\n")
    k = ["-k", str(TOKENIZER)]
    times: dict[str, list[float]] = {"profile": [], "spans": []}
    for _ in range(args.rounds):
        times["profile"].append(timed(["profile", str(src), *k, "--format", "json"]))
        times["spans"].append(timed(["spans", str(src), *k, "-o", str(tmp / "out.jsonl"), "--force"]))
    p, s = statistics.median(times["profile"]), statistics.median(times["spans"])
    print(f"one {args.turns:,}-turn conversation, medians of {args.rounds}:")
    print(f"  imdata profile -k: {p:6.1f} s")
    print(f"  imdata spans -k:   {s:6.1f} s   spans / profile = {s / p:.2f} (target: within 3)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
