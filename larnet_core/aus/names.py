"""Names of the action units estimated and of the per-frame and per-interval columns they fill (defined by the result
schema, so it names them without loading the estimators), and how an interval's units read for a person."""

from __future__ import annotations

from typing import Sequence

import numpy as np

# The names live with the result schema (the ground floor), so the result imports no estimator.
from larnet_core.result.schema import (
    AU_COLUMNS,
    AU_NUMBERS,
    FACE_STATE_COLUMNS,
    INTERVAL_AU_COLUMNS,
    LIVE_FACE_STATE_COLUMNS,
)

__all__ = ["AU_NUMBERS", "AU_COLUMNS", "FACE_STATE_COLUMNS", "INTERVAL_AU_COLUMNS", "LIVE_FACE_STATE_COLUMNS",
           "ANTAGONISTS", "ANTAGONIST_SLACK", "NOT_READ", "NO_UNIT", "units_text", "units_at"]

#: Units that pull the same skin opposite ways (lip corners up / down, lips apart / pressed, jaw dropped / chin
#: raised or lips pressed, lids raised / closed), by number. An unmixing sometimes spends both of a pair to cancel
#: each other's pattern and fit something else (a laugh read with AU15 beside AU12); one of the pair is dropped, the
#: one whose loss costs the fit least, when it costs little (:func:`larnet_core.aus.nnls.sparse_unmix`).
ANTAGONISTS = ((12, 15), (25, 24), (26, 17), (26, 24), (5, 43))
#: How much worse (in units of the unmixing's penalty, on the penalised objective: :data:`larnet_core.aus.flow.
#: SPARSITY`, :data:`larnet_core.aus.learned_patterns.PENALTY`) the fit without one of two antagonists may be and
#: still be kept. Set on the flow's unmixing, on the tuning photo's renderings, its derived check identities and
#: its mouth moved up and down (0, 1, 4, 8, 16, 32, 64: F1 rose up to 8-16 and stayed level beyond). A pair that
#: both act in earnest (each explaining much the other cannot) costs far more to split, and both stay.
ANTAGONIST_SLACK = 16.0

#: What an interval with no units says where none but AU43 was read at its apex (the movement fits no unit's
#: pattern, larnet_core.aus.flow.crop_intensities, or everything but the lids is covered) ...
NOT_READ = "AUs not read"
#: ... and where units were read and none reached the level.
NO_UNIT = "no AU"


def units_text(aus: str, apex_units: Sequence[float] | None = None) -> str:
    """An interval's units as a person reads them: its ``aus`` (``"AU6+AU12"``); without any, :data:`NOT_READ` when
    ``apex_units`` (the per-frame units at its apex, :data:`AU_COLUMNS` order) read nothing but AU43, else
    :data:`NO_UNIT`."""
    if aus:
        return aus
    if apex_units is not None:
        values = np.asarray(apex_units, dtype=np.float64)
        if len(values) == len(AU_COLUMNS) and not np.isfinite(values[[c != "AU43" for c in AU_COLUMNS]]).any():
            return NOT_READ
    return NO_UNIT


def units_at(table, frame: int) -> np.ndarray | None:
    """The per-frame units (:data:`AU_COLUMNS` order) of a face's table (a pandas DataFrame with a ``frame``
    column) at ``frame``; None where the table has no such frame or no unit columns (older analyses)."""
    if table is None or "frame" not in table.columns or not all(name in table.columns for name in AU_COLUMNS):
        return None
    rows = table.loc[table["frame"] == int(frame), list(AU_COLUMNS)]
    return None if rows.empty else rows.iloc[0].to_numpy(dtype=np.float64)
