"""Evaluate models on instruction data: the loss per span kind (``imdata loss``).

Torch and transformers load only when a model is scored, so importing this package is cheap.
"""

from __future__ import annotations

from imdata.evaluation.losses import Difference, KindLoss, LossReport, ModelLoss, loss

__all__ = ["Difference", "KindLoss", "LossReport", "ModelLoss", "loss"]
