"""Exports: each format is what its consumer expects, verified, atomic, with provenance."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from conftest import EXAMPLES, shared

import imdata
from imdata.data.dataset import load
from imdata.errors import OptionError, OutputError
from imdata.labels.labelling import IGNORE_INDEX


def schema() -> dict[str, object]:
    from importlib.resources import files

    return json.loads(files("imdata").joinpath("schemas/spans.schema.json").read_text())  # type: ignore[no-any-return]


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def test_span_jsonl_matches_its_schema_on_real_data(tmp_path: Path, llama2_tokenizer: Path) -> None:
    ds = load(str(shared("instruction_modelling/lima_data.jsonl")))
    out = tmp_path / "lima.spans.jsonl"
    report = imdata.spans(ds, output=out, tokenizer=str(llama2_tokenizer), mode="im")
    rows = lines(out)
    assert len(rows) == report.examples == 1030
    validator = jsonschema.Draft202012Validator(schema())
    for row in rows:
        validator.validate(row)
        text = row["text"]
        assert "".join(text[s["start"] : s["end"]] for s in row["spans"]) == text  # type: ignore[index]
        assert len(row["input_ids"]) == len(row["labels"])  # type: ignore[arg-type]
    assert rows[0]["provenance"]["inputs"] == {"lima_data": ds.fingerprint}  # type: ignore[index]
    manifest = json.loads((tmp_path / "lima.spans.jsonl.manifest.json").read_text())
    assert manifest["trained_tokens"] == sum(sum(x != IGNORE_INDEX for x in r["labels"]) for r in rows)  # type: ignore[union-attr]


def test_same_inputs_same_bytes(tmp_path: Path, llama2_tokenizer: Path) -> None:
    ds = load(str(EXAMPLES / "tiny_chat.jsonl"))
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    imdata.spans(ds, output=a, tokenizer=str(llama2_tokenizer))
    imdata.spans(load(str(EXAMPLES / "tiny_chat.jsonl")), output=b, tokenizer=str(llama2_tokenizer))
    assert a.read_bytes() == b.read_bytes()


def test_hf_jsonl_and_folder(tmp_path: Path, llama2_tokenizer: Path) -> None:
    import datasets

    ds = load(str(EXAMPLES / "tiny_chat.jsonl"))
    imdata.spans(ds, output=tmp_path / "hf.jsonl", tokenizer=str(llama2_tokenizer), to="hf", mode="it")
    rows = lines(tmp_path / "hf.jsonl")
    assert set(rows[0]) == {"id", "input_ids", "labels"}
    imdata.spans(ds, output=tmp_path / "hf", tokenizer=str(llama2_tokenizer), to="hf", mode="it")
    folder = datasets.load_from_disk(str(tmp_path / "hf"))
    assert folder["labels"] == [r["labels"] for r in rows] and folder["id"] == [r["id"] for r in rows]


def test_axolotl_segments_concatenate_to_the_text(tmp_path: Path) -> None:
    ds = load(str(EXAMPLES / "tiny_chat.jsonl"))
    imdata.spans(ds, output=tmp_path / "ax.jsonl", to="axolotl", mode="im")
    imdata.spans(ds, output=tmp_path / "sp.jsonl", to="spans")
    for ax, sp in zip(lines(tmp_path / "ax.jsonl"), lines(tmp_path / "sp.jsonl"), strict=True):
        segs = ax["segments"]
        assert "".join(s["text"] for s in segs) == sp["text"]  # type: ignore[union-attr]
        assert all(a["label"] != b["label"] for a, b in zip(segs, segs[1:], strict=False))  # type: ignore[index]
        assert not segs[0]["label"], "the first segment is the tulu header"  # type: ignore[index]


def test_axolotl_segments_start_with_bos_when_the_tokenizer_adds_it(tmp_path: Path, llama2_tokenizer: Path) -> None:
    ds = load(str(EXAMPLES / "tiny_chat.jsonl"))
    imdata.spans(ds, output=tmp_path / "ax.jsonl", to="axolotl", tokenizer=str(llama2_tokenizer))
    first = lines(tmp_path / "ax.jsonl")[0]["segments"][0]  # type: ignore[index]
    assert first == {"label": False, "text": "<s><|user|>\n"}, "BOS joins the untrained header segment"


def test_messages_export_round_trips(tmp_path: Path) -> None:
    ds = load(str(EXAMPLES / "tiny_alpaca.json"))
    imdata.spans(ds, output=tmp_path / "m.jsonl", to="messages")
    back = load(str(tmp_path / "m.jsonl"))
    assert [e.id for e in back.examples] == [e.id for e in ds.examples]
    assert [e.first_instruction for e in back.examples] == [e.first_instruction for e in ds.examples]


def test_nothing_is_left_behind_when_an_export_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import imdata.export.exporter as export

    ds = load(str(EXAMPLES / "tiny_chat.jsonl"))
    calls = {"n": 0}
    real = export.check_tiling

    def fail_on_fifth(*a: object) -> None:
        calls["n"] += 1
        if calls["n"] == 5:
            raise RuntimeError("boom")
        real(*a)  # type: ignore[arg-type]

    monkeypatch.setattr(export, "check_tiling", fail_on_fifth)
    with pytest.raises(RuntimeError):
        imdata.spans(ds, output=tmp_path / "out.jsonl")
    assert list(tmp_path.iterdir()) == []


def test_option_errors(tmp_path: Path) -> None:
    ds = load(str(EXAMPLES / "tiny_chat.jsonl"))
    with pytest.raises(OptionError, match="needs --tokenizer"):
        imdata.spans(ds, output=tmp_path / "x.jsonl", to="hf")
    (tmp_path / "y.jsonl").write_text("keep me")
    with pytest.raises(OutputError, match="--force"):
        imdata.spans(ds, output=tmp_path / "y.jsonl")
    assert (tmp_path / "y.jsonl").read_text() == "keep me"


def test_markers_inside_content_are_reported(tmp_path: Path) -> None:
    p = tmp_path / "m.jsonl"
    p.write_text(
        json.dumps(
            {
                "id": "m",
                "messages": [
                    {"role": "user", "content": "what does <|assistant|> mean?"},
                    {"role": "assistant", "content": "A tag."},
                ],
            }
        )
        + "\n"
    )
    report = imdata.spans(load(str(p)), output=tmp_path / "o.jsonl")
    assert report.marker_examples == ["m"]


def test_truncation_counts_lost_trained_tokens(tmp_path: Path, llama2_tokenizer: Path) -> None:
    ds = load(str(shared("instruction_modelling/lima_data.jsonl")))
    full = imdata.spans(ds, output=tmp_path / "a.jsonl", tokenizer=str(llama2_tokenizer), to="hf")
    cut = imdata.spans(ds, output=tmp_path / "b.jsonl", tokenizer=str(llama2_tokenizer), to="hf", max_length=512)
    assert cut.truncated_examples > 0
    assert cut.trained_tokens + cut.truncated_trained_tokens == full.trained_tokens
