"""Scoring spotted intervals as the MEGC challenges score them, and spot-then-recognise (STR).

Spotting (MEGC 2019-2023; Li et al., "Spotting micro-expressions on long videos sequences", FG 2019; He et al.,
"Spotting macro- and micro-expression intervals in long video sequences", FG 2020):

* A spotted interval hits an annotated one when their intersection over union, frames counted inclusively, is
  at least 0.5. Matching is per expression type: a spotted micro-expression can only hit an annotated
  micro-expression, a spotted macro-expression only a macro-expression.
* Within one video and one type, intervals pair one-to-one, as many pairs as possible
  (:func:`larnet_core.matching.maximal_pairs`).
* TP, FP (= spotted - TP) and FN (= annotated - TP) are summed over the videos of a dataset per type; the
  overall figure sums the per-type counts, and precision, recall and F1 come from the sums.

Spot-then-recognise (MEGC 2023's STR task; the STRS of Liong, See and Chan, "Spot-then-recognize: a
micro-expression analysis network for seamless evaluation of long videos", Signal Processing: Image
Communication 110, 2023): the spotting F1 as above, and an analysis F1 over the hits only: for each emotion class
(every class that any spotted or annotated interval carries), precision and recall of "is this class" over the
hit pairs; the analysis F1 is the F1 of the class-averaged precision and class-averaged recall. STRS = spotting
F1 x analysis F1. One difference from the authors' reference script: there a spotted interval overlapping two
annotated ones counts twice; here pairs are one-to-one, as in the spotting metric.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Iterable, Sequence

import numpy as np

from larnet_core.matching import maximal_pairs

__all__ = [
    "EXPRESSION_TYPES",
    "SpottingScores",
    "TypedSpottingScores",
    "StrScores",
    "interval_iou",
    "match_intervals",
    "score_spotting",
    "video_hits",
    "score_str",
    "megc_k",
    "str_class",
]

#: The expression types MEGC scores separately.
EXPRESSION_TYPES = ("micro", "macro")


def interval_iou(a: Sequence[int], b: Sequence[int]) -> float:
    """Intersection over union of two inclusive frame intervals ``(onset, offset, ...)``."""
    inter = min(a[1], b[1]) - max(a[0], b[0]) + 1
    if inter <= 0:
        return 0.0
    union = (a[1] - a[0] + 1) + (b[1] - b[0] + 1) - inter
    return inter / union


def match_intervals(predicted: Iterable[Sequence[int]], truth: Iterable[Sequence[int]],
                    iou: float = 0.5) -> list[tuple[int, int, float]]:
    """Pair spotted with annotated intervals one-to-one at IoU >= ``iou``, as many pairs as possible (ties: the
    larger total IoU). Types are not looked at here: give intervals of one type.

    Returns:
        ``(predicted index, truth index, IoU)`` for each hit.
    """
    predicted, truth = list(predicted), list(truth)
    return maximal_pairs(((interval_iou(p, t), i, j) for i, p in enumerate(predicted) for j, t in enumerate(truth)),
                         minimum=iou)


@dataclass(frozen=True)
class SpottingScores:
    """Counts and precision / recall / F1 of one pool of videos (one type, or all types summed).

    Degenerate cases: precision is 0 when nothing was spotted, recall 0 when nothing is annotated, F1 0 when
    precision + recall is 0.
    """

    true_positives: int
    spotted: int
    ground_truth: int
    precision: float
    recall: float
    f1: float
    iou: float = 0.5

    @classmethod
    def from_counts(cls, true_positives: int, spotted: int, ground_truth: int, iou: float = 0.5) -> "SpottingScores":
        precision = true_positives / spotted if spotted else 0.0
        recall = true_positives / ground_truth if ground_truth else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return cls(int(true_positives), int(spotted), int(ground_truth), precision, recall, f1, iou)

    @property
    def false_positives(self) -> int:
        return self.spotted - self.true_positives

    @property
    def false_negatives(self) -> int:
        return self.ground_truth - self.true_positives

    def to_dict(self) -> dict:
        return {**asdict(self), "false_positives": self.false_positives, "false_negatives": self.false_negatives}


@dataclass(frozen=True)
class TypedSpottingScores:
    """MEGC's spotting result: per type and overall (the per-type counts summed)."""

    overall: SpottingScores
    by_type: dict[str, SpottingScores] = field(default_factory=dict)

    @property
    def micro(self) -> SpottingScores:
        return self.by_type.get("micro", SpottingScores.from_counts(0, 0, 0, self.overall.iou))

    @property
    def macro(self) -> SpottingScores:
        return self.by_type.get("macro", SpottingScores.from_counts(0, 0, 0, self.overall.iou))

    def to_dict(self) -> dict:
        return {"overall": self.overall.to_dict(), **{k: v.to_dict() for k, v in self.by_type.items()}}


def _typed(interval: Sequence) -> tuple[int, int, str]:
    """``(onset, offset[, type, ...])`` as ``(onset, offset, type)``; an interval without a type is ``any``."""
    kind = str(interval[2]) if len(interval) > 2 and interval[2] is not None else "any"
    return int(interval[0]), int(interval[1]), kind


