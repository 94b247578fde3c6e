"""Tokenizer arguments: a path is never sent to the hub; a SentencePiece model is refused helpfully."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import EXAMPLES, shared

from imdata.cli import main
from imdata.errors import TokenizerError
from imdata.labels.tokens import load_tokenizer, looks_like_path


@pytest.mark.parametrize(
    ("spec", "path"),
    [("meta-llama/Llama-2-7b-hf", False), ("gpt2", False), ("no/such/folder", True), ("./tok", True),
     ("~/tok", True), ("tok/tokenizer.json", True), ("tokenizer.model", True)],
)  # fmt: skip
def test_looks_like_path(spec: str, path: bool) -> None:
    assert looks_like_path(spec) is path


def test_missing_folder_fails_at_once_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_hub(spec: str) -> None:
        raise AssertionError(f"{spec} was sent to the hub")

    monkeypatch.setattr("imdata.labels.tokens._from_hub", no_hub)
    res = CliRunner().invoke(main, ["profile", str(EXAMPLES / "tiny_alpaca.json"), "-k", "no/such/folder"])
    assert res.exit_code == 1 and res.stdout == ""
    assert res.stderr.strip().splitlines() == [
        "Error: no/such/folder: no such tokenizer file or folder; check the path (a hub id is owner/name)"
    ]
    with pytest.raises(TokenizerError, match="no such tokenizer"):
        load_tokenizer("no/such/folder")


def test_a_folder_whose_first_part_exists_is_a_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "tokenizers").mkdir()
    monkeypatch.chdir(tmp_path)
    assert looks_like_path("tokenizers/llama")
    with pytest.raises(TokenizerError, match="no such tokenizer file or folder"):
        load_tokenizer("tokenizers/llama")


def test_sentencepiece_model_is_refused_with_what_to_pass() -> None:
    model = shared("tokenizers/llama2/tokenizer.model")
    with pytest.raises(TokenizerError) as e:
        load_tokenizer(str(model))
    assert "SentencePiece" in str(e.value) and str(model.parent / "tokenizer.json") in str(e.value)
    assert "\n" not in str(e.value)
