"""The ground floor: what an analysis result is, named once.

* :mod:`~larnet_core.result.schema` - per-frame column groups, interval and event columns;
* :mod:`~larnet_core.result.meta` - :class:`ClipMeta`, what the analysed input is;
* :mod:`~larnet_core.result.provenance` - what a result records about its model, the synthetic-model notice;
* :mod:`~larnet_core.result.labels` - the interval labeller and the clip label;
* :mod:`~larnet_core.result.analysis` - :class:`AnalysisResult`, one per-frame table per face.

This package imports nothing from the engine (video, face, sessions, batch) nor the dashboard: they build on it.
"""

from larnet_core.result.analysis import AnalysisResult, events_table, json_default, live_result, split_faces
from larnet_core.result.labels import ClipPrediction, clip_prediction, interval_label, label_intervals
from larnet_core.result.meta import ClipMeta
from larnet_core.result.provenance import SYNTHETIC_NOTICE, SYNTHETIC_SHORT, model_provenance
from larnet_core.result.schema import (
    ABSENT_VALUES,
    AU_COLUMNS,
    AU_NUMBERS,
    EVENT_COLUMNS,
    FACE_STATE_COLUMNS,
    FRAME_COLUMNS,
    FRAME_GROUPS,
    INPUT_COLUMNS,
    INTERVAL_AU_COLUMNS,
    INTERVAL_COLUMNS,
    KEY_COLUMNS,
    LIVE_COLUMNS,
    LIVE_FACE_STATE_COLUMNS,
    MEMBERSHIP_COLUMNS,
    MOTION_COLUMNS,
    PREDICTION_COLUMNS,
    PROB_PREFIX,
    REGIONS,
    RESULT_FORMAT,
    SPOTTED_COLUMNS,
    TRACK_COLUMNS,
    class_names_in,
    empty_intervals,
    frame_layout,
    prob_column,
    probability_columns,
)

__all__ = [
    "AnalysisResult", "events_table", "json_default", "live_result", "split_faces",
    "ClipPrediction", "clip_prediction", "interval_label", "label_intervals",
    "ClipMeta",
    "SYNTHETIC_NOTICE", "SYNTHETIC_SHORT", "model_provenance",
    "ABSENT_VALUES", "AU_COLUMNS", "AU_NUMBERS", "FACE_STATE_COLUMNS", "INTERVAL_AU_COLUMNS",
    "LIVE_FACE_STATE_COLUMNS", "EVENT_COLUMNS", "FRAME_COLUMNS", "FRAME_GROUPS", "INPUT_COLUMNS", "INTERVAL_COLUMNS",
    "KEY_COLUMNS", "LIVE_COLUMNS", "MEMBERSHIP_COLUMNS", "MOTION_COLUMNS", "PREDICTION_COLUMNS", "PROB_PREFIX",
    "REGIONS", "RESULT_FORMAT", "SPOTTED_COLUMNS", "TRACK_COLUMNS", "class_names_in", "empty_intervals",
    "frame_layout", "prob_column", "probability_columns",
]
