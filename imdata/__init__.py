"""imdata: data tooling for Instruction Modelling (loss on instructions and outputs, not templates).

The Python API mirrors the CLI by name; each name is defined in its stage package
(``imdata.data``, ``imdata.templates``, ... see README "How imdata is built") and loads on first use::

    import imdata
    ds = imdata.load("train.jsonl")
    imdata.spans(ds, template="tulu", tokenizer="tokenizer.json", mode="im", to="hf", output="out.jsonl")
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: every public name -> the stage module that defines it (the one statement of the public API)
_LAZY = {
    "load": "imdata.data.dataset",
    "Dataset": "imdata.data.dataset",
    "Example": "imdata.data.records",
    "Message": "imdata.data.records",
    "get_template": "imdata.templates.builtin",
    "load_tokenizer": "imdata.labels.tokens",
    "spans": "imdata.export.exporter",
    "show": "imdata.reports.span_view",
    "profile": "imdata.profiling.profiler",
    "ProfileReport": "imdata.profiling.summary",
    "query": "imdata.store.queries",
    "ImdataError": "imdata.errors",
    "prompts": "imdata.export.prompt_forms",
    "memorize": "imdata.memorisation.memorization",
    "subset": "imdata.selection.subsets",
    "SubsetOptions": "imdata.selection.subsets",
    "split": "imdata.selection.splits",
    "SplitOptions": "imdata.selection.splits",
    "overlap": "imdata.selection.overlaps",
    "card": "imdata.reports.dataset_card",
    "to_hf_dataset": "imdata.export.hf",
    "loss": "imdata.evaluation",
    "LossReport": "imdata.evaluation",
    "audit": "imdata.reports.mask_audit",
    "AuditReport": "imdata.reports.mask_audit",
}


def __getattr__(name: str) -> Any:
    """Load a public name from its stage module on first use, so ``import imdata`` stays cheap."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'imdata' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = sorted(_LAZY)
