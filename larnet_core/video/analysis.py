"""Clip analysis: per-frame class probabilities, facial motion, spotted expression intervals, one clip label.

The pipeline streams the clip once (memory does not grow with its length beyond one table row per frame):

1. decode each frame at a working size (long side ``max(640, 4 x model input)``);
2. find the face in the first frames (:class:`~larnet_core.face.ClipFaceBox`, one fixed box, since a crop
   following detector jitter would add motion; with the eyes when the detector finds them, which places the
   facial regions) and re-detect about once a second, moving the box only when the face has moved away;
3. crop the face for the model (for ``flow`` models: the flow image from the clip's first crop) and run the
   model in batches, on every frame up to ``max_infer_fps`` frames a second (frames in between get
   probabilities interpolated from their neighbours);
4. measure facial motion (:mod:`larnet_core.video.motion`) and spot intervals
   (:mod:`larnet_core.video.spotting`);
5. label each interval and the clip from the model's probabilities: the clip's prediction averages the frames
   around the apex of the interval with the most motion, or all frames when nothing was spotted.

Face modes: ``haar``/``mtcnn`` need a face and raise :class:`~larnet_core.errors.NoFaceError` without one;
``none`` uses the whole frame; ``auto`` is ``haar``, falling back to the whole frame only for small frames
(long side at most 400 px, the size of CASME II's and the synthetic set's face-filled crops), which it
records in :attr:`ClipAnalysis.warnings`.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd

from larnet_core.errors import Cancelled, NoFaceError, VideoError
from larnet_core.video.limits import VideoLimits
from larnet_core.video.motion import REGIONS, MotionConfig, MotionTracker, face_patch
from larnet_core.video.reader import ClipMeta, ClipSource, open_clip
from larnet_core.video.spotting import SpottingParams, spot_intervals

__all__ = [
    "FACE_MODES",
    "ClipPrediction",
    "ClipAnalysis",
    "analyze_clip",
    "probability_columns",
    "FRAME_COLUMNS",
    "WHOLE_FRAME_MAX_SIDE",
]

log = logging.getLogger(__name__)

FACE_MODES = ("auto", "haar", "mtcnn", "none")
#: ``face="auto"`` analyses the whole frame when no face is found and the frame's long side is at most this.
WHOLE_FRAME_MAX_SIDE = 400
#: Per-frame table columns other than the ``prob_<class>`` group (which sits after the face box).
FRAME_COLUMNS = ("frame", "time_s", "face_x0", "face_y0", "face_x1", "face_y1", "pred_label", "confidence",
                 "motion", *(f"motion_{name}" for name in REGIONS), "in_interval")

ProgressCallback = Callable[[float, str], None]

_N_PROBE = 5
_REDETECT_S = 1.0
_MOVED_IOU = 0.3
_CROP_MARGIN = 0.2
_APEX_HALF_WINDOW_S = 0.05


def probability_columns(class_names: list[str]) -> list[str]:
    """``prob_<class>`` column names, in class order."""
    return [f"prob_{name}" for name in class_names]


@dataclass(frozen=True)
class ClipPrediction:
    """The clip's label.

    Attributes:
        label: most probable class.
        confidence: its probability (averaged over ``window``).
        probabilities: every class's averaged probability.
        window: first and last frame (inclusive) the average was taken over.
        source: ``apex-window`` (around the apex of the strongest spotted interval) or ``whole-clip``.
    """

    label: str
    confidence: float
    probabilities: dict[str, float]
    window: tuple[int, int]
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "confidence": self.confidence, "probabilities": dict(self.probabilities),
                "window": list(self.window), "source": self.source}


@dataclass
class ClipAnalysis:
    """Everything an analysis produced.

    Attributes:
        meta: the clip (frame_count is the number of frames actually decoded).
        frames: one row per frame: ``frame, time_s, face_x0, face_y0, face_x1, face_y1, prob_<class>...,
            pred_label, confidence, motion, motion_brows, motion_eyes, motion_nose, motion_mouth, in_interval``.
            Face boxes are in stored-frame pixels; motion in pixels of a 96-pixel face crop.
        intervals: one row per spotted interval: ``onset_frame, apex_frame, offset_frame, onset_s, apex_s,
            offset_s, duration_s, kind, label, confidence, peak_motion``.
        prediction: the clip-level label.
        class_names: the model's classes, in ``prob_`` column order.
        model: what model produced the probabilities (preset, checkpoint hash, synthetic flag ...).
        settings: how the analysis ran (face mode, inference stride, spotting parameters ...).
        warnings: things the user should know (whole-frame fallback, re-detected face, truncated stream).
    """

    meta: ClipMeta
    frames: pd.DataFrame
    intervals: pd.DataFrame
    prediction: ClipPrediction
    class_names: list[str]
    model: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def probabilities(self) -> pd.DataFrame:
        """The ``prob_<class>`` columns of :attr:`frames`."""
        return self.frames[probability_columns(self.class_names)]

    @property
    def synthetic(self) -> bool:
        """True when the model was trained on generated faces (every display must say so)."""
        return bool(self.model.get("synthetic", False))

    def summary(self) -> dict[str, Any]:
        """A JSON-able summary: clip, model, prediction, intervals, settings and warnings."""
        intervals = self.intervals.copy()
        records = json.loads(intervals.to_json(orient="records")) if len(intervals) else []
        return {
            "clip": self.meta.to_dict(),
            "model": dict(self.model),
            "prediction": self.prediction.to_dict(),
            "intervals": records,
            "n_micro": int((intervals["kind"] == "micro").sum()) if len(intervals) else 0,
            "n_macro": int((intervals["kind"] == "macro").sum()) if len(intervals) else 0,
            "settings": dict(self.settings),
            "warnings": list(self.warnings),
        }

    def to_json(self, indent: int | None = 2) -> str:
        """:meth:`summary` as JSON text."""
        return json.dumps(self.summary(), indent=indent, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, (np.ndarray, tuple)):
        return list(value)
    return str(value)


# ---------------------------------------------------------------------------------------------------------------
class _FaceBoxes:
    """The clip's current face box and when to re-detect it."""

    def __init__(self, mode: str, detector, fps: float, name: str) -> None:
        self.mode, self.detector, self.name = mode, detector, name
        self.detection = None  # FaceDetection in working pixels; None = whole frame
        self.every = max(1, int(round(_REDETECT_S * fps)))
        self.source = "whole-frame" if mode == "none" else "detected"

    def start(self, probe: list[np.ndarray], warnings: list[str]) -> None:
        if self.mode == "none":
            return
        from larnet_core.face import ClipFaceBox

        try:
            self.detection = ClipFaceBox.from_frames(probe, self.detector, n_probe=len(probe), what=self.name).detection
            if self.detection.landmarks is None:
                self.detection = self._with_landmarks(self.detection, probe)
        except NoFaceError:
            height, width = probe[0].shape[:2]
            if self.mode != "auto" or max(height, width) > WHOLE_FRAME_MAX_SIDE:
                raise
            self.source = "whole-frame"
            warnings.append(f"no face found in the first {len(probe)} frames; the {width}x{height} frames were "
                            "analysed whole, as face crops (pass face='haar' to require a face)")

    def _with_landmarks(self, detection, probe: list[np.ndarray]):
        """The clip box with the median of whatever landmarks the probe frames gave (the eye search of the Haar
        detector misses some frames; ClipFaceBox keeps landmarks only when every frame had them)."""
        from larnet_core.face import FaceDetection, box_iou

        points = []
        for frame in probe:
            for found in self.detector.detect(frame):
                if found.landmarks is not None and box_iou(found.box, detection.box) > 0.5:
                    points.append(found.landmarks)
                    break
        if not points:
            return detection
        return FaceDetection(detection.box, detection.score, np.median(np.stack(points), axis=0))

    @property
    def regions(self):
        """Facial regions for the motion signal, placed from the landmarks when the detection has them."""
        from larnet_core.video.motion import regions_for

        if self.detection is None:
            return regions_for((0, 0, 1, 1), None)
        return regions_for(self.detection.box, self.detection.landmarks)

    def box(self, frame: np.ndarray) -> tuple[float, float, float, float]:
        if self.detection is None:
            return (0.0, 0.0, float(frame.shape[1]), float(frame.shape[0]))
        return self.detection.box

    def maybe_redetect(self, index: int, frame: np.ndarray) -> bool:
        """Re-detect on schedule; True when the box moved (the face left the old box)."""
        if self.detection is None or index == 0 or index % self.every:
            return False
        from larnet_core.face import box_iou

        found = self.detector.detect(frame)
        if not found:
            return False
        best = max(found, key=lambda d: box_iou(d.box, self.detection.box))
        if box_iou(best.box, self.detection.box) >= _MOVED_IOU:
            return False
        self.detection = max(found, key=lambda d: (d.area, d.score))
        return True

    def crop(self, frame: np.ndarray, size: int) -> np.ndarray:
        from larnet_core.face import align_face, crop_face

        if self.detection is None:
            return crop_face(frame, self.box(frame), (size, size), margin=0.0).image
        return align_face(frame, self.detection, output_size=(size, size), margin=_CROP_MARGIN).image


