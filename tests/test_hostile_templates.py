"""Hostile templates: a card or chat template from a file cannot run code, read files, hang or blow up.

Every attempt ends as one ``TemplateError`` (exit 1 on the command line, no traceback),
and no file is left at the destination.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import EXAMPLES

from imdata.cli import main
from imdata.data.records import Example
from imdata.errors import TemplateError
from imdata.reports.dataset_card import card, render_card
from imdata.templates.jinja import JinjaTemplate
from imdata.templates.sandbox import render_bounded, sandbox_environment

ESCAPES = {
    "globals-import": "{{ num.__globals__['__builtins__']['__import__']('os').system('touch PWNED') }}",
    "mro-subclasses": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "cycler-os": "{{ cycler.__init__.__globals__.os.popen('touch PWNED').read() }}",
    "joiner-os": "{{ joiner.__init__.__globals__.os.system('touch PWNED') }}",
    "namespace-os": "{{ namespace.__init__.__globals__ }}",
    "self-context": "{{ self._TemplateReference__context.cycler.__init__.__globals__.os }}",
    "include-file": "{% include '/etc/passwd' %}",
    "import-file": "{% import '/etc/passwd' as x %}",
    "extends-file": "{% extends '/etc/passwd' %}",
}
BLOW_UPS = {
    "range-huge": "{{ range(10**12)|list }}",
    "divide-by-zero": "{{ 1/0 }}",
    "recursive-macro": "{% macro f(x) %}{{ f(x) }}{% endmacro %}{{ f(1) }}",
    "string-100gb": "{{ 'x' * 10**11 }}",
    "list-huge": "{{ [1] * 10**10 }}",
    "power-huge": "{% set n = 10 %}{{ n ** (10**9) }}",
    "concat-doubling": "{% set ns = namespace(s='x' * 10**6) %}{% for i in range(80) %}"
    "{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s|length }}",
    "type-error": "{{ 'a' + 1 }}",
    "raise-exception": "{{ raise_exception('no') }}",
}
HANG = "{% for i in range(100000) %}{% for j in range(100000) %}{% for k in range(100000) %}" + "{% endfor %}" * 3


@pytest.mark.parametrize("name", sorted(ESCAPES))
def test_card_template_escape_is_refused(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    evil = tmp_path / "evil.j2"
    evil.write_text(ESCAPES[name])
    out = tmp_path / "out" / "card.md"
    res = CliRunner().invoke(
        main, ["card", str(EXAMPLES / "tiny_chat.jsonl"), "-o", str(out), "--card-template", str(evil), "--no-plots"]
    )
    assert res.exit_code == 1, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    assert "Traceback" not in res.output and "evil.j2" in res.output
    assert not (tmp_path / "PWNED").exists()
    assert not out.exists() and not (out.parent.exists() and any(out.parent.iterdir()))


@pytest.mark.parametrize("name", sorted(ESCAPES) + sorted(BLOW_UPS))
def test_chat_template_escape_or_blow_up_is_one_error(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    source = {**ESCAPES, **BLOW_UPS}[name]
    ex = Example.from_pairs("a", [("user", "hi"), ("assistant", "ho")])
    with pytest.raises(TemplateError):
        JinjaTemplate(source + "{% for m in messages %}{{ m.content }}{% endfor %}", name="evil.jinja").render(ex)
    assert not (tmp_path / "PWNED").exists()


def test_hanging_template_stops_within_its_bound() -> None:
    tpl = sandbox_environment().from_string(HANG)
    start = time.monotonic()
    with pytest.raises(TemplateError, match="ran for over 1 s and was stopped"):
        render_bounded(tpl, {}, name="hang.jinja", seconds=1)
    assert time.monotonic() - start < 5
    # the watchdog leaves no pending stop behind: the next render is unaffected
    assert render_bounded(sandbox_environment().from_string("{{ 1 + 1 }}"), {}, name="ok") == "2"
    time.sleep(1.2)
    assert render_bounded(sandbox_environment().from_string("ok"), {}, name="ok") == "ok"


def test_hanging_chat_template_on_the_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("imdata.templates.sandbox.RENDER_SECONDS", 1.0)
    monkeypatch.setattr("imdata.templates.sandbox.render_bounded.__defaults__", (1.0,))
    tpl = tmp_path / "hang.jinja"
    tpl.write_text(HANG + "{% for m in messages %}{{ m.content }}{% endfor %}")
    out = tmp_path / "o.jsonl"
    start = time.monotonic()
    argv = ["spans", str(EXAMPLES / "tiny_chat.jsonl"), "-t", str(tpl), "-o", str(out)]  # default: skip
    res = CliRunner().invoke(main, argv)
    assert time.monotonic() - start < 20
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "hang.jinja" in res.output and "stopped" in res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hang.jinja"]


def test_the_default_card_template_still_renders() -> None:
    text = render_card(card(str(EXAMPLES / "tiny_chat.jsonl")))
    assert text.startswith("#") and "## Provenance" in text


def test_a_stopped_render_leaves_the_interpreter_as_it_was() -> None:
    # A render stopped at its bound once left the thread's eval-breaker flag set (the pending
    # stop was cleared with SetAsyncExc(NULL)); every later cProfile-profiled call then hung.
    # Run in a fresh interpreter under a timeout, so a regression fails instead of hanging.
    script = f"""
import cProfile, time
from imdata.templates.sandbox import render_bounded, sandbox_environment
from imdata.errors import TemplateError
tpl = sandbox_environment().from_string({HANG!r})
try:
    render_bounded(tpl, {{}}, name="hang.jinja", seconds=0.3)
except TemplateError:
    pass
prof = cProfile.Profile()
start = time.monotonic()
prof.enable()
sum(len(str(i)) for i in range(200_000))
prof.disable()
print(round(time.monotonic() - start, 3))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert float(done.stdout) < 10
