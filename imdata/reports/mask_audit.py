r"""Audit the loss mask a trainer built: which tokens carry the loss, by span kind, and which mode that is.

The conversations the labels came from are rendered again with the template and tokenized
(imdata's public path: render -> character spans -> token kinds). Where the token ids
agree with the labels file, every position is classified by what it covers:

=============  ==========================================================================
class          tokens
=============  ==========================================================================
bos            added by the tokenizer, or the BOS string written by the template
system_prompt  a default system prompt the template injects when the data has none
header         any other template text: role headers, markup, user-turn closers
separator      whitespace-only template tokens that open a run of template tokens
               (the ``\n`` after a turn)
system, instruction, output   the content of system, user and assistant messages
eos            the end-of-turn marker that closes an assistant turn (and, under tulu,
               the newline after it)
=============  ==========================================================================

Against each loss mode (``it``, ``im``, ``all``, as :data:`imdata.labels.labelling.TRAINED_KINDS`
defines them) the audit counts the positions whose label differs, leaving out those imdata
itself treats as ambiguous: the first position (no token predicts it in a causal LM, so its
label never enters the loss) and whitespace-only template or end-of-turn tokens on the
boundary of the mode's mask (the ``\n`` after ``<|im_end|>`` or before an output, which
transformers' ``{% generation %}`` masks train and imdata masks by design). The mode with
no difference is the mode the labels implement; with none, the labels are ``mixed`` and the
report says what differs from the nearest mode.

>>> report = audit("train_im/", source="train.jsonl", tokenizer="tokenizer.json")  # doctest: +SKIP
>>> report.mode, report.template_trained["total"]                                   # doctest: +SKIP
('im', 0)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from imdata.choices import ALIGNS, LOSS_MODES, Align, LossMode
from imdata.data.dataset import Dataset, load
from imdata.data.records import Example
from imdata.errors import DataError, OptionError
from imdata.labels.labelling import KIND_CODE, SPECIAL, TRAINED_KINDS, Tokenized, tokenize_examples, trained_table
from imdata.labels.tokens import TokenizerInfo, load_tokenizer
from imdata.reports.audit_report import CLASSES, CONTENT_CLASSES, AuditPiece, AuditReport, AuditView, ExampleAudit
from imdata.reports.labelled import LabelledRows, read_labelled
from imdata.templates.builtin import get_template
from imdata.templates.rendered import Template

_C = {c: i for i, c in enumerate(CLASSES)}
_TEMPLATE, _EOS = KIND_CODE["template"], KIND_CODE["eos"]
_CONTENT_CODES = np.array([KIND_CODE[k] for k in CONTENT_CLASSES], dtype=np.int8)
# class of each imdata kind code (+1, so SPECIAL = -1 sits at 0)
_KIND_CLASS = np.zeros(len(KIND_CODE) + 1, dtype=np.int8)
_KIND_CLASS[0] = _C["bos"]
for _k, _code in KIND_CODE.items():
    _KIND_CLASS[_code + 1] = _C["header"] if _k == "template" else _C[_k]
_TABLES = {m: trained_table(m) for m in LOSS_MODES}  # type: ignore[arg-type]
_KIND_NAME = {v: k for k, v in KIND_CODE.items()} | {SPECIAL: "bos"}


def audit(
    labels: str | LabelledRows,
    *,
    source: str | Dataset | Sequence[Example],
    tokenizer: str | TokenizerInfo,
    template: str | Template = "tulu",
    expect: LossMode | None = None,
    mask_column: str | None = None,
    align: Align = "auto",
    worst: int = 5,
) -> AuditReport:
    """Check the labels a trainer built against the spans of the conversations they came from.

    Args:
        labels: a labels file or folder (see :func:`~imdata.reports.labelled.read_labelled`) or rows read from one.
        source: the conversations the labels were made from: a path imdata loads, a dataset, or examples.
        tokenizer: the tokenizer the labels were made with (a spec or a loaded one).
        template: the chat template the trainer rendered with.
        expect: count findings against this mode (else against the nearest mode).
        mask_column: read this 0/1 column instead of ``labels``.
        align: match rows to examples by ``id`` (the labels need an ``id`` column), by ``order``,
            or ``auto``: by id when every row's id is an example's id, else by order.
        worst: how many of the examples with the most findings to keep as token views.
    """
    rows = labels if isinstance(labels, LabelledRows) else read_labelled(labels, mask_column=mask_column)
    tok = load_tokenizer(tokenizer) if isinstance(tokenizer, str) else tokenizer
    tmpl = get_template(template, eos=tok.eos, bos=tok.bos) if isinstance(template, str) else template
    ds = load(source) if isinstance(source, str) else source
    examples = list(ds.examples) if isinstance(ds, Dataset) else list(ds)
    picked, how = _align(rows, examples, align)
    probe = _Probe(tmpl, tok)
    audited = [
        _audit_example(i, tz, rows.input_ids[i], rows.trained[i], probe)
        for i, tz in enumerate(tokenize_examples(picked, tmpl, tok, mode="im"))
    ]
    prov = {
        "labels": rows.path,
        "labels_column": rows.column,
        "align": how,
        "source": ds.path if isinstance(ds, Dataset) else None,
        "source_fingerprint": ds.fingerprint if isinstance(ds, Dataset) else None,
        "template": tmpl.name,
        "template_fingerprint": tmpl.fingerprint,
        "tokenizer": tok.name,
        "tokenizer_fingerprint": tok.fingerprint,
    }
    from imdata import __version__

    prov["imdata"] = __version__
    report = _summarise(audited, rows, tok, expect, prov)
    views = tuple(_views(report, picked, rows, tmpl, tok, probe, worst))
    return replace(report, worst=views)


def _align(rows: LabelledRows, examples: list[Example], align: Align) -> tuple[list[Example], str]:
    by_id = {ex.id: ex for ex in examples}
    use_id = align == "id" or (align == "auto" and rows.ids is not None and all(i in by_id for i in rows.ids))
    if use_id:
        if rows.ids is None:
            raise OptionError(f"{rows.path}: has no `id` column to align by; use --align order")
        missing = [i for i in rows.ids if i not in by_id]
        if missing:
            raise DataError(
                rows.path,
                "",
                "id",
                f"{missing[0]!r} ({len(missing):,} rows in all) is not an example of the source",
                "pass the data the labels were made from, or --align order",
            )
        return [by_id[i] for i in rows.ids], "id"
    if len(rows) != len(examples):
        raise OptionError(
            f"{rows.path}: has {len(rows):,} rows and the source {len(examples):,} examples; rows are matched "
            "to examples by order when they carry no ids of the source, so pass the data the labels were made "
            "from (same examples, same order) or add an `id` column"
        )
    return examples, "order"


class _Probe:
    """What the template writes around the content, found once by rendering two probe conversations."""

    def __init__(self, tmpl: Template, tok: TokenizerInfo) -> None:
        self.bos_id: int | None = tok.tokenizer.token_to_id(tok.bos) if tok.bos else None
        self.injected = _injected_system(tmpl)

    def system_prompt_range(self, ex: Example, text: str) -> tuple[int, int] | None:
        """Where the template's own system prompt sits in ``text``, when the example has none."""
        if self.injected is None or (ex.messages and ex.messages[0].role == "system"):
            return None
        before, prompt = self.injected
        if not text.startswith(before + prompt):
            return None
        return len(before), len(before) + len(prompt)


