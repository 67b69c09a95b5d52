"""Baselines trained and scored exactly like LARNet: a plain ResNet-18 (the paper's comparison) and the
classic LBP-TOP + SVM pipeline (the hand-crafted row of the paper's Table 5).

``resnet18`` becomes a model preset once :func:`ensure_registered` has run (the trainer, ``larnet evaluate``
and :func:`load_baseline_checkpoint` call it), so its checkpoints load like any other.
"""

from __future__ import annotations

from larnet_core.baselines.resnet import RESNET18_CONFIG, ResNet18, ensure_registered

__all__ = ["RESNET18_CONFIG", "ResNet18", "ensure_registered", "BASELINE_MODELS"]

# Names accepted by `larnet train --model` besides the model presets.
BASELINE_MODELS = ("resnet18", "lbptop-svm")
