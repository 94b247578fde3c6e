"""The spans and show commands as a user runs them: exit codes, stdout, stderr."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from conftest import EXAMPLES, shared

from imdata.cli import main

TINY = str(EXAMPLES / "tiny_chat.jsonl")


def run(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, list(args))
    return r.exit_code, r.stdout, r.stderr


def test_spans_writes_and_talks_on_stderr(tmp_path: Path, llama2_tokenizer: Path) -> None:
    out = tmp_path / "o.jsonl"
    code, stdout, stderr = run("spans", TINY, "-k", str(llama2_tokenizer), "--mode", "it", "-o", str(out))
    assert code == 0 and stdout == ""
    assert "wrote 12 examples" in stderr and "tokens trained (it)" in stderr
    assert json.loads(out.read_text().splitlines()[0])["mode"] == "it"


def test_spans_refuses_to_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "o.jsonl"
    out.write_text("x")
    code, _, stderr = run("spans", TINY, "-o", str(out))
    assert code == 1 and "already exists; pass --force" in stderr and out.read_text() == "x"
    assert run("spans", TINY, "-o", str(out), "--force")[0] == 0


def test_bad_option_is_a_usage_error(tmp_path: Path) -> None:
    code, _, stderr = run("spans", TINY, "--mode", "both", "-o", str(tmp_path / "o.jsonl"))
    assert code == 2 and "'both' is not one of 'it', 'im', 'all'" in stderr


def test_data_errors_name_file_line_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        json.dumps({"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]})
        + "\n"
        + json.dumps({"conversations": [{"from": "human", "value": "q2"}, {"from": "wizard", "value": "a2"}]})
        + "\n"
    )
    code, stdout, stderr = run("spans", str(bad), "-o", str(tmp_path / "o.jsonl"), "--on-error", "raise")
    assert code == 1 and stdout == ""
    assert "bad.jsonl, line 2: `conversations[1].from` is 'wizard'" in stderr and "--role-map wizard=" in stderr
    assert "Traceback" not in stderr and not (tmp_path / "o.jsonl").exists()
    rejects = tmp_path / "rejects.jsonl"
    code, _, stderr = run(
        "spans",
        str(bad),
        "-o",
        str(tmp_path / "o.jsonl"),
        "--on-error",
        "skip",
        "--rejects",
        str(rejects),
    )
    assert code == 0 and "skipped 1 record: unknown-role 1" in stderr and "wrote 1 examples" in stderr
    assert json.loads(rejects.read_text())["where"] == "line 2"
    code, _, _ = run("spans", str(bad), "-o", str(tmp_path / "p.jsonl"), "--role-map", "wizard=assistant")
    assert code == 0


def test_missing_tokenizer_and_hf_without_tokenizer(tmp_path: Path) -> None:
    code, _, stderr = run("spans", TINY, "-k", str(tmp_path / "nope.json"), "-o", str(tmp_path / "o.jsonl"))
    assert code == 1 and "nope.json: no such tokenizer file" in stderr
    code, _, stderr = run("spans", TINY, "--to", "hf", "-o", str(tmp_path / "o.jsonl"))
    assert code == 1 and "--to hf writes token ids and labels, so it needs --tokenizer" in stderr


def test_show_terminal_and_html(tmp_path: Path, llama2_tokenizer: Path) -> None:
    page = tmp_path / "mask.html"
    code, stdout, stderr = run(
        "show", TINY, "--index", "2", "-k", str(llama2_tokenizer), "--no-color", "--html", str(page)
    )
    assert code == 0, stderr
    assert "[You are a patient maths tutor.]" in stdout, "system text is trained under im"
    assert "<|user|>↵\n[What is 15% of 80?]" in stdout, "the header is masked, the instruction trained"
    assert "ex-003 · template tulu · mode im · 88/124 tokens trained" in stdout
    html = page.read_text()
    assert html.count('class="t k-template"') > 10 and 'class="t k-output tr"' in html
    code, stdout, _ = run("show", TINY, "--id", "ex-003", "-k", str(llama2_tokenizer), "--mode", "it", "--no-color")
    assert "[You are" not in stdout and "[15% of 80 is 12" in stdout


def test_show_errors(tmp_path: Path) -> None:
    code, _, stderr = run("show", TINY, "--index", "99")
    assert code == 1 and "--index 99 is out of range; it has 12 examples" in stderr
    code, _, stderr = run("show", TINY, "--id", "nope")
    assert code == 1 and "no example has id 'nope'" in stderr


def test_spans_runs_on_sharegpt_with_skips(tmp_path: Path) -> None:
    sharegpt = shared("sharegpt/sharegpt_v3_unfiltered_cleaned_split.first17671.json.gz")
    code, _, stderr = run("spans", str(sharegpt), "--on-error", "skip", "-o", str(tmp_path / "s.jsonl"))
    assert code == 0 and "empty-conversation 126, no-assistant-turn 17" in stderr
    assert "wrote 17,528 examples" in stderr
