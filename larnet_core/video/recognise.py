"""Spot, then recognise: each spotted interval read on its own onset and apex frames.

MEGC's spot-then-recognise protocol classifies each spotted interval as recognition models are trained: on the
interval's onset and apex (for a flow checkpoint, the flow from onset to apex; for an apex checkpoint, the apex
crop), not on a mean of per-frame outputs. :func:`recognise_intervals` re-reads the frames of every interval
from the clip (decoded exactly as the analysis decoded them), rebuilds the model input from the analysis' own
alignment records (:func:`~larnet_core.face.inputs.input_from_record`), and gives each interval

* ``label`` and ``confidence``: the model's output on that input (per-frame probabilities stay in the table);
* ``aus``: the action units active at the apex (``"AU6+AU12"``), from the skin's movement between a neutral frame
  (0.2 s before the spotted onset, within the face's segment: spotting finds onsets late) and the apex frame, on
  face crops cut with the mesh the tracker gave on those frames in the analysis pass
  (:mod:`~larnet_core.video.tracked_meshes`; :func:`~larnet_core.aus.flow.crop_intensities`), as live video reads
  its events; without a tracked mesh on either frame, the per-frame estimates at the apex;
* ``rule_label``: the FACS rules' name for those units (:func:`~larnet_core.aus.rules.rule_label`), a rule, not a
  model output.

The same pass reads every frame from each interval's neutral frame to a lead past its offset against that neutral
frame (:func:`frame_units`, the rule the interval's own units come from: they are its reading at the apex frame),
for the face's per-frame AU lanes (:mod:`~larnet_core.video.interval_lanes`). Frames come one at a time
(:func:`~larnet_core.video.reader.iter_frames_at`) and only the three of each interval are kept whole.

:func:`interval_prediction` makes the clip's prediction from the intervals: the model's output on the interval
with the most motion.

Live video (:mod:`larnet_core.video.live`) labels its events with the same pieces on the crops it keeps of the
last seconds: :func:`~larnet_core.face.inputs.input_from_crops` (what :func:`~larnet_core.face.inputs.
input_from_record` makes from whole frames), :func:`neutral_frame`, :func:`crop_units` and :func:`unit_labels`.
"""

from __future__ import annotations

import logging
from typing import Callable

import numpy as np
import pandas as pd

from larnet_core.aus.estimate import expression_units
from larnet_core.aus.flow import crop_intensities, face_crop, neutral_model
from larnet_core.aus.held import held_units, shape_units, with_held
from larnet_core.aus.names import AU_COLUMNS
from larnet_core.video.face_state import covered_in, covered_units
from larnet_core.aus.rules import au_string, rule_label
from larnet_core.face.inputs import input_from_record
from larnet_core.result import ClipPrediction
from larnet_core.video.interval_lanes import IntervalReading
from larnet_core.video.reader import iter_frames_at

__all__ = ["recognise_intervals", "interval_prediction", "crop_units", "frame_units", "unit_labels", "neutral_frame",
           "neutral_lead", "NEUTRAL_LEAD_S"]

log = logging.getLogger(__name__)
#: The neutral frame the action units are read against lies this far before the spotted onset (spotting finds an
#: onset once the movement is under way).
NEUTRAL_LEAD_S = 0.2
_DEFAULT_FPS = 30.0


def crop_units(neutral, apex, apex_values: np.ndarray | None = None, covered: bool = False,
               model=None) -> np.ndarray:
    """AU intensities of one interval from the :class:`~larnet_core.aus.flow.FaceCrop` of its neutral and apex
    frames (the skin's movement between them; NaN where it fits no unit's pattern, unless ``covered``:
    :func:`~larnet_core.aus.flow.crop_intensities`; ``model``: the neutral's rigid model when already made), or,
    without both, the per-frame estimates at the apex (``apex_values``, NaN where there are none)."""
    if neutral is not None and apex is not None:
        return crop_intensities(neutral, apex, model, covered=covered)
    if apex_values is None:
        return np.full(len(AU_COLUMNS), np.nan)
    return np.asarray(apex_values, dtype=np.float64)


def unit_labels(values: np.ndarray) -> tuple[str, str]:
    """``(aus, rule_label)`` of an interval's AU intensities: the units it shows (``"AU6+AU12"``) and the FACS
    rules' name for them."""
    active = expression_units(values)
    return au_string(active), rule_label(active)


def neutral_lead(fps: float | None) -> int:
    """Frames between the spotted onset and the neutral frame (:data:`NEUTRAL_LEAD_S`, at least one)."""
    return max(1, int(round(NEUTRAL_LEAD_S * (fps or _DEFAULT_FPS))))


