"""Spotting on long videos and its evaluation against annotated intervals (CAS(ME)^2 and its synthetic twin).

Every video goes through :func:`~larnet_core.video.analyze_clip` itself — the same tracker, model-input road,
motion engine and spotting settings as ``larnet analyze`` — so the figure scores exactly what users see. The model
only labels intervals (it runs on a few frames a second here); spotting uses the motion signal and the fixed
:class:`~larnet_core.video.spotting.SpottingParams`, so the figure measures the spotting itself.
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass
from typing import Callable, Sequence

import pandas as pd

from larnet_core.video.limits import VideoLimits
from larnet_core.video.motion import MotionConfig
from larnet_core.video.reader import ClipSource
from larnet_core.video.spotting import INTERVAL_COLUMNS, SpottingParams, SpottingScores, match_intervals

__all__ = ["spot_clip", "SpottingEvaluation", "evaluate_spotting", "truth_positions", "CASME2_LONG_FPS"]

#: CAS(ME)^2 records at 30 fps; its frame folders say nothing about the rate.
CASME2_LONG_FPS = 30.0
#: Model calls per second of video during spotting evaluation (they only label the intervals).
SPOT_EVAL_INFER_FPS = 2.0


def spot_clip(source: ClipSource, predictor, *, params: SpottingParams | None = None, **kwargs) -> pd.DataFrame:
    """Spotted intervals of one clip: :func:`~larnet_core.video.analyze_clip`'s ``intervals`` (keyword arguments
    go to it)."""
    from larnet_core.video.analysis import analyze_clip

    kwargs.setdefault("max_infer_fps", SPOT_EVAL_INFER_FPS)
    return analyze_clip(source, predictor, spotting=params, **kwargs).intervals


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
    predictor,
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
        predictor: the :class:`~larnet_core.inference.Predictor` whose pipeline is scored (it labels intervals).
        fps: frame rate of frame folders (video files carry their own).
        face, motion, limits: as for :func:`~larnet_core.video.analyze_clip`.
        params: spotting settings; fixed defaults when None (never tune them on the evaluated set).
        progress: called as ``progress(videos done, videos total, name)``.
        cancel: stops the evaluation with :class:`~larnet_core.errors.Cancelled` when set.
    """
    from larnet_core.video.analysis import analyze_clip

    params = params or SpottingParams()
    per_video, spotted_rows = [], []
    counts = {"all": [0, 0, 0], "micro": [0, 0, 0], "macro": [0, 0, 0]}  # hits, spotted, truth
    for number, record in enumerate(records):
        source = record.frames[0].parent if record.frames else record.video_path
        analysis = analyze_clip(source, predictor, face=face, fps=fps, limits=limits, motion=motion,
                                spotting=params, cancel=cancel, max_infer_fps=SPOT_EVAL_INFER_FPS)
        found = analysis.intervals
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
        intervals=pd.DataFrame(spotted_rows, columns=None if spotted_rows else
                               ["subject", "video", "face_id", *INTERVAL_COLUMNS, "label", "confidence", "hit"]),
        params=params,
    )