def _injected_system(tmpl: Template) -> tuple[str, str] | None:
    """``(text before, prompt)`` when the template writes a system prompt of its own without one.

    Rendered with and without a system message, the text before the first user content is
    ``P0 + injected + P2`` where ``P0`` and ``P2`` surround a given system message.
    """
    from imdata.errors import TemplateError

    s, u, a = "\ue010", "\ue011", "\ue012"
    try:
        plain = tmpl.render(Example.from_pairs("probe", [("user", u), ("assistant", a)])).text
        with_system = tmpl.render(Example.from_pairs("probe", [("system", s), ("user", u), ("assistant", a)])).text
    except TemplateError:
        return None
    p1 = plain[: plain.find(u)]
    if s not in with_system or u not in with_system:
        return None
    p0 = with_system[: with_system.find(s)]
    p2 = with_system[with_system.find(s) + 1 : with_system.find(u)]
    if len(p1) <= len(p0) + len(p2) or not p1.startswith(p0) or not p1.endswith(p2):
        return None
    prompt = p1[len(p0) : len(p1) - len(p2)]
    return (p0, prompt) if prompt.strip() else None


def _classes(tz: Tokenized, n: int, probe: _Probe) -> tuple[np.ndarray, np.ndarray]:
    """The class of each of the first ``n`` tokens, and which of them are whitespace only."""
    kinds = tz.kinds[:n].astype(np.int64)
    cls = _KIND_CLASS[kinds + 1]
    ws = np.zeros(n, dtype=bool)
    look = np.flatnonzero((kinds == _TEMPLATE) | (kinds == _EOS))
    if look.size == 0:
        return cls, ws
    text = tz.rendered.text
    inj = probe.system_prompt_range(tz.example, text)
    ids = tz.input_ids
    for p, (s, e) in zip(look.tolist(), tz.all_offsets[look].tolist(), strict=True):
        ws[p] = s < e and not text[s:e].strip()
        if kinds[p] != _TEMPLATE:
            continue
        if probe.bos_id is not None and int(ids[p]) == probe.bos_id:
            cls[p] = _C["bos"]
        elif inj is not None and inj[0] <= s < inj[1]:
            cls[p] = _C["system_prompt"]
        elif ws[p] and (p == 0 or kinds[p - 1] != _TEMPLATE or cls[p - 1] == _C["separator"]):
            cls[p] = _C["separator"]
    return cls, ws


