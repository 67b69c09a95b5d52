"""Spotting on long videos and its evaluation against annotated intervals (CAS(ME)^2 and its synthetic twin).

No model is involved: spotting uses only the facial motion signal (:mod:`larnet_core.video.motion`) and the
fixed :class:`~larnet_core.video.spotting.SpottingParams`, so the figure measures the baseline itself.
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from larnet_core.errors import Cancelled, VideoError
from larnet_core.video.limits import VideoLimits
from larnet_core.video.motion import MotionConfig, MotionTracker, face_patch
from larnet_core.video.reader import ClipSource, open_clip
from larnet_core.video.spotting import (
    SpottingParams,
    SpottingScores,
    match_intervals,
    spot_intervals,
)

__all__ = ["MotionTrace", "measure_motion", "spot_clip", "SpottingEvaluation", "evaluate_spotting",
           "truth_positions"]

#: CAS(ME)^2 records at 30 fps; its frame folders say nothing about the rate.
CASME2_LONG_FPS = 30.0


@dataclass
class MotionTrace:
    """A clip's motion signal: per region (``regions``, frames x 4) and combined (``combined``), at ``fps``."""

    regions: np.ndarray
    combined: np.ndarray
    fps: float
    face_source: str


def measure_motion(
    source: ClipSource,
    *,
    face: str = "auto",
    fps: float | None = None,
    limits: VideoLimits | None = None,
    motion: MotionConfig | None = None,
    detector=None,
    cancel: threading.Event | None = None,
) -> MotionTrace:
    """Stream a clip and measure its facial motion signal (the face found and re-detected as in analysis).

    Raises:
        VideoError, NoFaceError, Cancelled: as :func:`~larnet_core.video.analyze_clip`.
    """
    from larnet_core.video.analysis import _N_PROBE, FACE_MODES, _FaceBoxes

    if face not in FACE_MODES:
        raise VideoError(f"unknown face mode {face!r}; use one of {', '.join(FACE_MODES)}")
    if face != "none" and detector is None:
        from larnet_core.face import build_detector

        detector = build_detector("haar", find_eyes=True) if face in ("auto", "haar") else build_detector(face)
    config = motion or MotionConfig()
    warnings: list[str] = []
    with open_clip(source, limits, fps=fps, max_side=640) as reader:
        boxes = _FaceBoxes(face, detector, reader.meta.fps, reader.meta.name)
        tracker = MotionTracker(reader.meta.fps, config)
        frames = reader.frames()
        probe = [decoded for _, decoded in zip(range(_N_PROBE), frames)]
        if not probe:
            raise VideoError(f"{reader.meta.name} has no decodable frames; the file is corrupt or empty")
        boxes.start([d.image for d in probe], warnings)
        tracker.regions = boxes.regions
        for decoded in _chain(probe, frames):
            if cancel is not None and cancel.is_set():
                raise Cancelled(f"motion measurement of {reader.meta.name} was cancelled")
            if boxes.maybe_redetect(decoded.index, decoded.image):
                tracker.restart()
                tracker.regions = boxes.regions
            tracker.push(face_patch(decoded.image, boxes.box(decoded.image), config.size))
        regions = tracker.finish()
        return MotionTrace(regions, tracker.combine(regions), reader.meta.fps, boxes.source)


def _chain(first, rest):
    yield from first
    yield from rest


def spot_clip(source: ClipSource, *, params: SpottingParams | None = None, **kwargs) -> pd.DataFrame:
    """Spotted intervals of one clip (see :func:`~larnet_core.video.spotting.spot_intervals`); keyword
    arguments go to :func:`measure_motion`."""
    trace = measure_motion(source, **kwargs)
    return spot_intervals(trace.combined, trace.fps, params)


def truth_positions(record) -> list[tuple[int, int, str]]:
    """A long-video record's annotated intervals as 0-based inclusive frame positions ``(onset, offset, type)``.

    Frame numbers map through the record's frame list; for a record with only a video file, frame number 1
    is the first frame. An offset of 0 (CAS(ME)^2: "use the apex") becomes the apex.
    """
    numbers = list(record.frame_numbers)

    def position(number: int) -> int:
        if not numbers:
            return max(int(number) - 1, 0)
        at = bisect.bisect_left(numbers, int(number))
        return min(at, len(numbers) - 1)

    out = []
    for row in record.intervals.itertuples():
        onset = int(row.onset)
        offset = int(row.offset) if pd.notna(row.offset) and int(row.offset) > 0 else int(row.apex)
        out.append((position(onset), position(max(offset, onset)), str(row.type)))
    return out


