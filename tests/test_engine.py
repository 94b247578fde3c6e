"""--engine local and --engine ray: the same per-example rows (byte for byte) and summaries, on real data."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from conftest import shared
from polars.testing import assert_frame_equal

from imdata.cli import main

# Ray Data's DataContext warns about its own deprecated fields while it builds itself (ray 2.60);
# only warnings raised in that module are ignored
pytestmark = pytest.mark.filterwarnings(r"ignore::DeprecationWarning:ray\.data\.context")

N = 400  # real conversations: enough for several Ray blocks' worth of batches, quick on 2 cores


def test_cli_never_imports_ray() -> None:
    code = "import sys, imdata.cli, imdata.engine.runner; sys.exit(1 if 'ray' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


@pytest.fixture(scope="module")
def ray_local() -> Iterator[None]:
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'imdata[ray]')")
    pytest.importorskip("ray.data", reason="ray[data] is not installed")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def sharegpt_jsonl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first N ShareGPT conversations as JSONL, plus a repeated record and a broken line."""
    src = shared("sharegpt/sharegpt_v3_unfiltered_cleaned_split.first17671.json.gz")
    records = json.loads(gzip.decompress(src.read_bytes()))[:N]
    out = tmp_path_factory.mktemp("engine") / "sharegpt.jsonl"
    lines = [json.dumps(r) for r in records]
    lines.insert(7, lines[3])  # a duplicate record: kept by both engines under id <id>-2, counted
    lines.insert(20, "{not json")
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def _parquet_bytes(frame: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.write_parquet(buf, compression="uncompressed", statistics=False)
    return buf.getvalue()


@pytest.mark.slow
@pytest.mark.parametrize("unit", ["tokens", "words"])
def test_profile_rows_and_summaries_match(
    ray_local: None, sharegpt_jsonl: Path, llama2_tokenizer: Path, unit: str
) -> None:
    from imdata.engine import runner as engine

    opts = {"on_error": "skip", "unit": unit}
    if unit == "tokens":
        opts |= {"tokenizer": str(llama2_tokenizer), "max_length": 1024}
    local = engine.profile(str(sharegpt_jsonl), engine="local", **opts)  # type: ignore[arg-type]
    remote = engine.profile(str(sharegpt_jsonl), engine="ray", **opts)  # type: ignore[arg-type]
    assert_frame_equal(local.examples, remote.examples)
    assert _parquet_bytes(local.examples) == _parquet_bytes(remote.examples)
    assert local.to_dict() == remote.to_dict()
    d = remote.datasets[0]
    assert d.skipped["malformed-json"] == 1 and d.warnings["duplicate-record"] == 1
    assert local.examples["id"].n_unique() == local.examples.height
    assert [r.where for r in local.skip_logs[0].rejected] == [r.where for r in remote.skip_logs[0].rejected]


@pytest.mark.slow
def test_spans_cli_same_bytes(ray_local: None, sharegpt_jsonl: Path, llama2_tokenizer: Path, tmp_path: Path) -> None:
    outs = {}
    for eng in ("local", "ray"):
        out = tmp_path / f"{eng}.jsonl"
        rej = str(tmp_path / f"{eng}.rej")
        args = ["spans", str(sharegpt_jsonl), "-k", str(llama2_tokenizer), "--max-length", "512",
                "--on-error", "skip", "--engine", eng, "-o", str(out), "--rejects", rej]  # fmt: skip
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 0, res.output
        assert res.stdout == ""
        outs[eng] = out
    assert outs["local"].read_bytes() == outs["ray"].read_bytes()
    manifests = [json.loads(Path(f"{p}.manifest.json").read_text()) for p in outs.values()]
    for m in manifests:
        m.pop("output")
    assert manifests[0] == manifests[1]
    rejected = [[json.loads(x)["where"] for x in (tmp_path / f"{e}.rej").read_text().splitlines()] for e in outs]
    assert rejected[0] == rejected[1] and "line 21" in rejected[0] and "line 8" not in rejected[0]


# zephyr's template with the day in a header, as Llama-3.1/3.2 templates write it
DATED = (Path(__file__).parent / "fixtures" / "templates" / "zephyr.jinja").read_text(encoding="utf-8")
DATED = "{{ '<|date|>' + strftime_now('%d %b %Y') + eos_token }}\n" + DATED


@pytest.mark.slow
def test_eot_and_date_reach_ray_workers(ray_local: None, sharegpt_jsonl: Path, tmp_path: Path) -> None:
    template = tmp_path / "dated.jinja"
    template.write_text(DATED, encoding="utf-8")
    flags = ["-t", str(template), "--eot", "</s>\n", "--date", "2025-01-02", "--on-error", "skip"]
    outs = {}
    for eng in ("local", "ray"):
        out = tmp_path / f"{eng}.jsonl"
        res = CliRunner().invoke(main, ["spans", str(sharegpt_jsonl), *flags, "--engine", eng, "-o", str(out)])
        assert res.exit_code == 0, res.output
        outs[eng] = out
    assert outs["local"].read_bytes() == outs["ray"].read_bytes()
    first = json.loads(outs["ray"].read_text().splitlines()[0])
    assert first["text"].startswith("<|date|>02 Jan 2025</s>")
    assert [s["kind"] for s in first["spans"]].count("eos") >= 1  # the marker --eot named, trained as eos
    manifests = [json.loads(Path(f"{p}.manifest.json").read_text()) for p in outs.values()]
    assert manifests[0]["provenance"] == manifests[1]["provenance"]
    assert manifests[1]["provenance"]["template_date"] == "2025-01-02" and manifests[1]["provenance"]["eot"] == "</s>\n"
    profiles = []
    for eng in ("local", "ray"):
        res = CliRunner().invoke(main, ["profile", str(sharegpt_jsonl), *flags, "--engine", eng, "--format", "json"])
        assert res.exit_code == 0, res.output
        profiles.append(json.loads(res.stdout))
    assert profiles[0] == profiles[1]


@pytest.mark.slow
def test_ray_writes_compressed_span_jsonl_as_local_does(ray_local: None, sharegpt_jsonl: Path, tmp_path: Path) -> None:
    plain = tmp_path / "plain.jsonl"
    res = CliRunner().invoke(main, ["spans", str(sharegpt_jsonl), "--on-error", "skip", "-o", str(plain)])
    assert res.exit_code == 0, res.output
    for name in ("x.jsonl.gz", "x.jsonl.zst"):
        made = {}
        for eng in ("local", "ray"):
            out = tmp_path / eng / name
            out.parent.mkdir(exist_ok=True)
            args = ["spans", str(sharegpt_jsonl), "--on-error", "skip", "--engine", eng, "-o", str(out)]
            res = CliRunner().invoke(main, args)
            assert res.exit_code == 0, res.output
            made[eng] = out.read_bytes()
        assert made["local"] == made["ray"], name  # compressed deterministically, alike
        if name.endswith(".gz"):
            assert gzip.decompress(made["ray"]) == plain.read_bytes()
        else:
            import zstandard

            assert zstandard.ZstdDecompressor().stream_reader(io.BytesIO(made["ray"])).read() == plain.read_bytes()


@pytest.mark.slow
def test_profile_cli_ray_raises_the_local_error(ray_local: None, sharegpt_jsonl: Path) -> None:
    res = CliRunner().invoke(main, ["profile", str(sharegpt_jsonl), "--engine", "ray", "--on-error", "raise"])
    local = CliRunner().invoke(main, ["profile", str(sharegpt_jsonl), "--on-error", "raise"])
    assert res.exit_code == local.exit_code == 1
    assert res.stderr == local.stderr
    assert "line 8" in res.stderr or "line 21" in res.stderr


def test_ray_refuses_a_folder_output(sharegpt_jsonl: Path, tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["spans", str(sharegpt_jsonl), "--engine", "ray", "-o", str(tmp_path / "out")])
    assert res.exit_code == 1
    assert "--engine ray writes JSONL" in res.stderr
