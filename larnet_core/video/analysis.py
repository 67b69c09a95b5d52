"""Clip analysis: per-frame face tracks, class probabilities, facial motion, spotted intervals, one clip label.

The pipeline streams the clip once (memory does not grow with its length beyond a table row per frame and face):

1. decode each frame at a working size (long side ``max(640, 4 x model input)``);
2. track every face in every frame (:class:`~larnet_core.face.tracking.FaceTracker`: MediaPipe Face Mesh by
   default, with stable face ids, dense landmarks and shot cuts);
3. per face, make the model input on the one road (:class:`~larnet_core.face.inputs.InputBuilder`: similarity
   alignment from the key points, smoothed) and run the model in batches on every frame up to
   ``max_infer_fps`` frames a second (frames in between get probabilities interpolated from their neighbours
   within the same face segment);
4. measure facial motion on the aligned face with head motion removed (:mod:`larnet_core.video.motion`) and spot
   intervals (:mod:`larnet_core.video.spotting`) inside face segments only: no interval starts, ends or spans
   frames without the face, frames where the head moves, or a shot cut;
5. label each interval and the clip from the model's probabilities: the clip's prediction averages the frames
   around the apex of the interval with the most motion, or all face frames when nothing was spotted.

By default the analysis follows the main face (the largest, steadiest track) and warns when others were present;
``all_faces=True`` gives rows and intervals for every track. Frames without the followed face keep their row with
``face_found`` False and empty (NaN) box, probabilities and motion.

Face modes: ``auto`` (the best tracker installed: MediaPipe, else MTCNN, else Haar; a clip where no face is ever
found is analysed whole only when its frames are small face-filled crops, long side at most 400 px, with a
warning), ``mediapipe``, ``mtcnn``, ``haar`` (a face is required: :class:`~larnet_core.errors.NoFaceError`
without one), ``none`` (the whole frame is the face).
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd

from larnet_core.errors import Cancelled, NoFaceError, VideoError
from larnet_core.face.inputs import (
    FACE_MODES,
    INPUT_COLUMNS,
    InputConfig,
    ModelInput,
    alignment_record,
    check_face_mode,
    input_from_record,
)
from larnet_core.face.registry import no_face_message
from larnet_core.face.tracking import FaceTracker, main_face_id, summarize_tracks
from larnet_core.result import (
    INTERVAL_AU_COLUMNS,
    FRAME_COLUMNS,
    AnalysisResult,
    ClipMeta,
    ClipPrediction,
    clip_prediction,
    frame_layout,
    label_intervals,
    model_provenance,
    probability_columns,
)
from larnet_core.video.limits import VideoLimits
from larnet_core.video.blinks import drop_blinks
from larnet_core.video.face_state import (FaceStateRows, cover_changing, face_state_columns, lanes_off_expressions,
                                          macro_sides, motion_reach, spotting_signals)
from larnet_core.video.interval_lanes import with_interval_readings
from larnet_core.video.recognise import interval_prediction, recognise_intervals
from larnet_core.video.motion import MotionConfig, MotionSample, samples_table
from larnet_core.video.pipeline import FaceStream
from larnet_core.video.prefetch import BackgroundBatches, Prefetcher
from larnet_core.video.reader import ClipSource, frame_at, open_clip
from larnet_core.video.spotting import SpottingParams, spot_expressions
from larnet_core.video.tracked_meshes import TrackedMeshes
from larnet_core.aus.names import AU_COLUMNS
from larnet_core.aus.reference_flow import sample_stride

__all__ = [
    "FACE_MODES",
    "ClipPrediction",
    "ClipAnalysis",
    "analyze_clip",
    "probability_columns",
    "FRAME_COLUMNS",
    "WHOLE_FRAME_MAX_SIDE",
    "working_max_side",
    "model_input_at",
    "input_at",
    "clip_prediction",
]

#: The result of a clip analysis: :class:`larnet_core.result.AnalysisResult` (one type for every analysis).
ClipAnalysis = AnalysisResult

log = logging.getLogger(__name__)

#: ``face="auto"`` analyses the whole frame when no face is found and the frame's long side is at most this.
WHOLE_FRAME_MAX_SIDE = 400
ProgressCallback = Callable[[float, str], None]
_SEGMENTS_PER_FACE = 1_000_000


def working_max_side(input_size: int) -> int:
    """The long side frames are decoded at for analysis: enough for the face at the model's input size."""
    return max(640, 4 * int(input_size))


