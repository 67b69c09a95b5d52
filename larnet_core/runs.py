"""Run directories written by ``larnet train`` / ``larnet evaluate``, and reading them back.

A run directory holds::

    config.json      how the run was made (command options, data, split, model card summary, "checkpoint")
    history.csv      one row per logged step: iteration, fold, split, loss, accuracy, lr, ...
    metrics.json     MetricsReport.to_dict() plus label_scheme, class_names, protocol, "synthetic"
    predictions.csv  one row per test CLIP: subject, clip, frame, true_label, pred_label, prob_<class>..., fold,
                     dataset (every metric is computed from it)
    frame_predictions.csv  ``frames`` sample mode only: one row per frame, before the clips were combined
                     (the frame-level view; not comparable with published results)
    model.pt         the trained checkpoint (omitted when config.json's "checkpoint" points elsewhere)

Reading needs pandas only (no torch), so pages that list runs stay cheap.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from larnet_core.errors import LarnetError
from larnet_core.metrics import MetricsReport

__all__ = ["RunResult", "load_run", "list_runs", "write_run", "read_predictions", "RUN_FILES"]

RUN_FILES = ("config.json", "history.csv", "metrics.json", "predictions.csv")


@dataclass
class RunResult:
    """A run directory read back.

    Attributes:
        path: the run directory.
        config: content of config.json.
        history: content of history.csv (empty when absent).
        metrics: metrics.json as a :class:`MetricsReport`.
        predictions: content of predictions.csv.
        checkpoint: the checkpoint the run evaluated, when the file exists.
        frame_predictions: content of frame_predictions.csv (``frames`` sample mode), else None.
    """

    path: Path
    config: dict[str, Any]
    history: pd.DataFrame
    metrics: MetricsReport
    predictions: pd.DataFrame
    checkpoint: Path | None
    frame_predictions: pd.DataFrame | None = None

    @property
    def name(self) -> str:
        return str(self.config.get("name") or self.path.name)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LarnetError(f"{path} is missing: {path.parent} is not a complete run directory; "
                          "re-run `larnet train` or `larnet evaluate` for it") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LarnetError(f"{path} is not valid JSON ({exc}); the run was not written completely, re-run it") from None


def load_run(run_dir: str | Path) -> RunResult:
    """Read a run directory.

    Raises:
        LarnetError: the folder is missing or lacks config.json / metrics.json / predictions.csv.
    """
    path = Path(run_dir)
    if not path.is_dir():
        raise LarnetError(f"run directory {path} does not exist; pass a folder written by `larnet train`")
    config = _read_json(path / "config.json")
    metrics = MetricsReport.from_dict(_read_json(path / "metrics.json"))
    predictions_file = path / "predictions.csv"
    if not predictions_file.exists():
        raise LarnetError(f"{predictions_file} is missing; re-run `larnet evaluate {path}`")
    predictions = read_predictions(predictions_file)
    frames_file = path / "frame_predictions.csv"
    frame_predictions = read_predictions(frames_file) if frames_file.exists() else None
    history_file = path / "history.csv"
    history = pd.read_csv(history_file) if history_file.exists() and history_file.stat().st_size else pd.DataFrame()
    checkpoint = None
    pointer = config.get("checkpoint")
    if pointer:
        candidate = (path / pointer).resolve()
        checkpoint = candidate if candidate.exists() else None
    elif (path / "model.pt").exists():
        checkpoint = path / "model.pt"
    return RunResult(path=path, config=config, history=history, metrics=metrics, predictions=predictions,
                     checkpoint=checkpoint, frame_predictions=frame_predictions)


def read_predictions(path: str | Path) -> pd.DataFrame:
    """A predictions table as written by :func:`write_run` (ids read as text: ``006`` stays ``006``)."""
    return pd.read_csv(path, dtype={"subject": str, "clip": str, "frame": str, "dataset": str, "fold": str},
                       keep_default_na=False, na_values={"true_label": [""], "pred_label": [""]})


def list_runs(root: str | Path) -> list[Path]:
    """Run directories under ``root`` (any depth), sorted by path; a missing root gives an empty list."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p.parent for p in root.rglob("metrics.json") if (p.parent / "config.json").exists())


def write_run(
    run_dir: str | Path,
    config: dict[str, Any],
    metrics: MetricsReport,
    predictions: pd.DataFrame,
    history: pd.DataFrame | None = None,
    frame_predictions: pd.DataFrame | None = None,
) -> Path:
    """Write config.json, metrics.json, predictions.csv and (when given) history.csv and frame_predictions.csv
    into ``run_dir``."""
    path = Path(run_dir)
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps(config, indent=2, default=str) + "\n", encoding="utf-8")
    (path / "metrics.json").write_text(json.dumps(metrics.to_dict(), indent=2) + "\n", encoding="utf-8")
    predictions.to_csv(path / "predictions.csv", index=False, float_format="%.6f")
    if history is not None:
        history.to_csv(path / "history.csv", index=False, float_format="%.6g")
    frames_file = path / "frame_predictions.csv"
    if frame_predictions is not None:
        frame_predictions.to_csv(frames_file, index=False, float_format="%.6f")
    else:
        frames_file.unlink(missing_ok=True)  # a rewritten run must not keep another run's frame level
    return path
