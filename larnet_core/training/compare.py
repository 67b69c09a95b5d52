"""Side-by-side table of run directories (what ``larnet compare`` prints and saves)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

from larnet_core.errors import LarnetError
from larnet_core.runs import load_run

__all__ = ["compare_runs", "to_markdown", "COMPARE_COLUMNS"]

COMPARE_COLUMNS = ("run", "model", "dataset", "labels", "protocol", "sample_mode", "synthetic", "n_test",
                   "accuracy", "uf1", "uar", "macro_f1", "train_seconds")


def compare_runs(run_dirs: Sequence[str | Path]) -> pd.DataFrame:
    """One row per run with its headline scores, in the order given.

    Raises:
        LarnetError: a folder is not a run directory, or the runs use different label schemes (their scores
            would not be comparable).
    """
    if not run_dirs:
        raise LarnetError("give at least one run directory to compare")
    rows = []
    for run_dir in run_dirs:
        run = load_run(run_dir)
        cfg, m = run.config, run.metrics
        rows.append({
            "run": run.name,
            "model": cfg.get("model", m.extra.get("model", "")),
            "dataset": cfg.get("dataset", ""),
            "labels": cfg.get("label_scheme", m.extra.get("label_scheme", "")),
            "protocol": cfg.get("protocol", m.extra.get("protocol", "")),
            "sample_mode": cfg.get("sample_mode", ""),
            "synthetic": bool(m.extra.get("synthetic", cfg.get("synthetic", False))),
            "n_test": m.n_samples,
            "accuracy": m.accuracy,
            "uf1": m.uf1,
            "uar": m.uar,
            "macro_f1": m.macro_f1,
            "train_seconds": cfg.get("train_seconds"),
        })
    table = pd.DataFrame(rows, columns=list(COMPARE_COLUMNS))
    if table["labels"].nunique() > 1:
        raise LarnetError(f"the runs use different label schemes ({', '.join(table['labels'].unique())}); "
                          "compare runs of one scheme (or re-evaluate with --labels)")
    return table


def to_markdown(table: pd.DataFrame, digits: int = 3) -> str:
    """A GitHub Markdown table (floats rounded to ``digits``)."""

    def cell(value) -> str:
        if isinstance(value, float):
            return "" if pd.isna(value) else f"{value:.{digits}f}"
        return str(value)

    lines = ["| " + " | ".join(table.columns) + " |", "|" + "|".join("---" for _ in table.columns) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines) + "\n"
