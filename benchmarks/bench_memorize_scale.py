"""Scale: `imdata memorize --match nearest` against 30k, 300k and 1M training examples.

The training sets are built here, in a temporary folder (nothing is written into the repo),
from the shared instruction files and ShareGPT's first exchanges (42,232 examples, shuffled
with a fixed seed); past that they repeat with three words dropped from each instruction
and output per copy, so the copies differ, and with new ids. The outputs are two AlpacaEval
runs (1,610 outputs).

Timed in this run, each command in its own process:

- `imdata memorize --match nearest` (the streaming index, all cores) at each size: wall
  time, the peak RSS of its largest process (getrusage, as /usr/bin/time reports it) and the
  peak RSS of its whole process tree (sampled from /proc every 50 ms), against the 30k run;
- the same command from a checkout of the previous release (``--baseline-rev``, extracted
  with `git archive` into the temporary folder; its in-memory index, one core) at 30k and
  300k, whose JSON report must equal the new one in every field but the count of
  exact sacrebleu calls (every output's nearest example and its BLEU: all 1,610 outputs);
- scoring all pairs with sacrebleu in one process, extrapolated from a timed random sample;
- with ``--ray``, `--engine ray` at 300k, whose report must equal the local one.

Run: python benchmarks/bench_memorize_scale.py [--sizes 30000,300000,1000000] [--rounds 1]
     [--baseline-sizes 30000,300000] [--ray]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("IMDATA_SHARED_DATA", REPO.parent / "shared" / "data"))
FILES = [
    "alpaca/alpaca_5000_pr152.json",
    "alpagasus/random_9k.json",
    "alpagasus/claude_t45.json",
    "alpagasus/dolly_3k.json",
    "alpagasus/helpfulness_t45.json",
    "code_alpaca/code_alpaca_2k.json",
    "code_alpaca/new_codealpaca.json",
]
SHAREGPT = "sharegpt/sharegpt_v3_unfiltered_cleaned_split.first17671.json.gz"
RUNS = ["alpaca-7b", "vicuna-7b"]
#: the release before the streaming index (the in-memory index, one core)
BASELINE_REV = "eb70e93"

# runs `imdata ARGS` from the checkout in argv[1]: the editable install's import hook, which
# would otherwise find this working tree first, is taken out
_FROM = (
    "import sys; sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in repr(f)]; "
    "sys.path.insert(0, sys.argv.pop(1)); import imdata; from imdata.cli import main; "
    "assert imdata.__file__.startswith(sys.path[0]), imdata.__file__; main(prog_name='imdata')"
)
_WRAPPER = (
    "import resource, subprocess, sys; r = subprocess.run(sys.argv[2:]); "
    "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)); "
    "sys.exit(r.returncode)"
)


def base_examples() -> list[tuple[str, str, str]]:
    recs = []
    for f in FILES:
        for r in json.loads((DATA / f).read_text()):
            recs.append((r["instruction"], r.get("input") or "", r["output"]))
    for conv in json.loads(gzip.decompress((DATA / SHAREGPT).read_bytes())):
        t = conv["conversations"]
        first_pair = len(t) >= 2 and t[0]["from"] == "human" and t[1]["from"] == "gpt"
        if first_pair and t[0]["value"].strip() and t[1]["value"].strip():
            recs.append((t[0]["value"], "", t[1]["value"]))
    random.Random(0).shuffle(recs)
    return recs


def _drop(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    for _ in range(min(3, len(words) - 1)):
        del words[rng.randrange(len(words))]
    return " ".join(words)


def write_train(base: list[tuple[str, str, str]], n: int, path: Path) -> None:
    rng = random.Random(1)
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            ins, inp, out = base[i % len(base)]
            if i >= len(base):
                ins, out = _drop(ins, rng), _drop(out, rng)
            fh.write(json.dumps({"id": f"t{i}", "instruction": ins, "input": inp, "output": out}) + "\n")


def _tree_rss(root: int) -> int:
    """Summed VmRSS (KiB) of ``root`` and its descendants, read from /proc."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = Path(f"/proc/{d}/stat").read_text()
            status = Path(f"/proc/{d}/status").read_text()
        except OSError:
            continue
        parents[int(d)] = int(stat.rsplit(")", 1)[1].split()[1])
        rss[int(d)] = next((int(x.split()[1]) for x in status.splitlines() if x.startswith("VmRSS:")), 0)
    tree, frontier = {root}, [root]
    while frontier:
        p = frontier.pop()
        for c, pp in parents.items():
            if pp == p and c not in tree:
                tree.add(c)
                frontier.append(c)
    return sum(rss.get(p, 0) for p in tree)


