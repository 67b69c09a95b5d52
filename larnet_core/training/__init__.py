"""Training and evaluation: the paper's recipe under the field's subject-independent protocols.

``train(TrainConfig(...))`` writes a run directory (see :mod:`larnet_core.runs`); ``evaluate_checkpoint``
scores a trained model on any dataset or composite; ``reevaluate_run`` recomputes a run's metrics; ``evaluate_spotting``, ``score_spotting`` and
``score_str`` score spotting and spot-then-recognise on long videos as MEGC does. The steps
every model shares (sources, parts, predictions table, clip-level scoring, the 7 -> 3 conversion) live in
:mod:`larnet_core.training.protocol`. Names load on first use, so ``import larnet_core.training`` stays cheap.
"""

from __future__ import annotations

from larnet_core._lazy import lazy_exports

_EXPORTS = {
    "TrainConfig": "config",
    "PROTOCOLS": "config",
    "LR_SCHEDULES": "config",
    "SELECT_CHOICES": "config",
    "FLOW_CHOICES": "config",
    "train": "runner",
    "plan_parts": "protocol",
    "PartPlan": "protocol",
    "predictions_table": "protocol",
    "clip_predictions": "protocol",
    "convert_predictions": "protocol",
    "load_sources": "protocol",
    "parse_data_options": "protocol",
    "fit": "loop",
    "FitResult": "loop",
    "learning_rate": "loop",
    "evaluate_checkpoint": "evaluate",
    "reevaluate_run": "evaluate",
    "subject_overlap": "evaluate",
    "SpottingScores": "spotting_scores",
    "TypedSpottingScores": "spotting_scores",
    "StrScores": "spotting_scores",
    "interval_iou": "spotting_scores",
    "match_intervals": "spotting_scores",
    "score_spotting": "spotting_scores",
    "score_str": "spotting_scores",
    "megc_k": "spotting_scores",
    "SpottingEvaluation": "spotting_eval",
    "SpotEvalOptions": "spotting_eval",
    "evaluate_spotting": "spotting_eval",
    "rescore": "spotting_eval",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
