"""What a result records about the model behind it (one builder for clip analysis, live, batch and sessions),
and the one notice every display of a synthetic-data model shows."""

from __future__ import annotations

from typing import Any

__all__ = ["model_provenance", "SYNTHETIC_NOTICE", "SYNTHETIC_SHORT"]

#: Said wherever a result of a model trained on generated faces is shown (pages, CLI, summaries).
SYNTHETIC_NOTICE = ("the model was trained on synthetic faces (a demo model), not on real micro-expressions: its "
                    "labels demonstrate the pipeline only")
#: The same, short enough to draw on a video frame.
SYNTHETIC_SHORT = "synthetic-data demo model"


def model_provenance(predictor: Any) -> dict[str, Any]:
    """What a result records about the model behind a :class:`~larnet_core.inference.Predictor` (anything with a
    ``card`` and optionally ``loaded`` and ``backend``): preset, checkpoint path and SHA-256, synthetic flag,
    training data, sample mode, label scheme, backend."""
    loaded = getattr(predictor, "loaded", None)
    card = predictor.card
    return {
        "preset": card.preset, "checkpoint": str(getattr(loaded, "path", "") or ""),
        "sha256": getattr(loaded, "sha256", "") or "", "synthetic": bool(card.synthetic),
        "training_data": card.training_data, "sample_mode": card.sample_mode,
        "label_scheme": card.label_scheme,
        "backend": getattr(predictor, "backend", ""),
    }
