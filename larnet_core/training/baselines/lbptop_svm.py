"""``larnet train --model lbptop-svm``: LBP-TOP features of each clip's onset..offset frames + a linear SVM.

Scored on the same subject-independent parts as the networks and written in the same run-directory format,
so ``larnet compare`` puts it beside them. The SVM's C is fixed by the configuration (``--svm-c``), never tuned
on test subjects. No model.pt is written: an SVM is not a network checkpoint.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from sklearn.svm import LinearSVC
from tqdm import tqdm

from larnet_core.data import read_rgb
from larnet_core.errors import DatasetError
from larnet_core.training.baselines.lbptop import clip_volume, lbp_top_histogram
from larnet_core.training.config import TrainConfig
from larnet_core.training.protocol import (command_line, data_facts, is_synthetic_sources, load_sources, plan_parts,
                                           predictions_table, records_table, score_predictions, write_scored_run)

__all__ = ["train_lbptop_svm", "clip_features"]

FEATURE_SIZE = 64
GRID = 4


def clip_features(records: Sequence, progress: bool = False, size: int = FEATURE_SIZE, grid: int = GRID) -> np.ndarray:
    """LBP-TOP feature matrix, one row per clip (its onset..offset frames)."""
    iterator = records
    if progress:
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
    started = time.perf_counter()
    sources = config.sources()
    records, classes = load_sources(sources, config.labels)
    clips = records_table(records)  # one sample per clip; subjects namespaced in a composite
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
        tables.append(predictions_table(clips.iloc[test_idx], probs, classes, plan.name))
    synthetic = is_synthetic_sources(sources) if config.synthetic is None else bool(config.synthetic)
    scored = score_predictions(pd.concat(tables, ignore_index=True), classes, label_scheme=config.labels,
                               protocol=config.protocol, synthetic=synthetic, sample_mode="clip", model="lbptop-svm",
                               dataset=config.dataset_label)
    out = Path(config.out)
    run_config = {
        "name": config.name or out.name, "kind": "train", "model": "lbptop-svm", "command": command_line(),
        **data_facts(sources, clips, len(records)), "label_scheme": config.labels, "class_names": classes,
        "protocol": config.protocol, "sample_mode": "clip", "scoring": "clip", "synthetic": synthetic,
        "features": {"kind": "LBP-TOP", "size": FEATURE_SIZE, "grid": GRID, "bins": 59, "svm_c": config.svm_c},
        "parts": [{"name": p.name, "train_subjects": list(p.train_subjects) + list(p.val_subjects),
                   "test_subjects": list(p.test_subjects), "n_train": len(p.train) + len(p.val),
                   "n_test": len(p.test)} for p in plans],
        "checkpoint": None, "train_seconds": round(time.perf_counter() - started, 1), "config": config.to_dict(),
    }
    history = pd.DataFrame(columns=["iteration", "fold", "split", "loss", "accuracy", "uf1", "lr"])
    return write_scored_run(out, run_config, scored, history)