def neutral_frame(onset: int, lead: int, continues: Callable[[int], bool]) -> int:
    """The frame an interval's action units are read against: ``lead`` frames before its onset, or the earliest
    one before it from which the face was followed without a break (``continues(i)``: frame ``i`` joins frame
    ``i + 1`` without a break)."""
    neutral = onset
    while neutral > 0 and onset - neutral < lead and continues(neutral - 1):
        neutral -= 1
    return neutral


def _tracked_mesh(meshes, table: pd.DataFrame, index: int) -> np.ndarray | None:
    """The tracked mesh of the face the table follows on frame ``index`` (None where none was kept)."""
    if meshes is None or not bool(table["face_found"].iloc[index]):
        return None
    return meshes.get(int(table["face_id"].iloc[index]), index)


def recognise_intervals(intervals: pd.DataFrame, table: pd.DataFrame, source, predictor, input_config,
                        class_names: list[str], *, fps: float | None, max_side: int, meshes=None,
                        limits=None, sha256: str | None = None, held_baselines: dict[int, np.ndarray] | None = None
                        ) -> tuple[pd.DataFrame, dict[int, np.ndarray], list[IntervalReading]]:
    """The intervals with ``label``, ``confidence``, ``aus`` and ``rule_label`` from their own onset and apex
    (see the module docstring), each interval's class probabilities by its position in the table, and each
    interval's units read on every frame from its neutral frame to just past its offset, for the per-frame lanes
    (:mod:`~larnet_core.video.interval_lanes`; an interval's units are its reading at the apex).

    ``table`` is the face's per-frame table (one row per frame, index = frame); ``meshes`` the analysis pass's
    tracked meshes (:class:`~larnet_core.video.tracked_meshes.TrackedMeshes`, working-frame pixels; None: none
    kept, and no frame is read for the lanes); ``fps`` the clip's frame rate (the neutral frame's lead is counted
    in it; an image sequence is read at it); ``sha256`` is the clip's digest from the analysis (the file is not
    hashed again); ``held_baselines`` each face's baseline for the units it holds (by face id:
    :func:`~larnet_core.aus.held.person_baseline`; a face without one reads no held units). Every interval's
    frames are read in one pass of one opened reader. An interval whose frames cannot be re-read keeps its
    per-frame label.
    """
    out = intervals.copy()
    lead = neutral_lead(fps)
    segments = table["segment"].to_numpy() if "segment" in table.columns else np.zeros(len(table), dtype=np.int64)
    # Each interval's (neutral, onset, apex) frames: the neutral one a little before the onset, within its segment;
    # and the frames its lanes are read on, to a lead past its offset within the segment.
    wanted, ends = [], []
    for row in out.itertuples():
        onset, apex, offset = int(row.onset_frame), int(row.apex_frame), int(row.offset_frame)
        neutral, end = _lane_span(onset, offset, lead, segments)
        wanted.append((neutral, onset, apex))
        ends.append((offset, end))
    baselines = [(held_baselines or {}).get(int(face_id)) for face_id in _face_ids(out)]
    lanes = [_LaneReader(table, neutral, onset, apex, offset, end, baseline)
             for (neutral, onset, apex), (offset, end), baseline in zip(wanted, ends, baselines)]
    kept = {i for triple in wanted for i in triple}
    read = kept | ({i for lane in lanes for i in range(lane.neutral, lane.end)} if meshes is not None else set())
    frames: dict[int, np.ndarray] = {}
    try:
        crops = _CropCache(table, meshes)
        for index, image in iter_frames_at(source, read, limits, fps=fps, max_side=max_side, sha256=sha256):
            if index in kept:
                frames[index] = image
            for lane in lanes:
                if lane.neutral <= index < lane.end:
                    lane.add(index, crops.get(index, image))
    except Exception as exc:  # noqa: BLE001 - a clip that cannot be re-read keeps the per-frame labels
        log.warning("interval frames not re-read (%s); the per-frame labels stay", exc)
        frames = {}
    readings = [lane.reading() for lane in lanes]
    aus, rules = [], []
    probabilities: dict[int, np.ndarray] = {}
    for position, (neutral, onset, apex) in enumerate(wanted):
        if not all(i in frames for i in (neutral, onset, apex)):
            log.warning("interval %d: frames %s not re-read; its per-frame label stays", position, (onset, apex))
            aus.append("")
            rules.append("")
            continue
        onset_row, apex_row = table.iloc[onset], table.iloc[apex]
        try:
            model_input = input_from_record(frames[apex], apex_row, input_config, frames[onset], onset_row,
                                            input_config.flow)  # the checkpoint's own flow, as it was trained
            probs = np.asarray(predictor.predict_proba([model_input.image])[0], dtype=np.float64)
            probabilities[position] = probs
            out.iloc[position, out.columns.get_loc("label")] = class_names[int(probs.argmax())]
            out.iloc[position, out.columns.get_loc("confidence")] = float(probs.max())
        except ValueError as exc:  # no recorded input at the onset or apex (face lost): per-frame label stays
            log.info("interval %d: no onset->apex input (%s)", position, exc)
        reading = readings[position]
        values = reading.at(apex)
        if reading.is_not_read(apex):  # the movement fits no unit's pattern: no units, and no fallback
            values = np.full(len(AU_COLUMNS), np.nan)
        elif values is None:  # no tracked mesh on the neutral or apex frame: the per-frame estimates at the apex
            apex_values = np.array([float(apex_row.get(name, np.nan)) for name in AU_COLUMNS], dtype=np.float64)
            values = covered_units(crop_units(None, None, apex_values), covered_in(table.iloc[neutral:apex + 1]))
        text, rule = unit_labels(values)
        aus.append(text)
        rules.append(rule)
    out["aus"] = pd.Series(aus, dtype=object, index=out.index)
    out["rule_label"] = pd.Series(rules, dtype=object, index=out.index)
    readings = readings if frames else []
    return out, probabilities, readings


