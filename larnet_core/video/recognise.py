"""Spot, then recognise: each spotted interval read on its own onset and apex frames.

MEGC's spot-then-recognise protocol classifies each spotted interval as recognition models are trained: on the
interval's onset and apex (for a flow checkpoint, the flow from onset to apex; for an apex checkpoint, the apex
crop), not on a mean of per-frame outputs. :func:`recognise_intervals` re-reads the two frames of every interval
from the clip (decoded exactly as the analysis decoded them), rebuilds the model input from the analysis' own
alignment records (:func:`~larnet_core.face.inputs.input_from_record`), and gives each interval

* ``label`` and ``confidence``: the model's output on that input (per-frame probabilities stay in the table);
* ``aus``: the action units active at the apex (``"AU6+AU12"``), from the skin's movement between a neutral frame
  (0.2 s before the spotted onset, within the face's segment: spotting finds onsets late) and the apex frame
  (:func:`~larnet_core.aus.flow.expression_intensities`), or, without a face mesh there, the per-frame estimates
  at the apex;
* ``rule_label``: the FACS rules' name for those units (:func:`~larnet_core.aus.rules.rule_label`), a rule, not a
  model output.

:func:`interval_prediction` makes the clip's prediction from the intervals: the model's output on the interval
with the most motion.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import numpy as np
import pandas as pd

from larnet_core.aus.names import AU_COLUMNS
from larnet_core.result import ClipPrediction

__all__ = ["recognise_intervals", "interval_prediction", "interval_units"]

log = logging.getLogger(__name__)
_NEUTRAL_LEAD_S = 0.2
_DEFAULT_FPS = 30.0
_DETECTOR_LOCK = threading.Lock()
_DETECTOR: list[Any] = []


def _mesh_detector():
    """One static-image MediaPipe detector for the process (None where MediaPipe is not installed)."""
    with _DETECTOR_LOCK:
        if not _DETECTOR:
            try:
                from larnet_core.face.mesh import MeshFaceDetector, mediapipe_available

                _DETECTOR.append(MeshFaceDetector(max_faces=4) if mediapipe_available() else None)
            except Exception as exc:  # noqa: BLE001 - a broken install: fall back to the per-frame estimates
                log.info("no face mesh for interval action units: %s", exc)
                _DETECTOR.append(None)
        return _DETECTOR[0]


def _mesh_near(image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray | None:
    """The mesh (with depth) of the face in ``image`` nearest ``box``, or None."""
    detector = _mesh_detector()
    if detector is None or not np.isfinite(box).all():
        return None
    faces = detector.detect(image)
    centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
    best = min(faces, key=lambda f: float(np.hypot(*(np.array(f.center) - centre))), default=None)
    return None if best is None else best.mesh3d


def interval_units(onset_rgb: np.ndarray, apex_rgb: np.ndarray, onset_box, apex_box,
                   apex_row: pd.Series | None = None) -> np.ndarray:
    """AU intensities of one interval: flow between its onset and apex frames when both have a mesh, else the
    per-frame estimates of the apex row (NaN where there are none)."""
    from larnet_core.aus.flow import expression_intensities

    onset_mesh = _mesh_near(onset_rgb, onset_box)
    apex_mesh = _mesh_near(apex_rgb, apex_box) if onset_mesh is not None else None
    if onset_mesh is not None and apex_mesh is not None:
        return expression_intensities(onset_rgb, onset_mesh, apex_rgb, apex_mesh)
    if apex_row is None:
        return np.full(len(AU_COLUMNS), np.nan)
    return np.array([float(apex_row.get(name, np.nan)) for name in AU_COLUMNS], dtype=np.float64)


def _box(row: pd.Series, scale: float) -> tuple[float, float, float, float]:
    return tuple(float(row[name]) * scale for name in ("face_x0", "face_y0", "face_x1", "face_y1"))


def recognise_intervals(intervals: pd.DataFrame, table: pd.DataFrame, source, predictor, input_config,
                        class_names: list[str], *, fps: float | None, max_side: int, scale: float,
                        limits=None) -> tuple[pd.DataFrame, dict[int, np.ndarray]]:
    """The intervals with ``label``, ``confidence``, ``aus`` and ``rule_label`` from their own onset and apex
    (see the module docstring), and each interval's class probabilities by its position in the table.

    ``table`` is the face's per-frame table (one row per frame, index = frame); ``scale`` maps its stored boxes
    back to working-frame pixels. An interval whose frames cannot be re-read keeps its per-frame label.
    """
    from larnet_core.aus.estimate import expression_units
    from larnet_core.aus.rules import au_string, rule_label
    from larnet_core.face.inputs import input_from_record
    from larnet_core.video.reader import frame_at

    out = intervals.copy()
    # The neutral frame the action units are read against: a little before the spotted onset (spotting finds an
    # onset once the movement is under way), within the face's segment.
    lead = max(1, int(round(_NEUTRAL_LEAD_S * (fps or _DEFAULT_FPS))))
    segments = table["segment"].to_numpy() if "segment" in table.columns else np.zeros(len(table), dtype=np.int64)
    aus, rules = [], []
    probabilities: dict[int, np.ndarray] = {}
    for position, row in enumerate(out.itertuples()):
        onset, apex = int(row.onset_frame), int(row.apex_frame)
        onset_row, apex_row = table.iloc[onset], table.iloc[apex]
        neutral = onset
        while neutral > 0 and onset - neutral < lead and segments[neutral - 1] == segments[onset]:
            neutral -= 1
        try:
            onset_rgb = frame_at(source, onset, limits, fps=fps, max_side=max_side)
            apex_rgb = frame_at(source, apex, limits, fps=fps, max_side=max_side)
            neutral_rgb = onset_rgb if neutral == onset else frame_at(source, neutral, limits, fps=fps,
                                                                      max_side=max_side)
        except Exception as exc:  # noqa: BLE001 - a clip that cannot be re-read keeps the per-frame labels
            log.warning("interval %d: frames not re-read (%s); its per-frame label stays", position, exc)
            aus.append("")
            rules.append("")
            continue
        try:
            model_input = input_from_record(apex_rgb, apex_row, input_config, onset_rgb, onset_row)
            probs = np.asarray(predictor.predict_proba([model_input.image])[0], dtype=np.float64)
            probabilities[position] = probs
            out.iloc[position, out.columns.get_loc("label")] = class_names[int(probs.argmax())]
            out.iloc[position, out.columns.get_loc("confidence")] = float(probs.max())
        except ValueError as exc:  # no recorded input at the onset or apex (face lost): per-frame label stays
            log.info("interval %d: no onset->apex input (%s)", position, exc)
        values = interval_units(neutral_rgb, apex_rgb, _box(table.iloc[neutral], scale), _box(apex_row, scale),
                                apex_row)
        active = expression_units(values)
        aus.append(au_string(active))
        rules.append(rule_label(active))
    out["aus"] = pd.Series(aus, dtype=object, index=out.index)
    out["rule_label"] = pd.Series(rules, dtype=object, index=out.index)
    return out, probabilities


def interval_prediction(intervals: pd.DataFrame, probabilities: dict[int, np.ndarray],
                        class_names: list[str]) -> ClipPrediction | None:
    """The clip's prediction from its intervals: the model's output on the onset -> apex input of the interval
    with the most motion (``source="interval"``); None when no interval has one."""
    if not len(intervals) or not probabilities:
        return None
    order = np.argsort(-intervals["peak_motion"].to_numpy(dtype=np.float64), kind="stable")
    for position in order:
        probs = probabilities.get(int(position))
        if probs is None:
            continue
        row = intervals.iloc[int(position)]
        top = int(probs.argmax())
        return ClipPrediction(class_names[top], float(probs[top]),
                              {name: float(value) for name, value in zip(class_names, probs)},
                              (int(row["onset_frame"]), int(row["apex_frame"])), "interval")
    return None
