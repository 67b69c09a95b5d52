"""The evaluation protocol every model goes through, in one place.

From data sources to a run directory, the steps shared by the networks, LBP-TOP + SVM, ``larnet evaluate`` and
the robustness check:

* :func:`load_sources`: one or several datasets (the MEGC composite: CASME II + SAMM + SMIC), labelled under one
  scheme; :func:`qualify_subjects` namespaces subjects by dataset (``samm/006``) when there are several.
* :func:`plan_parts`: the subject-independent parts (hold-out or leave-one-subject-out over every subject).
* :func:`predictions_table`: the rows of ``predictions.csv`` for scored samples.
* :func:`clip_predictions`: frame predictions combined per clip (mean probability) before any metric, so a long
  clip weighs as much as a short one, as in the field's tables.
* :func:`convert_predictions`: the one 7 -> 5 -> 3 conversion, which sums class probabilities.
* :func:`score_predictions` / :func:`write_scored_run`: clip-level metrics (pooled and per dataset), the
  frame-level view labelled as such, and the run directory.

This module needs pandas and numpy only (no torch), so the dashboard can use the conversion cheaply.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from larnet_core.data import apply_scheme, get_scheme, holdout_split, load_dataset, loso_folds, remap_labels
from larnet_core.data.splits import subject_keys
from larnet_core.errors import DatasetError, LarnetError
from larnet_core.metrics import MetricsReport, compute_metrics, prob_column
from larnet_core.runs import write_run

__all__ = [
    "parse_data_options", "load_sources", "qualify_subjects", "records_table", "is_synthetic_root",
    "is_synthetic_sources", "PartPlan", "plan_parts", "predictions_table", "clip_predictions",
    "class_projection", "convert_predictions", "ScoredRun", "score_predictions", "write_scored_run",
    "command_line", "data_facts", "FRAME_LEVEL_NOTE",
]

log = logging.getLogger(__name__)

# Name of the manifest the synthetic generator writes at the root of a generated set.
_SYNTH_MANIFEST = "synthetic.json"
FRAME_LEVEL_NOTE = ("frame level: every frame scored as its own prediction, so long clips weigh more; "
                    "not comparable with published (clip-level) results")


# ---------------------------------------------------------------------------------------------- data sources

def parse_data_options(values: Sequence[str]) -> dict[str, str]:
    """``["casme2=/data/CASME2", "samm=/data/SAMM"]`` -> ``{"casme2": ..., "samm": ...}`` (order kept).

    Raises:
        LarnetError: an item without ``=``, an empty part, or a dataset given twice.
    """
    sources: dict[str, str] = {}
    for value in values:
        name, sep, root = str(value).partition("=")
        name, root = name.strip().lower(), root.strip()
        if not sep or not name or not root:
            raise LarnetError(f"--data {value!r}: write NAME=ROOT, e.g. --data casme2=/data/CASME2")
        if name in sources:
            raise LarnetError(f"--data names {name} twice; give each dataset once")
        sources[name] = root
    return sources


def is_synthetic_root(root: str | Path) -> bool:
    """Whether ``root`` (or a parent up to two levels) holds the synthetic generator's manifest."""
    path = Path(root).resolve()
    return any((p / _SYNTH_MANIFEST).exists() for p in (path, path.parent, path.parent.parent))


def is_synthetic_sources(sources: Sequence[tuple[str, str]]) -> bool:
    """True when any source is generated data: one synthetic part makes the whole run synthetic."""
    return any(is_synthetic_root(root) for _, root in sources)


def load_sources(sources: Sequence[tuple[str, str]], labels: str) -> tuple[list, tuple[str, ...]]:
    """Load one or several datasets and label them under one scheme.

    Each dataset's emotions go through the scheme's own table (megc-3 maps CASME II disgust and repression to
    negative and drops its fear, sadness and others, and SAMM's Other, as the field does).

    Returns:
        (clip records with ``label`` set, in source order; the scheme's class names in order).

    Raises:
        DatasetError: unknown dataset or scheme, unreadable data, a source of long videos, or a dataset with
            no clip left under the scheme (names it).
    """
    if not sources:
        raise DatasetError("no dataset given: pass --dataset/--root, or --data NAME=ROOT (repeatable)")
    names = [name for name, _ in sources]
    if len(set(names)) != len(names):
        raise DatasetError(f"datasets {names} name one twice; give each dataset once")
    try:
        scheme = get_scheme(labels)
    except ValueError as exc:
        raise DatasetError(str(exc)) from None
    labelled: list = []
    for name, root in sources:
        if not str(root):
            raise DatasetError(f"dataset {name} has no folder: pass --root, or --data {name}=ROOT")
        try:
            records = load_dataset(name, root)
        except ValueError as exc:
            raise DatasetError(str(exc)) from None
        if records and not hasattr(records[0], "clip"):
            raise DatasetError(f"dataset {name!r} holds long videos (spotting), not labelled clips; "
                               "train on casme2, samm, smic, casme3 or folder")
        kept = apply_scheme(records, scheme)
        if not kept:
            raise DatasetError(f"no clip of {name} at {root} has a class of scheme {scheme.name}; "
                               "choose another --labels")
        labelled.extend(kept)
    return labelled, tuple(scheme.classes)