def _ambiguous(tz: Tokenized, n: int, ws: np.ndarray, mode: str) -> np.ndarray:
    r"""Positions whose label imdata treats as ambiguous under ``mode`` (see the module docstring).

    A run of whitespace-only template or end-of-turn tokens is ambiguous as a whole when the
    mode's mask changes inside it or at either end (``</s>`` ``▁`` ``\n`` ``<|user|>``).
    """
    exp = _TABLES[mode][tz.kinds.astype(np.int64) + 1]
    amb = np.zeros(n, dtype=bool)
    if n:
        amb[0] = True
    idx = np.flatnonzero(ws[:n])
    if idx.size == 0:
        return amb
    cut = np.flatnonzero(np.diff(idx) != 1)
    starts, ends = idx[np.r_[0, cut + 1]], idx[np.r_[cut, idx.size - 1]]
    changes = np.r_[0, np.cumsum(exp[1:] != exp[:-1])]  # changes[i]: mask changes before position i
    lo, hi = np.maximum(starts - 1, 0), np.minimum(ends + 1, len(exp) - 1)
    hit = changes[hi] > changes[lo]
    edges = np.zeros(n + 1, dtype=np.int64)
    np.add.at(edges, starts[hit], 1)
    np.add.at(edges, ends[hit] + 1, -1)
    return amb | (np.cumsum(edges)[:n] > 0)


