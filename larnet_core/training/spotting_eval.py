"""Spotting evaluation on long videos (CAS(ME)^2, SAMM-LV, CAS(ME)^3 and their synthetic twin), scored as MEGC
scores it (:mod:`larnet_core.training.spotting_scores`), and spot-then-recognise from the same run.

Every video goes through :func:`~larnet_core.video.analyze_clip` itself, with one
:class:`~larnet_core.video.settings.AnalysisSettings` for the whole run — the same tracker, model-input road,
motion engine and spotting settings as ``larnet analyze`` with those settings — so the figure scores exactly what
users see. The model only labels intervals (by default it runs on 2 frames a second here); spotting uses the motion
signal. What is scoring's own (``k``, leave-one-subject-out, the IoU of a hit) is a :class:`SpotEvalOptions`.

The one setting taken from annotations is ``k``, the distance in frames between a frame and the reference frames
its motion is measured against, one for each expression type (:attr:`MotionConfig.reference_s` and
``macro_reference_s``). ``k="auto"`` sets it as the MEGC baselines do, from half the average annotated length of
that type (:func:`~larnet_core.training.spotting_scores.megc_k`); with ``loso=True`` a video's ``k`` comes from the
OTHER subjects' annotations only, so nothing about the scored subject is used.
"""

from __future__ import annotations

import bisect
import dataclasses
from dataclasses import dataclass
import threading
from typing import Callable, Sequence

import pandas as pd

from larnet_core.errors import LarnetError
from larnet_core.training.spotting_scores import (
    EXPRESSION_TYPES,
    SpottingScores,
    StrScores,
    TypedSpottingScores,
    megc_k,
    score_spotting,
    score_str,
    str_class,
    video_hits,
)
from larnet_core.video.analysis import analyze_clip
from larnet_core.video.motion import MotionConfig
from larnet_core.video.settings import AnalysisSettings
from larnet_core.video.spotting import INTERVAL_COLUMNS, SpottingParams

__all__ = ["SpottingEvaluation", "SpotEvalOptions", "evaluate_spotting", "truth_positions", "window_k", "rescore",
           "with_dataset_fps", "DATASET_FPS", "K_CHOICES", "SPOT_EVAL_SETTINGS"]

#: Frame rates of the long-video datasets (their frame folders say nothing about the rate).
DATASET_FPS = {"casme2-long": 30.0, "samm-lv": 200.0, "casme3-long": 30.0}
#: ``auto``: k from the annotations (MEGC); ``fixed``: the analysis defaults (0.3 s and 1.0 s).
K_CHOICES = ("auto", "fixed")
#: Model calls per second of video during spotting evaluation (they only label the intervals).
SPOT_EVAL_INFER_FPS = 2.0
#: The analysis settings spotting is scored with unless others are given: ``larnet analyze``'s defaults, with the
#: model on :data:`SPOT_EVAL_INFER_FPS` frames a second (the frame rate of frame folders comes from the dataset).
SPOT_EVAL_SETTINGS = AnalysisSettings(max_infer_fps=SPOT_EVAL_INFER_FPS)

TRUTH_COLUMNS = ("subject", "video", "onset_frame", "offset_frame", "kind", "emotion")


