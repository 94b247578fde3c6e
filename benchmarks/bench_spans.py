"""`imdata spans --to hf` end to end against raw `tokenizers` batch encoding of the same texts.

Both sides are timed in this one command, interleaved, on the ShareGPT sample in
../shared/data with the LLaMA-2 tokenizer. The baseline is the physical floor for anyone:
`Tokenizer.encode_batch` (with offsets, as labels need) on texts already rendered in
memory. imdata's side is the whole CLI command: read the gzipped JSON, normalise, render,
tokenize, label, verify and write JSONL. Target: at least 0.5 of the raw throughput.

    python benchmarks/bench_spans.py [--repeats 3] [--limit N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("IMDATA_SHARED_DATA", REPO.parent / "shared" / "data"))
SHAREGPT = DATA / "sharegpt" / "sharegpt_v3_unfiltered_cleaned_split.first17671.json.gz"
TOKENIZER = DATA / "tokenizers" / "llama2" / "tokenizer.json"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--limit", type=int, default=None, help="use only the first N examples (quick runs)")
    args = ap.parse_args()

    from tokenizers import Tokenizer

    from imdata.data.dataset import load
    from imdata.data.files import atomic_output
    from imdata.templates.builtin import get_template

    ds = load(str(SHAREGPT), on_error="skip")
    examples = ds.examples[: args.limit] if args.limit else ds.examples
    src = SHAREGPT
    tmp = Path(tempfile.mkdtemp(prefix="imdata-bench-"))
    if args.limit:  # the CLI reads a file, so write the subset as JSONL
        import json

        src = tmp / "subset.jsonl"
        with atomic_output(src) as fh:
            for ex in examples:
                fh.write(json.dumps({"id": ex.id, "messages": [m.to_dict() for m in ex.messages]}) + "\n")
    tulu = get_template("tulu", eos="</s>")
    texts = [tulu.render(ex).text for ex in examples]
    tok = Tokenizer.from_file(str(TOKENIZER))
    n_tokens = sum(len(e.ids) for e in tok.encode_batch_fast(texts[:200]))  # warm-up

    raw, ours = [], []
    for _ in range(args.repeats):
        t = time.perf_counter()
        encs = tok.encode_batch(texts)
        raw.append(time.perf_counter() - t)
        n_tokens = sum(len(e.ids) for e in encs)
        del encs
        out = tmp / "out.jsonl"
        cmd = [
            sys.executable,
            "-m",
            "imdata",
            "spans",
            str(src),
            "--on-error",
            "skip",
            "-k",
            str(TOKENIZER),
            "--mode",
            "im",
            "--to",
            "hf",
            "-o",
            str(out),
            "--force",
        ]
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stderr=subprocess.DEVNULL)
        ours.append(time.perf_counter() - t)

    r, o = statistics.median(raw), statistics.median(ours)
    print(f"examples {len(examples):,}  tokens {n_tokens:,}  cores {os.cpu_count()}  repeats {args.repeats}")
    print(f"raw tokenizers encode_batch (texts in memory): median {r:7.2f} s  {n_tokens / r / 1e3:8.1f} k tok/s")
    print(f"imdata spans --to hf (file to file, end to end): median {o:7.2f} s  {n_tokens / o / 1e3:8.1f} k tok/s")
    print(f"ratio imdata / raw throughput: {r / o:.2f}  (target >= 0.50)")


if __name__ == "__main__":
    main()
