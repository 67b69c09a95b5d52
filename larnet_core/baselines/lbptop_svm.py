"""``larnet train --model lbptop-svm``: LBP-TOP features of each clip's onset..offset frames + a linear SVM.

Scored on the same subject-independent parts as the networks and written in the same run-directory format,
so ``larnet compare`` puts it beside them. The SVM's C is fixed by the configuration (``--svm-c``), never tuned
on test subjects. No model.pt is written: an SVM is not a network checkpoint.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from larnet_core.baselines.lbptop import clip_volume, lbp_top_histogram
from larnet_core.errors import DatasetError
from larnet_core.metrics import compute_metrics, prob_column
from larnet_core.runs import write_run
from larnet_core.training.config import TrainConfig
from larnet_core.training.data import is_synthetic_root, load_labelled_records

__all__ = ["train_lbptop_svm", "clip_features"]

FEATURE_SIZE = 64
GRID = 4


def clip_features(records: Sequence, progress: bool = False, size: int = FEATURE_SIZE, grid: int = GRID) -> np.ndarray:
    """LBP-TOP feature matrix, one row per clip (its onset..offset frames)."""
    from larnet_core.data import read_rgb

    iterator = records
    if progress:
        from tqdm import tqdm

        iterator = tqdm(records, desc="LBP-TOP features", unit="clip", leave=False)
    rows = []
    for record in iterator:
        frames = record.frames[record.onset_index:record.offset_index + 1] or record.frames
        rows.append(lbp_top_histogram(clip_volume([read_rgb(p) for p in frames], size=size), grid=grid))
    return np.stack(rows)


def _softmax(scores: np.ndarray) -> np.ndarray:
    scores = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(scores)
    return exp / exp.sum(axis=1, keepdims=True)


def _fit_predict(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, classes: Sequence[str],
                 c: float, fold: str) -> np.ndarray:
    from sklearn.svm import LinearSVC

    present = sorted(set(y_train.tolist()))
    if len(present) < 2:
        raise DatasetError(f"part {fold}: the training subjects hold one class only ({present}); add data")
    svm = LinearSVC(C=c, class_weight="balanced", max_iter=20000, random_state=0).fit(x_train, y_train)
    scores = svm.decision_function(x_test)
    if scores.ndim == 1:  # two classes: one signed score
        scores = np.stack([-scores, scores], axis=1)
    full = np.full((len(x_test), len(classes)), -1e9, dtype=np.float64)
    for column, label in enumerate(svm.classes_):
        full[:, classes.index(label)] = scores[:, column]
    return _softmax(full)


def train_lbptop_svm(config: TrainConfig, progress: bool = True) -> Path:
    """Run the LBP-TOP + SVM baseline under ``config.protocol`` and write the run directory."""
    from larnet_core.training.runner import plan_parts

    started = time.perf_counter()
    records, classes = load_labelled_records(config.dataset, config.root, config.labels)
    clips = pd.DataFrame({"subject": [r.subject for r in records], "dataset": [r.dataset for r in records],
                          "clip": [r.clip for r in records], "label": [r.label for r in records],
                          "frame": [f"{r.frame_numbers[r.onset_index]}-{r.frame_numbers[r.offset_index]}"
                                    for r in records]})
    features = clip_features(records, progress=progress)
    labels = clips["label"].to_numpy()
    classes = list(classes)
    tables = []
    plans = plan_parts(clips, config)
    for plan in plans:
        train_idx = list(plan.train) + list(plan.val)  # no epochs to select: validation subjects train too
        test_idx = list(plan.test)
        probs = _fit_predict(features[train_idx], labels[train_idx], features[test_idx], classes, config.svm_c,
                             plan.name)
        part = clips.iloc[test_idx]
        table = pd.DataFrame({"subject": part["subject"].astype(str).to_numpy(), "clip": part["clip"].to_numpy(),
                              "frame": part["frame"].to_numpy(), "true_label": part["label"].to_numpy(),
                              "pred_label": [classes[i] for i in probs.argmax(axis=1)]})
        for i, name in enumerate(classes):
            table[prob_column(name)] = probs[:, i]
        table["fold"] = plan.name
        tables.append(table)
    predictions = pd.concat(tables, ignore_index=True)
    synthetic = is_synthetic_root(config.root) if config.synthetic is None else bool(config.synthetic)
    metrics = compute_metrics(predictions, classes, label_scheme=config.labels, protocol=config.protocol,
                              synthetic=synthetic, sample_mode="clip", model="lbptop-svm", dataset=config.dataset)
    out = Path(config.out)
    run_config = {
        "name": config.name or out.name, "kind": "train", "model": "lbptop-svm",
        "command": "larnet " + " ".join(sys.argv[1:]) if sys.argv and "larnet" in sys.argv[0] else "",
        "dataset": config.dataset, "root": str(config.root), "label_scheme": config.labels, "class_names": classes,
        "protocol": config.protocol, "sample_mode": "clip", "synthetic": synthetic, "n_clips": len(records),
        "n_samples": len(records), "n_subjects": int(clips["subject"].nunique()),
        "features": {"kind": "LBP-TOP", "size": FEATURE_SIZE, "grid": GRID, "bins": 59, "svm_c": config.svm_c},
        "parts": [{"name": p.name, "train_subjects": list(p.train_subjects) + list(p.val_subjects),
                   "test_subjects": list(p.test_subjects), "n_train": len(p.train) + len(p.val),
                   "n_test": len(p.test)} for p in plans],
        "checkpoint": None, "train_seconds": round(time.perf_counter() - started, 1), "config": config.to_dict(),
    }
    history = pd.DataFrame(columns=["iteration", "fold", "split", "loss", "accuracy", "uf1", "lr"])
    return write_run(out, run_config, metrics, predictions, history)