@dataclass(frozen=True)
class SpotEvalOptions:
    """How spotting is scored, beyond how each video is analysed (that is the run's :class:`AnalysisSettings`).

    Attributes:
        k: frames between a frame and its motion references, per type: ``fixed`` (the analysis' motion settings,
            what ``larnet analyze`` uses), ``auto`` (half the average annotated length of each type, as the MEGC
            baselines set it) or ``(micro, macro)`` frames.
        loso: with ``k="auto"``, each subject's k from the other subjects' annotations only.
        iou: the IoU a spotted interval needs with an annotated one of the same type to count as a hit.
    """

    k: str | tuple[int, int] = "fixed"
    loso: bool = False
    iou: float = 0.5

    def __post_init__(self) -> None:
        if isinstance(self.k, str):
            if self.k not in K_CHOICES:
                raise LarnetError(f"k must be one of {', '.join(K_CHOICES)} or two frame counts, got {self.k!r}")
        else:
            frames = tuple(int(v) for v in self.k)
            if len(frames) != 2 or min(frames) < 1:
                raise LarnetError(f"--k frame counts must be at least 1 (micro, macro), got {self.k!r}")
            object.__setattr__(self, "k", frames)
        if self.loso and self.k != "auto":
            raise LarnetError("--loso only changes --k auto (the one setting taken from annotations); drop --loso or "
                              "use --k auto")
        if not 0 < self.iou <= 1:
            raise LarnetError(f"--iou must be in (0, 1], got {self.iou}")

    @property
    def label(self) -> str:
        """How k was set: ``auto``, ``auto-loso``, ``fixed`` or ``frames``."""
        if not isinstance(self.k, str):
            return "frames"
        return "auto-loso" if self.k == "auto" and self.loso else self.k

    def to_dict(self) -> dict:
        return {"k": self.k if isinstance(self.k, str) else list(self.k), "loso": self.loso, "iou": self.iou}


def with_dataset_fps(settings: AnalysisSettings, dataset: str) -> AnalysisSettings:
    """The settings with the frame rate of frame folders set to the dataset's when none is given (the folders say
    nothing about their rate)."""
    if settings.fps:
        return settings
    return dataclasses.replace(settings, fps=DATASET_FPS.get(dataset, DATASET_FPS["casme2-long"]))


