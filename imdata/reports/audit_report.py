"""What a mask audit reports: per example, per token of the worst examples, and in total.

The JSON keys (``AuditReport.to_dict``) are stable and documented in the README.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CLASSES = ("bos", "system_prompt", "header", "separator", "system", "instruction", "output", "eos")
TEMPLATE_CLASSES = CLASSES[:4]
CONTENT_CLASSES = ("system", "instruction", "output")
SCHEMA_VERSION = 1
_C = {c: i for i, c in enumerate(CLASSES)}


@dataclass(frozen=True)
class ExampleAudit:
    """One row of the labels file, audited."""

    index: int  # 0-based row of the labels file
    id: str
    tokens: int  # positions in the labels row
    compared: int  # positions classified (up to the first token mismatch)
    trained: int  # positions in the loss, of those compared
    truncated: int  # tokens of the render missing at the end of the row
    mismatch: int | None  # first position where the ids differ from the render
    counts: tuple[tuple[int, int], ...]  # (tokens, trained) per class of CLASSES
    distance: dict[str, int]  # positions differing from each mode, ambiguous ones left out
    eot_untrained: int
    header_pattern: str | None
    rendered_at_mismatch: int | None = None  # the render's token id at ``mismatch`` (None past its end)
    row_trained: int = 0  # positions in the loss in the whole row, audited or not
    mode: str = ""
    findings: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The ``per_example`` row of the JSON report."""
        tt = {c: self.counts[_C[c]][1] for c in TEMPLATE_CLASSES}
        cm = {c: self.counts[_C[c]][0] - self.counts[_C[c]][1] for c in CONTENT_CLASSES}
        return {
            "index": self.index,
            "id": self.id,
            "tokens": self.tokens,
            "compared": self.compared,
            "trained": self.trained,
            "truncated": self.truncated,
            "token_mismatch": self.mismatch,
            "mode": self.mode,
            "findings": self.findings,
            "template_trained": {**tt, "total": sum(tt.values())},
            "content_masked": {**cm, "total": sum(cm.values())},
            "eot_untrained": self.eot_untrained,
        }


@dataclass(frozen=True)
class AuditPiece:
    """One token of a worst example, as the HTML page shows it."""

    text: str
    token: str
    id: int
    kind: str  # a class of CLASSES
    trained: bool
    flag: str  # "" (as the mode says), "differs", or "ambiguous"


@dataclass(frozen=True)
class AuditView:
    """A worst example, every compared token classified and flagged against the reference mode."""

    index: int
    id: str
    findings: int
    note: str
    pieces: tuple[AuditPiece, ...]


@dataclass(frozen=True)
class AuditReport:
    """What a labels file trains, by span kind, and which loss mode that is."""

    examples: int
    tokens: int  # positions compared
    trained: int
    mode: str  # it, im, all or mixed
    nearest: str
    description: str
    distance: dict[str, int]
    counts: dict[str, tuple[int, int]]  # class -> (tokens, trained)
    eot_untrained: int
    no_trained_token: int
    token_mismatch: int
    first_mismatch: dict[str, Any] | None
    truncated: int
    labels_not_input_ids: int
    ambiguous: dict[str, int]  # what was left out of the comparison with the reference mode, by reason
    header_pattern: str | None
    expect: str | None
    findings: int
    per_example: tuple[ExampleAudit, ...]
    worst: tuple[AuditView, ...]
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def reference(self) -> str:
        """The mode the findings are counted against: ``expect``, else the nearest mode."""
        return self.expect or self.nearest

    @property
    def passed(self) -> bool:
        """True when the labels implement ``expect`` (or, without one, some mode) exactly."""
        return self.findings == 0

    @property
    def template_trained(self) -> dict[str, int]:
        """Template tokens in the loss, per class, and their ``total``."""
        tt = {c: self.counts[c][1] for c in TEMPLATE_CLASSES}
        return {**tt, "total": sum(tt.values())}

    @property
    def content_masked(self) -> dict[str, int]:
        """Content tokens out of the loss, per kind, and their ``total``."""
        cm = {c: self.counts[c][0] - self.counts[c][1] for c in CONTENT_CLASSES}
        return {**cm, "total": sum(cm.values())}

    @property
    def content_trained(self) -> dict[str, int]:
        """Content tokens in the loss, per kind."""
        return {c: self.counts[c][1] for c in CONTENT_CLASSES}

    def to_dict(self) -> dict[str, Any]:
        """The JSON report (keys documented in the README; sorted when dumped)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "examples": self.examples,
            "tokens": self.tokens,
            "trained": self.trained,
            "mode": self.mode,
            "nearest": self.nearest,
            "description": self.description,
            "distance": self.distance,
            "by_kind": {c: {"tokens": t, "trained": k} for c, (t, k) in self.counts.items()},
            "template_trained": self.template_trained,
            "content_masked": self.content_masked,
            "content_trained": self.content_trained,
            "eot_untrained": self.eot_untrained,
            "no_trained_token": self.no_trained_token,
            "token_mismatch": self.token_mismatch,
            "first_mismatch": self.first_mismatch,
            "truncated": self.truncated,
            "labels_not_input_ids": self.labels_not_input_ids,
            "ambiguous": self.ambiguous,
            "header_pattern": self.header_pattern,
            "expect": self.expect,
            "findings": self.findings,
            "passed": self.passed,
            "per_example": [e.to_dict() for e in self.per_example],
            "provenance": self.provenance,
        }


__all__ = [
    "CLASSES",
    "CONTENT_CLASSES",
    "SCHEMA_VERSION",
    "TEMPLATE_CLASSES",
    "AuditPiece",
    "AuditReport",
    "AuditView",
    "ExampleAudit",
]
