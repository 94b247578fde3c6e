"""Benchmark `imdata profile --tokenizer llama2` against raw tokenizer throughput.

Speed, on the ShareGPT sample in ../shared/data with the LLaMA-2 tokenizer, all timed in this
run and interleaved (one round = every contender once), medians over rounds:

- raw `Tokenizer.encode_batch_fast` of the rendered texts (already in memory, batches of
  1024): the physical limit, and the baseline every ratio is against;
- raw `Tokenizer.encode_batch` of the same texts (it computes the offsets that per-span
  counting needs);
- a `datasets.map(batched=True)` loop counting tokens with the same tokenizer, as a user
  would write it (the texts already rendered);
- `imdata profile SAMPLE --tokenizer llama2` end to end as a subprocess: start-up, reading
  and decompressing the file, rendering, encoding, per-span counting and the report.

Memory: peak RSS of `imdata profile` on the sample written as JSONL at 1x and at 5x (five
copies with new ids): it should stay flat, as paths are streamed.

Run: python benchmarks/bench_profile.py [--rounds 3] [--limit N] [--scale 5] [--no-datasets]
(--limit cuts the speed input only; the memory check always uses the whole sample.)
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SAMPLE = DATA / "sharegpt" / "sharegpt_v3_unfiltered_cleaned_split.first17671.json.gz"
TOKENIZER = DATA / "tokenizers" / "llama2" / "tokenizer.json"


def run_cli(args: list[str]) -> str:
    """Stdout of `imdata ARGS` in a fresh process (start-up counts: it is end to end)."""
    proc = subprocess.run([sys.executable, "-m", "imdata", *args], capture_output=True, text=True, check=False)
    if proc.returncode:
        sys.exit(f"imdata failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return proc.stdout


def peak_rss_cli(args: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (MiB) of `imdata ARGS`, measured with wait4 on the child."""
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "imdata", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        sys.exit(f"imdata failed ({proc.returncode}): {err[-2000:].decode(errors='replace')}")
    return wall, usage.ru_maxrss // 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--limit", type=int, default=None, help="Use the first N records of the sample.")
    ap.add_argument("--scale", type=int, default=5, help="Memory check at 1x and this many times the sample.")
    ap.add_argument("--no-datasets", action="store_true", help="Skip the datasets.map baseline.")
    ap.add_argument("--no-memory", action="store_true")
    args = ap.parse_args()
    if not SAMPLE.exists() or not TOKENIZER.exists():
        sys.exit(f"needs {SAMPLE} and {TOKENIZER}")

    from tokenizers import Tokenizer

    from imdata.data.dataset import iter_examples
    from imdata.labels.tokens import load_tokenizer
    from imdata.templates.builtin import get_template

    tmp = Path(tempfile.mkdtemp(prefix="bench_profile_"))
    all_records = json.loads(gzip.decompress(SAMPLE.read_bytes()))
    raw_records = all_records[: args.limit] if args.limit else all_records
    # the speed input: the sample itself (or its first N records), as a user has it
    speed_input = str(SAMPLE)
    if args.limit:
        speed_input = str(tmp / "sample.json")
        Path(speed_input).write_text(json.dumps(raw_records), encoding="utf-8")
    tok_info = load_tokenizer(str(TOKENIZER))
    tpl = get_template("tulu", eos=tok_info.eos)
    texts = [tpl.render(ex).text for ex in iter_examples(speed_input, on_error="skip")]
    tok = Tokenizer.from_file(str(TOKENIZER))
    n_tokens = sum(len(e) for i in range(0, len(texts), 1024) for e in tok.encode_batch_fast(texts[i : i + 1024]))
    print(f"sample: {len(texts):,} examples, {sum(map(len, texts)) / 1e6:.1f} M chars, {n_tokens / 1e6:.2f} M tokens")

    def raw(fn_name: str) -> Callable[[], int]:
        def go() -> int:
            fn = getattr(tok, fn_name)
            return sum(len(e) for i in range(0, len(texts), 1024) for e in fn(texts[i : i + 1024]))

        return go

    def with_datasets() -> int:
        import datasets

        datasets.disable_progress_bars()
        ds = datasets.Dataset.from_dict({"text": texts})
        out = ds.map(
            lambda b: {"n": [len(e) for e in tok.encode_batch_fast(b["text"])]},
            batched=True,
            remove_columns=["text"],
            keep_in_memory=True,
        )
        return int(sum(out["n"]))

    def imdata_cli() -> int:
        out = run_cli(["profile", speed_input, "--tokenizer", str(TOKENIZER), "--on-error", "skip",
                             "--format", "json"])  # fmt: skip
        return int(json.loads(out)["datasets"][0]["total"]["sum"])

    contenders: dict[str, Callable[[], int]] = {
        "raw encode_batch_fast": raw("encode_batch_fast"),
        "raw encode_batch (offsets)": raw("encode_batch"),
        "imdata profile (end to end)": imdata_cli,
    }
    if not args.no_datasets:
        contenders["datasets.map + encode_batch_fast"] = with_datasets
    times: dict[str, list[float]] = {k: [] for k in contenders}
    for r in range(args.rounds):
        for name, fn in contenders.items():
            t = time.perf_counter()
            got = fn()
            times[name].append(time.perf_counter() - t)
            if abs(got - n_tokens) > 0:
                sys.exit(f"{name}: counted {got:,} tokens, expected {n_tokens:,}")
        print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in times.items()), flush=True)
    base = statistics.median(times["raw encode_batch_fast"])
    print(f"\nmedians of {args.rounds} rounds ({os.cpu_count()} cores); throughput relative to raw encode_batch_fast:")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"  {name:36s} {med:7.1f} s  {n_tokens / med / 1e3:8.1f} k tokens/s  ratio {base / med:.2f}")

    if args.no_memory:
        return
    one = tmp / "x1.jsonl"
    many = tmp / f"x{args.scale}.jsonl"
    with one.open("w", encoding="utf-8") as a, many.open("w", encoding="utf-8") as b:
        for rec in all_records:  # memory is always checked on the whole sample
            a.write(json.dumps(rec) + "\n")
        for k, rec in itertools.product(range(args.scale), all_records):
            b.write(json.dumps({**rec, "id": f"{rec.get('id')}-{k}"}) + "\n")
    print("\npeak memory of imdata profile --tokenizer llama2 on the sample as JSONL (streamed):")
    for label, path in (("1x", one), (f"{args.scale}x", many)):
        wall, rss = peak_rss_cli(["profile", str(path), "--tokenizer", str(TOKENIZER), "--on-error", "skip",
                                  "--format", "json"])  # fmt: skip
        print(f"  {label:4s} {path.stat().st_size / 2**20:8.0f} MiB input  peak RSS {rss:6,} MiB  {wall:7.1f} s")


if __name__ == "__main__":
    main()