def _describe(tz: Tokenized, p: int, mode: str, trained: bool, ws: np.ndarray) -> str:
    r"""A reason for leaving position ``p`` out, e.g. ``template '\\n' after '<|im_end|>' trained``."""
    if p == 0:
        return "the first token (no token predicts it)"
    kinds = tz.kinds.astype(np.int64)
    exp = _TABLES[mode][kinds + 1]
    lo, hi = p, p
    while lo > 0 and ws[lo - 1]:
        lo -= 1
    while hi + 1 < len(ws) and ws[hi + 1]:
        hi += 1
    # the neighbour of the whitespace run where the mode's mask changes
    q = lo - 1 if lo > 0 and exp[lo - 1] != exp[p] else min(hi + 1, len(exp) - 1)
    where = "after" if q < p else "before"
    offsets, text = tz.all_offsets, tz.rendered.text
    s, e = (int(v) for v in offsets[p])
    if kinds[q] == _EOS:
        qs, qe = (int(v) for v in offsets[q])
        other = repr(text[qs:qe]) if qe > qs else "the end-of-turn marker"
    else:
        other = _KIND_NAME[int(kinds[q])]
    what = "template" if kinds[p] == _TEMPLATE else "end-of-turn"
    return f"{what} {text[s:e]!r} {where} {other} {'trained' if trained else 'masked'}"


def _audit_example(
    i: int, tz: Tokenized, ids: np.ndarray, trained: np.ndarray, probe: _Probe
) -> tuple[ExampleAudit, dict[str, Counter[str]]]:
    ref = tz.input_ids
    m = min(len(ids), len(ref))
    neq = np.flatnonzero(ref[:m] != ids[:m])
    mismatch = int(neq[0]) if neq.size else (len(ref) if len(ids) > len(ref) else None)
    n = len(ids) if mismatch is None else mismatch
    truncated = len(ref) - len(ids) if mismatch is None else 0
    t = trained[:n]
    kinds = tz.kinds[:n].astype(np.int64)
    cls, ws = _classes(tz, n, probe)
    counts = np.zeros((len(CLASSES), 2), dtype=np.int64)
    np.add.at(counts, (cls.astype(np.int64), t.astype(np.int64)), 1)
    distance: dict[str, int] = {}
    amb_reasons: dict[str, Counter[str]] = {}
    for mode in LOSS_MODES:
        diff = t != _TABLES[mode][kinds + 1]
        amb = _ambiguous(tz, n, ws, mode)
        distance[mode] = int((diff & ~amb).sum())
        amb_reasons[mode] = Counter(_describe(tz, p, mode, bool(t[p]), ws) for p in np.flatnonzero(diff & amb).tolist())
    eot = (cls == _C["eos"]) & ~ws
    row = ExampleAudit(
        index=i,
        id=tz.example.id,
        tokens=len(ids),
        compared=n,
        trained=int(t.sum()),
        row_trained=int(trained.sum()),
        truncated=truncated,
        mismatch=mismatch,
        counts=tuple((int(a), int(b)) for a, b in zip(counts.sum(axis=1), counts[:, 1], strict=True)),
        distance=distance,
        eot_untrained=int((eot & ~t).sum()),
        header_pattern=_header_pattern(kinds, cls, t),
        rendered_at_mismatch=int(ref[mismatch]) if mismatch is not None and mismatch < len(ref) else None,
    )
    return row, amb_reasons


def _header_pattern(kinds: np.ndarray, cls: np.ndarray, t: np.ndarray) -> str | None:
    """Which role headers (template runs right before a message's content) carry the loss."""
    runs: list[tuple[bool, int]] = []  # (trained, kind of the content it opens)
    content = np.isin(kinds, _CONTENT_CODES)
    starts = np.flatnonzero(content[1:] & (kinds[:-1] == _TEMPLATE)) + 1
    for p in starts.tolist():
        q = p - 1
        hit = False
        while q >= 0 and kinds[q] == _TEMPLATE and cls[q] in (_C["header"], _C["separator"]):
            hit = hit or (bool(t[q]) and cls[q] == _C["header"])
            q -= 1
        runs.append((hit, int(kinds[p])))
    trained = [k for k, (hit, _) in enumerate(runs) if hit]
    if not trained:
        return None
    if len(trained) == len(runs):
        return "every role header"
    if trained == list(range(1, len(runs))):
        return "every role header after the first"
    out = KIND_CODE["output"]
    if trained == [k for k, (_, kind) in enumerate(runs) if kind == out]:
        return "every assistant header"
    if trained == [k for k, (_, kind) in enumerate(runs) if kind != out]:
        return "every user and system header"
    return "some role headers"


