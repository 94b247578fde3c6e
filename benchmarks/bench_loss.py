"""Benchmark `imdata loss` against the loops a user would otherwise write, on the same numbers.

A small random-init Llama (saved to a temporary folder with the LLaMA-2 tokenizer; nothing
is downloaded) scores Dolly examples from the paper's own file, per span kind:

1. **per example** (the reference a careful user writes first): one unpadded example per
   forward pass, log-softmax, token losses summed per kind;
2. **fixed batches**: 8 examples per forward pass in file order, right-padded, with an
   attention mask (what a `DataLoader(batch_size=8)` with a padding collator gives);
3. `imdata.loss`, padded (sorted by length, token-budget batches) and packed.

Every variant's per-kind loss must agree with the per-example one (relative 1e-5, asserted
in the run). Prints medians over interleaved rounds and ratios against the per-example loop.

Run: python benchmarks/bench_loss.py [--examples 400] [--longest 1024] [--rounds 3] [--device cpu]
"""

from __future__ import annotations

import argparse
import math
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import transformers

from imdata.data.dataset import load
from imdata.evaluation import loss
from imdata.labels.labelling import KIND_CODE, tokenize_examples
from imdata.labels.tokens import load_tokenizer
from imdata.templates.builtin import get_template

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
KINDS = ("output", "instruction", "template")


def make_model(folder: Path, hidden: int, layers: int) -> None:
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=32000,
        hidden_size=hidden,
        intermediate_size=hidden * 4,
        num_hidden_layers=layers,
        num_attention_heads=max(1, hidden // 64),
        num_key_value_heads=max(1, hidden // 64),
        max_position_embeddings=4096,
    )
    transformers.LlamaForCausalLM(config).save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(DATA / "tokenizers" / "llama2" / name, folder / name)


def sequences(folder: Path, data: Path, n: int, longest: int, out: Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The first ``n`` examples of at most ``longest`` tokens, written to ``out`` for imdata to read."""
    tok = load_tokenizer(str(folder))
    tmpl = get_template("tulu", eos=tok.eos, bos=tok.bos)
    lines = data.read_text().splitlines(keepends=True)
    ids, kinds, kept = [], [], []
    for i, tz in enumerate(tokenize_examples(load(str(data)).examples, tmpl, tok, mode="all")):
        if len(tz.input_ids) <= longest:
            ids.append(tz.input_ids)
            kinds.append(tz.kinds)
            kept.append(lines[i])
        if len(ids) == n:
            break
    out.write_text("".join(kept))
    return ids, kinds


def per_kind(sums: np.ndarray, counts: np.ndarray) -> dict[str, float]:
    return {k: float(sums[KIND_CODE[k] + 1] / counts[KIND_CODE[k] + 1]) for k in KINDS}


def loop(model: Any, ids: list[np.ndarray], kinds: list[np.ndarray], batch: int, device: str) -> dict[str, float]:
    sums = np.zeros(len(KIND_CODE) + 1)
    counts = np.zeros(len(KIND_CODE) + 1)
    with torch.inference_mode():
        for s in range(0, len(ids), batch):
            chunk = list(range(s, min(s + batch, len(ids))))
            width = max(len(ids[i]) for i in chunk)
            x = torch.full((len(chunk), width), 2, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for r, i in enumerate(chunk):
                x[r, : len(ids[i])] = torch.from_numpy(ids[i])
                mask[r, : len(ids[i])] = 1
            kwargs = {"attention_mask": mask.to(device)} if batch > 1 else {}
            logp = torch.log_softmax(model(input_ids=x.to(device), **kwargs).logits.float(), dim=-1)
            for r, i in enumerate(chunk):
                n = len(ids[i])
                tgt = torch.from_numpy(ids[i][1:]).to(device)
                nll = -logp[r, : n - 1].gather(1, tgt[:, None])[:, 0].double().cpu().numpy()
                slots = kinds[i][1:].astype(np.int64) + 1
                np.add.at(sums, slots, nll)
                np.add.at(counts, slots, 1)
    return per_kind(sums, counts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=400)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--longest", type=int, default=1024, help="leave out examples longer than this (tokens)")
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--batch-tokens", type=int, default=4096)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    data = DATA / "instruction_modelling" / "alpagasus_3k_dolly.jsonl"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "model"
        make_model(folder, args.hidden, args.layers)
        sub = Path(tmp) / "data.jsonl"
        ids, kinds = sequences(folder, data, args.examples, args.longest, sub)
        model = transformers.AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval().to(args.device)
        lengths = [len(x) for x in ids]
        print(
            f"{len(ids)} Dolly examples of at most {args.longest} tokens, {sum(lengths):,} tokens "
            f"(median {int(np.median(lengths))}, "
            f"max {max(lengths)}); Llama hidden {args.hidden}, {args.layers} layers; {args.device}, "
            f"torch {torch.__version__}, {torch.get_num_threads()} threads"
        )
        runs: dict[str, Any] = {
            "per example": lambda: loop(model, ids, kinds, 1, args.device),
            "fixed batches of 8": lambda: loop(model, ids, kinds, 8, args.device),
        }
        for pack in (False, True):
            name = f"imdata loss {'--pack' if pack else 'padded'}"

            def run(pack: bool = pack) -> dict[str, float]:
                rep = loss(str(sub), model=str(folder), kinds=KINDS, device=args.device, dtype="float32",
                           batch_tokens=args.batch_tokens, pack=pack, bootstrap=1)  # fmt: skip
                return {k: v.loss for k, v in rep.results[0].kinds.items()}  # type: ignore[misc]

            runs[name] = run
        times: dict[str, list[float]] = {k: [] for k in runs}
        ref: dict[str, float] = {}
        for _ in range(args.rounds):
            for name, fn in runs.items():
                t = time.perf_counter()
                got = fn()
                times[name].append(time.perf_counter() - t)
                ref = ref or got
                for k in KINDS:
                    assert math.isclose(got[k], ref[k], rel_tol=1e-5), (name, k, got[k], ref[k])
        base = statistics.median(times["per example"])
        print(f"{'variant':<22} {'median s':>9} {'speed-up':>9}   (loss output / instruction / template)")
        for name, ts in times.items():
            med = statistics.median(ts)
            print(f"{name:<22} {med:>9.2f} {base / med:>8.2f}x")
        print("losses (all variants equal to 1e-5): " + ", ".join(f"{k} {ref[k]:.5f}" for k in KINDS))


if __name__ == "__main__":
    main()
