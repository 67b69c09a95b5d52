"""Training and evaluation: the paper's recipe under the field's subject-independent protocols.

``train(TrainConfig(...))`` writes a run directory (see :mod:`larnet_core.runs`); ``evaluate_checkpoint``
scores a trained model on any dataset; ``reevaluate_run`` recomputes a run's metrics. Names load on first use,
so ``import larnet_core.training`` stays cheap.
"""

from __future__ import annotations

from larnet_core._lazy import lazy_exports

_EXPORTS = {
    "TrainConfig": "config",
    "PROTOCOLS": "config",
    "LR_SCHEDULES": "config",
    "SELECT_CHOICES": "config",
    "train": "runner",
    "plan_parts": "runner",
    "predictions_table": "runner",
    "fit": "loop",
    "FitResult": "loop",
    "learning_rate": "loop",
    "evaluate_checkpoint": "evaluate",
    "reevaluate_run": "evaluate",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