def qualify_subjects(samples: pd.DataFrame) -> pd.DataFrame:
    """The table with ``subject`` written ``dataset/subject`` when it spans several datasets (a copy).

    With one dataset the subjects stay as the dataset writes them (``sub01``), as in every earlier run.
    """
    out = samples.copy()
    if "dataset" in out and out["dataset"].nunique() > 1:
        out["subject"] = subject_keys(out)
    return out


def records_table(records: Sequence) -> pd.DataFrame:
    """One row per clip record, in the columns :func:`predictions_table` reads (the clip as one sample)."""
    return qualify_subjects(pd.DataFrame({
        "dataset": [r.dataset for r in records],
        "subject": [r.subject for r in records],
        "clip": [r.clip for r in records],
        "label": [r.label if r.label is not None else r.emotion for r in records],
        "frame": [f"{r.frame_numbers[r.onset_index]}-{r.frame_numbers[r.offset_index]}" for r in records],
    }))


# ------------------------------------------------------------------------------------------------- the parts

@dataclass(frozen=True)
class PartPlan:
    """One model to train: its name (``holdout`` or the held-out subject) and sample indices of each part."""

    name: str
    train: tuple[int, ...]
    val: tuple[int, ...]
    test: tuple[int, ...]
    train_subjects: tuple[str, ...]
    val_subjects: tuple[str, ...]
    test_subjects: tuple[str, ...]


def plan_parts(samples: pd.DataFrame, config: Any) -> list[PartPlan]:
    """The subject-independent parts of ``config.protocol`` (``holdout`` or ``loso``) on a samples table."""
    if config.protocol == "loso":
        splits = loso_folds(samples, val_fraction=config.val_fraction, seed=_split_seed(config))
    else:
        splits = [holdout_split(samples, test_fraction=config.test_fraction, seed=_split_seed(config),
                                val_fraction=config.val_fraction)]
    name = (lambda s: "holdout") if config.protocol == "holdout" else (lambda s: s.name)
    return [PartPlan(name(s), s.train_indices, s.val_indices, s.test_indices, s.train_subjects, s.val_subjects,
                     s.test_subjects) for s in splits]


def _split_seed(config: Any) -> int:
    """``config.split_seed`` when set (several training seeds on one split), else ``config.seed``."""
    split_seed = getattr(config, "split_seed", None)
    return config.seed if split_seed is None else int(split_seed)


# ------------------------------------------------------------------------------------------- the predictions

def predictions_table(samples: pd.DataFrame, probs: np.ndarray, class_names: Sequence[str],
                      fold: str) -> pd.DataFrame:
    """predictions.csv rows: ``subject, clip, frame, true_label, pred_label, prob_<class>..., fold, dataset``.

    Args:
        samples: the scored samples: ``subject``, ``clip``, ``frame``, ``label`` and (optionally) ``dataset``.
        probs: N x C class probabilities in ``class_names`` order.
        fold: the part that scored them (``holdout``, the held-out subject, ``all``).
    """
    probs = np.asarray(probs, dtype=np.float64).reshape(len(samples), len(class_names))
    table = pd.DataFrame({
        "subject": samples["subject"].astype(str).to_numpy(),
        "clip": samples["clip"].astype(str).to_numpy(),
        "frame": samples["frame"].astype(str).to_numpy(),
        "true_label": samples["label"].astype(str).to_numpy(),
        "pred_label": [class_names[i] for i in probs.argmax(axis=1)] if len(probs) else [],
    })
    for i, name in enumerate(class_names):
        table[prob_column(name)] = probs[:, i]
    table["fold"] = fold
    table["dataset"] = samples["dataset"].astype(str).to_numpy() if "dataset" in samples else ""
    return table


