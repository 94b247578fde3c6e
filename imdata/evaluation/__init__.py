"""Stage 5, evaluation: the loss per span kind of models on instruction data (``imdata loss``).

May import `export`, `labels`, `templates`, `data`; not selection/memorisation or anything above.
Torch and transformers load only when a model is scored, so importing this package is cheap.
"""

from __future__ import annotations

from imdata.evaluation.losses import Difference, KindLoss, LossReport, ModelLoss, loss

__all__ = ["Difference", "KindLoss", "LossReport", "ModelLoss", "loss"]
