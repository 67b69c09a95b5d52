"""Scoring trained models: a checkpoint on any dataset (or composite), or a run directory's metrics recomputed."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from larnet_core.devices import resolve_device
from larnet_core.errors import DatasetError, LarnetError
from larnet_core.metrics import MetricsReport, compute_metrics
from larnet_core.runs import read_predictions
from larnet_core.training.protocol import (FRAME_LEVEL_NOTE, class_projection, command_line, data_facts,
                                           is_synthetic_sources, load_sources, predictions_table, qualify_subjects,
                                           score_predictions, write_scored_run)

__all__ = ["evaluate_checkpoint", "reevaluate_run", "class_projection", "SubjectOverlap", "subject_overlap"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SubjectOverlap:
    """Evaluated subjects that also trained (or validated) the checkpoint.

    Attributes:
        subjects: the shared subjects, dataset-qualified (``casme2/sub01``).
        n_evaluated: subjects in the evaluated set.
        n_clips: evaluated clips of the shared subjects.
        n_total_clips: evaluated clips in all.
    """

    subjects: tuple[str, ...]
    n_evaluated: int
    n_clips: int
    n_total_clips: int

    @property
    def message(self) -> str:
        shown = ", ".join(self.subjects[:8]) + (" ..." if len(self.subjects) > 8 else "")
        return (f"{len(self.subjects)} of the {self.n_evaluated} evaluated subjects ({self.n_clips} of "
                f"{self.n_total_clips} clips) trained or validated this checkpoint ({shown}); their scores "
                "are not subject-independent. Evaluate on subjects the model never saw.")


def subject_overlap(training_subjects: Sequence[str], samples: pd.DataFrame) -> SubjectOverlap | None:
    """The overlap between a card's training subjects and an evaluated samples table, or None when disjoint."""
    if not training_subjects:
        return None
    clips = samples.drop_duplicates(["dataset", "subject", "clip"])
    keys = [s if "/" in s else f"{d}/{s}" for d, s in zip(clips["dataset"].astype(str), clips["subject"].astype(str))]
    shared = sorted(set(keys) & set(training_subjects))
    if not shared:
        return None
    return SubjectOverlap(tuple(shared), len(set(keys)), sum(k in set(shared) for k in keys), len(keys))


def evaluate_checkpoint(checkpoint: str | Path, dataset: str | None = None, root: str | Path | None = None,
                        out: str | Path = "runs/evaluate", labels: str | None = None, device: str = "auto",
                        workers: int = 2, progress: bool = True, *,
                        data: dict[str, str] | None = None, flow_cache: str | None = None) -> Path:
    """Predict every labelled clip of a dataset (or of several, ``data={name: root}``) with a trained model and
    write a run directory.

    The checkpoint's own sample mode, flow estimator, input size and mean/std are used. When ``labels`` differs
    from the scheme the model was trained on, probabilities are summed into the target classes (see
    :func:`~larnet_core.training.protocol.class_projection`). Frame predictions are combined per clip before
    scoring. Every clip is a test sample: when the card records training subjects that are evaluated again,
    a warning with the counts is logged and stored in config.json (``training_subject_overlap``).

    Raises:
        CheckpointError, DatasetError, LarnetError: unreadable checkpoint, data or incompatible labels.
    """
    # lazy: torch only to run a checkpoint (re-scoring a run's predictions needs none)
    from larnet_core.data import expand_samples
    from larnet_core.models import load_checkpoint
    from larnet_core.training.data import load_sample_images
    from larnet_core.training.loop import predict_proba

    sources = list(data.items()) if data else [(dataset or "casme2", str(root or ""))]
    torch_device = resolve_device(device)
    loaded = load_checkpoint(checkpoint, device=torch_device)
    card = loaded.card
    scheme = labels or card.label_scheme
    if not scheme:
        raise LarnetError(f"{checkpoint} records no label scheme; pass --labels (casme2-7, casme2-5, megc-3)")
    records, classes = load_sources(sources, scheme)
    samples = qualify_subjects(expand_samples(records, card.sample_mode))
    overlap = subject_overlap(card.training_subjects, samples)
    if overlap is not None:
        log.warning("%s", overlap.message)
    flow = card.flow or "farneback"  # cards written before the flow option were trained on Farneback flow
    sample_set = load_sample_images(samples, card.sample_mode, card.input_size, classes, workers, progress=progress,
                                    flow=flow, flow_cache=flow_cache, face=card.face or "none")
    probs = predict_proba(loaded.model, sample_set.images, card.mean, card.std, torch_device)
    projected = probs @ class_projection(card.label_scheme or scheme, card.class_names, scheme, classes)
    projected = projected / np.clip(projected.sum(axis=1, keepdims=True), 1e-12, None)
    table = predictions_table(samples, projected, classes, "all")
    synthetic = bool(card.synthetic or is_synthetic_sources(sources))
    label = "+".join(name for name, _ in sources)
    scored = score_predictions(table, classes, label_scheme=scheme, protocol="external", synthetic=synthetic,
                               sample_mode=card.sample_mode, model=card.preset, dataset=label)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    config = {
        "name": out.name, "kind": "evaluate", "command": command_line(),
        "model": card.preset, **data_facts(sources, samples, len(records)), "label_scheme": scheme,
        "class_names": list(classes), "protocol": "external", "sample_mode": card.sample_mode, "scoring": "clip",
        "flow": flow if card.sample_mode == "flow" else None, "input_size": card.input_size, "synthetic": synthetic,
        "checkpoint": os.path.relpath(Path(checkpoint).resolve(), out.resolve()), "checkpoint_sha256": loaded.sha256,
        "training_subject_overlap": None if overlap is None else {
            "subjects": list(overlap.subjects), "n_evaluated_subjects": overlap.n_evaluated,
            "n_clips": overlap.n_clips, "n_total_clips": overlap.n_total_clips},
        "card": card.to_dict(),
    }
    return write_scored_run(out, config, scored)


def reevaluate_run(run_dir: str | Path) -> MetricsReport:
    """Recompute a run's metrics.json from its predictions.csv (e.g. after a metrics fix); returns the report.

    predictions.csv already holds one row per clip; frame_predictions.csv, when present, gives the labelled
    frame-level figures again.
    """
    path = Path(run_dir)
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
        old = json.loads((path / "metrics.json").read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise LarnetError(f"{exc.filename} is missing: {path} is not a run directory written by `larnet train`") from None
    predictions_file = path / "predictions.csv"
    if not predictions_file.exists():
        raise DatasetError(f"{predictions_file} is missing; re-run the training or evaluation that made {path}")
    predictions = read_predictions(predictions_file)
    classes = config.get("class_names") or old["class_names"]
    keep = ("label_scheme", "protocol", "synthetic", "sample_mode", "model", "dataset")
    report = compute_metrics(predictions, classes, **{k: old[k] for k in keep if k in old})
    frames_file = path / "frame_predictions.csv"
    if frames_file.exists():
        frame_report = compute_metrics(read_predictions(frames_file), classes)
        report.extra["frame_level"] = {"note": FRAME_LEVEL_NOTE, "n_samples": frame_report.n_samples,
                                       **frame_report.summary()}
    (path / "metrics.json").write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
    return report
