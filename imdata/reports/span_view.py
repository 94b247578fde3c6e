"""See a mask by eye: every token coloured by span kind, trained or masked.

The library builds a :class:`ShowView` (token pieces with id, label, kind); renderers turn
it into ANSI text for a terminal or a self-contained HTML page.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from imdata.data.dataset import Dataset
from imdata.data.escape import terminal_safe
from imdata.data.records import Example
from imdata.errors import ImdataError
from imdata.labels.labelling import IGNORE_INDEX, KIND_CODE, SPECIAL, TRAINED_KINDS, LossMode, tokenize_examples
from imdata.labels.tokens import load_tokenizer, resolve_template

_KIND_NAME = {v: k for k, v in KIND_CODE.items()} | {SPECIAL: "special"}


@dataclass(frozen=True, slots=True)
class TokenPiece:
    """One token as shown: the text it covers, its id and label, its span kind."""

    text: str
    token: str
    id: int | None
    label: int | None
    kind: str
    trained: bool


@dataclass(frozen=True)
class ShowView:
    """One example ready to display."""

    example_id: str
    template: str
    mode: str
    tokenizer: str | None
    pieces: tuple[TokenPiece, ...]

    @property
    def trained(self) -> int:
        """Trained pieces (tokens, or spans without a tokenizer)."""
        return sum(p.trained for p in self.pieces)


def show(
    data: Dataset,
    *,
    index: int | None = None,
    id: str | None = None,
    template: str = "tulu",
    tokenizer: str | None = None,
    mode: LossMode = "im",
    eot: str | None = None,
    date: str | None = None,
) -> ShowView:
    """Build the view of one example (by 0-based ``index`` or by ``id``; default the first)."""
    ex = _pick(data, index, id)
    tok = load_tokenizer(tokenizer) if tokenizer else None
    tmpl = resolve_template(template, tok, eot=eot, date=date)
    if tok is None:
        r = tmpl.render(ex)
        trained = TRAINED_KINDS[mode]
        pieces = tuple(TokenPiece(r.text[s.start : s.end], "", None, None, s.kind, s.kind in trained) for s in r.spans)
        return ShowView(ex.id, tmpl.name, mode, None, pieces)
    tz = next(tokenize_examples([ex], tmpl, tok, mode=mode))
    text = tz.rendered.text
    out: list[TokenPiece] = []
    prev: tuple[int, int] | None = None
    for i, (tid, lab, kind, off) in enumerate(zip(tz.input_ids, tz.labels, tz.kinds, tz.offsets, strict=True)):
        token = tok.tokenizer.id_to_token(int(tid)) or ""
        s, e = off
        # byte-fallback pieces of one character share its offsets: show the character once
        piece = "" if (s, e) == prev or kind == SPECIAL or s == e else text[s:e]
        if kind == SPECIAL or (s == e and i > 0):
            piece = token if kind == SPECIAL else ""
        prev = (s, e)
        out.append(TokenPiece(piece, token, int(tid), int(lab), _KIND_NAME[int(kind)], int(lab) != IGNORE_INDEX))
    return ShowView(ex.id, tmpl.name, mode, tok.name, tuple(out))


def _pick(data: Dataset, index: int | None, ident: str | None) -> Example:
    if ident is not None:
        for ex in data.examples:
            if ex.id == ident:
                return ex
        raise ImdataError(f"{data.path}: no example has id {ident!r}")
    i = index or 0
    if not 0 <= i < len(data.examples):
        raise ImdataError(f"{data.path}: --index {i} is out of range; it has {len(data.examples)} examples (0-based)")
    return data.examples[i]


# ANSI: foreground colour per kind; trained tokens get a coloured background
_FG = {
    "template": "90",
    "system": "35",
    "instruction": "34",
    "output": "32",
    "eos": "33",
    "special": "90",
}
_BG = {  # light backgrounds, so black text stays readable on them
    "template": "47",
    "system": "105",
    "instruction": "104",
    "output": "102",
    "eos": "103",
    "special": "47",
}


def _visible(text: str) -> str:
    # the data's own escape sequences are shown, never run: only imdata's colours reach the terminal
    return terminal_safe(text).replace("\n", "↵\n").replace("\t", "→\t")


def render_terminal(view: ShowView, *, color: bool = True) -> str:
    """ANSI text: masked tokens in their kind's colour, trained tokens on a coloured background.

    Neighbouring tokens alternate between normal and bold so token boundaries stay visible.
    """
    parts: list[str] = []
    if not color:  # brackets around each run of trained text
        run = False
        for p in view.pieces:
            if not p.text:
                continue
            if p.trained != run:
                parts.append("[" if p.trained else "]")
                run = p.trained
            parts.append(_visible(p.text))
        return "".join(parts) + ("]" if run else "") + "\n" + _legend(view, color=False)
    for n, p in enumerate(view.pieces):
        if not p.text:
            continue
        txt = _visible(p.text)
        weight = "1;" if n % 2 else ""
        code = f"{weight}30;{_BG[p.kind]}" if p.trained else f"{weight}{_FG[p.kind]}"
        parts.append("\n".join(f"\x1b[{code}m{line}\x1b[0m" if line else "" for line in txt.split("\n")))
    return "".join(parts) + "\n" + _legend(view, color=color)


def _legend(view: ShowView, *, color: bool) -> str:
    unit = "tokens" if view.tokenizer else "spans"
    counts: dict[str, list[int]] = {}
    for p in view.pieces:
        c = counts.setdefault(p.kind, [0, 0])
        c[0] += 1
        c[1] += p.trained
    items = []
    for kind in ("template", "system", "instruction", "output", "eos", "special"):
        if kind in counts:
            tot, tr = counts[kind]
            label = f"{kind} {tr}/{tot}"
            items.append(f"\x1b[{_FG[kind]}m{label}\x1b[0m" if color else label)
    head = terminal_safe(
        f"{view.example_id} · template {view.template} · mode {view.mode} · "
        f"{view.trained}/{len(view.pieces)} {unit} trained"
    )
    return (
        head
        + "\n"
        + "trained/total by kind: "
        + "  ".join(items)
        + (
            "\n(coloured background = trained; coloured text = masked; ↵ = newline)"
            if color
            else "\n([brackets] = trained)"
        )
    )


_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem;color:#222}
pre{white-space:pre-wrap;font:14px/1.9 ui-monospace,Menlo,Consolas,monospace;border:1px solid #ddd;
padding:1rem;border-radius:6px}
.t{border-radius:3px;padding:1px 0;outline:1px solid rgba(0,0,0,.08)}
.k-template{color:#777}.k-system{color:#8a2be2}.k-instruction{color:#1f5fbf}.k-output{color:#167a3e}
.k-eos{color:#a66b00}.k-special{color:#999;font-style:italic}
.tr.k-template{background:#ddd;color:#222}.tr.k-system{background:#e6d5fb;color:#222}
.tr.k-instruction{background:#cfe0fb;color:#222}.tr.k-output{background:#cdeed8;color:#222}
.tr.k-eos{background:#fde6b3;color:#222}
.nl{color:#bbb}
table{border-collapse:collapse;margin:.5rem 0 1rem}
td,th{padding:.2rem .7rem;border-bottom:1px solid #eee;text-align:right}
th:first-child,td:first-child{text-align:left}
"""