@dataclass
class SpottingEvaluation:
    """Result of :func:`evaluate_spotting`.

    Attributes:
        scores: pooled over all videos and all expression types (MEGC's overall figure).
        micro: scores counting only micro-expression truth and spotted intervals of kind ``micro``.
        macro: the same for macro-expressions.
        per_video: subject, video, n_truth, n_spotted, hits, precision, recall, f1 per video.
        intervals: every spotted interval with its subject, video and whether it was a hit.
        params: the spotting settings used.
    """

    scores: SpottingScores
    micro: SpottingScores
    macro: SpottingScores
    per_video: pd.DataFrame
    intervals: pd.DataFrame
    params: SpottingParams

    def to_dict(self) -> dict:
        return {"overall": self.scores.to_dict(), "micro": self.micro.to_dict(), "macro": self.macro.to_dict(),
                "params": self.params.__dict__.copy(), "n_videos": int(len(self.per_video))}


def evaluate_spotting(
    records: Sequence,
    *,
    fps: float = CASME2_LONG_FPS,
    face: str = "auto",
    params: SpottingParams | None = None,
    motion: MotionConfig | None = None,
    iou: float = 0.5,
    limits: VideoLimits | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    cancel: threading.Event | None = None,
) -> SpottingEvaluation:
    """Spot every long video of a dataset and score the result at IoU >= ``iou``.

    Args:
        records: :class:`~larnet_core.data.LongVideoRecord` items (``load_dataset("casme2-long", root)``).
        fps: frame rate of frame folders (video files carry their own).
        face, motion, limits: as for :func:`measure_motion`.
        params: spotting settings; fixed defaults when None (never tune them on the evaluated set).
        progress: called as ``progress(videos done, videos total, name)``.
        cancel: stops the evaluation with :class:`~larnet_core.errors.Cancelled` when set.
    """
    from larnet_core.face import build_detector

    params = params or SpottingParams()
    detector = None
    if face != "none":
        detector = build_detector("haar", find_eyes=True) if face in ("auto", "haar") else build_detector(face)
    per_video, spotted_rows = [], []
    counts = {"all": [0, 0, 0], "micro": [0, 0, 0], "macro": [0, 0, 0]}  # hits, spotted, truth
    for number, record in enumerate(records):
        source = record.frames[0].parent if record.frames else record.video_path
        trace = measure_motion(source, face=face, fps=fps, limits=limits, motion=motion, detector=detector,
                               cancel=cancel)
        found = spot_intervals(trace.combined, trace.fps, params)
        predicted = [(int(r.onset_frame), int(r.offset_frame)) for r in found.itertuples()]
        truth = truth_positions(record)
        hits = match_intervals(predicted, [(a, b) for a, b, _ in truth], iou)
        hit_ids = {i for i, _, _ in hits}
        for kind in ("micro", "macro"):
            kind_pred = [p for p, r in zip(predicted, found.itertuples()) if r.kind == kind]
            kind_truth = [(a, b) for a, b, t in truth if t == kind]
            counts[kind][0] += len(match_intervals(kind_pred, kind_truth, iou))
            counts[kind][1] += len(kind_pred)
            counts[kind][2] += len(kind_truth)
        counts["all"][0] += len(hits)
        counts["all"][1] += len(predicted)
        counts["all"][2] += len(truth)
        video_scores = SpottingScores.from_counts(len(hits), len(predicted), len(truth), iou)
        per_video.append({"subject": record.subject, "video": record.video, "n_truth": len(truth),
                          "n_spotted": len(predicted), "hits": len(hits), "precision": video_scores.precision,
                          "recall": video_scores.recall, "f1": video_scores.f1})
        for i, row in enumerate(found.itertuples(index=False)):
            spotted_rows.append({"subject": record.subject, "video": record.video, **row._asdict(),
                                 "hit": i in hit_ids})
        if progress is not None:
            progress(number + 1, len(records), record.video)
    return SpottingEvaluation(
        scores=SpottingScores.from_counts(*counts["all"], iou=iou),
        micro=SpottingScores.from_counts(*counts["micro"], iou=iou),
        macro=SpottingScores.from_counts(*counts["macro"], iou=iou),
        per_video=pd.DataFrame(per_video, columns=["subject", "video", "n_truth", "n_spotted", "hits", "precision",
                                                   "recall", "f1"]),
        intervals=pd.DataFrame(spotted_rows),
        params=params,
    )