def video_hits(predicted: Sequence[Sequence], truth: Sequence[Sequence], iou: float
                ) -> tuple[list[tuple[int, int, float]], dict[str, list[int]]]:
    """One video's hits ``(predicted index, truth index, IoU)``, matched within each type, and per type the
    counts ``[hits, spotted, annotated]``; intervals as for :func:`score_spotting`."""
    pred, gt = [_typed(p) for p in predicted], [_typed(t) for t in truth]
    hits: list[tuple[int, int, float]] = []
    counts: dict[str, list[int]] = {}
    for kind in sorted({p[2] for p in pred} | {t[2] for t in gt}):
        p_ids = [i for i, p in enumerate(pred) if p[2] == kind]
        t_ids = [j for j, t in enumerate(gt) if t[2] == kind]
        pairs = match_intervals([pred[i] for i in p_ids], [gt[j] for j in t_ids], iou)
        hits += [(p_ids[a], t_ids[b], v) for a, b, v in pairs]
        counts[kind] = [len(pairs), len(p_ids), len(t_ids)]
    return hits, counts


def score_spotting(videos: Iterable[tuple[Sequence[Sequence], Sequence[Sequence]]],
                   iou: float = 0.5) -> TypedSpottingScores:
    """Score a dataset: each item is ``(spotted, annotated)`` intervals of one video, each interval
    ``(onset, offset, type)`` in inclusive frame positions (``type`` ``micro``/``macro``; an interval of two
    values has the type ``any``, which matches only other untyped intervals)."""
    totals: dict[str, list[int]] = {}
    for predicted, truth in videos:
        _, counts = video_hits(predicted, truth, iou)
        for kind, (tp, n_pred, n_truth) in counts.items():
            acc = totals.setdefault(kind, [0, 0, 0])
            acc[0] += tp
            acc[1] += n_pred
            acc[2] += n_truth
    summed = [sum(c[i] for c in totals.values()) for i in range(3)]
    return TypedSpottingScores(SpottingScores.from_counts(*summed, iou=iou),
                               {kind: SpottingScores.from_counts(*c, iou=iou) for kind, c in sorted(totals.items())})


def megc_k(lengths: Iterable[float]) -> int:
    """The MEGC spotting baselines' window ``k`` from annotated intervals: half the average length,
    ``int((N + 1) / 2)`` with ``N`` the mean of ``offset - onset`` in frames (as the MEGC 2021 spotting code of
    Liong et al., SOFTNet, computes it; the MEGC 2020 MDMD baseline of He et al. fixes it per dataset from the
    same average). At least 1; 0 when there are no intervals."""
    values = [float(v) for v in lengths]
    if not values:
        return 0
    return max(1, int((float(np.mean(values)) + 1) / 2))


# MEGC 2023 STR's classes (negative, positive, surprise, others): the composite's three plus "others".
_STR_CLASSES = {
    "negative": ("negative", "anger", "angry", "contempt", "disgust", "fear", "sadness", "sad", "repression"),
    "positive": ("positive", "happiness", "happy"),
    "surprise": ("surprise",),
}


def str_class(emotion: str) -> str:
    """An emotion name of any dataset or label scheme as one of MEGC 2023 STR's four classes (``negative``,
    ``positive``, ``surprise``, ``others``; anything not listed is ``others``)."""
    name = str(emotion).strip().lower()
    for target, names in _STR_CLASSES.items():
        if name in names:
            return target
    return "others"


@dataclass(frozen=True)
class StrScores:
    """Spot-then-recognise result.

    Attributes:
        spotting: spotting scores of the intervals taken into account (per-type matching).
        classes: the emotion classes the analysis averages over.
        analysis_precision, analysis_recall: class-averaged precision and recall over the hit pairs.
        analysis_f1: F1 of those two averages.
        analysis_uf1, analysis_uar: mean per-class F1 and mean per-class recall over the hit pairs.
        strs: spotting F1 x analysis F1.
        hits: hit pairs ``(spotted class, annotated class)``.
    """

    spotting: SpottingScores
    classes: tuple[str, ...]
    analysis_precision: float
    analysis_recall: float
    analysis_f1: float
    analysis_uf1: float
    analysis_uar: float
    strs: float
    hits: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict:
        out = asdict(self)
        out["spotting"] = self.spotting.to_dict()
        out["hits"] = [list(h) for h in self.hits]
        return out


def score_str(videos: Iterable[tuple[Sequence[Sequence], Sequence[Sequence]]], iou: float = 0.5) -> StrScores:
    """Spot-then-recognise score of a dataset: each item is ``(spotted, annotated)`` of one video, each interval
    ``(onset, offset, type, emotion)``."""
    hit_pairs: list[tuple[str, str]] = []
    classes: set[str] = set()
    totals = [0, 0, 0]
    for predicted, truth in videos:
        predicted, truth = list(predicted), list(truth)
        classes |= {str(p[3]) for p in predicted} | {str(t[3]) for t in truth}
        hits, counts = video_hits(predicted, truth, iou)
        hit_pairs += [(str(predicted[i][3]), str(truth[j][3])) for i, j, _ in hits]
        for tp, n_pred, n_truth in counts.values():
            totals[0] += tp
            totals[1] += n_pred
            totals[2] += n_truth
    spotting = SpottingScores.from_counts(*totals, iou=iou)
    names = tuple(sorted(classes))
    precisions, recalls, f1s = [], [], []
    for name in names:
        tp = sum(1 for p, t in hit_pairs if p == name and t == name)
        fp = sum(1 for p, t in hit_pairs if p == name and t != name)
        fn = sum(1 for p, t in hit_pairs if p != name and t == name)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        precisions.append(precision)
        recalls.append(recall)
        f1s.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    p_all = float(np.mean(precisions)) if names else 0.0
    r_all = float(np.mean(recalls)) if names else 0.0
    f1_all = 2 * p_all * r_all / (p_all + r_all) if p_all + r_all else 0.0
    return StrScores(spotting, names, p_all, r_all, f1_all, float(np.mean(f1s)) if names else 0.0, r_all,
                     spotting.f1 * f1_all, tuple(hit_pairs))