def truth_positions(record) -> list[tuple[int, int, str, str]]:
    """A long-video record's annotated intervals as 0-based inclusive frame positions
    ``(onset, offset, type, emotion)``.

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
        emotion = "" if pd.isna(row.emotion) else str(row.emotion)
        out.append((position(onset), position(max(offset, onset)), str(row.type), emotion))
    return out


def window_k(records: Sequence, exclude_subject: str | None = None) -> dict[str, int]:
    """``k`` in frames per expression type from the records' annotations (:func:`megc_k`), leaving out
    ``exclude_subject`` (leave-one-subject-out). A type without annotations gets 0 (= keep the default)."""
    lengths: dict[str, list[int]] = {kind: [] for kind in EXPRESSION_TYPES}
    for record in records:
        if exclude_subject is not None and record.subject == exclude_subject:
            continue
        for onset, offset, kind, _ in truth_positions(record):
            if kind in lengths:
                lengths[kind].append(offset - onset)
    return {kind: megc_k(values) for kind, values in lengths.items()}


def _motion_for(k: dict[str, int], fps: float, base: MotionConfig | None) -> MotionConfig:
    base = base or MotionConfig()
    changes = {}
    if k.get("micro"):
        changes["reference_s"] = k["micro"] / fps
    if k.get("macro"):
        changes["macro_reference_s"] = k["macro"] / fps
    return dataclasses.replace(base, **changes)


@dataclass
class SpottingEvaluation:
    """Result of :func:`evaluate_spotting`.

    Attributes:
        scores: MEGC's scores: per type and overall (summed per-type counts).
        per_video: subject, video, k_micro, k_macro, n_truth, n_spotted, hits per video.
        intervals: every spotted interval with its subject, video, ``hit`` and the annotated interval it hit.
        truth: every annotated interval (:data:`TRUTH_COLUMNS`), so the scores can be recomputed from the files.
        settings: the analysis settings every video was analysed with (its frame rate filled in).
        options: how spotting was scored (k, leave-one-subject-out, IoU).
    """

    scores: TypedSpottingScores
    per_video: pd.DataFrame
    intervals: pd.DataFrame
    truth: pd.DataFrame
    settings: AnalysisSettings
    options: SpotEvalOptions

    @property
    def params(self) -> SpottingParams:
        """The spotting settings used."""
        return self.settings.spotting

    @property
    def k(self) -> str:
        """How ``k`` was set (``auto``, ``auto-loso``, ``fixed`` or ``frames``)."""
        return self.options.label

    @property
    def iou(self) -> float:
        """The IoU a hit needs."""
        return self.options.iou

    @property
    def micro(self) -> SpottingScores:
        return self.scores.micro

    @property
    def macro(self) -> SpottingScores:
        return self.scores.macro

    def str_scores(self, classes: Callable[[str], str] | None = str_class,
                   types: Sequence[str] = ("micro",)) -> StrScores:
        """Spot-then-recognise score of this run: the spotted intervals' model labels against the annotated
        emotions, over the expression ``types`` given (MEGC 2023 STR scores micro-expressions), class names
        mapped through ``classes`` (default: the four STR classes; None = as written)."""
        return str_from_tables(self.intervals, self.truth, iou=self.iou, classes=classes, types=types)

    def to_dict(self) -> dict:
        """The scores, and everything needed to reproduce them: the analysis settings and the scoring options."""
        return {**self.scores.to_dict(), "params": dataclasses.asdict(self.params), "k": self.k, "iou": self.iou,
                "n_videos": int(len(self.per_video)), "settings": self.settings.to_dict(),
                "options": self.options.to_dict()}


def evaluate_spotting(
    records: Sequence,
    predictor,
    settings: AnalysisSettings | None = None,
    options: SpotEvalOptions | None = None,
    *,
    motion: MotionConfig | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    cancel: threading.Event | None = None,
) -> SpottingEvaluation:
    """Spot every long video of a dataset and score the result as MEGC does.

    Args:
        records: :class:`~larnet_core.data.LongVideoRecord` items (``load_dataset("casme2-long", root)``, ...).
        predictor: the :class:`~larnet_core.inference.Predictor` whose pipeline is scored (it labels intervals).
        settings: how every video is analysed (:func:`~larnet_core.video.analyze_clip`'s face mode, every face,
            frame rate of frame folders, model rate, spotting threshold, limits); :data:`SPOT_EVAL_SETTINGS` when
            None. Without a frame rate, the dataset's (:data:`DATASET_FPS`); k in frames is converted with it.
            Never tune the spotting threshold on the evaluated set.
        options: how spotting is scored (:class:`SpotEvalOptions`: k, leave-one-subject-out, IoU).
        motion: motion settings the k replaces the reference distances of (defaults when None).
        progress: called as ``progress(videos done, videos total, name)``.
        cancel: stops the evaluation with :class:`~larnet_core.errors.Cancelled` when set.
    """
    options = options or SpotEvalOptions()
    settings = settings or SPOT_EVAL_SETTINGS
    if records:
        settings = with_dataset_fps(settings, records[0].dataset)
    analyze_kwargs = settings.analyze_kwargs()
    whole_k = window_k(records) if options.k == "auto" and not options.loso else None
    per_video, spotted_rows, truth_rows, videos = [], [], [], []
    for number, record in enumerate(records):
        video_k = _video_k(options, record, records, whole_k)
        source = record.frames[0].parent if record.frames else record.video_path
        analysis = analyze_clip(source, predictor, motion=_motion_for(video_k, settings.fps, motion), cancel=cancel,
                                **analyze_kwargs)
        found = analysis.intervals
        predicted = [(int(r.onset_frame), int(r.offset_frame), str(r.kind)) for r in found.itertuples()]
        truth = truth_positions(record)
        hits, _ = video_hits(predicted, [t[:3] for t in truth], options.iou)
        hit_of = {i: (j, v) for i, j, v in hits}
        videos.append((predicted, [t[:3] for t in truth]))
        per_video.append({"subject": record.subject, "video": record.video, "k_micro": video_k.get("micro", 0),
                          "k_macro": video_k.get("macro", 0), "n_truth": len(truth), "n_spotted": len(predicted),
                          "hits": len(hits)})
        for i, row in enumerate(found.itertuples(index=False)):
            j, value = hit_of.get(i, (None, None))
            spotted_rows.append({"subject": record.subject, "video": record.video, **row._asdict(),
                                 "hit": j is not None, "truth_index": j, "iou": value})
        truth_rows += [dict(zip(TRUTH_COLUMNS, (record.subject, record.video, *t))) for t in truth]
        if progress is not None:
            progress(number + 1, len(records), record.video)
    interval_columns = ["subject", "video", "face_id", *INTERVAL_COLUMNS, "label", "confidence", "hit",
                        "truth_index", "iou"]
    return SpottingEvaluation(
        scores=score_spotting(videos, options.iou),
        per_video=pd.DataFrame(per_video, columns=["subject", "video", "k_micro", "k_macro", "n_truth",
                                                   "n_spotted", "hits"]),
        intervals=pd.DataFrame(spotted_rows, columns=None if spotted_rows else interval_columns),
        truth=pd.DataFrame(truth_rows, columns=list(TRUTH_COLUMNS)),
        settings=settings, options=options,
    )


def _video_k(options: SpotEvalOptions, record, records: Sequence, whole_k: dict[str, int] | None
             ) -> dict[str, int]:
    """One video's k per type: the frames given, the annotations' (all subjects', or the others' with loso), or
    none (the motion settings as they are)."""
    if not isinstance(options.k, str):
        return {"micro": int(options.k[0]), "macro": int(options.k[1])}
    if options.k == "auto":
        return whole_k if whole_k is not None else window_k(records, exclude_subject=record.subject)
    return {}


def _by_video(intervals: pd.DataFrame, truth: pd.DataFrame, columns: Sequence[str], truth_columns: Sequence[str]
              ) -> list[tuple[list[tuple], list[tuple]]]:
    keys = sorted(set(map(tuple, truth[["subject", "video"]].astype(str).values))
                  | set(map(tuple, intervals[["subject", "video"]].astype(str).values)))
    spotted = {key: [] for key in keys}
    annotated = {key: [] for key in keys}
    for row in intervals.itertuples(index=False):
        spotted[(str(row.subject), str(row.video))].append(tuple(getattr(row, c) for c in columns))
    for row in truth.itertuples(index=False):
        annotated[(str(row.subject), str(row.video))].append(tuple(getattr(row, c) for c in truth_columns))
    return [(spotted[key], annotated[key]) for key in keys]


def rescore(intervals: pd.DataFrame, truth: pd.DataFrame, iou: float = 0.5) -> TypedSpottingScores:
    """MEGC scores recomputed from saved tables: spotted ``intervals`` (``subject, video, onset_frame,
    offset_frame, kind``) and annotated ``truth`` (:data:`TRUTH_COLUMNS`), as ``larnet spot-eval --out`` writes
    them."""
    cols = ("onset_frame", "offset_frame", "kind")
    return score_spotting(_by_video(intervals, truth, cols, cols), iou)


def str_from_tables(intervals: pd.DataFrame, truth: pd.DataFrame, *, iou: float = 0.5,
                    classes: Callable[[str], str] | None = str_class,
                    types: Sequence[str] = ("micro",)) -> StrScores:
    """Spot-then-recognise score from saved tables: spotted intervals with their ``label`` against annotated
    intervals with their ``emotion``, over the expression ``types`` given."""
    keep_types = set(types)
    spotted = intervals[intervals["kind"].isin(keep_types)].copy() if len(intervals) else intervals.copy()
    annotated = truth[truth["kind"].isin(keep_types)].copy()
    name = classes or (lambda value: str(value).strip().lower())
    spotted["str_class"] = [name("" if pd.isna(v) else v) for v in spotted.get("label", pd.Series(dtype=object))]
    annotated["str_class"] = [name("" if pd.isna(v) else v) for v in annotated["emotion"]]
    if "subject" not in spotted:
        spotted = pd.DataFrame(columns=["subject", "video", "onset_frame", "offset_frame", "kind", "str_class"])
    cols = ("onset_frame", "offset_frame", "kind", "str_class")
    return score_str(_by_video(spotted, annotated, cols, cols), iou)