def model_input_at(frames: pd.DataFrame, source: ClipSource, frame_index: int, config: InputConfig,
                   max_side: int, *, fps: float | None = None, face_id: int | None = None) -> ModelInput:
    """Rebuild the model input that produced a frame's probabilities, from the clip and the analysis' table.

    Frames between inferred ones have interpolated probabilities; their input is the nearest inferred frame's of
    the same face, whose index the returned :attr:`ModelInput.frame_index` gives.

    Raises:
        ValueError: the face has no inferred frame (it was never in view).
        VideoError: the clip cannot be read.
    """
    rows = frames[frames["inferred"]] if "inferred" in frames else frames
    if face_id is not None and "face_id" in rows:
        rows = rows[rows["face_id"] == face_id]
    if rows.empty:
        raise ValueError("no frame of this face was shown to the model")
    row = rows.iloc[int((rows["frame"] - frame_index).abs().to_numpy().argmin())]
    image = frame_at(source, int(row["frame"]), fps=fps, max_side=max_side)
    reference_image = reference_row = None
    if config.sample_mode == "flow":
        reference_index = int(row["input_reference"])
        same = frames[(frames["frame"] == reference_index) & (frames["face_id"] == row["face_id"])]
        reference_row = same.iloc[0]
        reference_image = frame_at(source, reference_index, fps=fps, max_side=max_side)
    return input_from_record(image, row, config, reference_image, reference_row)


def input_at(result: AnalysisResult, source: ClipSource, frame_index: int, face_id: int | None = None) -> ModelInput:
    """The exact model input behind a frame's probabilities, rebuilt from the clip and the analysis' own settings
    (its input size, sample mode and working size, whatever model is loaded now). This is the one way anything
    rebuilds a row's input: the /clip heat map, the attention page, tests.

    Args:
        result: the analysis.
        source: the analysed clip (the same file, bytes or folder).
        frame_index: the frame; a frame between inferred ones gives the nearest inferred frame's input.
        face_id: the face (default the main face's table).

    Raises:
        ValueError: the face has no inferred frame.
        VideoError: the clip cannot be read.
    """
    size = int(result.settings.get("input_size", 0) or result.model.get("input_size", 112) or 112)
    config = InputConfig(size=size, sample_mode=str(result.model.get("sample_mode", "apex") or "apex"))
    table = result.tables.get(face_id, result.frames) if face_id is not None else result.main
    max_side = int(result.settings.get("working_max_side", working_max_side(size)))
    return model_input_at(table, source, frame_index, config, max_side, fps=result.meta.fps, face_id=face_id)


def _with_warnings(analysis: ClipAnalysis, warnings: list[str], face_mode: str) -> ClipAnalysis:
    """The analysis with earlier warnings first and the face mode the caller asked for recorded."""
    analysis.warnings[:0] = warnings
    analysis.settings["face"] = face_mode
    return analysis


# ---------------------------------------------------------------------------------------------------------------
class _FaceRows:
    """Everything kept about one face track: per-frame box, confidence, input record, motion samples."""

    def __init__(self) -> None:
        self.boxes: dict[int, tuple[float, float, float, float]] = {}
        self.confidence: dict[int, float] = {}
        self.records: dict[int, dict[str, Any]] = {}
        self.samples: list[MotionSample] = []
        self.landmarks: dict[int, np.ndarray] = {}
        self.state = FaceStateRows()  # head pose and mesh measures (action units)


class _BatchedModel:
    """Collects model inputs and runs them in batches on a background thread (flow images are made there too);
    :meth:`flush` waits for all and keeps the probabilities by (face, frame)."""

    def __init__(self, predictor, batch_size: int, background: bool = True) -> None:
        self.predictor, self.batch_size = predictor, batch_size
        self._pending: list[tuple[int, int, ModelInput]] = []
        self._batches: BackgroundBatches = BackgroundBatches(self._run, inline=not background)
        self.results: dict[tuple[int, int], np.ndarray] = {}

    def add(self, face_id: int, index: int, model_input: ModelInput) -> None:
        self._pending.append((face_id, index, model_input))
        if len(self._pending) >= self.batch_size:
            self._batches.submit(self._pending)
            self._pending = []

    def _run(self, batch: list[tuple[int, int, ModelInput]]) -> list[tuple[int, int, np.ndarray]]:
        probs = self.predictor.predict_proba([item.image for _, _, item in batch], batch_size=self.batch_size)
        return [(face_id, index, np.asarray(row, dtype=np.float64)) for (face_id, index, _), row in zip(batch, probs)]

    def flush(self) -> None:
        """Run what is left and wait for every batch."""
        if self._pending:
            self._batches.submit(self._pending)
            self._pending = []
        for done in self._batches.results():
            for face_id, index, row in done:
                self.results[(face_id, index)] = row

    def close(self) -> None:
        self._batches.close()


