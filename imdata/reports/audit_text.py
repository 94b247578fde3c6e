"""Render a mask audit: one sentence for the mode, a table by kind, JSON, and an HTML page of the worst examples."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import TYPE_CHECKING

import orjson

from imdata.labels.labelling import TRAINED_KINDS

if TYPE_CHECKING:
    from imdata.reports.audit_report import AuditReport, AuditView

_TEMPLATE = ("bos", "system_prompt", "header", "separator")
_NAMES = {"system_prompt": "system prompt", "eos": "end of turn"}


def _trained_in(mode: str, cls: str) -> bool:
    kind = "template" if cls in _TEMPLATE else cls
    return cls != "bos" and kind in TRAINED_KINDS[mode]


def describe(
    mode: str,
    nearest: str,
    counts: Mapping[str, tuple[int, int]],
    examples: int,
    *,
    pattern: str | None = None,
    ambiguous: Mapping[str, int] | None = None,
    eot_untrained: int = 0,
    affected: Mapping[str, int] | None = None,
) -> str:
    """One line: the mode, and what differs from the nearest one, per example.

    ``affected`` counts the examples each difference occurs in (``template``, a content kind, ``eot``).

    >>> describe("mixed", "im", {"header": (9, 7), "separator": (2, 1)}, 1, pattern="every role header")
    'mixed: im + 8.00 template tokens per example (header 7.00, separator 1.00; every role header)'
    """
    n = max(examples, 1)
    ambiguous = ambiguous or {}
    affected = affected or {}

    def where(key: str) -> str:
        k = affected.get(key, examples)
        return "" if k >= examples else f", in {k:,} of {examples:,} examples"

    if mode != "mixed":
        if not ambiguous:
            return mode
        left = ", ".join(f"{k} ({v / n:.2f} per example)" for k, v in ambiguous.items())
        return f"{mode} (left out as ambiguous: {left})"
    parts: list[str] = []
    if nearest != "all":
        tt = {c: counts[c][1] for c in _TEMPLATE if c in counts and counts[c][1]}
        if tt:
            detail = ", ".join(f"{_NAMES.get(c, c)} {v / n:.2f}" for c, v in tt.items())
            if pattern:
                detail += f"; {pattern}"
            parts.append(f"+ {sum(tt.values()) / n:.2f} template tokens per example ({detail}{where('template')})")
    for c in ("system", "instruction", "output"):
        total, trained = counts.get(c, (0, 0))
        if _trained_in(nearest, c) and total - trained:
            parts.append(f"- {(total - trained) / n:.2f} {c} tokens per example masked{where(c)}")
        elif not _trained_in(nearest, c) and trained:
            parts.append(f"+ {trained / n:.2f} {c} tokens per example{where(c)}")
    if eot_untrained:
        parts.append(f"- {eot_untrained / n:.2f} end-of-turn markers per example untrained{where('eot')}")
    if nearest == "all":
        masked = sum(counts[c][0] - counts[c][1] for c in _TEMPLATE[1:] if c in counts)
        if masked:
            parts.append(f"- {masked / n:.2f} template tokens per example masked")
    return f"mixed: {nearest} " + "; ".join(parts)


def render(report: AuditReport, fmt: str = "table") -> str:
    """The report as ``table`` (text), ``markdown`` or ``json`` (sorted keys)."""
    if fmt == "json":
        return orjson.dumps(report.to_dict(), option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2).decode()
    from imdata.data.tables import render_rows

    rows = []
    for c, (total, trained) in report.counts.items():
        if not total:
            continue
        name = f"template: {_NAMES.get(c, c)}" if c in _TEMPLATE else _NAMES.get(c, c)
        row = {"kind": name, "tokens": f"{total:,}", "trained": f"{trained:,}"}
        row |= {m: "trained" if _trained_in(m, c) else "-" for m in ("it", "im", "all")}
        rows.append(row)
    lines = [_headline(report), "", render_rows(rows, "markdown" if fmt == "markdown" else "table"), ""]
    lines += _facts(report)
    return "\n".join(lines)


def _headline(report: AuditReport) -> str:
    prov = report.provenance
    return (
        f"{prov.get('labels')} ({prov.get('labels_column')}, aligned by {prov.get('align')}) against "
        f"{prov.get('source') or 'the source'}, template {prov.get('template')}, tokenizer {prov.get('tokenizer')}\n"
        f"mode: {report.description}"
    )


def _facts(report: AuditReport) -> list[str]:
    tt, cm = report.template_trained, report.content_masked
    out = [
        f"examples {report.examples:,}; tokens compared {report.tokens:,}, trained {report.trained:,}",
        f"template tokens trained: {tt['total']:,} (header {tt['header']:,}, separator {tt['separator']:,}, "
        f"bos {tt['bos']:,}, system prompt {tt['system_prompt']:,})",
        f"content tokens masked: {cm['total']:,} (system {cm['system']:,}, instruction {cm['instruction']:,}, "
        f"output {cm['output']:,})",
        f"end-of-turn markers untrained: {report.eot_untrained:,}",
        f"examples with no trained token: {report.no_trained_token:,}; truncated: {report.truncated:,}; "
        f"token mismatch: {report.token_mismatch:,}",
        "differences by mode (ambiguous tokens left out): "
        + ", ".join(f"{m} {v:,}" for m, v in report.distance.items()),
    ]
    if report.ambiguous:
        left = "; ".join(f"{k}: {v:,}" for k, v in report.ambiguous.items())
        out.append(
            f"left out as ambiguous against {report.reference} (whitespace-only template or end-of-turn tokens on "
            f"the edge of its mask, which trainers draw either way; the first token, which nothing predicts): {left}"
        )
    fm = report.first_mismatch
    if fm:
        out.append(
            f"first token mismatch: example {fm['id']!r} (row {fm['index'] + 1}), position {fm['position']}: "
            f"the labels have {fm['labels_token']!r} where the template renders {fm['rendered_token']!r} "
            "(None: past the end); check --template and --tokenizer"
        )
    if report.labels_not_input_ids:
        out.append(
            f"labels that are not the input id at their position: {report.labels_not_input_ids:,} "
            "(shifted labels? imdata expects labels aligned with input_ids)"
        )
    if report.expect:
        verdict = "ok" if report.passed else f"FAILED, {report.findings:,} findings"
        out.append(f"expect {report.expect}: {verdict}")
    return out


_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem;color:#222}
pre{white-space:pre-wrap;font:14px/1.9 ui-monospace,Menlo,Consolas,monospace;border:1px solid #ddd;
padding:1rem;border-radius:6px}
.t{border-radius:3px;padding:1px 0;outline:1px solid rgba(0,0,0,.08)}
.k-bos,.k-system_prompt,.k-header,.k-separator{color:#777}.k-system{color:#8a2be2}.k-instruction{color:#1f5fbf}
.k-output{color:#167a3e}.k-eos{color:#a66b00}
.tr.k-bos,.tr.k-system_prompt,.tr.k-header,.tr.k-separator{background:#ddd;color:#222}
.tr.k-system{background:#e6d5fb;color:#222}.tr.k-instruction{background:#cfe0fb;color:#222}
.tr.k-output{background:#cdeed8;color:#222}.tr.k-eos{background:#fde6b3;color:#222}
.differs{outline:2px solid #d00}.ambiguous{outline:2px dashed #d90}
.nl{color:#bbb}
"""


