"""What a result records about the model behind it (one builder for clip analysis, live, batch and sessions),
and the one notice every display of a synthetic-data model shows."""

from __future__ import annotations

from typing import Any

__all__ = ["model_provenance", "SYNTHETIC_NOTICE", "SYNTHETIC_SHORT"]

#: Said wherever a model trained on generated faces, or a result of one, is shown (pages, CLI, summaries).
SYNTHETIC_NOTICE = ("Trained on synthetic data (a demo model): its predictions demonstrate the pipeline and say "
                    "nothing about real people's emotions.")
#: The same, short enough to draw on a video frame.
SYNTHETIC_SHORT = "synthetic-data demo model"


def model_provenance(model: Any) -> dict[str, Any]:
    """What a result records about its model, a :class:`~larnet_core.inference.Predictor` or a loaded checkpoint
    (anything with a ``card``, and a ``loaded`` or its own ``path`` and ``sha256``): preset, checkpoint path and
    SHA-256, synthetic flag, training data, sample mode, label scheme, backend. Every session, batch marker and
    result names its model from this one record."""
    loaded = getattr(model, "loaded", None) or (model if hasattr(model, "sha256") else None)
    card = model.card
    predictor = model
    return {
        "preset": card.preset, "checkpoint": str(getattr(loaded, "path", "") or ""),
        "sha256": getattr(loaded, "sha256", "") or "", "synthetic": bool(card.synthetic),
        "training_data": card.training_data, "sample_mode": card.sample_mode,
        "label_scheme": card.label_scheme,
        "backend": getattr(predictor, "backend", ""),
    }