def _summarise(
    audited: list[tuple[ExampleAudit, dict[str, Counter[str]]]],
    rows: LabelledRows,
    tok: TokenizerInfo,
    expect: LossMode | None,
    prov: dict[str, Any],
) -> AuditReport:
    from imdata.reports.audit_text import describe

    by_class, distance, reasons, patterns = _totals(audited)
    nearest = _nearest(distance)
    mode = nearest if distance[nearest] == 0 else "mixed"
    reference = expect or nearest
    per_example = tuple(_finish(row, nearest, reference) for row, _ in audited)
    mismatched = [r for r in per_example if r.mismatch is not None]
    first = _first_mismatch(mismatched[0], rows, tok) if mismatched else None
    n = len(per_example)
    pattern = None
    if patterns:
        text, hits = patterns.most_common(1)[0]
        pattern = f"{text} ({hits:,} of {n:,} examples)"
    amb = dict(reasons[reference].most_common())
    return AuditReport(
        examples=n,
        tokens=sum(r.compared for r in per_example),
        trained=sum(r.trained for r in per_example),
        mode=mode,
        nearest=nearest,
        description=describe(
            mode,
            nearest,
            by_class,
            n,
            pattern=pattern,
            ambiguous=amb,
            eot_untrained=sum(r.eot_untrained for r in per_example),
            affected=_affected(per_example, nearest),
        )
        + _mismatch_note(len(mismatched), n),
        distance=distance,
        counts=by_class,
        eot_untrained=sum(r.eot_untrained for r in per_example),
        no_trained_token=sum(1 for r in per_example if r.row_trained == 0),
        token_mismatch=len(mismatched),
        first_mismatch=first,
        truncated=sum(1 for r in per_example if r.truncated),
        labels_not_input_ids=rows.not_input,
        ambiguous=amb,
        header_pattern=pattern,
        expect=expect,
        findings=distance[reference] + len(mismatched),
        per_example=per_example,
        worst=(),
        provenance=prov,
    )


def _totals(
    audited: list[tuple[ExampleAudit, dict[str, Counter[str]]]],
) -> tuple[dict[str, tuple[int, int]], dict[str, int], dict[str, Counter[str]], Counter[str]]:
    """Over all examples: tokens per class, distance from each mode, why tokens differ, header patterns."""
    counts = np.zeros((len(CLASSES), 2), dtype=np.int64)
    distance = dict.fromkeys(LOSS_MODES, 0)
    reasons: dict[str, Counter[str]] = {m: Counter() for m in LOSS_MODES}
    patterns: Counter[str] = Counter()
    for row, left_out in audited:
        counts += np.asarray(row.counts, dtype=np.int64)
        for m in LOSS_MODES:
            distance[m] += row.distance[m]
            reasons[m].update(left_out[m])
        if row.header_pattern:
            patterns[row.header_pattern] += 1
    by_class = {c: (int(counts[k, 0]), int(counts[k, 1])) for k, c in enumerate(CLASSES)}
    return by_class, distance, reasons, patterns


def _affected(rows: Sequence[ExampleAudit], nearest: str) -> dict[str, int]:
    """In how many examples each kind of difference from ``nearest`` occurs."""
    t = {c: i for i, c in enumerate(CLASSES)}
    out = {"template": 0, "eot": 0, **dict.fromkeys(CONTENT_CLASSES, 0)}
    for r in rows:
        out["template"] += any(r.counts[t[c]][1] for c in CLASSES[:4])
        out["eot"] += r.eot_untrained > 0
        for c in CONTENT_CLASSES:
            total, trained = r.counts[t[c]]
            out[c] += (total - trained > 0) if c in TRAINED_KINDS[nearest] else trained > 0
    return out


