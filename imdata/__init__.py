"""imdata: data tooling for Instruction Modelling (loss on instructions and outputs, not templates).

The Python API mirrors the CLI by name; heavy modules load on first use::

    import imdata
    ds = imdata.load("train.jsonl")
    imdata.spans(ds, template="tulu", tokenizer="tokenizer.json", mode="im", to="hf", output="out.jsonl")
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "load": "imdata.dataset",
    "Dataset": "imdata.dataset",
    "Example": "imdata.records",
    "Message": "imdata.records",
    "get_template": "imdata.templates",
    "load_tokenizer": "imdata.tokens",
    "spans": "imdata.export",
    "show": "imdata.show",
    "profile": "imdata.profile",
    "ProfileReport": "imdata.profile",
    "query": "imdata.query",
    "ImdataError": "imdata.errors",
    "prompts": "imdata.prompts",
    "memorize": "imdata.memorization",
    "subset": "imdata.subset",
    "split": "imdata.split",
    "overlap": "imdata.overlap",
    "card": "imdata.card",
    "to_hf_dataset": "imdata.hf",
    "loss": "imdata.evaluation",
    "LossReport": "imdata.evaluation",
    "audit": "imdata.reports.mask_audit",
    "AuditReport": "imdata.reports.mask_audit",
}


class _Api(types.ModuleType):
    """Keeps ``imdata.spans`` (the function) from being replaced by ``imdata.spans`` (the module).

    Importing a submodule normally sets it as an attribute of the package; for names of the
    public API that would hide the function the CLI mirrors. Submodules stay importable
    with ``from imdata.spans import ...``.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _LAZY and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Api


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'imdata' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = sorted(_LAZY)