def _report(progress: ProgressCallback | None, fraction: float, message: str) -> None:
    if progress is not None:
        progress(float(min(max(fraction, 0.0), 1.0)), message)


def build_tracker(face: str, fps: float, detector=None, max_faces: int = 4):
    """The face tracker for a face mode (``None`` for ``none``)."""
    if face == "none":
        return None
    backend = "auto" if face == "auto" else face
    return FaceTracker(backend, fps=fps, max_faces=max_faces, detector=detector)


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
    all_faces: bool = False,
    max_faces: int = 4,
    overlap: bool = True,
) -> ClipAnalysis:
    """Analyse one clip end to end.

    Args:
        source: video file, ``.zip`` of frames, frame folder, or the bytes / binary file object of one.
        predictor: a :class:`larnet_core.inference.Predictor`.
        face: ``auto`` | ``mediapipe`` | ``mtcnn`` | ``haar`` | ``none`` (see the module docstring).
        progress: called as ``progress(fraction 0..1, message)`` while the clip is analysed.
        cancel: when set (from another thread), the analysis stops with :class:`~larnet_core.errors.Cancelled`.
        limits: safety limits (:class:`VideoLimits`); defaults apply when None.
        fps: frame rate of an image sequence (default 200, CASME II's); ignored for video files.
        name: how to name the clip when ``source`` is bytes.
        detector: a ready :class:`~larnet_core.face.FaceDetector` for the tracker instead of its backend's own.
        max_infer_fps: run the model on at most this many frames per second of video (None: every frame).
        batch_size: frames per model call.
        spotting: spotting settings (:class:`SpottingParams`).
        motion: motion-signal settings (:class:`MotionConfig`).
        all_faces: rows and intervals for every face track, not only the main face.
        max_faces: faces tracked at once.
        overlap: decode ahead on one thread and run the model on another while this one tracks faces and measures
            motion (about 1.4 cores busy); False does everything on the calling thread (one core: what a batch
            worker per core wants).

    Returns:
        A :class:`ClipAnalysis`.

    Raises:
        VideoError: unreadable, corrupt, too short or over-limit input.
        NoFaceError: no face in any frame (``face`` other than ``none``; ``auto`` on large frames).
        Cancelled: ``cancel`` was set.
    """
    check_face_mode(face)
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    class_names = list(predictor.card.class_names)
    spotting = spotting or SpottingParams()
    motion_config = motion or MotionConfig()
    # Every face frame's tracked mesh, kept (on disk) until the intervals' action units are read from it.
    with TrackedMeshes() as meshes:
        streamed = _stream_clip(source, predictor, face, motion_config, progress=progress, cancel=cancel, limits=limits,
                                fps=fps, name=name, detector=detector, max_infer_fps=max_infer_fps,
                                batch_size=batch_size, max_faces=max_faces, overlap=overlap, meshes=meshes)
        warnings = list(streamed.warnings)
        if streamed.tracker is not None and not any(r.boxes for r in streamed.rows.values()):
            warnings.append(_no_face_anywhere(streamed, face))
            rerun = analyze_clip(source, predictor, face="none", progress=progress, cancel=cancel, limits=limits,
                                 fps=fps, name=name, max_infer_fps=max_infer_fps, batch_size=batch_size,
                                 spotting=spotting, motion=motion, all_faces=all_faces, max_faces=max_faces,
                                 overlap=overlap)
            return _with_warnings(rerun, warnings, face_mode=face)
        _report(progress, 0.95, "spotting expressions")
        faces = _faces_table(streamed.tracked_frames, streamed.meta.fps)
        followed, main_id = _follow_faces(streamed, faces, class_names, all_faces, warnings, motion_config)
        tables, intervals = _spot_faces(followed, streamed.meta.fps, spotting, class_names, motion_config)
        _lanes_off_intervals(tables, streamed.rows)
        main_table = tables.get(main_id, next(iter(tables.values())))
        intervals, prediction = _recognise_and_predict(
            source, predictor, streamed, tables, main_table, intervals, main_id, all_faces=all_faces,
            motion_config=motion_config, limits=limits, meshes=meshes)
    if streamed.tracker is not None:
        warnings.extend(_view_warnings(main_table, streamed.cuts))
    analysis = ClipAnalysis(
        meta=_clip_meta(streamed),
        tables=tables,
        intervals=intervals,
        prediction=prediction,
        class_names=class_names,
        model=model_provenance(predictor),
        settings=_settings_record(streamed, predictor, face=face, all_faces=all_faces, main_id=main_id,
                                  motion_config=motion_config, spotting=spotting),
        warnings=warnings,
        faces=faces,
    )
    _report(progress, 1.0, "done")
    return analysis


