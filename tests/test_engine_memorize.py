"""memorize --engine ray scores every pair exactly as the local process pool does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import shared
from test_engine import ray_local  # noqa: F401 - the module-scoped local Ray instance

from imdata.cli import main
from imdata.memorisation.bleu import score_pairs
from imdata.memorisation.nearest_shards import stream_nearest

# Ray 2.60 warns about its own DataContext fields when it reads them (as in test_engine.py)
pytestmark = pytest.mark.filterwarnings(r"ignore::DeprecationWarning:ray\.data\.context")


def test_ray_scores_equal_local_on_real_outputs(ray_local: None) -> None:  # noqa: F811
    rows = json.loads(shared("outputs/alpaca_eval/alpaca-7b.json").read_text())[:300]
    refs = json.loads(shared("outputs/alpaca_eval/text_davinci_003.json").read_text())[:300]
    hyps, texts = [r["output"] for r in rows], [r["output"] for r in refs]
    assert score_pairs(hyps, texts, engine="ray") == score_pairs(hyps, texts, workers=1)


def test_memorize_cli_same_report_on_both_engines(ray_local: None, tmp_path: Path) -> None:  # noqa: F811
    train = tmp_path / "train.json"
    train.write_text(json.dumps(json.loads(shared("outputs/alpaca_eval/text_davinci_003.json").read_text())[:120]))
    run = tmp_path / "run.json"
    run.write_text(json.dumps(json.loads(shared("outputs/alpaca_eval/alpaca-7b.json").read_text())[:120]))
    outs = []
    for engine in ("local", "ray"):
        res = CliRunner().invoke(main, ["memorize", "--train", str(train), "--outputs", str(run), "--match",
                                        "instruction", "--format", "json", "--engine", engine])  # fmt: skip
        assert res.exit_code == 0, res.output
        outs.append(json.loads(res.stdout))
    assert outs[0] == outs[1]


def test_nearest_on_ray_finds_what_the_process_pool_finds(ray_local: None) -> None:  # noqa: F811
    refs = [r["output"] for r in json.loads(shared("alpagasus/random_9k.json").read_text())][:1200]
    outs = [r["output"] for r in json.loads(shared("outputs/alpaca_eval/alpaca-7b.json").read_text())][:60]
    # 400 references a shard: four shards, three of them Ray Data tasks in two waves
    local = stream_nearest(outs, iter(refs), workers=2, max_examples=400)
    remote = stream_nearest(outs, iter(refs), workers=2, engine="ray", max_examples=400)
    assert remote.shards == local.shards == 4
    assert (remote.index.tolist(), remote.bleu.tolist(), remote.scored) == (
        local.index.tolist(),
        local.bleu.tolist(),
        local.scored,
    )


def test_memorize_nearest_same_report_on_both_engines(ray_local: None, tmp_path: Path) -> None:  # noqa: F811
    train = tmp_path / "train.json"
    train.write_text(json.dumps(json.loads(shared("alpagasus/dolly_3k.json").read_text())[:300]))
    run = tmp_path / "run.json"
    run.write_text(json.dumps(json.loads(shared("outputs/alpaca_eval/alpaca-7b.json").read_text())[:40]))
    outs = []
    for engine in ("local", "ray"):
        res = CliRunner().invoke(main, ["memorize", "--train", str(train), "--outputs", str(run), "--match",
                                        "nearest", "--format", "json", "--engine", engine])  # fmt: skip
        assert res.exit_code == 0, res.output
        outs.append(json.loads(res.stdout))
    assert outs[0] == outs[1]
    assert outs[0]["nearest"]["all_pairs"] == 40 * 300
