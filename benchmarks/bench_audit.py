"""`imdata audit` against `imdata spans --to hf`, the export whose labels it audits, in one run.

A user who audits labels before training pays the audit on top of preparing the data, so
the baseline is that preparation: imdata's own `spans --to hf` (read, render, tokenize,
label, write) on the same conversations. The audit reads those labels back, renders and
tokenizes the conversations again and classifies every position. Both sides are run as
CLI commands, interleaved, on the first N ShareGPT conversations with the LLaMA-2
tokenizer; medians and the ratio audit / spans are printed, with each side's peak RSS.
The audit must say `im` with 0 findings (checked), so both sides did the same work.

    python benchmarks/bench_audit.py [--limit 2000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
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


def _run(cmd: list[str]) -> tuple[float, int, str]:
    """Wall seconds, the child's peak RSS in KiB, its stdout."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}")
    return seconds, int(usage.ru_maxrss), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=2000, help="the first N usable conversations")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    from imdata.data.dataset import load
    from imdata.data.files import atomic_output

    tmp = Path(tempfile.mkdtemp(prefix="imdata-bench-audit-"))
    src = tmp / "conversations.jsonl"
    examples = load(str(SHAREGPT), on_error="skip").examples[: args.limit]
    with atomic_output(src) as fh:
        for ex in examples:
            fh.write(json.dumps(ex.to_dict(), ensure_ascii=False) + "\n")
    imdata = [sys.executable, "-m", "imdata"]
    labels = tmp / "labels.jsonl"
    spans = [*imdata, "spans", str(src), "-k", str(TOKENIZER), "--mode", "im", "--to", "hf", "-o", str(labels)]
    audit = [*imdata, "audit", str(labels), "--source", str(src), "-k", str(TOKENIZER), "--format", "json"]
    times: dict[str, list[float]] = {"spans": [], "audit": []}
    peaks: dict[str, list[int]] = {"spans": [], "audit": []}
    for _ in range(args.repeats):
        s, m, _ = _run([*spans, "--force"])
        times["spans"].append(s)
        peaks["spans"].append(m)
        s, m, out = _run(audit)
        report = json.loads(out)
        if (report["mode"], report["findings"]) != ("im", 0):
            raise SystemExit(f"the audit did not find clean im labels: {report['description']}")
        times["audit"].append(s)
        peaks["audit"].append(m)
    tokens = report["tokens"]
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"{len(examples):,} ShareGPT conversations, {tokens:,} LLaMA-2 tokens, {args.repeats} interleaved rounds")
    print("| command | median time | peak RSS |")
    print("|---|---:|---:|")
    for k in ("spans", "audit"):
        print(f"| `imdata {k}` | {med[k]:.1f} s | {max(peaks[k]) // 1024} MiB |")
    print(f"audit / spans time: {med['audit'] / med['spans']:.2f}")


if __name__ == "__main__":
    main()
