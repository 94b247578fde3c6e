"""Choice types declared once, shared by the library (``Literal``) and the CLI (``click.Choice``).

This module imports nothing heavy, so command modules can use it at import time.
"""

from __future__ import annotations

from typing import Literal, get_args

LossMode = Literal["it", "im", "all"]
LOSS_MODES: tuple[str, ...] = get_args(LossMode)

ExportFormat = Literal["spans", "hf", "axolotl", "messages"]
EXPORT_FORMATS: tuple[str, ...] = get_args(ExportFormat)

ReportFormat = Literal["table", "json", "csv", "markdown"]
REPORT_FORMATS: tuple[str, ...] = get_args(ReportFormat)

Unit = Literal["words", "tokens", "chars"]
UNITS: tuple[str, ...] = get_args(Unit)

Match = Literal["id", "instruction", "nearest"]
MATCHES: tuple[str, ...] = get_args(Match)

PromptForm = Literal["prompt", "messages"]
PROMPT_FORMS: tuple[str, ...] = get_args(PromptForm)

Strategy = Literal["random", "stratified", "longest", "ratio", "score"]
STRATEGIES: tuple[str, ...] = get_args(Strategy)
DEFAULT_SEED = 0

PartSuffix = Literal[".jsonl", ".jsonl.gz", ".jsonl.zst", ".json", ".parquet"]
PART_SUFFIXES: tuple[str, ...] = get_args(PartSuffix)

LeakAction = Literal["report", "move", "fail"]
LEAK_ACTIONS: tuple[str, ...] = get_args(LeakAction)

EngineName = Literal["local", "ray"]
ENGINES: tuple[str, ...] = get_args(EngineName)

Device = Literal["auto", "cpu", "cuda"]
DEVICES: tuple[str, ...] = get_args(Device)

DType = Literal["auto", "float32", "bfloat16", "float16"]
DTYPES: tuple[str, ...] = get_args(DType)

LeakedAction = Literal["separate", "exclude", "include"]
LEAKED_ACTIONS: tuple[str, ...] = get_args(LeakedAction)

AuditFormat = Literal["table", "json", "markdown"]
AUDIT_FORMATS: tuple[str, ...] = get_args(AuditFormat)

Align = Literal["auto", "id", "order"]
ALIGNS: tuple[str, ...] = get_args(Align)
