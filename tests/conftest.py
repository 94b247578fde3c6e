"""Shared fixtures: real data from ../shared/data, skipped (with the reason) where missing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("IMDATA_SHARED_DATA", REPO.parent / "shared" / "data"))
EXAMPLES = REPO / "examples"


def shared(rel: str) -> Path:
    """A file under ../shared/data, or skip the test saying what is missing."""
    p = SHARED / rel
    if not p.exists():
        pytest.skip(f"real data not available: {p} (set IMDATA_SHARED_DATA to the shared/data folder)")
    return p


@pytest.fixture
def llama2_tokenizer() -> Path:
    return shared("tokenizers/llama2/tokenizer.json")


@pytest.fixture
def paper_files() -> list[Path]:
    return [
        shared("instruction_modelling/lima_data.jsonl"),
        shared("instruction_modelling/alpagasus_3k_dolly.jsonl"),
        shared("instruction_modelling/alpagasus_claude_t45_alpaca.jsonl"),
    ]