def _frame_number(text: str) -> float:
    try:
        return float(str(text).split("->")[-1])
    except ValueError:
        return float("nan")


def clip_predictions(table: pd.DataFrame, class_names: Sequence[str]) -> pd.DataFrame:
    """One row per clip: the mean probability of its frames, then the most probable class.

    A table that already has one row per clip is returned unchanged. Otherwise (``frames`` sample mode) rows
    of one ``(dataset, subject, clip, fold)`` are combined: ``frame`` becomes ``first-last`` and ``n_frames``
    counts them. Clips keep their order of first appearance.

    Raises:
        ValueError: frames of one clip disagree on the true label, or probability columns are missing.
    """
    keys = [c for c in ("dataset", "subject", "clip", "fold") if c in table]
    if table.empty or not table.duplicated(keys).any():
        return table
    columns = [prob_column(name) for name in class_names]
    missing = [c for c in columns if c not in table]
    if missing:
        raise ValueError(f"frame predictions lack {missing}: clip-level scores need every class's probability")
    groups = table.groupby(keys, sort=False, dropna=False)
    if (groups["true_label"].nunique(dropna=False) > 1).any():
        raise ValueError("frames of one clip carry different true labels; the samples table is inconsistent")
    numbers = table["frame"].map(_frame_number)
    firsts = table.assign(_n=numbers).groupby(keys, sort=False, dropna=False)["_n"]
    clip = groups.first().reset_index()
    probs = groups[columns].mean().to_numpy()
    low, high = firsts.min().to_numpy(), firsts.max().to_numpy()
    clip["frame"] = [f"{int(a)}-{int(b)}" if np.isfinite(a) and np.isfinite(b) else "all" for a, b in zip(low, high)]
    clip["pred_label"] = [class_names[i] for i in probs.argmax(axis=1)]
    clip[columns] = probs
    clip["n_frames"] = groups.size().to_numpy()
    order = [c for c in table.columns if c in clip] + ["n_frames"]
    return clip[order].reset_index(drop=True)


# -------------------------------------------------------------------------------------- 7 -> 5 -> 3 conversion

def class_projection(source_scheme: str, source_classes: Sequence[str], target_scheme: str,
                     target_classes: Sequence[str]) -> np.ndarray:
    """Matrix ``len(source) x len(target)`` that sums a model's class probabilities into another scheme's
    classes (casme2-7 disgust + repression -> megc-3 negative); source classes with no counterpart are dropped.

    Raises:
        LarnetError: no source class maps onto the target scheme.
    """
    if source_scheme == target_scheme or list(source_classes) == list(target_classes):
        return np.eye(len(source_classes), dtype=np.float64)
    matrix = np.zeros((len(source_classes), len(target_classes)), dtype=np.float64)
    for i, name in enumerate(source_classes):
        try:
            mapped = remap_labels([name], source_scheme, target_scheme)[0]
        except ValueError:
            mapped = None
        if mapped is not None:
            matrix[i, list(target_classes).index(mapped)] = 1.0
    if not matrix.any():
        raise LarnetError(f"the model's classes ({', '.join(source_classes)}, scheme {source_scheme}) have no "
                          f"counterpart in scheme {target_scheme}; evaluate with --labels {source_scheme}")
    return matrix