def _recognise_and_predict(source: ClipSource, predictor, streamed: _Streamed, tables: dict[int, pd.DataFrame],
                           main_table: pd.DataFrame, intervals: pd.DataFrame, main_id: int, *, all_faces: bool,
                           motion_config: MotionConfig, limits: VideoLimits | None,
                           meshes: TrackedMeshes) -> tuple[pd.DataFrame, ClipPrediction]:
    """Spot, then recognise (step 5): each interval's label from its own onset -> apex input, and its action
    units; the clip's prediction from the main face's strongest interval (the mean over the clip only when nothing
    was spotted). Returns every interval in onset order and the clip's prediction."""
    class_names = list(predictor.card.class_names)
    input_config = InputConfig.for_card(predictor.card, reference_s=motion_config.reference_s,
                                        motion_size=motion_config.size)
    # Intervals by the table they were spotted in: each face's own, or all of them in the main face's view.
    groups = ({face_id: intervals[intervals["face_id"] == face_id] for face_id in tables} if all_faces
              else {main_id: intervals})
    recognised, main_intervals, main_probabilities = [], intervals.iloc[:0], {}
    for table_id, face_intervals in groups.items():
        if len(face_intervals):
            face_intervals, probabilities, readings = recognise_intervals(
                face_intervals.reset_index(drop=True), tables[table_id], source, predictor, input_config,
                # The clip's own frame rate (a video file's, not the caller's image-sequence one): the neutral
                # frame's lead is 0.2 s of it, as live counts it.
                class_names, fps=streamed.meta.fps, max_side=streamed.max_side, meshes=meshes, limits=limits,
                sha256=streamed.meta.sha256, held_baselines={
                    face_id: kept.state.held_baseline for face_id, kept in streamed.rows.items()
                    if kept.state.held_baseline is not None and np.isfinite(kept.state.held_baseline).any()})
            _put_interval_readings(tables[table_id], readings, streamed.meta.fps)
            if table_id == main_id:
                main_intervals, main_probabilities = face_intervals, probabilities
        recognised.append(face_intervals)
    intervals = pd.concat(recognised, ignore_index=True) if len(recognised) > 1 else recognised[0]
    if len(intervals) > 1:
        intervals = intervals.sort_values(["onset_frame", "face_id"], kind="stable").reset_index(drop=True)
    prediction = (interval_prediction(main_intervals, main_probabilities, class_names)
                  or clip_prediction(main_intervals, main_table, class_names, streamed.meta.fps))
    return intervals, prediction


def _lanes_off_intervals(tables: dict[int, pd.DataFrame], rows: dict[int, _FaceRows]) -> None:
    """Make each face's AU lanes again, in place, once its intervals are spotted: their frames set no neutral and
    are no flow reference (:func:`~larnet_core.video.face_state.lanes_off_expressions`). A face that holds an
    expression for most of a short clip has it as its running neutral, and its resting face read against it."""
    columns = list(AU_COLUMNS)
    for table in tables.values():
        if not table["in_interval"].any() or not all(name in table.columns for name in columns):
            continue
        expressive = table["in_interval"].to_numpy(dtype=bool)
        shown = table["face_id"].to_numpy()
        for face_id in np.unique(shown[table["face_found"].to_numpy(dtype=bool)]):
            kept = rows.get(int(face_id))
            mine = shown == face_id
            # Only this face's own intervals: in the main face's view another face may be shown, and expressing.
            lanes = None if kept is None else lanes_off_expressions(kept.state, expressive & mine)
            if lanes is not None:
                table.loc[mine, columns] = lanes[mine]


def _put_interval_readings(table: pd.DataFrame, readings: list, fps: float) -> None:
    """Put a face's intervals' per-frame readings into its AU lanes, in place
    (:func:`~larnet_core.video.interval_lanes.with_interval_readings`; frames where a cover arrives or leaves keep
    their lanes): the main face's table is already shared."""
    columns = list(AU_COLUMNS)
    if not readings or not all(name in table.columns for name in columns):
        return
    blanked = cover_changing(table["occluded"].fillna(""), fps) if "occluded" in table.columns else None
    lanes = with_interval_readings(table[columns].to_numpy(dtype=np.float64), readings, blanked)
    for position, name in enumerate(columns):
        table[name] = lanes[:, position]