def _mismatch_note(mismatched: int, examples: int) -> str:
    if not mismatched:
        return ""
    return (
        f"; token ids differ from the render in {mismatched:,} of {examples:,} examples "
        "(only the positions before the first difference are audited)"
    )


def _nearest(distance: dict[str, int], prefer: str | None = None) -> str:
    """The mode with no difference (``prefer`` first on a tie), else the nearer of ``it`` and ``im``.

    ``all`` is plain language modelling: a mask that leaves any template token out is an
    attempt at ``it`` or ``im``, so a mixed mask is described against one of those.
    """
    exact = [m for m in LOSS_MODES if distance[m] == 0]
    if exact:
        return prefer if prefer in exact else exact[0]
    return min(("it", "im"), key=lambda m: distance[m])


def _finish(row: ExampleAudit, nearest: str, reference: str) -> ExampleAudit:
    mode = _nearest(row.distance, prefer=nearest)
    findings = row.distance[reference] + (1 if row.mismatch is not None else 0)
    return replace(row, mode=mode if row.distance[mode] == 0 else "mixed", findings=findings)


def _first_mismatch(row: ExampleAudit, rows: LabelledRows, tok: TokenizerInfo) -> dict[str, Any]:
    p = row.mismatch
    assert p is not None  # only called for mismatched rows
    ids = rows.input_ids[row.index]
    got = int(ids[p]) if p < len(ids) else None
    want = row.rendered_at_mismatch
    return {
        "id": row.id,
        "index": row.index,
        "position": p,
        "labels_token": None if got is None else tok.tokenizer.id_to_token(got),
        "labels_id": got,
        "rendered_token": None if want is None else tok.tokenizer.id_to_token(want),
        "rendered_id": want,
    }


def _views(
    report: AuditReport,
    examples: list[Example],
    rows: LabelledRows,
    tmpl: Template,
    tok: TokenizerInfo,
    probe: _Probe,
    worst: int,
) -> list[AuditView]:
    order = sorted(report.per_example, key=lambda r: (-r.findings, r.index))[:worst]
    if not order:
        return []
    picked = [examples[r.index] for r in order]
    out = []
    for r, tz in zip(order, tokenize_examples(picked, tmpl, tok, mode="im"), strict=True):
        out.append(_view(r, tz, rows.trained[r.index], report.reference, probe, tok))
    return out


def _view(
    r: ExampleAudit, tz: Tokenized, trained: np.ndarray, mode: str, probe: _Probe, tok: TokenizerInfo
) -> AuditView:
    n = r.compared
    cls, ws = _classes(tz, n, probe)
    t = trained[:n]
    exp = _TABLES[mode][tz.kinds[:n].astype(np.int64) + 1]
    amb = _ambiguous(tz, n, ws, mode)
    text = tz.rendered.text
    pieces = []
    prev: tuple[int, int] | None = None
    offsets = tz.all_offsets.tolist()
    for p in range(n):
        tid = int(tz.input_ids[p])
        s, e = offsets[p]
        token = tok.tokenizer.id_to_token(tid) or ""
        special = int(tz.kinds[p]) == SPECIAL
        piece = token if special else ("" if (s, e) == prev or s == e else text[s:e])
        prev = (s, e)
        flag = "" if bool(t[p]) == bool(exp[p]) else ("ambiguous" if amb[p] else "differs")
        pieces.append(AuditPiece(piece, token, tid, CLASSES[int(cls[p])], bool(t[p]), flag))
    note = ""
    if r.mismatch is not None:
        note = f"the token ids differ from the render at position {r.mismatch}; only the positions before it are shown"
    elif r.truncated:
        note = f"the row ends {r.truncated:,} tokens before the render (truncated)"
    return AuditView(r.index, r.id, r.findings, note, tuple(pieces))


__all__ = [
    "ALIGNS",
    "CLASSES",
    "Align",
    "AuditPiece",
    "AuditReport",
    "AuditView",
    "ExampleAudit",
    "audit",
]
