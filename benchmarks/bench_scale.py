"""Scale: `imdata profile` and `imdata spans` at 1x, 5x and 10x a ShareGPT base, against baselines.

All timed in this run, interleaved (one round = every contender once), medians over rounds:

- time and peak RSS (the child's high-water mark, from wait4) of `imdata profile` and
  `imdata spans --to hf` at 1x, 5x and 10x the base (the first --base conversations of the
  ShareGPT sample, repeated with new ids, as JSONL): memory should stay flat;
- at 1x, end-to-end throughput against raw `Tokenizer.encode_batch_fast` of the same texts
  already rendered in memory (the physical limit), and against what a user would otherwise
  write: `datasets.load_dataset("json")` + `map(batched=True)` rendering the same template and
  counting tokens with the same tokenizer; the per-example totals are asserted identical;
- `--engine ray` (a local Ray instance started by the command) against `--engine local`.

Run: python benchmarks/bench_scale.py [--base 2000] [--rounds 3] [--scales 1,5,10] [--no-ray]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

DATA = Path(os.environ.get("IMDATA_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
SAMPLE = DATA / "sharegpt" / "sharegpt_v3_unfiltered_cleaned_split.first17671.json.gz"
TOKENIZER = DATA / "tokenizers" / "llama2" / "tokenizer.json"


# A forked child starts with its parent's peak RSS (this process holds the texts and a tokenizer),
# so the command is started by a small wrapper that reports its own child's high-water mark.
_WRAPPER = (
    "import resource, subprocess, sys; r = subprocess.run(sys.argv[2:]); "
    "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)); "
    "sys.exit(r.returncode)"
)


def cli_rss(args: list[str]) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (MiB, from getrusage(RUSAGE_CHILDREN) in a wrapper) and stdout of `imdata ARGS`."""
    with tempfile.NamedTemporaryFile(suffix=".rss") as rss_file:
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", _WRAPPER, rss_file.name, "imdata", *args],
                              capture_output=True, check=False)  # fmt: skip
        wall = time.perf_counter() - t
        if proc.returncode:
            sys.exit(f"imdata {' '.join(args[:2])} failed: {proc.stderr.decode(errors='replace')[-2000:]}")
        return wall, int(Path(rss_file.name).read_text()) // 1024, proc.stdout.decode()