def _clip_meta(streamed: _Streamed) -> ClipMeta:
    """The clip's metadata, with the number of frames actually read (the container's count may differ)."""
    meta, n_frames = streamed.meta, len(streamed.times)
    return ClipMeta(meta.name, meta.fps, meta.width, meta.height, n_frames, n_frames / meta.fps, meta.sha256)


def _settings_record(streamed: _Streamed, predictor, *, face: str, all_faces: bool, main_id: int,
                     motion_config: MotionConfig, spotting: SpottingParams) -> dict[str, Any]:
    """What the result records of how it was made: face mode and tracker, the followed face, inference stride and
    working size, the model's input size, and the motion and spotting settings."""
    clip_fps = streamed.meta.fps
    return {
        "face": face, "face_source": "tracked" if streamed.tracker is not None else "whole-frame",
        "tracker": getattr(streamed.tracker, "backend", "none"), "all_faces": bool(all_faces),
        "main_face_id": main_id, "inference_stride": streamed.stride, "working_max_side": streamed.max_side,
        "working_scale": streamed.scale, "input_size": int(predictor.card.input_size),
        "motion_reference_s": motion_config.reference_s, "head_max_px": motion_config.head_max_px,
        "max_residual_px": motion_config.max_residual_px,
        "motion_frame_step": motion_config.frame_step(clip_fps),
        "spotting": spotting.__dict__.copy(),
    }


@dataclass
class _Streamed:
    """What one pass over a clip gave: every face's rows, the model's probabilities, and the frames' times, cuts
    and face counts."""

    meta: ClipMeta
    tracker: Any
    stride: int
    max_side: int
    scale: float = 1.0
    rows: dict[int, _FaceRows] = field(default_factory=dict)
    probabilities: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)
    times: list[float] = field(default_factory=list)
    cuts: list[bool] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    seen_by_frame: list[list[int]] = field(default_factory=list)
    tracked_frames: list = field(default_factory=list)
    frame_size: tuple[int, int] | None = None
    warnings: list[str] = field(default_factory=list)
    meshes: TrackedMeshes | None = None  # every face frame's tracked mesh (None: not kept)


def _stream_clip(source: ClipSource, predictor, face: str, motion_config: MotionConfig, *,
                 progress: ProgressCallback | None, cancel: threading.Event | None, limits: VideoLimits | None,
                 fps: float | None, name: str | None, detector, max_infer_fps: float | None, batch_size: int,
                 max_faces: int, overlap: bool, meshes: TrackedMeshes | None = None) -> _Streamed:
    """Decode the clip once, track every face, make each face's model input and motion, and run the model in
    batches (steps 1 to 3 of the module docstring)."""
    card = predictor.card
    input_config = InputConfig.for_card(card, reference_s=motion_config.reference_s, motion_size=motion_config.size)
    _report(progress, 0.0, "opening the clip")
    max_side = working_max_side(card.input_size)
    with contextlib.ExitStack() as stack:
        reader = stack.enter_context(open_clip(source, limits, fps=fps, max_side=max_side, name=name))
        meta = reader.meta
        expected = max(meta.frame_count, 1)
        stride = 1 if not max_infer_fps else max(1, math.ceil(meta.fps / max_infer_fps - 1e-9))
        tracker = build_tracker(face, meta.fps, detector, max_faces)
        streamed = _Streamed(meta, tracker, stride, max_side, meshes=meshes)
        stream = FaceStream(input_config, meta.fps, tracker, motion_config, max_faces=max_faces)
        model = stack.enter_context(contextlib.closing(_BatchedModel(predictor, batch_size, background=overlap)))
        # Decoding runs ahead on its own thread; it is stopped before the reader closes.
        decoded_frames = (stack.enter_context(Prefetcher(reader.frames(), depth=8, name="decode")) if overlap
                          else reader.frames())
        rows = streamed.rows
        for decoded in decoded_frames:
            index, image = decoded.index, decoded.image
            if cancel is not None and cancel.is_set():
                raise Cancelled(f"analysis of {meta.name} was cancelled at frame {index}")
            streamed.frame_size = image.shape[:2]
            # A face's first frame after a gap is always inferred, so interpolation never spans an absence.
            step = stream.step(index, image, infer=True if index % stride == 0 else _due(rows, index))
            _keep_step(streamed, step, decoded.time_s, model, image)
            if index % 16 == 0:
                _report(progress, 0.02 + 0.9 * min(index / expected, 1.0), f"analysing frame {index + 1} of ~{expected}")
        n_frames = len(streamed.times)
        if n_frames < reader.limits.min_frames:
            raise VideoError(f"{meta.name} has only {n_frames} frame(s); clip analysis needs at least "
                             f"{reader.limits.min_frames} to measure motion. For a single image, run the model on "
                             "the photo itself")
        for face_id, samples in stream.finish().items():
            rows.setdefault(face_id, _FaceRows()).samples.extend(samples)
        model.flush()
        streamed.probabilities = model.results
        shortfall = reader.shortfall_warning(n_frames)
        if shortfall is not None:
            streamed.warnings.append(shortfall)
        streamed.scale = reader.scale
    return streamed