def render_html(view: ShowView) -> str:
    """A self-contained page; hover a token for its id, label and kind."""
    spans: list[str] = []
    for p in view.pieces:
        if not p.text:
            continue
        tip = f"id {p.id} · label {p.label} · {p.kind} · {p.token}" if p.id is not None else p.kind
        body = html.escape(p.text).replace("\n", '<span class="nl">↵</span>\n')
        cls = f"t k-{p.kind}" + (" tr" if p.trained else "")
        spans.append(f'<span class="{cls}" title="{html.escape(tip)}">{body}</span>')
    counts: dict[str, list[int]] = {}
    for p in view.pieces:
        c = counts.setdefault(p.kind, [0, 0])
        c[0] += 1
        c[1] += p.trained
    rows = "".join(
        f'<tr><td><span class="t k-{k} tr">{k}</span></td><td>{c[1]}</td><td>{c[0]}</td></tr>'
        for k, c in counts.items()
    )
    unit = "tokens" if view.tokenizer else "spans"
    title = html.escape(f"{view.example_id} — {view.mode} labels, {view.template} template")
    return (
        f"<!doctype html><html><head><meta charset=utf-8><title>{title}</title><style>{_CSS}</style></head>"
        f"<body><h1>{title}</h1><p>{view.trained} of {len(view.pieces)} {unit} carry the loss"
        f"{' (tokenizer ' + html.escape(view.tokenizer) + ')' if view.tokenizer else ''}. "
        "Shaded = trained, plain coloured text = masked. Hover a token for its id and label.</p>"
        f"<table><tr><th>kind</th><th>trained</th><th>{unit}</th></tr>{rows}</table>"
        f"<pre>{''.join(spans)}</pre></body></html>\n"
    )
