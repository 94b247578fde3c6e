"""The analyses run on a small sample in CI so they cannot rot; Table 5 parity on the full paper files."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest
from conftest import REPO, shared

sys.path.insert(0, str(REPO / "analyses"))


def _tree(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}  # fmt: skip


@pytest.mark.slow
def test_run_all_on_a_sample_twice_gives_the_same_bytes(tmp_path: Path) -> None:
    shared("outputs/alpaca_eval/alpaca-7b.json")
    shared("tokenizers/llama2/tokenizer.json")
    import _common
    import run_all

    first, second = tmp_path / "1", tmp_path / "2"
    args = ["--sample", "40"]
    assert run_all.main([*args, "--cards", str(first / "cards"), "--results", str(first / "results")]) == 0
    _common.card.cache_clear()
    _common.dataset.cache_clear()
    assert run_all.main([*args, "--cards", str(second / "cards"), "--results", str(second / "results")]) == 0
    a, b = _tree(first), _tree(second)
    assert a == b
    names = {k.name for k in _common.KNOWN}
    assert {f"cards/{n}.md" for n in names} <= set(a)
    for f in ("table5", "ratio_landscape", "template_audit", "low_resource", "memorisation"):
        assert f"results/{f}.md" in a
    assert "results/memorisation/paired_bleu_differences.png" in a
    card = (first / "cards" / "lima_data.md").read_text()
    assert "## Truncation" in card and "llama2/tokenizer.json" in card


def test_table5_paper_files_match_the_printed_figures() -> None:
    shared("instruction_modelling/lima_data.jsonl")
    import _common
    import table5

    import imdata

    printed = table5.printed()
    for name in table5.PAPER_FILES:
        k = _common.BY_NAME[name]
        w = imdata.profile(_common.data_path(k.path), unit="words").datasets[0]
        assert table5._same(printed[k.paper], table5._ours(w)) == [], name


def test_committed_results_cover_every_known_dataset() -> None:
    import _common

    cards = REPO / "data_cards"
    if not (cards / "README.md").exists():
        pytest.skip("data_cards/ not generated yet: python analyses/run_all.py")
    for k in _common.KNOWN:
        text = (cards / f"{k.name}.md").read_text()
        assert k.license in text
    table = (REPO / "analyses" / "results" / "table5.md").read_text()
    assert "**The three paper files match the printed figures exactly** (3 of 3" in table
