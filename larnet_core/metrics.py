"""Classification metrics of the micro-expression field, computed by scikit-learn from a predictions table.

Definitions (the MEGC 2019 composite; See et al., FG 2019): predictions of every fold are pooled first, then

* ``uf1`` (unweighted F1) = mean over classes of the per-class F1;
* ``uar`` (unweighted average recall) = mean over classes of the per-class recall (balanced accuracy).

With a ``dataset`` column (a composite such as the MEGC set over SMIC, CASME II and SAMM) the same figures are
also computed on each dataset's rows of the pooled predictions (``per_dataset``), as the field reports them.

Degenerate-case policy: ``uf1`` and ``uar`` average over the classes that occur in the ground truth, since a
class with no test sample has no recall to measure; the ``macro_*`` figures average over every class of the
scheme, with 0 for a class that has no prediction or no sample (scikit-learn's ``zero_division=0``). Per-class
rows exist for every class, with ``support`` 0 where a class is absent. An empty table is an error.

This module needs pandas and scikit-learn only (no torch), so the dashboard can read runs cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support, recall_score

from larnet_core.result.schema import prob_column

__all__ = ["MetricsReport", "compute_metrics", "PREDICTION_COLUMNS", "PER_DATASET_COLUMNS", "prob_column",
           "BootstrapInterval", "subject_bootstrap"]

# Leading columns of predictions.csv; ``prob_<class>`` columns, ``fold`` and ``dataset`` follow.
PREDICTION_COLUMNS = ("subject", "clip", "frame", "true_label", "pred_label")
# Leading columns of MetricsReport.per_dataset; ``n_<class>`` counts follow.
PER_DATASET_COLUMNS = ("dataset", "n", "n_subjects", "accuracy", "uf1", "uar")


@dataclass
class MetricsReport:
    """Scores of one evaluation.

    Attributes:
        accuracy: share of correct predictions.
        uf1: mean per-class F1 over the classes present in the ground truth.
        uar: mean per-class recall over the classes present in the ground truth.
        macro_precision, macro_recall, macro_f1: means over every class of the scheme (0 for empty classes).
        per_class: one row per class: ``class, precision, recall, f1, support``.
        confusion: counts, rows = true class, columns = predicted class, both in ``class_names`` order.
        per_subject: one row per subject: ``subject, n, accuracy, uf1, uar``.
        per_dataset: one row per dataset: ``dataset, n, n_subjects, accuracy, uf1, uar, n_<class>...`` (sample
            counts per true class); empty when the predictions carry no ``dataset`` column.
        class_names: class order of the scheme.
        n_samples: rows scored.
        extra: run facts stored beside the scores (label_scheme, protocol, synthetic, sample_mode ...).
    """

    accuracy: float
    uf1: float
    uar: float
    macro_precision: float
    macro_recall: float
    macro_f1: float
    per_class: pd.DataFrame
    confusion: pd.DataFrame
    per_subject: pd.DataFrame
    class_names: list[str]
    n_samples: int
    extra: dict[str, Any] = field(default_factory=dict)
    per_dataset: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(PER_DATASET_COLUMNS)))

    def summary(self) -> dict[str, float]:
        """The headline figures only."""
        return {"accuracy": self.accuracy, "uf1": self.uf1, "uar": self.uar, "macro_f1": self.macro_f1}

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (the content of metrics.json); ``extra`` keys are written at the top level."""
        return {
            **self.extra,
            "accuracy": self.accuracy,
            "uf1": self.uf1,
            "uar": self.uar,
            "macro_precision": self.macro_precision,
            "macro_recall": self.macro_recall,
            "macro_f1": self.macro_f1,
            "n_samples": self.n_samples,
            "class_names": list(self.class_names),
            "per_class": self.per_class.to_dict(orient="records"),
            "confusion": {"labels": list(self.class_names), "matrix": self.confusion.to_numpy().tolist()},
            "per_subject": self.per_subject.to_dict(orient="records"),
            "per_dataset": self.per_dataset.to_dict(orient="records"),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "MetricsReport":
        """Inverse of :meth:`to_dict`."""
        names = list(data["class_names"])
        matrix = np.asarray(data["confusion"]["matrix"], dtype=np.int64).reshape(len(names), len(names))
        known = {"accuracy", "uf1", "uar", "macro_precision", "macro_recall", "macro_f1", "n_samples",
                 "class_names", "per_class", "confusion", "per_subject", "per_dataset"}
        return cls(
            accuracy=float(data["accuracy"]),
            uf1=float(data["uf1"]),
            uar=float(data["uar"]),
            macro_precision=float(data["macro_precision"]),
            macro_recall=float(data["macro_recall"]),
            macro_f1=float(data["macro_f1"]),
            per_class=pd.DataFrame(data["per_class"], columns=["class", "precision", "recall", "f1", "support"]),
            confusion=_confusion_frame(matrix, names),
            per_subject=pd.DataFrame(data["per_subject"], columns=["subject", "n", "accuracy", "uf1", "uar"]),
            class_names=names,
            n_samples=int(data.get("n_samples", int(matrix.sum()))),
            extra={k: v for k, v in data.items() if k not in known},
            per_dataset=pd.DataFrame(data["per_dataset"]) if data.get("per_dataset")
            else pd.DataFrame(columns=list(PER_DATASET_COLUMNS)),
        )


def _confusion_frame(matrix: np.ndarray, names: Sequence[str]) -> pd.DataFrame:
    frame = pd.DataFrame(matrix, index=pd.Index(list(names), name="true"), columns=pd.Index(list(names), name="pred"))
    return frame


def _unweighted(true: Sequence[str], pred: Sequence[str]) -> tuple[float, float]:
    present = sorted(set(true))
    uf1 = f1_score(true, pred, labels=present, average="macro", zero_division=0)
    uar = recall_score(true, pred, labels=present, average="macro", zero_division=0)
    return float(uf1), float(uar)


def compute_metrics(predictions: pd.DataFrame, class_names: Sequence[str], **extra: Any) -> MetricsReport:
    """Score a predictions table (all folds pooled).

    Parameters
    ----------
    predictions : pandas.DataFrame
        Needs ``true_label`` and ``pred_label``; ``subject`` enables the per-subject table. Rows whose
        ``true_label`` is missing (a class dropped by a label remapping) are left out.
    class_names : sequence of str
        The scheme's classes, in order; fixes the rows/columns of the confusion matrix.
    **extra
        Facts stored with the scores (``label_scheme``, ``protocol``, ``synthetic`` ...).

    Returns
    -------
    MetricsReport

    Raises
    ------
    ValueError
        No scorable row, missing columns, or a label that is not in ``class_names``.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"subject": ["a", "a", "b"], "true_label": ["x", "y", "y"],
    ...                       "pred_label": ["x", "y", "x"]})
    >>> report = compute_metrics(table, ["x", "y"])
    >>> round(report.accuracy, 3), round(report.uar, 3)
    (0.667, 0.75)
    """
    missing = {"true_label", "pred_label"} - set(predictions.columns)
    if missing:
        raise ValueError(f"predictions table lacks column(s) {sorted(missing)}")
    names = [str(c) for c in class_names]
    table = predictions[predictions["true_label"].notna()]
    if table.empty:
        raise ValueError("no prediction with a true label to score")
    true = table["true_label"].astype(str).to_numpy()
    pred = table["pred_label"].astype(str).to_numpy()
    unknown = sorted((set(true) | set(pred)) - set(names))
    if unknown:
        raise ValueError(f"labels {unknown} are not among the classes {names}")

    precision, recall, f1, support = precision_recall_fscore_support(
        true, pred, labels=names, zero_division=0
    )
    per_class = pd.DataFrame({"class": names, "precision": precision, "recall": recall, "f1": f1,
                              "support": support.astype(int)})
    macro_p, macro_r, macro_f, _ = precision_recall_fscore_support(
        true, pred, labels=names, average="macro", zero_division=0
    )
    uf1, uar = _unweighted(true, pred)
    matrix = confusion_matrix(true, pred, labels=names)

    rows = []
    if "subject" in table:
        for subject, group in table.groupby(table["subject"].astype(str), sort=True):
            s_true = group["true_label"].astype(str).to_numpy()
            s_pred = group["pred_label"].astype(str).to_numpy()
            s_uf1, s_uar = _unweighted(s_true, s_pred)
            rows.append({"subject": subject, "n": len(group), "accuracy": float(accuracy_score(s_true, s_pred)),
                         "uf1": s_uf1, "uar": s_uar})
    per_subject = pd.DataFrame(rows, columns=["subject", "n", "accuracy", "uf1", "uar"])
    per_dataset = _per_dataset(table, names)

    return MetricsReport(
        accuracy=float(accuracy_score(true, pred)),
        uf1=uf1,
        uar=uar,
        macro_precision=float(macro_p),
        macro_recall=float(macro_r),
        macro_f1=float(macro_f),
        per_class=per_class,
        confusion=_confusion_frame(matrix, names),
        per_subject=per_subject,
        class_names=names,
        n_samples=int(len(table)),
        extra=dict(extra),
        per_dataset=per_dataset,
    )


def _per_dataset(table: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """UF1, UAR, accuracy and counts of each dataset's rows (pooled over folds, classes present there)."""
    columns = list(PER_DATASET_COLUMNS) + [f"n_{name}" for name in names]
    if "dataset" not in table or table["dataset"].isna().all():
        return pd.DataFrame(columns=columns)
    rows = []
    for dataset, group in table.groupby(table["dataset"].fillna("").astype(str), sort=False):
        true = group["true_label"].astype(str).to_numpy()
        pred = group["pred_label"].astype(str).to_numpy()
        uf1, uar = _unweighted(true, pred)
        row = {"dataset": dataset, "n": int(len(group)),
               "n_subjects": int(group["subject"].nunique()) if "subject" in group else 0,
               "accuracy": float(accuracy_score(true, pred)), "uf1": uf1, "uar": uar}
        row.update({f"n_{name}": int((true == name).sum()) for name in names})
        rows.append(row)
    return pd.DataFrame(rows, columns=columns)


@dataclass(frozen=True)
class BootstrapInterval:
    """A percentile interval of a score from resampling test subjects with replacement."""

    estimate: float  # the score on the table as given
    low: float
    high: float
    confidence: float
    n_resamples: int
    n_subjects: int


def _subject_confusions(table: pd.DataFrame, names: Sequence[str], subjects: Sequence[str]) -> np.ndarray:
    index = {name: i for i, name in enumerate(names)}
    true = table["true_label"].astype(str).map(index).to_numpy()
    pred = table["pred_label"].astype(str).map(index).to_numpy()
    if np.isnan(true.astype(float)).any() or np.isnan(pred.astype(float)).any():
        raise ValueError(f"labels outside the classes {list(names)}")
    where = {subject: i for i, subject in enumerate(subjects)}
    rows = table["subject"].astype(str).map(where).to_numpy()
    counts = np.zeros((len(subjects), len(names), len(names)))
    np.add.at(counts, (rows, true.astype(int), pred.astype(int)), 1)
    return counts


def _scores_from_confusions(confusions: np.ndarray, metric: str) -> np.ndarray:
    """UF1 or UAR of each pooled confusion matrix in ``confusions`` (..., K, K), over classes present."""
    tp = np.diagonal(confusions, axis1=-2, axis2=-1)
    support = confusions.sum(axis=-1)
    predicted = confusions.sum(axis=-2)
    present = support > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        if metric == "uf1":
            per_class = np.where(present, 2 * tp / (support + predicted), 0.0)
        else:
            per_class = np.where(present, tp / support, 0.0)
    return per_class.sum(axis=-1) / present.sum(axis=-1)


def subject_bootstrap(predictions: pd.DataFrame, class_names: Sequence[str], *, metric: str = "uf1",
                      baseline: pd.DataFrame | None = None, n_resamples: int = 2000, confidence: float = 0.95,
                      seed: int = 0) -> BootstrapInterval:
    """How much a pooled score depends on which subjects were tested: a percentile interval from resampling
    the test subjects (all of a subject's clips together, as the field's subject-independent protocols do).

    With ``baseline`` (another model's predictions on the same subjects) the interval is of the paired
    difference ``score(predictions) - score(baseline)``: both tables are resampled with the same subjects, so an
    interval that contains 0 means the two models are not separated by this test set.

    Raises:
        ValueError: unknown metric, no ``subject`` column, labels outside ``class_names``, or a baseline tested
            on other subjects.
    """
    if metric not in ("uf1", "uar"):
        raise ValueError(f"metric must be 'uf1' or 'uar', got {metric!r}")
    if not 0 < confidence < 1 or n_resamples < 1:
        raise ValueError("confidence must be in (0, 1) and n_resamples at least 1")
    names = [str(c) for c in class_names]
    tables = [t[t["true_label"].notna()] for t in ([predictions] if baseline is None else [predictions, baseline])]
    if any("subject" not in t for t in tables):
        raise ValueError("a subject bootstrap needs the predictions' subject column")
    subjects = sorted(set(tables[0]["subject"].astype(str)))
    if baseline is not None and sorted(set(tables[1]["subject"].astype(str))) != subjects:
        raise ValueError("the baseline was tested on other subjects; a paired interval needs the same ones")
    confusions = [_subject_confusions(t, names, subjects) for t in tables]
    draws = np.random.default_rng(seed).integers(0, len(subjects), size=(n_resamples, len(subjects)))
    weights = np.stack([np.bincount(row, minlength=len(subjects)) for row in draws]).astype(float)

    def scores(counts: np.ndarray) -> np.ndarray:
        return _scores_from_confusions(np.tensordot(weights, counts, axes=1), metric)

    def point(counts: np.ndarray) -> float:
        return float(_scores_from_confusions(counts.sum(axis=0), metric))

    resampled = scores(confusions[0])
    estimate = point(confusions[0])
    if baseline is not None:
        resampled = resampled - scores(confusions[1])
        estimate -= point(confusions[1])
    tail = (1 - confidence) / 2
    low, high = np.quantile(resampled, [tail, 1 - tail])
    return BootstrapInterval(estimate=estimate, low=float(low), high=float(high), confidence=confidence,
                             n_resamples=n_resamples, n_subjects=len(subjects))