def _face_ids(intervals: pd.DataFrame) -> list[int]:
    """Each interval's face id (-1 where the table has none)."""
    if "face_id" not in intervals.columns:
        return [-1] * len(intervals)
    return [int(value) if pd.notna(value) else -1 for value in intervals["face_id"]]


def _lane_span(onset: int, offset: int, lead: int, segments: np.ndarray) -> tuple[int, int]:
    """``(neutral, end)`` of an interval: its neutral frame (:func:`neutral_frame`) and the frame after the last
    one its lanes are read on, ``lead`` frames past its offset; both within the onset's segment."""
    segment = segments[onset]

    def same(index: int) -> bool:
        return 0 <= index < len(segments) and segments[index] == segment

    end = offset + 1
    while end < offset + lead and same(end):
        end += 1
    return neutral_frame(onset, lead, same), end


class _CropCache:
    """Each re-read frame's face crop, cut once with the frame's tracked mesh (None without one) and shared by
    the intervals whose lanes read that frame."""

    def __init__(self, table: pd.DataFrame, meshes) -> None:
        self.table, self.meshes = table, meshes
        self._index, self._crop = -1, None

    def get(self, index: int, image: np.ndarray):
        if index != self._index:  # frames come in increasing order: only the latest is needed
            mesh = _tracked_mesh(self.meshes, self.table, index)
            self._index, self._crop = index, None if mesh is None else face_crop(image, mesh)
        return self._crop


class _LaneReader:
    """One interval's units read frame by frame against its neutral frame, as the frames come (the neutral frame
    first): :func:`frame_units` on each, with the neutral's rigid model made once, and the mouth units the frame
    holds where the neutral frame holds them too (:mod:`larnet_core.aus.held`, against the face's ``baseline``)."""

    def __init__(self, table: pd.DataFrame, neutral: int, onset: int, apex: int, offset: int, end: int,
                 baseline: np.ndarray | None = None) -> None:
        self.table = table
        self.neutral, self.onset, self.apex, self.offset, self.end = neutral, onset, apex, offset, end
        self.baseline = baseline
        self._neutral_crop = self._model = self._neutral_shape = None
        self._frames: list[int] = []
        self._values: list[np.ndarray] = []
        self._not_read: list[bool] = []

    def add(self, index: int, crop) -> None:
        if index == self.neutral:
            if crop is not None:
                self._neutral_crop, self._model = crop, neutral_model(crop)
                if self.baseline is not None:
                    self._neutral_shape = shape_units(crop)
            return
        self._frames.append(index)
        covered = covered_in(self.table.iloc[self.neutral:index + 1])
        values = frame_units(self._neutral_crop, crop, covered, self._model)
        if self._neutral_shape is not None and crop is not None:
            held = held_units(shape_units(crop), self._neutral_shape, self.baseline)
            values = with_held(values, covered_units(held, covered))
        self._values.append(values)
        # Both crops there and nothing read: the movement fits no unit's pattern (flow.crop_intensities).
        self._not_read.append(self._neutral_crop is not None and crop is not None and not np.isfinite(values).any())

    def reading(self) -> IntervalReading:
        values = np.array(self._values, dtype=np.float64).reshape(len(self._values), len(AU_COLUMNS))
        return IntervalReading(self.neutral, self.onset, self.apex, self.offset, self.end,
                               np.array(self._frames, dtype=np.int64), values, np.array(self._not_read, dtype=bool))


def frame_units(neutral, current, covered, model=None) -> np.ndarray:
    """AU intensities of one frame of an interval against the interval's neutral frame (their
    :class:`~larnet_core.aus.flow.FaceCrop`; ``model``: the neutral's rigid model when already made), with the
    units of the regions ``covered`` between the two NaN; all NaN without both crops. The interval's own units are
    this at its apex frame."""
    if neutral is None or current is None:
        return np.full(len(AU_COLUMNS), np.nan)
    return covered_units(crop_units(neutral, current, covered=bool(covered), model=model), covered)


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
