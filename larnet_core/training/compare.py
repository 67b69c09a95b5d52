"""Side-by-side table of run directories (what ``larnet compare`` prints and saves)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

from larnet_core.errors import LarnetError
from larnet_core.metrics import BootstrapInterval, subject_bootstrap
from larnet_core.runs import RunResult, load_run

__all__ = ["compare_runs", "seed_summary", "to_markdown", "COMPARE_COLUMNS", "SEED_SUMMARY_COLUMNS"]

COMPARE_COLUMNS = ("run", "model", "input_size", "seed", "dataset", "labels", "protocol", "sample_mode", "synthetic",
                   "n_test", "same_folds",
                   "accuracy", "uf1", "uf1_low", "uf1_high", "uar", "macro_f1", "d_uf1", "d_uf1_low", "d_uf1_high",
                   "train_seconds")


def compare_runs(run_dirs: Sequence[str | Path], *, n_resamples: int = 2000, seed: int = 0) -> pd.DataFrame:
    """One row per run with its headline scores, in the order given.

    Scores are clip-level (pooled over folds). When a run covers several datasets (the MEGC composite), the
    table gains ``uf1_<dataset>`` and ``uar_<dataset>`` columns: the same predictions scored on each dataset's
    clips, as the field's tables report them.

    ``same_folds`` says whether the run scored the same clips with the same held-out parts as the first run
    (the condition for reading the rows side by side). ``uf1_low``/``uf1_high`` bound a 95 % interval from resampling the test subjects
    (:func:`larnet_core.metrics.subject_bootstrap`). ``d_uf1`` is the run's UF1 minus the first run's, with a
    paired interval (``d_uf1_low``/``d_uf1_high``) when both were tested on the same subjects (empty otherwise):
    an interval that contains 0 means this test set does not separate the two.

    Raises:
        LarnetError: a folder is not a run directory, or the runs use different label schemes (their scores
            would not be comparable).
    """
    if not run_dirs:
        raise LarnetError("give at least one run directory to compare")
    rows = []
    runs = [load_run(run_dir) for run_dir in run_dirs]
    for run in runs:
        cfg, m = run.config, run.metrics
        interval, delta = _intervals(run, runs[0], n_resamples, seed)
        options = cfg.get("config") or {}
        rows.append({
            "run": run.name,
            "model": cfg.get("model", m.extra.get("model", "")),
            "input_size": cfg.get("input_size", options.get("input_size")),
            "seed": options.get("seed"),
            "dataset": cfg.get("dataset", ""),
            "labels": cfg.get("label_scheme", m.extra.get("label_scheme", "")),
            "protocol": cfg.get("protocol", m.extra.get("protocol", "")),
            "sample_mode": cfg.get("sample_mode", ""),
            "synthetic": bool(m.extra.get("synthetic", cfg.get("synthetic", False))),
            "n_test": m.n_samples,
            "same_folds": _folds(run) == _folds(runs[0]),
            "accuracy": m.accuracy,
            "uf1": m.uf1,
            "uf1_low": interval.low if interval else float("nan"),
            "uf1_high": interval.high if interval else float("nan"),
            "uar": m.uar,
            "macro_f1": m.macro_f1,
            "d_uf1": m.uf1 - runs[0].metrics.uf1,
            "d_uf1_low": delta.low if delta else float("nan"),
            "d_uf1_high": delta.high if delta else float("nan"),
            "train_seconds": cfg.get("train_seconds"),
        })
    table = pd.DataFrame(rows, columns=list(COMPARE_COLUMNS))
    for name in ("input_size", "seed"):  # whole numbers, empty where a run has none (LBP-TOP has no input size)
        table[name] = pd.array([None if v is None or pd.isna(v) else int(v) for v in table[name]], dtype="Int64")
    table = _with_per_dataset(table, runs)
    if table["labels"].nunique() > 1:
        raise LarnetError(f"the runs use different label schemes ({', '.join(table['labels'].unique())}); "
                          "compare runs of one scheme (or re-evaluate with --labels)")
    return table


#: One row per model and input size: its runs' seeds pooled.
SEED_SUMMARY_COLUMNS = ("model", "input_size", "n_runs", "seeds", "same_folds", "uf1_mean", "uf1_sd", "uf1_min",
                        "uf1_max", "uar_mean", "uar_sd")


def seed_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Runs of the same model at the same input size (several training seeds) as one row: mean, sample standard
    deviation (0 for one run), minimum and maximum of UF1, mean and spread of UAR. ``same_folds`` is True only
    when every run of the group scored the first run's clips with the same parts."""
    rows = []
    keys = ["model", "input_size"]
    for (model, size), group in table.groupby(keys, sort=False, dropna=False):
        rows.append({
            "model": model, "input_size": size, "n_runs": len(group),
            "seeds": " ".join(str(s) for s in group["seed"] if s is not None and not pd.isna(s)),
            "same_folds": bool(group["same_folds"].all()),
            "uf1_mean": float(group["uf1"].mean()), "uf1_sd": _spread(group["uf1"]),
            "uf1_min": float(group["uf1"].min()), "uf1_max": float(group["uf1"].max()),
            "uar_mean": float(group["uar"].mean()), "uar_sd": _spread(group["uar"]),
        })
    return pd.DataFrame(rows, columns=list(SEED_SUMMARY_COLUMNS))


