"""`imdata spans --to hf` into a `datasets` folder against the JSONL output of the same command.

Both runs export the same ShareGPT conversations (default: the whole shared sample, 17,671
conversations) with the LLaMA-2 tokenizer; the folder is written in Arrow record batches,
so its peak RSS should be that of the JSONL export (target: a ratio within 1.2). Each
command runs in its own process; peak RSS is its high-water mark (getrusage in a wrapper, as
/usr/bin/time reports it). Rounds are interleaved; medians are printed.

Run: python benchmarks/bench_hf_folder.py [--rounds 3] [--limit N]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(os.environ.get("IMDATA_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
SAMPLE = DATA / "sharegpt" / "sharegpt_v3_unfiltered_cleaned_split.first17671.json.gz"
TOKENIZER = DATA / "tokenizers" / "llama2" / "tokenizer.json"
_WRAPPER = (
    "import resource, subprocess, sys; r = subprocess.run(sys.argv[2:]); "
    "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)); "
    "sys.exit(r.returncode)"
)


def cli_rss(args: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (MiB) of `imdata ARGS`."""
    with tempfile.NamedTemporaryFile(suffix=".rss") as rss_file:
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", _WRAPPER, rss_file.name, sys.executable, "-m", "imdata", *args],
                              capture_output=True, check=False)  # fmt: skip
        wall = time.perf_counter() - t
        if proc.returncode:
            sys.exit(f"imdata {' '.join(args[:3])} failed: {proc.stderr.decode(errors='replace')[-2000:]}")
        return wall, int(Path(rss_file.name).read_text()) // 1024


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--limit", type=int, default=0, help="first N conversations only (0: all)")
    args = ap.parse_args()
    if not SAMPLE.exists() or not TOKENIZER.exists():
        print(f"skipped: needs {SAMPLE} and {TOKENIZER}", file=sys.stderr)
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="bench_hf_folder_"))
    src = SAMPLE
    if args.limit:
        src = tmp / "sample.json"
        src.write_text(json.dumps(json.loads(gzip.decompress(SAMPLE.read_bytes()))[: args.limit]))
    common = ["spans", str(src), "-k", str(TOKENIZER), "--to", "hf", "--on-error", "skip", "--force"]
    runs: dict[str, list[tuple[float, int]]] = {"jsonl": [], "folder": []}
    for _ in range(args.rounds):
        runs["jsonl"].append(cli_rss([*common, "-o", str(tmp / "out.hf.jsonl")]))
        runs["folder"].append(cli_rss([*common, "-o", str(tmp / "out_hf")]))
        print("  " + "  ".join(f"{k}: {v[-1][0]:.1f} s {v[-1][1]} MiB" for k, v in runs.items()), flush=True)
    rows = len(json.loads((tmp / "out_hf" / "state.json").read_text())["_data_files"])
    shutil.rmtree(tmp)
    jt, jr = (statistics.median(r[k] for r in runs["jsonl"]) for k in (0, 1))
    ft, fr = (statistics.median(r[k] for r in runs["folder"]) for k in (0, 1))
    print(f"spans --to hf, {'all' if not args.limit else args.limit} ShareGPT conversations, medians of {args.rounds}")
    print("| output | time | peak RSS |")
    print("|---|---:|---:|")
    print(f"| JSONL (`-o out.hf.jsonl`) | {jt:.1f} s | {jr:,.0f} MiB |")
    print(f"| `datasets` folder (`-o out_hf`, {rows} data file(s)) | {ft:.1f} s | {fr:,.0f} MiB |")
    print(f"peak RSS folder / JSONL: {fr / jr:.2f} (target: within 1.2)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
