from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import EXAMPLES, shared

import imdata
from imdata.cli import main
from imdata.reports.dataset_card import card, implications, render_card, write_card


def _digest(paths: list[Path]) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def test_words_only_card_has_every_section_and_no_data(tmp_path: Path) -> None:
    c = card(str(EXAMPLES / "tiny_chat.jsonl"), name="tiny", license="CC0", source="https://example.org")
    assert c.tokens is None and c.truncation == ()
    paths = write_card(c, tmp_path / "tiny.md")
    text = paths[0].read_text()
    for section in ("## At a glance", "## What it implies for IM versus IT", "## Length profile",
                    "## Overlap with other sets", "## Figures", "## Provenance"):  # fmt: skip
        assert section in text
    assert "CC0" in text and "https://example.org" in text and c.fingerprint in text
    assert f"imdata {imdata.__version__}" in text
    ds = imdata.load(str(EXAMPLES / "tiny_chat.jsonl"))
    for ex in ds.examples:  # statistics only: no message text on the card
        for m in ex.messages:
            if len(m.content) > 20:
                assert m.content not in text
    assert [p.name for p in paths[1:]] == ["lengths.png", "ratio.png", "instruction_vs_output.png"]
    assert all(p.parent == tmp_path / "tiny" for p in paths[1:])


def test_token_figures_equal_profile_and_truncation(tmp_path: Path, llama2_tokenizer: Path) -> None:
    path = str(shared("instruction_modelling/alpagasus_3k_dolly.jsonl"))
    c = card(path, tokenizer=str(llama2_tokenizer), max_lengths=(2048, 512))
    prof = imdata.profile(path, tokenizer=str(llama2_tokenizer), max_length=2048).datasets[0]
    t = c.token_summary
    assert t is not None
    for m in ("instruction", "output", "total", "template", "turns"):
        assert getattr(t, m) == getattr(prof, m)
    assert (t.ratio, t.trained_it, t.trained_im) == (prof.ratio, prof.trained_it, prof.trained_im)
    assert [x.max_length for x in c.truncation] == [512, 2048]
    at = c.truncation[1]
    assert (at.examples, at.tokens, at.lost_it, at.lost_im) == (
        prof.truncated, prof.truncated_tokens, prof.lost_it, prof.lost_im
    )  # fmt: skip
    w = c.word_summary  # the paper's Table 5 row
    assert (w.examples, round(w.instruction.mean, 2), round(w.output.mean, 2), round(w.ratio, 4)) == (
        2996, 43.83, 68.08, 0.6439
    )  # fmt: skip


def test_same_inputs_same_bytes(tmp_path: Path) -> None:
    data = str(EXAMPLES / "tiny_alpaca.json")
    a = write_card(card(data), tmp_path / "a" / "x.md")
    b = write_card(card(data), tmp_path / "b" / "x.md")
    assert _digest(a) == _digest(b)


def test_overlap_is_counted() -> None:
    data = str(EXAMPLES / "tiny_alpaca.json")
    c = card(data, overlap=[data])
    (o,) = c.overlaps
    assert o.matched == o.examples == c.word_summary.examples


def test_custom_template(tmp_path: Path) -> None:
    tpl = tmp_path / "t.md.j2"
    tpl.write_text("{{ card.name }}: {{ num(w.examples) }} examples, ratio {{ num(w.ratio, 3) }}\n")
    c = card(str(EXAMPLES / "tiny_alpaca.json"), name="x")
    assert render_card(c, template_file=tpl).startswith("x: ")
    bad = tmp_path / "bad.md.j2"
    bad.write_text("{{ card.nope }}")
    with pytest.raises(imdata.ImdataError, match="fix the template"):
        render_card(c, template_file=bad)


def test_implications_read_both_factors() -> None:
    c = card(str(EXAMPLES / "tiny_alpaca.json"))
    lines = implications(c.word_summary)
    assert any("low-resource" in line for line in lines)
    assert "no thresholds" in lines[-1]


def test_cli_writes_card_and_refuses_to_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "cards" / "tiny.md"
    args = ["card", str(EXAMPLES / "tiny_chat.jsonl"), "--name", "tiny", "--license", "CC0", "-o", str(out)]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    assert r.stdout == ""
    assert "wrote the card for tiny" in r.stderr
    assert out.is_file() and (tmp_path / "cards" / "tiny" / "ratio.png").is_file()
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 1 and "--force" in again.stderr
    assert CliRunner().invoke(main, [*args, "--force"]).exit_code == 0


def test_cli_bad_options(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["card", str(EXAMPLES / "tiny_chat.jsonl"), "--max-length", "0", "-o", "x.md"])
    assert r.exit_code == 2
    r = CliRunner().invoke(main, ["card", str(tmp_path / "missing.json"), "-o", str(tmp_path / "x.md")])
    assert r.exit_code == 1 and "missing.json" in r.stderr
    r = CliRunner().invoke(main, ["card", str(EXAMPLES / "tiny_chat.jsonl"), "-o", str(tmp_path)])
    assert r.exit_code == 1 and "is a folder" in r.stderr
