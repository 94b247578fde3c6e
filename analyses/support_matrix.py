"""The README's template support matrix, generated from the corpus test's results.

Runs ``tests/test_template_corpus.py`` (the independent label oracle over every template in
``tests/fixtures/templates/corpus.json``), reads its JUnit report, and writes one row per
template: accepted, IM/IT verified against the oracle, first output token trained, IT parity
with transformers' ``return_assistant_tokens_mask``. Writes results/support_matrix.md and
puts the same table into README.md between the support-matrix markers. Nothing in the
table is typed by hand: a failing test shows as ✗ with the test's name.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import _common as c

REPO = Path(__file__).resolve().parents[1]
START, END = "<!-- support-matrix:start -->", "<!-- support-matrix:end -->"
CHECKS = {
    "accepted": "test_template_renders_plain_conversations",
    "oracle": "test_labels_equal_the_oracle",
    "first": "test_first_output_token_is_trained",
    "parity": "test_it_labels_equal_transformers_assistant_mask",
}


def _outcomes(xml_path: Path) -> dict[tuple[str, str], tuple[str, str]]:
    """(test function, template) -> (pass | fail | skip, captured stdout)."""
    out: dict[tuple[str, str], tuple[str, str]] = {}
    for case in ET.parse(xml_path).getroot().iter("testcase"):
        m = re.fullmatch(r"(\w+)\[(.+)\]", case.get("name", ""))
        if not m:
            continue
        status = "pass"
        if case.find("failure") is not None or case.find("error") is not None:
            status = "fail"
        elif case.find("skipped") is not None:
            status = "skip"
        stdout = case.findtext("system-out") or ""
        out[(m.group(1), m.group(2))] = (status, stdout)
    return out


def _numbers(stdout: str, prefix: str) -> dict[str, int]:
    line = next((x for x in stdout.splitlines() if x.startswith(prefix + " ")), "")
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)}


def table(outcomes: dict[tuple[str, str], tuple[str, str]]) -> str:
    rows = json.loads((REPO / "tests" / "fixtures" / "templates" / "corpus.json").read_text(encoding="utf-8"))
    head = (
        "| template | model | accepted | system message | IM + IT verified (oracle) | first output token trained "
        "| IT parity with transformers |\n|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for row in sorted(rows, key=lambda r: r["family"]):
        name = row["name"]
        get = {k: outcomes.get((fn, name), ("missing", "")) for k, fn in CHECKS.items()}
        mark = {"pass": "✓", "fail": "✗", "skip": "n/a", "missing": "not run"}
        n = _numbers(get["oracle"][1], "counts")
        oracle = mark[get["oracle"][0]]
        if get["oracle"][0] == "pass" and n:
            oracle = f"✓ {n['tokens']:,} tokens, {n['mismatch_im'] + n['mismatch_it']} mismatches"
        system = "n/a"
        if n:
            system = "refused per record" if n.get("refused") else "yes"
        p = _numbers(get["parity"][1], "parity")
        parity = mark[get["parity"][0]]
        if get["parity"][0] == "pass" and p:
            extra = f", {p['other']} template tokens trl puts in the block" if p["other"] else ""
            parity = f"✓ {p['tokens']:,} tokens; {p['whitespace']} whitespace-only differ{extra}"
        elif get["parity"][0] == "skip":
            parity = "n/a (no `{% generation %}` template)"
        lines.append(
            f"| {name} | {row['model'].replace('|', chr(92) + '|')} | {mark[get['accepted'][0]]} | {system} | {oracle} "
            f"| {mark[get['first'][0]]} | {parity} |"
        )
    return head + "\n".join(lines) + "\n"


def main(out: Path = c.RESULTS, sample: int | None = None) -> list[Path]:
    del sample  # the corpus test always runs whole
    with tempfile.TemporaryDirectory() as tmp:
        xml_path = Path(tmp) / "corpus.xml"
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "junit_logging=system-out",
               f"--junitxml={xml_path}", str(REPO / "tests" / "test_template_corpus.py")]  # fmt: skip
        subprocess.run(cmd, cwd=REPO, check=False, capture_output=True)
        md = table(_outcomes(xml_path))
    out.mkdir(parents=True, exist_ok=True)
    target = out / "support_matrix.md"
    target.write_text("# Chat template support matrix\n\n" + md, encoding="utf-8")
    readme = REPO / "README.md"
    text = readme.read_text(encoding="utf-8")
    if START in text and END in text:
        a, b = text.index(START) + len(START), text.index(END)
        readme.write_text(text[:a] + "\n" + md + text[b:], encoding="utf-8")
    return [target, readme]


if __name__ == "__main__":
    c.run_script(main, __doc__, c.RESULTS)