def convert_predictions(table: pd.DataFrame, source_scheme: str, target_scheme: str,
                        source_classes: Sequence[str] | None = None) -> tuple[pd.DataFrame, list[str], int]:
    """A predictions table translated into another label scheme: the one 7 -> 5 -> 3 conversion.

    True labels are mapped class by class (samples whose true class the target drops are left out).
    Probabilities are **summed** into the target classes (casme2-7 disgust + repression -> negative),
    renormalised over the classes the target keeps, and the prediction is their argmax. A table without
    probability columns can only map its predicted labels; a prediction of a dropped class is then left out
    and counted.

    Returns:
        (converted table, the target's class names, number of predictions left out for lack of probabilities).

    Raises:
        LarnetError: the schemes cannot be translated (the message says which way works).
    """
    try:
        source, target = get_scheme(source_scheme), get_scheme(target_scheme)
    except ValueError as exc:
        raise LarnetError(str(exc)) from None
    classes = list(source_classes or source.classes)
    targets = list(target.classes)
    if source.name == target.name:
        return table, classes, 0
    try:
        mapping = dict(zip(source.classes, remap_labels(list(source.classes), source, target)))
    except ValueError as exc:
        raise LarnetError(f"cannot convert scheme {source.name} into {target.name}: {exc}") from None
    out = table[table["true_label"].isin(classes)].copy()
    out["true_label"] = out["true_label"].map(mapping)
    out = out[out["true_label"].notna()]
    prob_columns = [prob_column(name) for name in classes]
    if all(c in out for c in prob_columns):
        probs = out[prob_columns].to_numpy(dtype=np.float64) @ class_projection(source.name, classes, target.name,
                                                                                 targets)
        probs = probs / np.clip(probs.sum(axis=1, keepdims=True), 1e-12, None)
        out = out.drop(columns=prob_columns)
        out["pred_label"] = [targets[i] for i in probs.argmax(axis=1)] if len(probs) else []
        for i, name in enumerate(targets):
            out[prob_column(name)] = probs[:, i]
        return _column_order(out, targets), targets, 0
    predicted = out["pred_label"].map(mapping)
    dropped = int(predicted.isna().sum())
    out = out.assign(pred_label=predicted)[predicted.notna()]
    return out, targets, dropped


def _column_order(table: pd.DataFrame, class_names: Sequence[str]) -> pd.DataFrame:
    lead = [c for c in ("subject", "clip", "frame", "true_label", "pred_label") if c in table]
    probs = [prob_column(n) for n in class_names]
    rest = [c for c in table.columns if c not in lead and c not in probs]
    return table[lead + probs + rest]


# -------------------------------------------------------------------------------------------------- scoring

@dataclass
class ScoredRun:
    """A run's predictions at both levels and its metrics.

    Attributes:
        predictions: one row per clip (what ``predictions.csv`` holds and every metric is computed from).
        frame_predictions: one row per frame in ``frames`` mode (``frame_predictions.csv``), else None.
        metrics: clip-level metrics, pooled and per dataset; ``extra["frame_level"]`` has the frame-level
            headline figures, labelled, when there is a frame level.
    """

    predictions: pd.DataFrame
    frame_predictions: pd.DataFrame | None
    metrics: MetricsReport


def score_predictions(predictions: pd.DataFrame, class_names: Sequence[str], **facts: Any) -> ScoredRun:
    """Combine frames per clip, then score (pooled over folds, and per dataset)."""
    clips = clip_predictions(predictions, class_names)
    metrics = compute_metrics(clips, class_names, **facts)
    frames = None
    if len(clips) != len(predictions):
        frames = predictions
        frame_report = compute_metrics(predictions, class_names)
        metrics.extra["frame_level"] = {"note": FRAME_LEVEL_NOTE, "n_samples": frame_report.n_samples,
                                        **frame_report.summary()}
    return ScoredRun(clips, frames, metrics)


def write_scored_run(out: str | Path, config: dict[str, Any], scored: ScoredRun,
                     history: pd.DataFrame | None = None) -> Path:
    """Write the run directory (``frame_predictions.csv`` too when there is a frame level)."""
    return write_run(out, config, scored.metrics, scored.predictions, history,
                     frame_predictions=scored.frame_predictions)


# -------------------------------------------------------------------------------------------- run config

def command_line() -> str:
    """The ``larnet ...`` command that is running, or "" when called from Python."""
    return "larnet " + " ".join(sys.argv[1:]) if sys.argv and "larnet" in sys.argv[0] else ""


def data_facts(sources: Sequence[tuple[str, str]], samples: pd.DataFrame, n_clips: int) -> dict[str, Any]:
    """The data part of config.json: datasets, roots, counts overall and per dataset."""
    per_dataset = {}
    if "dataset" in samples and len(samples):
        for name, group in samples.groupby(samples["dataset"].astype(str), sort=False):
            per_dataset[name] = {"n_samples": int(len(group)), "n_subjects": int(group["subject"].nunique()),
                                 "n_clips": int(group.drop_duplicates(["subject", "clip"]).shape[0])}
    names = [name for name, _ in sources]
    return {
        "dataset": "+".join(names),
        "root": str(sources[0][1]) if len(sources) == 1 else "",
        "data": {name: str(root) for name, root in sources},
        "n_clips": int(n_clips),
        "n_samples": int(len(samples)),
        "n_subjects": int(samples["subject"].nunique()) if len(samples) else 0,
        "per_dataset": per_dataset,
    }
