"""The names of everything an analysis result holds: per-frame column groups, interval and event columns.

Column names live here and only here; other code asks :func:`prob_column`, :func:`probability_columns`,
:func:`class_names_in`, :func:`frame_layout` and :data:`FRAME_GROUPS` instead of spelling them out. Adding a
column group is one entry in :data:`FRAME_GROUPS` (its place in the table is its place in the mapping), plus a
default in :data:`ABSENT_VALUES` when a frame without the face should not hold NaN.

Per-frame groups, in table order: ``key`` (frame, time), ``track`` (whether and which face was followed, its box
in stored-frame pixels), the ``prob_<class>`` group (one column per class of the model), ``prediction``,
``motion`` (overall and by face region, head motion, the face segment), ``face_state`` (head pose, residual head
motion, exclusion reason, action units ``AU01``..``AU43``, ``blink``), ``membership`` (inside a spotted
interval), ``input`` (the alignment that made the row's model input).
"""

from __future__ import annotations

from typing import Any, Iterable

import pandas as pd

__all__ = [
    "PROB_PREFIX",
    "RESULT_FORMAT",
    "REGIONS",
    "FRAME_GROUPS",
    "KEY_COLUMNS",
    "TRACK_COLUMNS",
    "PREDICTION_COLUMNS",
    "MOTION_COLUMNS",
    "AU_NUMBERS",
    "AU_COLUMNS",
    "FACE_STATE_COLUMNS",
    "INTERVAL_AU_COLUMNS",
    "LIVE_FACE_STATE_COLUMNS",
    "MEMBERSHIP_COLUMNS",
    "INPUT_COLUMNS",
    "FRAME_COLUMNS",
    "SPOTTED_COLUMNS",
    "INTERVAL_COLUMNS",
    "INTERVAL_DTYPES",
    "EVENT_COLUMNS",
    "LIVE_COLUMNS",
    "ABSENT_VALUES",
    "prob_column",
    "probability_columns",
    "class_names_in",
    "frame_layout",
    "empty_intervals",
]

PROB_PREFIX = "prob_"
#: Version of the ``result`` record a session stores (prediction, class names, model, settings, warnings).
RESULT_FORMAT = 1

#: Face regions motion is measured in, in column order (``motion_<region>``).
REGIONS = ("brows", "eyes", "nose", "mouth", "cheeks", "chin")

#: Action units estimated, and their per-frame column names (py-feat's spelling).
AU_NUMBERS = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 24, 25, 26, 43)
AU_COLUMNS = tuple(f"AU{n:02d}" for n in AU_NUMBERS)

#: Per-frame column groups in table order; the ``prob_<class>`` group goes after ``track`` (:func:`frame_layout`).
FRAME_GROUPS: dict[str, tuple[str, ...]] = {
    "key": ("frame", "time_s"),
    "track": ("face_found", "face_id", "faces_in_frame", "shot_cut", "face_x0", "face_y0", "face_x1", "face_y1",
              "face_confidence"),
    # the top class, its probability, whether the model saw the frame
    "prediction": ("pred_label", "confidence", "inferred"),
    # the combined signals, their regions, the eye movement that can be a blink dragging the brows (all but the
    # lids opening) and the macro scale's one-sided movements, back and forward (crop pixels, each scale; a table
    # made before the columns has none)
    "motion": ("motion", *(f"motion_{name}" for name in REGIONS), "motion_macro",
               *(f"motion_macro_{name}" for name in REGIONS), "drag_eyes", "drag_eyes_macro", "motion_macro_back",
               "motion_macro_forward", "head_motion", "head_moving", "head_moving_macro", "segment"),
    # head pose (degrees), how well the head's movement was removed from the flow (crop pixels, micro and macro
    # scale), why a frame is kept out of spotting ("" when it is not), the action-unit intensities, and whether
    # the frame is in a blink (both eyes closing together; a table made before the column has none); the motion
    # regions a cover sets aside from the spotting signal ("nose+mouth+cheeks+chin", "" for none; a table made
    # before the column blanks covered frames), and the regions covered on the frame itself ("mouth", "mouth+brows",
    # "" for none: docs/clip-analysis.md; a table made before the column has none)
    "face_state": ("pose_yaw", "pose_pitch", "pose_roll", "head_residual", "head_residual_macro", "excluded",
                   "occluded", "motion_left_out", *AU_COLUMNS, "blink"),
    "membership": ("in_interval",),
    # the similarity matrix (working-frame pixels -> model input), the flow reference frame, key-point alignment
    "input": ("input_a", "input_b", "input_tx", "input_ty", "input_reference", "input_aligned"),
}
_PROBABILITIES_AFTER = "track"