def write_scaled(records: list[dict], k: int, path: Path) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for rep in range(k):
            for rec in records:
                fh.write(json.dumps({**rec, "id": f"{rec.get('id')}-{rep}"}) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", type=int, default=2000, help="conversations in the 1x input")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--scales", default="1,5,10")
    ap.add_argument("--no-ray", action="store_true")
    args = ap.parse_args()
    if not SAMPLE.exists() or not TOKENIZER.exists():
        sys.exit(f"needs {SAMPLE} and {TOKENIZER}")
    scales = [int(s) for s in args.scales.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="bench_scale_"))
    base = json.loads(gzip.decompress(SAMPLE.read_bytes()))[: args.base]
    inputs = {k: tmp / f"x{k}.jsonl" for k in scales}
    for k, p in inputs.items():
        write_scaled(base, k, p)
    x1 = str(inputs[scales[0]])
    tok_args = ["--tokenizer", str(TOKENIZER), "--on-error", "skip"]

    # what every contender must count: imdata's per-example totals (in-process, untimed)
    from tokenizers import Tokenizer

    from imdata.data.formats import to_examples
    from imdata.engine.runner import profile
    from imdata.templates.builtin import get_template

    ref = profile(x1, tokenizer=str(TOKENIZER), on_error="skip").examples["total"].to_list()
    tok = Tokenizer.from_file(str(TOKENIZER))
    tpl = get_template("tulu", eos="</s>", bos="<s>")
    from imdata.data.dataset import iter_examples

    texts = [tpl.render(ex).text for ex in iter_examples(x1, on_error="skip")]
    n_tokens = sum(ref)
    print(f"1x = {len(texts):,} conversations kept of {len(base):,}, {n_tokens / 1e6:.2f} M tokens; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")  # fmt: skip

    def raw() -> list[int]:
        return [len(e) for i in range(0, len(texts), 1024) for e in tok.encode_batch_fast(texts[i : i + 1024])]

    def with_datasets() -> list[int]:
        """What a user would write to get the same numbers: render, tokenize with offsets, and
        count the tokens of each span kind (instruction, output) with the same first-character rule."""
        import datasets

        from imdata.labels.labelling import KIND_CODE, token_kinds_from_offsets

        datasets.disable_progress_bars()
        instr_codes = [KIND_CODE["system"], KIND_CODE["instruction"]]
        out_codes = [KIND_CODE["output"], KIND_CODE["eos"]]

        def count(batch: dict) -> dict:
            rendered = []
            for conv, ident in zip(batch["conversations"], batch["id"], strict=True):
                try:
                    ex = next(to_examples({"id": ident, "conversations": conv}, "sharegpt", path="", where="", index=0))
                    rendered.append(tpl.render(ex))
                except Exception:  # a user's loop drops what it cannot read
                    rendered.append(None)
            keep = [r for r in rendered if r is not None]
            encs = iter(tok.encode_batch([r.text for r in keep]))
            n, ins, outs = [], [], []
            for r in rendered:
                if r is None:
                    n.append(-1), ins.append(-1), outs.append(-1)
                    continue
                e = next(encs)
                kinds = token_kinds_from_offsets(r, e)
                n.append(len(e))
                ins.append(int(sum((kinds == c).sum() for c in instr_codes)))
                outs.append(int(sum((kinds == c).sum() for c in out_codes)))
            return {"n": n, "instruction": ins, "output": outs}

        cache = tempfile.mkdtemp(prefix="hf_", dir=tmp)
        ds = datasets.load_dataset("json", data_files=x1, split="train", cache_dir=cache)
        out = ds.map(count, batched=True, remove_columns=ds.column_names, cache_file_name=f"{cache}/n.arrow")
        kept = [i for i, n in enumerate(out["n"]) if n >= 0]
        sums["datasets.map"] = (sum(out["instruction"][i] for i in kept), sum(out["output"][i] for i in kept))
        return [out["n"][i] for i in kept]

    def imdata_profile(engine: str) -> Callable[[], list[int]]:
        def go() -> list[int]:
            wall, rss, out = cli_rss(["profile", x1, *tok_args, "--format", "json", "--engine", engine])
            d = json.loads(out)["datasets"][0]
            assert round(d["total"]["mean"] * d["examples"]) == n_tokens, engine
            sums[f"imdata {engine}"] = (d["instruction"]["sum"], d["output"]["sum"])
            return ref  # per-example identity is checked once below (the CLI prints summaries)

        return go

    sums: dict[str, tuple[int, int]] = {}
    contenders: dict[str, Callable[[], list[int]]] = {
        "raw encode_batch_fast (in memory)": raw,
        "datasets load_dataset + map(batched)": with_datasets,
        "imdata profile --engine local": imdata_profile("local"),
    }
    if not args.no_ray:
        contenders["imdata profile --engine ray"] = imdata_profile("ray")
    assert with_datasets() == ref and raw() == ref, "datasets.map / raw counts differ from imdata's"
    imdata_profile("local")()
    assert sums["datasets.map"] == sums["imdata local"], sums
    print(
        f"per-example token totals identical (raw, datasets.map, imdata); instruction and output token sums "
        f"identical (datasets.map, imdata): {sums['imdata local']}"
    )
    times: dict[str, list[float]] = {k: [] for k in contenders}
    mem: dict[tuple[str, int], list[tuple[float, int]]] = {}
    for r in range(args.rounds):
        for name, fn in contenders.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
        for k, p in inputs.items():
            prof = cli_rss(["profile", str(p), *tok_args, "--format", "json"])
            mem.setdefault(("profile", k), []).append(prof[:2])
            out = tmp / f"x{k}.hf.jsonl"
            sp = cli_rss(["spans", str(p), *tok_args, "--to", "hf", "-o", str(out), "--force"])
            mem.setdefault(("spans", k), []).append(sp[:2])
        print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in times.items())
              + f"; load {os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip

    base_t = statistics.median(times["raw encode_batch_fast (in memory)"])
    ds_t = statistics.median(times["datasets load_dataset + map(batched)"])
    print(f"\n1x end to end, medians of {args.rounds} rounds ({n_tokens / 1e6:.2f} M tokens):")
    print(f"  {'contender':40s} {'time':>8s} {'k tok/s':>9s} {'vs raw':>7s} {'vs datasets':>12s}")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"  {name:40s} {med:7.1f}s {n_tokens / med / 1e3:9.1f} {base_t / med:7.2f} {ds_t / med:11.2f}x")
    print("\nsize against time and peak RSS (medians):")
    for task in ("profile", "spans"):
        one = None
        for k in scales:
            wall = statistics.median(w for w, _ in mem[(task, k)])
            rss = statistics.median(m for _, m in mem[(task, k)])
            one = one or (wall, rss)
            mib = inputs[k].stat().st_size / 2**20
            print(f"  {task:8s} {k:3d}x {mib:7.0f} MiB input  {wall:7.1f} s ({wall / one[0]:5.2f}x)  "
                  f"peak RSS {rss:6.0f} MiB ({rss / one[1]:4.2f}x of 1x)")  # fmt: skip


if __name__ == "__main__":
    main()
