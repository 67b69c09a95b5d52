"""Names of the action units estimated and of the per-frame and per-interval columns they fill (defined by the result
schema, so it names them without loading the estimators)."""

from __future__ import annotations

# The names live with the result schema (the ground floor), so the result imports no estimator.
from larnet_core.result.schema import (
    AU_COLUMNS,
    AU_NUMBERS,
    FACE_STATE_COLUMNS,
    INTERVAL_AU_COLUMNS,
    LIVE_FACE_STATE_COLUMNS,
)

__all__ = ["AU_NUMBERS", "AU_COLUMNS", "FACE_STATE_COLUMNS", "INTERVAL_AU_COLUMNS", "LIVE_FACE_STATE_COLUMNS"]