KEY_COLUMNS = FRAME_GROUPS["key"]
TRACK_COLUMNS = FRAME_GROUPS["track"]
PREDICTION_COLUMNS = FRAME_GROUPS["prediction"]
MOTION_COLUMNS = FRAME_GROUPS["motion"]
FACE_STATE_COLUMNS = FRAME_GROUPS["face_state"]
MEMBERSHIP_COLUMNS = FRAME_GROUPS["membership"]
INPUT_COLUMNS = FRAME_GROUPS["input"]
#: Per-frame columns other than the ``prob_<class>`` group.
FRAME_COLUMNS = tuple(column for group in FRAME_GROUPS.values() for column in group)

#: What a face's row holds in a frame without that face, where not NaN (frame-wide columns such as ``time_s``,
#: ``faces_in_frame`` and ``shot_cut`` are the frame's own).
ABSENT_VALUES: dict[str, Any] = {"face_found": False, "face_id": -1, "pred_label": None, "inferred": False,
                                 "head_moving": False, "head_moving_macro": False, "segment": -1,
                                 "blink": False, "in_interval": False, "input_reference": -1, "input_aligned": False}
#: Columns that describe the frame, not a face: the same in every face's row of a frame.
FRAME_WIDE_COLUMNS = ("frame", "time_s", "faces_in_frame", "shot_cut")

#: A spotted interval: frames (0-based, inclusive), times, duration, ``micro``/``macro``, the motion at its apex.
SPOTTED_COLUMNS = ("onset_frame", "apex_frame", "offset_frame", "onset_s", "apex_s", "offset_s", "duration_s",
                   "kind", "peak_motion")
#: Per-interval fields: the AUs active at the apex (``"AU6+AU12"``) and the FACS rules' name for them.
INTERVAL_AU_COLUMNS = ("aus", "rule_label")
#: Interval table: the face, the spotted interval, the model's label of the interval's own onset -> apex input and
#: its confidence (after ``kind``), peak motion, the AUs at the apex and their FACS-rule label.
INTERVAL_COLUMNS = ("face_id", *SPOTTED_COLUMNS[:SPOTTED_COLUMNS.index("kind") + 1], "label", "confidence",
                    *SPOTTED_COLUMNS[SPOTTED_COLUMNS.index("kind") + 1:], *INTERVAL_AU_COLUMNS)
INTERVAL_DTYPES = {"face_id": "int64", "onset_frame": "int64", "apex_frame": "int64", "offset_frame": "int64",
                   "kind": "object", "label": "object", "aus": "object", "rule_label": "object"}
#: A live stream's events table.
EVENT_COLUMNS = ("time_s", "kind", "label", "confidence", "duration_s", "face_id", "apex_s", "peak_motion",
                 *INTERVAL_AU_COLUMNS)
#: A live stream's smoothed per-frame history: these, with the ``prob_<class>`` group after ``face_found``.
LIVE_COLUMNS = ("frame", "time_s", "face_found", "pred_label", "confidence", "motion")
#: The live history's share of the face state: pose and AU intensities of the followed face (after LIVE_COLUMNS).
LIVE_FACE_STATE_COLUMNS = ("pose_yaw", "pose_pitch", "pose_roll", *AU_COLUMNS)


def prob_column(class_name: str) -> str:
    """The column holding the probability of ``class_name`` (``prob_happiness``)."""
    return f"{PROB_PREFIX}{class_name}"


def probability_columns(class_names: Iterable[str]) -> list[str]:
    """``prob_<class>`` column names, in class order."""
    return [prob_column(name) for name in class_names]


def class_names_in(columns: Iterable[Any]) -> list[str]:
    """The classes whose probability columns a table has, in column order."""
    return [str(c)[len(PROB_PREFIX):] for c in columns if isinstance(c, str) and c.startswith(PROB_PREFIX)]


def frame_layout(class_names: Iterable[str]) -> list[str]:
    """Every per-frame column in table order, the probability group placed after the face track."""
    out: list[str] = []
    for name, group in FRAME_GROUPS.items():
        out.extend(group)
        if name == _PROBABILITIES_AFTER:
            out.extend(probability_columns(class_names))
    return out


def empty_intervals() -> pd.DataFrame:
    """An interval table without rows, with :data:`INTERVAL_COLUMNS` and their types."""
    return pd.DataFrame({c: pd.Series(dtype=INTERVAL_DTYPES.get(c, "float64")) for c in INTERVAL_COLUMNS})
