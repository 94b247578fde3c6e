"""``imdata loss``: per-kind token losses equal a direct computation, whatever the batching.

Two tiny, randomly initialised Llamas (built from a config, as in ``test_train_e2e.py``;
nothing is downloaded) are saved to disk with the LLaMA-2 tokenizer. The reference is
computed here, one example at a time, unpadded and unbatched: the model's logits at
``t - 1`` scored against token ``t`` in float64, summed per span kind of imdata's labels.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import EXAMPLES, shared

torch = pytest.importorskip("torch", reason="the train extra is not installed (pip install imdata[train])")
transformers = pytest.importorskip(
    "transformers", reason="the train extra is not installed (pip install imdata[train])"
)

KINDS = ("output", "instruction", "system", "eos", "template")
DATA = EXAMPLES / "tiny_chat.jsonl"  # single and multi-turn, with and without system messages


def _save_model(folder: Path, seed: int, *, tokenizer: bool = True) -> Path:
    torch.manual_seed(seed)
    config = transformers.LlamaConfig(
        vocab_size=32000,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
    )
    model = transformers.LlamaForCausalLM(config)
    with torch.no_grad():  # spread the logits so kinds and models really differ
        for p in model.parameters():
            p.mul_(8.0)
    model.save_pretrained(folder)
    if tokenizer:
        for name in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copy(shared(f"tokenizers/llama2/{name}"), folder / name)
    return folder


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("models")
    return [_save_model(root / "it", 0), _save_model(root / "im", 1)]


def _reference(model_dir: Path, template: str, data: Path = DATA) -> dict[str, Any]:
    """Per example and kind: summed loss and token count, one unpadded example at a time."""
    from imdata.data.dataset import load
    from imdata.labels.labelling import KIND_CODE, tokenize_examples
    from imdata.labels.tokens import load_tokenizer
    from imdata.templates.builtin import get_template

    tok = load_tokenizer(str(model_dir))
    model = transformers.AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    code = {v: k for k, v in KIND_CODE.items()}
    per_example: dict[str, dict[str, list[float]]] = {}
    tmpl = get_template(template, eos=tok.eos, bos=tok.bos)
    with torch.no_grad():
        for tz in tokenize_examples(load(str(data)).examples, tmpl, tok, mode="all"):
            ids = torch.tensor(tz.input_ids)[None]
            logp = torch.log_softmax(model(input_ids=ids).logits[0].double(), dim=-1)
            row = {k: [0.0, 0] for k in KINDS}
            for t in range(1, len(tz.input_ids)):
                kind = code.get(int(tz.kinds[t]))
                if kind is None:
                    continue
                row[kind][0] -= float(logp[t - 1, tz.input_ids[t]])
                row[kind][1] += 1
            per_example[tz.example.id] = row
    return per_example


def _totals(per_example: dict[str, Any], kinds: tuple[str, ...]) -> tuple[float, int]:
    s = sum(row[k][0] for row in per_example.values() for k in kinds)
    n = sum(row[k][1] for row in per_example.values() for k in kinds)
    return s / n, n


@pytest.mark.slow
@pytest.mark.parametrize("template", ["tulu", "chatml"])
def test_per_kind_loss_equals_direct_computation(models: list[Path], template: str) -> None:
    from imdata.evaluation import loss

    refs = [_reference(m, template) for m in models]
    kinds = [*KINDS, "it", "im"]
    rep = loss(
        str(DATA),
        model=[str(m) for m in models],
        names=["IT", "IM"],
        template=template,
        kinds=kinds,
        device="cpu",
        bootstrap=50,
    )
    groups = {g.name: tuple(sorted(g.kinds)) for g in rep.kinds}
    assert groups["it"] == ("eos", "output")
    for name, ref in zip(("IT", "IM"), refs, strict=True):
        got = rep.result(name, "tiny_chat")
        for k in kinds:
            want, tokens = _totals(ref, groups[k])
            assert tokens > 0, (template, k)  # every kind occurs in this data
            assert got.kinds[k].tokens == tokens
            assert math.isclose(got.kinds[k].loss, want, rel_tol=1e-5), (template, name, k, got.kinds[k].loss, want)
            assert math.isclose(got.kinds[k].ppl, math.exp(want), rel_tol=1e-4)
            assert got.kinds[k].ci_low <= got.kinds[k].loss <= got.kinds[k].ci_high
    # the two models really differ, so the test would see a mix-up
    assert (
        abs(rep.result("IT", "tiny_chat").kinds["output"].loss - rep.result("IM", "tiny_chat").kinds["output"].loss)
        > 1e-2
    )
    for d in rep.differences:
        assert d.baseline == "IT" and d.model == "IM"
        want = rep.result("IM", d.dataset).kinds[d.kind].loss - rep.result("IT", d.dataset).kinds[d.kind].loss
        assert math.isclose(d.difference, want, rel_tol=1e-9, abs_tol=1e-12)
        assert d.ci_low <= d.difference <= d.ci_high


@pytest.mark.slow
def test_padding_batching_and_packing_change_no_number(models: list[Path]) -> None:
    from imdata.data.dataset import load
    from imdata.evaluation import loss
    from imdata.evaluation.scoring import plan_batches
    from imdata.labels.labelling import tokenize_examples
    from imdata.labels.tokens import load_tokenizer
    from imdata.templates.builtin import get_template

    ref = _reference(models[0], "tulu")
    tok = load_tokenizer(str(models[0]))
    lengths = [
        len(t.input_ids)
        for t in tokenize_examples(
            load(str(DATA)).examples, get_template("tulu", eos=tok.eos, bos=tok.bos), tok, mode="all"
        )
    ]
    settings = [(1, False), (96, False), (400, False), (100_000, False), (160, True), (400, True), (100_000, True)]
    for budget, pack in settings:
        plan = plan_batches(lengths, budget, pack=pack)
        if pack and budget >= 160:  # several sequences really share a row
            assert any(len(row) > 1 for rows in plan for row in rows)
        if not pack and budget >= 400:  # several rows really share a batch, padded to the longest
            assert any(len(rows) > 1 and lengths[rows[0][0]] != lengths[rows[-1][0]] for rows in plan)
        rep = loss(
            str(DATA), model=str(models[0]), kinds=KINDS, device="cpu", batch_tokens=budget, pack=pack, bootstrap=20
        )
        frame = rep.examples
        for row in frame.iter_rows(named=True):
            for k in KINDS:
                want_sum, want_n = ref[row["id"]][k]
                assert row[f"{k}_tokens"] == want_n
                assert math.isclose(row[f"{k}_loss"], want_sum, rel_tol=1e-5, abs_tol=1e-6), (
                    budget,
                    pack,
                    row["id"],
                    k,
                )


def test_plan_batches_respects_the_budget() -> None:
    from imdata.evaluation.scoring import plan_batches

    lengths = [7, 3, 9, 1, 4, 4, 2, 8, 5]
    for pack in (False, True):
        for budget in (1, 8, 9, 16, 30, 100):
            plan = plan_batches(lengths, budget, pack=pack)
            seen = sorted(i for rows in plan for row in rows for i in row)
            assert seen == list(range(len(lengths)))  # every sequence exactly once
            for rows in plan:
                width = max(sum(lengths[i] for i in row) for row in rows)
                assert width * len(rows) <= max(budget, max(lengths[i] for row in rows for i in row))
                assert all(len(row) == 1 for row in rows) if not pack else len(rows) == 1


def test_bootstrap_is_seeded_and_paired() -> None:
    import numpy as np

    from imdata.evaluation.stats import bootstrap

    rng = np.random.default_rng(3)
    counts = rng.integers(1, 20, size=(1, 40, 2))
    base = rng.random((1, 40, 2)) * counts * 3
    sums = np.concatenate([base, base + counts * 0.5])  # model 2: exactly 0.5 more per token
    counts = np.concatenate([counts, counts])
    a = bootstrap(sums, counts, n=300, seed=7, confidence=0.9)
    b = bootstrap(sums, counts, n=300, seed=7, confidence=0.9)
    assert np.array_equal(a.low, b.low) and np.array_equal(a.diff_high, b.diff_high)
    # a constant per-token shift has no sampling noise once paired
    assert np.allclose(a.diff[1], 0.5) and np.allclose(a.diff_low[1], 0.5) and np.allclose(a.diff_high[1], 0.5)
    assert (a.low[0] < a.loss[0]).all() and (a.loss[0] < a.high[0]).all()
    c = bootstrap(sums, counts, n=300, seed=8, confidence=0.9)
    assert not np.array_equal(a.low, c.low)


def test_kinds_parse_and_refuse_unknown() -> None:
    from imdata.errors import OptionError
    from imdata.evaluation.kinds import parse_kinds

    groups = parse_kinds("output,im,system+instruction")
    assert [g.name for g in groups] == ["output", "im", "system+instruction"]
    assert groups[1].kinds == {"system", "instruction", "output", "eos"}
    with pytest.raises(OptionError, match="unknown kind 'outputs'"):
        parse_kinds("outputs")
    with pytest.raises(OptionError, match="named twice"):
        parse_kinds("output,output")


def test_inputs_read_the_files_own_field_names(tmp_path: Path) -> None:
    from imdata.evaluation.inputs import resolve_inputs

    data = tmp_path / "qa.jsonl"
    data.write_text(json.dumps({"question": "What is 2 + 2?", "answer": "4"}) + "\n")
    got = resolve_inputs(str(data), fields={"instruction": "question", "output": "answer"})
    (part,) = got.parts
    assert [(m.role, m.content) for m in part.examples[0].messages] == [("user", "What is 2 + 2?"), ("assistant", "4")]


def test_the_public_api_mirrors_the_command() -> None:
    import imdata
    from imdata.evaluation import loss

    assert imdata.loss is loss and imdata.LossReport.__name__ == "LossReport"


# --- the command line ------------------------------------------------------------------------


def _run(args: list[str]) -> Any:
    from imdata.cli import main

    return CliRunner().invoke(main, args, catch_exceptions=False)


def _one_line_error(res: Any, *fragments: str) -> None:
    assert res.exit_code == 1, res.output
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.stderr
    assert "Traceback" not in res.stderr
    for f in fragments:
        assert f in lines[0], lines[0]


def test_help_is_instant_and_does_not_import_torch() -> None:
    code = (
        "import sys\nfrom imdata.cli import main\n"
        "try:\n    main(['loss', '--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'transformers', 'matplotlib', 'duckdb') if m in sys.modules]\n"
        "print('HEAVY', heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "--kinds" in out and "HEAVY []" in out


def test_missing_model_path_is_one_line(tmp_path: Path) -> None:
    res = _run(["loss", str(DATA), "--model", str(tmp_path / "nope")])
    _one_line_error(res, str(tmp_path / "nope"), "no such folder")


def test_model_without_tokenizer_is_one_line(tmp_path: Path) -> None:
    folder = _save_model(tmp_path / "bare", 0, tokenizer=False)
    res = _run(["loss", str(DATA), "--model", str(folder)])
    _one_line_error(res, "no tokenizer.json", "--tokenizer")


def test_device_cuda_without_cuda_is_one_line(models: list[Path]) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    res = _run(["loss", str(DATA), "--model", str(models[0]), "--device", "cuda"])
    _one_line_error(res, "--device cuda", "CUDA is not available", "--device cpu")


def test_folder_that_is_not_a_checkpoint_is_one_line(tmp_path: Path) -> None:
    res = _run(["loss", str(DATA), "--model", str(tmp_path)])
    _one_line_error(res, "no config.json")


@pytest.mark.slow
def test_every_format_store_and_report(models: list[Path], tmp_path: Path) -> None:
    import duckdb

    base = ["loss", str(DATA), "--model", str(models[0]), "--model", str(models[1]), "--name", "IT", "--name", "IM"]
    base += ["--kinds", "output,it", "--device", "cpu", "--bootstrap", "100"]
    res = _run([*base, "--format", "json", "--db", str(tmp_path / "s.duckdb"), "--report", str(tmp_path / "rep")])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert [m["model"] for m in doc["models"]] == ["IT", "IM"]
    assert set(doc["models"][0]["kinds"]) == {"output", "it"}
    assert set(doc["models"][0]["kinds"]["output"]) == {"loss", "tokens", "ppl", "ci_low", "ci_high"}
    assert [(d["model"], d["baseline"], d["kind"]) for d in doc["differences"]] == [
        ("IM", "IT", "output"),
        ("IM", "IT", "it"),
    ]
    assert res.stdout == json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    out = doc["models"][1]["kinds"]["output"]["loss"]
    for fmt, probe in (("table", f"{out:.4f}"), ("markdown", f"| {out:.4f} |"), ("csv", "measure,model,baseline")):
        r = _run([*base, "--format", fmt])
        assert r.exit_code == 0 and probe in r.stdout, (fmt, r.stdout)
    rows = _run([*base, "--format", "csv"]).stdout.splitlines()
    assert len(rows) == 1 + 2 * 2 + 2  # header, 2 models x 2 kinds, 2 differences
    con = duckdb.connect(str(tmp_path / "s.duckdb"), read_only=True)
    got = con.execute("SELECT model, loss FROM loss_results WHERE kind = 'output' ORDER BY model").fetchall()
    assert [m for m, _ in got] == ["IM", "IT"] and math.isclose(got[0][1], out, rel_tol=1e-12)
    n_ex = con.execute("SELECT count(*) FROM loss_examples WHERE model = 'IT' AND kind = 'output'").fetchone()
    assert n_ex == (12,)
    assert con.execute("SELECT count(*) FROM loss_differences").fetchone() == (2,)
    con.close()
    files = sorted(p.name for p in (tmp_path / "rep").iterdir())
    assert files == ["examples.csv", "loss.png", "report.json", "report.md"]
    assert (tmp_path / "rep" / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "![loss per kind](loss.png)" in (tmp_path / "rep" / "report.md").read_text()
    again = _run([*base, "--report", str(tmp_path / "rep")])
    _one_line_error(again, "--force")
    # rerunning into the store replaces rows rather than adding them
    assert _run([*base, "--db", str(tmp_path / "s.duckdb")]).exit_code == 0
    con = duckdb.connect(str(tmp_path / "s.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM loss_results").fetchone() == (4,)
    con.close()


@pytest.mark.slow
def test_split_folder_side_by_side_with_leaks_apart(models: list[Path], tmp_path: Path) -> None:
    rows = [json.loads(line) for line in DATA.read_text().splitlines()]
    copies = [dict(r, id=r["id"] + "-copy") for r in rows]  # the same examples again, new ids
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows + copies))
    res = _run(["split", str(data), "--holdout", "0.5", "--seed", "1", "-o", str(tmp_path / "split")])
    assert res.exit_code == 0, res.output
    manifest = json.loads((tmp_path / "split" / "manifest.json").read_text())
    leaked = {p["a"] for p in manifest["leaks"]["pairs"]}
    held = manifest["counts"]["holdout"]
    assert 0 < len(leaked) < held
    base = ["loss", str(tmp_path / "split"), "--model", str(models[0]), "--kinds", "output", "--device", "cpu"]
    base += ["--bootstrap", "50", "--format", "json"]
    doc = json.loads(_run(base).stdout)
    sets = {d["name"]: d["examples"] for d in doc["datasets"]}
    assert sets == {"train": manifest["counts"]["train"], "holdout": held - len(leaked), "holdout-leaked": len(leaked)}
    assert [m["dataset"] for m in doc["models"]] == ["train", "holdout", "holdout-leaked"]
    assert any("leaked" in n for n in doc["notes"])
    excluded = json.loads(_run([*base, "--leaked", "exclude"]).stdout)
    assert {d["name"]: d["examples"] for d in excluded["datasets"]} == {
        "train": sets["train"],
        "holdout": sets["holdout"],
    }
    # the same held-out file named on its own is recognised by the manifest beside it
    alone = json.loads(_run([*base[:1], str(tmp_path / "split" / "holdout.jsonl"), *base[2:]]).stdout)
    assert {d["name"] for d in alone["datasets"]} == {"holdout", "holdout-leaked"}