class _BatchedModel:
    """Collects model inputs and runs them in batches; keeps the probabilities by frame position."""

    def __init__(self, predictor, batch_size: int) -> None:
        self.predictor, self.batch_size = predictor, batch_size
        self.flow = predictor.card.sample_mode == "flow"
        self.size = int(predictor.card.input_size)
        self.reference: np.ndarray | None = None
        self._pending: list[tuple[int, np.ndarray]] = []
        self.indices: list[int] = []
        self.rows: list[np.ndarray] = []

    def add(self, index: int, crop: np.ndarray) -> None:
        if self.flow:
            from larnet_core.data.flow import compute_flow_image

            if self.reference is None:
                self.reference = crop
            crop = compute_flow_image(self.reference, crop, self.size)
        self._pending.append((index, crop))
        if len(self._pending) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        probs = self.predictor.predict_proba([crop for _, crop in self._pending], batch_size=self.batch_size)
        self.indices.extend(index for index, _ in self._pending)
        self.rows.extend(probs)
        self._pending.clear()

    def per_frame(self, n_frames: int, n_classes: int) -> np.ndarray:
        """Probabilities for every frame: inferred frames as computed, the rest interpolated and renormalised."""
        if not self.rows:
            return np.full((n_frames, n_classes), 1.0 / n_classes, dtype=np.float32)
        known = np.asarray(self.indices)
        values = np.stack(self.rows).astype(np.float64)
        order = np.argsort(known)
        known, values = known[order], values[order]
        positions = np.arange(n_frames)
        out = np.stack([np.interp(positions, known, values[:, c]) for c in range(n_classes)], axis=1)
        out /= out.sum(axis=1, keepdims=True)
        return out.astype(np.float32)