def _keep_step(streamed: _Streamed, step, time_s: float, model: _BatchedModel, image: np.ndarray) -> None:
    """Keep one frame's step: its time, cut and faces; each face's box, motion samples and input record, its
    model input queued for the model, and on the frames its action units are read from the flow, its crop."""
    index = step.index
    sampled = index % sample_stride(streamed.meta.fps) == 0
    streamed.times.append(time_s)
    streamed.cuts.append(step.cut)
    streamed.counts.append(step.faces_in_frame)
    streamed.seen_by_frame.append([f.face_id for f in step.faces])
    streamed.tracked_frames.append(step.light())
    rows = streamed.rows
    meshes = streamed.meshes
    for face_id, samples in step.orphan_samples.items():
        rows.setdefault(face_id, _FaceRows()).samples.extend(samples)
    for found in step.faces:
        kept = rows.setdefault(found.face_id, _FaceRows())
        kept.boxes[index] = found.box
        kept.confidence[index] = found.confidence
        kept.samples.extend(found.samples)
        kept.state.add(index, found.measure, found.appearance)
        if sampled and found.mesh3d is not None and found.measure is not None:
            kept.state.add_crop(index, image, found.mesh3d)
        if meshes is not None:
            meshes.add(found.face_id, index, found.mesh3d)
        if found.model_input is not None:
            model.add(found.face_id, index, found.model_input)
            kept.records[index] = found.model_input.to_record()
        elif found.matrix is not None:  # the alignment of every face frame (flow references need it)
            kept.records[index] = alignment_record(found.matrix, found.aligned)


def _no_face_anywhere(streamed: _Streamed, face: str) -> str:
    """The warning of a clip analysed whole because no face was found; NoFaceError where that is not allowed."""
    height, width = streamed.frame_size or (0, 0)
    if face != "auto" or max(height, width) > WHOLE_FRAME_MAX_SIDE:
        raise NoFaceError(no_face_message(f"any of the {len(streamed.times)} frames of {streamed.meta.name}"))
    return (f"no face found in any frame; the {width}x{height} frames were analysed whole, as face crops (pass "
            "face='haar' or 'mediapipe' to require a face)")


def _follow_faces(streamed: _Streamed, faces: pd.DataFrame, class_names: list[str], all_faces: bool,
                  warnings: list[str], motion_config: MotionConfig) -> tuple[dict[int, pd.DataFrame], int]:
    """One table per followed face (step 4's input): every face's with ``all_faces``, else one following the main
    face (the best-ranked face in view on each frame). Returns the tables and the main face's id."""
    main_id = int(faces.loc[faces["main"], "face_id"].iloc[0]) if len(faces) else 0
    per_face = {face_id: _frame_table(face_id, streamed.rows.get(face_id, _FaceRows()), streamed.probabilities,
                                      streamed.times, streamed.cuts, streamed.counts, streamed.scale, class_names,
                                      motion_config, streamed.meta.fps)
                for face_id in sorted(streamed.rows)}
    if not per_face:  # face="none" on a clip with no frame (cannot happen past the frame check) or no tracks
        per_face = {0: _frame_table(0, _FaceRows(), streamed.probabilities, streamed.times, streamed.cuts,
                                    streamed.counts, streamed.scale, class_names, motion_config, streamed.meta.fps)}
    if all_faces:
        return per_face, main_id
    ranking = faces.sort_values(["main", "score"], ascending=False)["face_id"].tolist() if len(faces) else [0]
    main_view = _follow_main(per_face, [fid for fid in ranking if fid in per_face] or list(per_face))
    shown = sorted(int(v) for v in main_view.loc[main_view["face_found"], "face_id"].unique())
    others = [fid for fid in per_face if fid not in shown]
    if len(shown) > 1:
        warnings.append(f"the followed face changed: ids {', '.join(map(str, shown))} were each the main face "
                        "while in view (a person who leaves and comes back, or a cut, gets a new id)")
    if others:
        together = sum(1 for ids in streamed.seen_by_frame if len(ids) > 1)
        warnings.append(f"{len(per_face)} faces were tracked; the analysis follows the main face ({together} "
                        "frame(s) showed several faces). Analyse every face with all_faces / --all-faces")
    return {main_id: main_view}, main_id