def _spread(values: pd.Series) -> float:
    """Sample standard deviation; 0 for a single run."""
    return float(values.std(ddof=1)) if len(values) > 1 else 0.0


def _folds(run: RunResult) -> frozenset:
    """Which clip was scored by which part: ``(fold, dataset, subject, clip)`` of every prediction."""
    table = run.predictions
    columns = [c for c in ("fold", "dataset", "subject", "clip") if c in table]
    return frozenset(table[columns].astype(str).itertuples(index=False, name=None))


def _with_per_dataset(table: pd.DataFrame, runs: Sequence[RunResult]) -> pd.DataFrame:
    if not any(len(run.metrics.per_dataset) > 1 for run in runs):
        return table
    datasets: list[str] = []
    for run in runs:
        datasets += [d for d in run.metrics.per_dataset.get("dataset", []) if d not in datasets]
    for name in datasets:
        for metric in ("uf1", "uar"):
            values = []
            for run in runs:
                rows = run.metrics.per_dataset
                hit = rows[rows["dataset"] == name] if len(rows) else rows
                values.append(float(hit[metric].iloc[0]) if len(hit) else float("nan"))
            table[f"{metric}_{name}"] = values
    return table


def _intervals(run: RunResult, first: RunResult, n_resamples: int, seed: int
               ) -> tuple[BootstrapInterval | None, BootstrapInterval | None]:
    """The run's UF1 interval and its paired difference from the first run, where the predictions allow them."""
    names = run.metrics.class_names
    if "subject" not in run.predictions:
        return None, None
    try:
        interval = subject_bootstrap(run.predictions, names, n_resamples=n_resamples, seed=seed)
    except ValueError:
        return None, None
    if run is first or first.metrics.class_names != names:
        return interval, None
    try:
        delta = subject_bootstrap(run.predictions, names, baseline=first.predictions, n_resamples=n_resamples,
                                  seed=seed)
    except ValueError:  # tested on other subjects: no paired interval
        delta = None
    return interval, delta


def to_markdown(table: pd.DataFrame, digits: int = 3) -> str:
    """A GitHub Markdown table (floats rounded to ``digits``)."""

    def cell(value) -> str:
        if value is None or value is pd.NA:
            return ""
        if isinstance(value, float):
            return "" if pd.isna(value) else f"{value:.{digits}f}"
        return str(value)

    lines = ["| " + " | ".join(table.columns) + " |", "|" + "|".join("---" for _ in table.columns) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines) + "\n"
