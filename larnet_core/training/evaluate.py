"""Scoring trained models: a checkpoint on any dataset, or a run directory's metrics recomputed."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from larnet_core.errors import DatasetError, LarnetError
from larnet_core.metrics import MetricsReport, compute_metrics, prob_column
from larnet_core.runs import write_run

__all__ = ["evaluate_checkpoint", "reevaluate_run", "class_projection"]


def class_projection(source_scheme: str, source_classes: Sequence[str], target_scheme: str,
                     target_classes: Sequence[str]) -> np.ndarray:
    """Matrix ``len(source) x len(target)`` that sums a model's class probabilities into another scheme's
    classes (casme2-7 disgust + repression -> megc-3 negative); source classes with no counterpart are dropped.

    Raises:
        LarnetError: no source class maps onto the target scheme.
    """
    from larnet_core.data import remap_labels

    matrix = np.zeros((len(source_classes), len(target_classes)), dtype=np.float32)
    if source_scheme == target_scheme or list(source_classes) == list(target_classes):
        return np.eye(len(source_classes), dtype=np.float32)
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


def evaluate_checkpoint(checkpoint: str | Path, dataset: str, root: str | Path, out: str | Path,
                        labels: str | None = None, device: str = "auto", workers: int = 2,
                        progress: bool = True) -> Path:
    """Predict every labelled clip of a dataset with a trained model and write a run directory.

    The checkpoint's own sample mode, input size and mean/std are used. When ``labels`` differs from the
    scheme the model was trained on, probabilities are summed into the target classes (see
    :func:`class_projection`). Every clip is a test sample, so only evaluate on subjects the model never saw.

    Raises:
        CheckpointError, DatasetError, LarnetError: unreadable checkpoint, data or incompatible labels.
    """
    from larnet_core.data import expand_samples
    from larnet_core.devices import resolve_device
    from larnet_core.models import load_checkpoint
    from larnet_core.training.data import is_synthetic_root, load_labelled_records, load_sample_images
    from larnet_core.training.loop import predict_proba

    torch_device = resolve_device(device)
    loaded = load_checkpoint(checkpoint, device=torch_device)
    card = loaded.card
    scheme = labels or card.label_scheme
    if not scheme:
        raise LarnetError(f"{checkpoint} records no label scheme; pass --labels (casme2-7, casme2-5, megc-3)")
    records, classes = load_labelled_records(dataset, root, scheme)
    samples = expand_samples(records, card.sample_mode)
    data = load_sample_images(samples, card.sample_mode, card.input_size, classes, workers, progress=progress)
    probs = predict_proba(loaded.model, data.images, card.mean, card.std, torch_device)
    projected = probs @ class_projection(card.label_scheme or scheme, card.class_names, scheme, classes)
    projected = projected / np.clip(projected.sum(axis=1, keepdims=True), 1e-12, None)
    table = pd.DataFrame({"subject": samples["subject"].astype(str), "clip": samples["clip"].astype(str),
                          "frame": samples["frame"].astype(str), "true_label": samples["label"].astype(str),
                          "pred_label": [classes[i] for i in projected.argmax(axis=1)]})
    for i, name in enumerate(classes):
        table[prob_column(name)] = projected[:, i]
    table["fold"] = "all"
    synthetic = bool(card.synthetic or is_synthetic_root(root))
    metrics = compute_metrics(table, classes, label_scheme=scheme, protocol="external", synthetic=synthetic,
                              sample_mode=card.sample_mode, model=card.preset, dataset=dataset)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    config = {
        "name": out.name, "kind": "evaluate",
        "command": "larnet " + " ".join(sys.argv[1:]) if sys.argv and "larnet" in sys.argv[0] else "",
        "model": card.preset, "dataset": dataset, "root": str(root), "label_scheme": scheme,
        "class_names": list(classes), "protocol": "external", "sample_mode": card.sample_mode,
        "input_size": card.input_size, "synthetic": synthetic, "n_clips": len(records), "n_samples": len(samples),
        "n_subjects": int(samples["subject"].nunique()),
        "checkpoint": os.path.relpath(Path(checkpoint).resolve(), out.resolve()), "checkpoint_sha256": loaded.sha256,
        "card": card.to_dict(),
    }
    return write_run(out, config, metrics, table)


def reevaluate_run(run_dir: str | Path) -> MetricsReport:
    """Recompute a run's metrics.json from its predictions.csv (e.g. after a metrics fix); returns the report."""
    path = Path(run_dir)
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
        old = json.loads((path / "metrics.json").read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise LarnetError(f"{exc.filename} is missing: {path} is not a run directory written by `larnet train`") from None
    predictions_file = path / "predictions.csv"
    if not predictions_file.exists():
        raise DatasetError(f"{predictions_file} is missing; re-run the training or evaluation that made {path}")
    predictions = pd.read_csv(predictions_file, dtype={"subject": str, "clip": str, "frame": str})
    classes = config.get("class_names") or old["class_names"]
    keep = ("label_scheme", "protocol", "synthetic", "sample_mode", "model", "dataset")
    report = compute_metrics(predictions, classes, **{k: old[k] for k in keep if k in old})
    (path / "metrics.json").write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
    return report