def _spot_faces(followed: dict[int, pd.DataFrame], fps: float, spotting: SpottingParams, class_names: list[str],
                motion_config: MotionConfig) -> tuple[dict[int, pd.DataFrame], pd.DataFrame]:
    """Spot and label every followed face's intervals (steps 4 and 5); all faces' intervals in onset order."""
    tables, interval_tables = {}, []
    for face_id, table in followed.items():
        tables[face_id], spotted = _spot_face(table, fps, spotting, class_names, motion_config)
        interval_tables.append(spotted)
    intervals = pd.concat(interval_tables, ignore_index=True) if len(interval_tables) > 1 else interval_tables[0]
    if len(intervals) > 1:
        intervals = intervals.sort_values(["onset_frame", "face_id"], kind="stable").reset_index(drop=True)
    return tables, intervals


def _view_warnings(main_table: pd.DataFrame, cuts: list[bool]) -> list[str]:
    """What a tracked clip's main face table should tell the user: frames without the face, shot cuts."""
    out = []
    missing = int((~main_table["face_found"]).sum())
    if missing:
        out.append(f"the face was not in view in {missing} of {len(main_table)} frames; those frames have no "
                   "probabilities or motion")
    n_cuts = int(np.sum(cuts))
    if n_cuts:
        out.append(f"{n_cuts} shot cut(s) detected; no interval crosses one")
    return out


def _due(rows: dict[int, _FaceRows], index: int) -> bool | set[int]:
    """Between strided frames, infer only faces that are new or back after a gap (their first frame)."""
    due = {fid for fid, kept in rows.items() if (index - 1) not in kept.boxes}
    return due if due else False


def _interpolate(known: dict[int, np.ndarray], present: np.ndarray, segments: np.ndarray,
                 n_classes: int) -> np.ndarray:
    """Probabilities for every frame where the face is present: inferred frames as computed, the rest linearly
    interpolated from inferred frames of the same segment (held at the segment's ends) and renormalised."""
    out = np.full((len(present), n_classes), np.nan)
    if not known:
        return out
    keys = np.array(sorted(known))
    for segment in np.unique(segments[present]):
        positions = np.flatnonzero(present & (segments == segment))
        inside = keys[(keys >= positions[0]) & (keys <= positions[-1])]
        if not len(inside):
            nearest = keys[np.argmin(np.abs(keys - positions[0]))]
            out[positions] = known[int(nearest)]
            continue
        block = np.stack([known[int(k)] for k in inside])
        for c in range(n_classes):
            out[positions, c] = np.interp(positions, inside, block[:, c])
    total = out.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore"):
        out = out / total
    return out


def _follow_main(per_face: dict[int, pd.DataFrame], ranking: list[int]) -> pd.DataFrame:
    """One row per frame following the main face: each frame takes the row of the best-ranked face in view (the
    main track first), so a person who walks out and back in, or returns after a cut with a new id, is still
    followed. Segments of different faces never join (each face's segment ids are kept apart)."""
    out = per_face[ranking[0]].copy()
    taken = out["face_found"].to_numpy().copy()
    for face_id in ranking[1:]:
        other = per_face[face_id]
        fill = other["face_found"].to_numpy() & ~taken
        if fill.any():
            out.loc[fill, :] = other.loc[fill, :].to_numpy()
            taken |= fill
    return out.astype(per_face[ranking[0]].dtypes.to_dict())


def _faces_table(tracked_frames: list, fps: float) -> pd.DataFrame:
    """One row per track (:func:`~larnet_core.face.tracking.summarize_tracks`), with its seconds in view and
    ``main`` marking the face the analysis follows (:func:`~larnet_core.face.tracking.main_face_id`)."""
    table = summarize_tracks(tracked_frames)
    table.insert(4, "seconds", table["n_frames"] / fps)
    table["main"] = table["face_id"] == main_face_id(tracked_frames)
    return table


