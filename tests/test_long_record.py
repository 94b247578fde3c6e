"""One enormous record (a 100,000-turn conversation) costs `spans -k` and `profile -k` linear work.

The work is counted, not timed: the Python function calls a command makes (cProfile's
count, which includes every call into the tokenizer's bindings, such as a per-span
``Encoding.char_to_token``) must grow like the number of turns: 4x the turns, at most
4.4x the calls (a quadratic step would make it 16x), and a few dozen calls per turn.
"""

from __future__ import annotations

import cProfile
import json
import pstats
import random
from pathlib import Path

import pytest

from imdata.cli import main

WORDS = [
    "the",
    "cat",
    "sat",
    "on",
    "a",
    "mat",
    "and",
    "then",
    "it",
    "went",
    "home",
    "to",
    "sleep",
    "quietly",
    ",",
    "said",
    "Ada",
    ".",
]


def _conversation(path: Path, turns: int) -> None:
    rng = random.Random(turns)
    msgs = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": " ".join(rng.choices(WORDS, k=rng.randint(3, 12)))}
        for i in range(turns)
    ]
    path.write_text(json.dumps({"id": f"long-{turns}", "messages": msgs}) + "\n")


def _calls(args: list[str]) -> tuple[int, dict[str, int]]:
    prof = cProfile.Profile()
    prof.enable()
    try:
        main(args, standalone_mode=False)
    finally:
        prof.disable()
    stats = pstats.Stats(prof)
    per = {f"{k[2]}": v[1] for k, v in stats.stats.items()}  # type: ignore[attr-defined]
    return stats.total_calls, per  # type: ignore[attr-defined]


@pytest.mark.slow
@pytest.mark.parametrize("command", ["spans", "profile"])
def test_a_100000_turn_conversation_costs_linear_work(tmp_path: Path, llama2_tokenizer: Path, command: str) -> None:
    counts = {}
    for turns in (25_000, 100_000):
        src = tmp_path / f"long{turns}.jsonl"
        _conversation(src, turns)
        args = [command, str(src), "-k", str(llama2_tokenizer)]
        args += ["-o", str(tmp_path / f"out{turns}.jsonl"), "--force"] if command == "spans" else ["--format", "json"]
        counts[turns] = _calls(args)
    (small, _), (big, per) = counts[25_000], counts[100_000]
    assert big <= 4.4 * small, f"{command}: {small:,} calls for 25,000 turns, {big:,} for 100,000"
    assert big <= 60 * 100_000
    assert per.get("char_to_token", 0) + per.get("<method 'char_to_token' of 'tokenizers.Encoding' objects>", 0) <= 2