def render_html(report: AuditReport) -> str:
    """A self-contained page: the worst examples, every token coloured by kind and trained/masked."""
    body = "".join(_section(v, report.reference) for v in report.worst)
    title = html.escape(f"imdata audit: {report.description}")
    return (
        f"<!doctype html><html><head><meta charset=utf-8><title>imdata audit</title><style>{_CSS}</style></head>"
        f"<body><h1>{title}</h1><p>{html.escape(_headline(report).splitlines()[0])}. Shaded = trained, plain "
        f"coloured text = masked; a red outline marks a label that differs from <b>{report.reference}</b>, a dashed "
        "one a difference imdata treats as ambiguous. Hover a token for its id, kind and label.</p>"
        f"{body or '<p>No examples.</p>'}</body></html>\n"
    )


def _section(view: AuditView, mode: str) -> str:
    spans = []
    for p in view.pieces:
        if not p.text:
            continue
        tip = f"id {p.id} · {p.kind} · {'trained' if p.trained else 'masked'} · {p.token}"
        text = html.escape(p.text).replace("\n", '<span class="nl">↵</span>\n')
        cls = f"t k-{p.kind}" + (" tr" if p.trained else "") + (f" {p.flag}" if p.flag else "")
        spans.append(f'<span class="{cls}" title="{html.escape(tip)}">{text}</span>')
    note = f"<p>{html.escape(view.note)}</p>" if view.note else ""
    head = html.escape(f"{view.id} (row {view.index + 1}): {view.findings:,} findings against {mode}")
    return f"<h2>{head}</h2>{note}<pre>{''.join(spans)}</pre>"


__all__ = ["describe", "render", "render_html"]