def _report(progress: ProgressCallback | None, fraction: float, message: str) -> None:
    if progress is not None:
        progress(float(min(max(fraction, 0.0), 1.0)), message)


def analyze_clip(
    source: ClipSource,
    predictor,
    *,
    face: str = "auto",
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    limits: VideoLimits | None = None,
    fps: float | None = None,
    name: str | None = None,
    detector=None,
    max_infer_fps: float | None = 60.0,
    batch_size: int = 32,
    spotting: SpottingParams | None = None,
    motion: MotionConfig | None = None,
) -> ClipAnalysis:
    """Analyse one clip end to end.

    Args:
        source: video file, ``.zip`` of frames, frame folder, or the bytes / binary file object of one.
        predictor: a :class:`larnet_core.inference.Predictor`.
        face: ``auto`` | ``haar`` | ``mtcnn`` | ``none`` (see the module docstring).
        progress: called as ``progress(fraction 0..1, message)`` while the clip is analysed.
        cancel: when set (from another thread), the analysis stops with :class:`~larnet_core.errors.Cancelled`.
        limits: safety limits (:class:`VideoLimits`); defaults apply when None.
        fps: frame rate of an image sequence (default 200, CASME II's); ignored for video files.
        name: how to name the clip when ``source`` is bytes.
        detector: a ready :class:`~larnet_core.face.FaceDetector` to use instead of building one from ``face``.
        max_infer_fps: run the model on at most this many frames per second of video (None: every frame).
        batch_size: frames per model call.
        spotting: spotting settings (:class:`SpottingParams`).
        motion: motion-signal settings (:class:`MotionConfig`).

    Returns:
        A :class:`ClipAnalysis`.

    Raises:
        VideoError: unreadable, corrupt, too short or over-limit input.
        NoFaceError: no face in the first frames (``face`` other than ``none``).
        Cancelled: ``cancel`` was set.
    """
    if face not in FACE_MODES:
        raise VideoError(f"unknown face mode {face!r}; use one of {', '.join(FACE_MODES)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    card = predictor.card
    class_names = list(card.class_names)
    if face != "none" and detector is None:
        from larnet_core.face import build_detector

        detector = build_detector("haar", find_eyes=True) if face in ("auto", "haar") else build_detector(face)
    spotting = spotting or SpottingParams()
    motion_config = motion or MotionConfig()
    warnings: list[str] = []

    _report(progress, 0.0, "opening the clip")
    max_side = max(640, 4 * int(card.input_size))
    with open_clip(source, limits, fps=fps, max_side=max_side, name=name) as reader:
        meta = reader.meta
        clip_fps = meta.fps
        expected = max(meta.frame_count, 1)
        stride = 1 if not max_infer_fps else max(1, math.ceil(clip_fps / max_infer_fps - 1e-9))
        boxes = _FaceBoxes("none" if face == "none" else face, detector, clip_fps, meta.name)
        model = _BatchedModel(predictor, batch_size)
        tracker = MotionTracker(clip_fps, motion_config)
        times: list[float] = []
        box_rows: list[tuple[float, float, float, float]] = []
        frames_iter = reader.frames()
        probe: list[tuple[int, float, np.ndarray]] = []
        for decoded in frames_iter:
            probe.append(decoded)
            if len(probe) >= _N_PROBE:
                break
        if not probe:
            raise VideoError(f"{meta.name} has no decodable frames; the file is corrupt or empty")
        _report(progress, 0.02, "finding the face")
        boxes.start([frame.image for frame in probe], warnings)
        tracker.regions = boxes.regions
        last_index = -1

        def process(index: int, time_s: float, image: np.ndarray) -> None:
            nonlocal last_index
            if cancel is not None and cancel.is_set():
                raise Cancelled(f"analysis of {meta.name} was cancelled at frame {index}")
            if boxes.maybe_redetect(index, image):
                tracker.restart()
                tracker.regions = boxes.regions
                model.reference = None
                warnings.append(f"the face moved at frame {index} ({time_s:.2f} s); its box was re-detected")
            box = boxes.box(image)
            tracker.push(face_patch(image, box, motion_config.size))
            if index % stride == 0 or model.flow and model.reference is None:
                model.add(index, boxes.crop(image, model.size))
            times.append(time_s)
            box_rows.append(box)
            last_index = index
            if index % 16 == 0:
                _report(progress, 0.03 + 0.9 * min(index / expected, 1.0), f"analysing frame {index + 1} of ~{expected}")

        for decoded in probe:
            process(decoded.index, decoded.time_s, decoded.image)
        probe.clear()
        last_image = None
        for decoded in frames_iter:
            process(decoded.index, decoded.time_s, decoded.image)
            last_image = decoded.image
        n_frames = len(times)
        if n_frames < reader.limits.min_frames:
            raise VideoError(f"{meta.name} has only {n_frames} frame(s); clip analysis needs at least "
                             f"{reader.limits.min_frames} to measure motion. For a single image, run the model on "
                             "the photo itself")
        if last_index % stride and last_image is not None:
            model.add(last_index, boxes.crop(last_image, model.size))  # the last frame anchors the interpolation
        if reader.truncated_at is not None:
            warnings.append(f"the stream is corrupt after frame {reader.truncated_at}; only the frames before it "
                            "were analysed")
        scale = reader.scale
    model.flush()
    _report(progress, 0.95, "spotting expressions")

    probs = model.per_frame(n_frames, len(class_names))
    region_signal = tracker.finish()
    combined = tracker.combine(region_signal)
    intervals = spot_intervals(combined, clip_fps, spotting)
    frames = _frame_table(times, np.asarray(box_rows) / scale, probs, class_names, combined, region_signal)
    intervals = _label_intervals(intervals, probs, class_names)
    for row in intervals.itertuples():
        frames.loc[row.onset_frame:row.offset_frame, "in_interval"] = True
    prediction = _clip_prediction(intervals, probs, class_names, clip_fps)
    meta = ClipMeta(meta.name, clip_fps, meta.width, meta.height, n_frames, n_frames / clip_fps, meta.sha256)
    loaded = getattr(predictor, "loaded", None)
    analysis = ClipAnalysis(
        meta=meta,
        frames=frames,
        intervals=intervals,
        prediction=prediction,
        class_names=class_names,
        model={
            "preset": card.preset, "checkpoint": str(getattr(loaded, "path", "") or ""),
            "sha256": getattr(loaded, "sha256", ""), "synthetic": bool(card.synthetic),
            "training_data": card.training_data, "sample_mode": card.sample_mode,
            "label_scheme": card.label_scheme, "backend": getattr(predictor, "backend", ""),
        },
        settings={
            "face": face, "face_source": boxes.source, "inference_stride": stride, "working_max_side": max_side,
            "motion_reference_s": motion_config.reference_s, "spotting": spotting.__dict__.copy(),
        },
        warnings=warnings,
    )
    _report(progress, 1.0, "done")
    return analysis


def _frame_table(times: list[float], boxes: np.ndarray, probs: np.ndarray, class_names: list[str],
                 combined: np.ndarray, regions: np.ndarray) -> pd.DataFrame:
    n = len(times)
    columns: dict[str, Any] = {
        "frame": np.arange(n, dtype=np.int64),
        "time_s": np.asarray(times, dtype=np.float64),
        "face_x0": boxes[:, 0], "face_y0": boxes[:, 1], "face_x1": boxes[:, 2], "face_y1": boxes[:, 3],
    }
    for column, values in zip(probability_columns(class_names), probs.T):
        columns[column] = values
    top = probs.argmax(axis=1)
    columns["pred_label"] = np.asarray(class_names, dtype=object)[top]
    columns["confidence"] = probs[np.arange(n), top]
    columns["motion"] = combined.astype(np.float64)
    for position, name in enumerate(REGIONS):
        columns[f"motion_{name}"] = regions[:, position].astype(np.float64)
    columns["in_interval"] = np.zeros(n, dtype=bool)
    return pd.DataFrame(columns)


def _label_intervals(intervals: pd.DataFrame, probs: np.ndarray, class_names: list[str]) -> pd.DataFrame:
    labels, confidences = [], []
    for row in intervals.itertuples():
        mean = probs[row.onset_frame:row.offset_frame + 1].mean(axis=0)
        labels.append(class_names[int(mean.argmax())])
        confidences.append(float(mean.max()))
    out = intervals.copy()
    position = out.columns.get_loc("kind") + 1
    out.insert(position, "label", pd.Series(labels, dtype=object, index=out.index))
    out.insert(position + 1, "confidence", pd.Series(confidences, dtype="float64", index=out.index))
    return out


def _clip_prediction(intervals: pd.DataFrame, probs: np.ndarray, class_names: list[str], fps: float) -> ClipPrediction:
    if len(intervals):
        best = intervals.loc[intervals["peak_motion"].idxmax()]
        half = max(1, int(round(_APEX_HALF_WINDOW_S * fps)))
        start = max(int(best.onset_frame), int(best.apex_frame) - half)
        stop = min(int(best.offset_frame), int(best.apex_frame) + half)
        source = "apex-window"
    else:
        start, stop, source = 0, len(probs) - 1, "whole-clip"
    mean = probs[start:stop + 1].mean(axis=0)
    top = int(mean.argmax())
    return ClipPrediction(class_names[top], float(mean[top]),
                          {name: float(value) for name, value in zip(class_names, mean)}, (start, stop), source)