def _frame_table(face_id: int, kept: _FaceRows, results: dict[tuple[int, int], np.ndarray], times: list[float],
                 cuts: list[bool], counts: list[int], scale: float, class_names: list[str],
                 motion_config: MotionConfig, fps: float) -> pd.DataFrame:
    n = len(times)
    present = np.zeros(n, dtype=bool)
    boxes = np.full((n, 4), np.nan)
    confidence = np.full(n, np.nan)
    for index, box in kept.boxes.items():
        if index < n:
            present[index] = True
            boxes[index] = np.asarray(box) / scale
            confidence[index] = kept.confidence.get(index, np.nan)
    motion = samples_table(kept.samples, n, present)
    segments = np.asarray(motion["segment"])
    # Segments come from the motion engine; a face frame it never closed (should not happen) gets its own.
    segments = np.where(present & (segments < 0), -2, segments)
    # Each face's segments get ids of their own, so a view that follows several faces never joins two.
    motion["segment"] = np.where(segments >= 0, segments + face_id * _SEGMENTS_PER_FACE, -1)
    known = {index: probs for (fid, index), probs in results.items() if fid == face_id and index < n}
    probs = _interpolate(known, present, segments, len(class_names))
    columns: dict[str, Any] = {
        "frame": np.arange(n, dtype=np.int64),
        "time_s": np.asarray(times, dtype=np.float64),
        "face_found": present,
        "face_id": np.where(present, face_id, -1).astype(np.int64),
        "faces_in_frame": np.asarray(counts, dtype=np.int64),
        "shot_cut": np.asarray(cuts, dtype=bool),
        "face_x0": boxes[:, 0], "face_y0": boxes[:, 1], "face_x1": boxes[:, 2], "face_y1": boxes[:, 3],
        "face_confidence": confidence,
    }
    for column, values in zip(probability_columns(class_names), probs.T):
        columns[column] = values
    has = np.isfinite(probs).all(axis=1)
    top = np.where(has, np.nan_to_num(probs).argmax(axis=1), 0)
    columns["pred_label"] = np.where(has, np.asarray(class_names, dtype=object)[top], None)
    columns["confidence"] = np.where(has, np.nan_to_num(probs)[np.arange(n), top], np.nan)
    inferred = np.zeros(n, dtype=bool)
    for index in known:
        inferred[index] = True
    columns["inferred"] = inferred
    for key, values in motion.items():
        columns[key] = values
    columns["motion"] = np.where(present, columns["motion"], np.nan)
    columns["motion_macro"] = np.where(present, columns["motion_macro"], np.nan)
    columns.update(face_state_columns(kept.state, columns, n, fps, motion_config.max_residual_px,
                                      motion_config.macro_size / motion_config.size,
                                      reach=motion_reach(motion_config, fps)))
    columns["in_interval"] = np.zeros(n, dtype=bool)
    record_columns = {name: np.full(n, np.nan) for name in INPUT_COLUMNS[:4]}
    reference = np.full(n, -1, dtype=np.int64)
    aligned = np.zeros(n, dtype=bool)
    for index, record in kept.records.items():
        if index < n:
            for name in INPUT_COLUMNS[:4]:
                record_columns[name][index] = record[name]
            reference[index] = record["input_reference"]
            aligned[index] = record["input_aligned"]
    columns.update(record_columns)
    columns["input_reference"] = reference
    columns["input_aligned"] = aligned
    table = pd.DataFrame(columns)
    return table[[c for c in frame_layout(class_names) if c in table.columns]]


def _spot_face(table: pd.DataFrame, fps: float, spotting: SpottingParams, class_names: list[str],
               motion_config: MotionConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Spot one face's table (both scales, frames whose head movement could not be removed left out), label the
    intervals by the mean of their frames' outputs (until each is recognised on its own input), and mark the rows
    inside them."""
    # Excluded frames blanked; head movement is not.
    micro_signal, macro_signal = spotting_signals(table, motion_config)
    spotted = spot_expressions(micro_signal, macro_signal, fps, spotting, table["segment"].to_numpy(),
                               macro_sides(table, motion_config, fps))
    spotted = drop_blinks(spotted, table, fps, spotting.min_motion)  # a blink is not an expression
    spotted = label_intervals(spotted, table[probability_columns(class_names)].to_numpy(), class_names)
    for row in spotted.itertuples():
        table.loc[row.onset_frame:row.offset_frame, "in_interval"] = True
    ids = table["face_id"].to_numpy()
    spotted.insert(0, "face_id", pd.Series([int(ids[int(r.apex_frame)]) for r in spotted.itertuples()],
                                           dtype="int64", index=spotted.index))
    for column in INTERVAL_AU_COLUMNS:  # filled when each interval is recognised
        spotted[column] = pd.Series("", dtype=object, index=spotted.index)
    return table, spotted