def run(args: list[str]) -> tuple[float, int, int, str]:
    """Wall seconds, peak RSS of the largest process and of the process tree (MiB), stdout."""
    with tempfile.NamedTemporaryFile(suffix=".rss") as rss_file:
        t = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", _WRAPPER, rss_file.name, *args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
        peak = [0]

        def sample() -> None:
            while proc.poll() is None:
                peak[0] = max(peak[0], _tree_rss(proc.pid))
                time.sleep(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        out, err = proc.communicate()
        wall = time.perf_counter() - t
        sampler.join()
        if proc.returncode:
            sys.exit(f"{' '.join(args[:4])} failed: {err.decode(errors='replace')[-2000:]}")
        return wall, int(Path(rss_file.name).read_text()) // 1024, peak[0] // 1024, out.decode()


def memorize_args(train: Path, engine: str = "local", checkout: Path | None = None) -> list[str]:
    """`imdata memorize --match nearest` on the two runs, from this tree or from ``checkout``."""
    outs = [a for r in RUNS for a in ("--outputs", str(DATA / "outputs" / "alpaca_eval" / f"{r}.json"))]
    cmd = [sys.executable, "-m", "imdata"] if checkout is None else [sys.executable, "-c", _FROM, str(checkout)]
    return [*cmd, "memorize", "--train", str(train), *outs, "--match", "nearest", "--format", "json",
            "--engine", engine]  # fmt: skip


def same_report(a: str, b: str) -> bool:
    """Equal in every field but the count of exact sacrebleu calls (and the imdata version)."""
    ja, jb = json.loads(a), json.loads(b)
    for j in (ja, jb):
        j["nearest"].pop("scored")
        j.pop("imdata_version")
    return bool(ja == jb)


def all_pairs_estimate(outputs: list[str], refs_path: Path, sample: int) -> float:
    """Seconds to score every output against every training output with sacrebleu, one process."""
    from sacrebleu.metrics.bleu import BLEU

    refs = [json.loads(line)["output"] for line, _ in zip(refs_path.open(), range(20000), strict=False)]
    rng = random.Random(0)
    pairs = [(rng.choice(outputs), rng.choice(refs)) for _ in range(sample)]
    metric = BLEU(effective_order=True)
    t = time.perf_counter()
    for h, r in pairs:
        metric.sentence_score(h, [r])
    return (time.perf_counter() - t) / sample


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="30000,300000,1000000")
    ap.add_argument("--baseline-sizes", default="30000,300000", help="sizes the previous release runs at too")
    ap.add_argument("--baseline-rev", default=BASELINE_REV)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--sample-pairs", type=int, default=2000)
    ap.add_argument("--ray", action="store_true", help="also run --engine ray at 300k (or the largest size)")
    args = ap.parse_args()
    if not DATA.exists():
        print(f"skipped: {DATA} not found", file=sys.stderr)
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    base_sizes = [int(s) for s in args.baseline_sizes.split(",") if s]
    tmp = Path(tempfile.mkdtemp(prefix="bench_memorize_scale_"))
    old = tmp / "baseline"
    old.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", args.baseline_rev, "imdata"], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(old)], input=archive.stdout, check=True)
    base = base_examples()
    outputs = [
        r["output"] for n in RUNS for r in json.loads((DATA / "outputs" / "alpaca_eval" / f"{n}.json").read_text())
    ]
    print(f"{len(outputs):,} AlpacaEval outputs; base {len(base):,} training examples; {os.cpu_count()} cores")
    rows: dict[tuple[str, int], list[tuple[float, int, int]]] = {}
    reports: dict[tuple[str, int], str] = {}
    for n in sizes:
        path = tmp / f"train_{n}.jsonl"
        write_train(base, n, path)
        for _ in range(args.rounds):  # interleaved, so load from other processes hits both alike
            contenders = [("new", None)] + ([("previous", old)] if n in base_sizes else [])
            for name, checkout in contenders:
                wall, rss, tree, out = run(memorize_args(path, checkout=checkout))
                rows.setdefault((name, n), []).append((wall, rss, tree))
                reports[(name, n)] = out
                print(
                    f"  {name:>8} {n:>9,}: {wall:7.1f} s  {rss:6,} MiB largest process  {tree:6,} MiB tree", flush=True
                )
        if ("previous", n) in reports:
            same = same_report(reports[("new", n)], reports[("previous", n)])
            print(f"  {n:,}: reports of the streaming and the previous in-memory index identical: {same}")
            if not same:
                return 1
        if args.ray and n == (300_000 if 300_000 in sizes else sizes[-1]):
            wall, rss, tree, out = run(memorize_args(path, "ray"))
            same = json.loads(out) == json.loads(reports[("new", n)])
            print(
                f"  ray {n:,}: {wall:.1f} s, {rss:,} MiB largest, {tree:,} MiB tree; report identical to local: {same}"
            )
        if n != sizes[0]:
            path.unlink()
    per_pair = all_pairs_estimate(outputs, tmp / f"train_{sizes[0]}.jsonl", args.sample_pairs)

    def med(name: str, n: int, k: int) -> float:
        return statistics.median(r[k] for r in rows[(name, n)])

    first = sizes[0]
    print(f"\nmedians of {args.rounds} round(s); ratios against the streaming index at {first:,}")
    print("| training examples | streaming time | vs 30k | peak RSS largest / tree | vs 30k (tree) | previous "
          "release time | previous peak RSS | new vs previous time | all pairs, sacrebleu (est.) |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in sizes:
        t, rss, tree = (med("new", n, k) for k in range(3))
        prev = ("previous", n) in rows
        pt, prss = (med("previous", n, 0), med("previous", n, 1)) if prev else (None, None)
        est = per_pair * len(outputs) * n
        p_time = f"{pt:.1f} s" if pt else "-"
        p_rss = f"{prss:,.0f} MiB" if prss else "-"
        p_ratio = f"{pt / t:.2f}x faster" if pt else "-"
        print(
            f"| {n:,} | {t:.1f} s | {t / med('new', first, 0):.2f}x | {rss:,.0f} / {tree:,.0f} MiB "
            f"| {tree / med('new', first, 2):.2f}x | {p_time} | {p_rss} | {p_ratio} "
            f"| {est / 3600:.1f} h ({est / t:,.0f}x) |"
        )
    print(f"(all pairs: {per_pair * 1e6:.0f} us a pair over {args.sample_pairs:,} sampled pairs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
