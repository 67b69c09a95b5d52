"""A batch's output folder: per-clip Parquet partitions, completion markers and the summary.

Layout::

    DIR/summary.parquet                       one row per clip (SUMMARY_COLUMNS, plus subject/label)
    DIR/frames/clip=<clip_id>/part.parquet    the clip's per-frame table   } Hive-partitioned datasets:
    DIR/intervals/clip=<clip_id>/part.parquet its spotted intervals        } pd.read_parquet(DIR / "frames")
    DIR/faces/clip=<clip_id>/part.parquet     its face tracks              } reads every clip, with a clip column
    DIR/clips/<clip_id>.json                  completion marker: status, input and settings hashes, summary row,
                                              the result's record (prediction, class names, model, settings)

A clip is written in a private folder under ``DIR/.tmp``, its partitions renamed into place, and only then its
marker written (atomically). A clip without a marker, or whose marker does not match its input and settings, is
not complete and is redone; so an interrupted batch loses at most the clips it was writing.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any, Iterable, Mapping

import pandas as pd

from larnet_core.errors import LarnetError
from larnet_core.result import AnalysisResult, ClipMeta, ClipPrediction
from larnet_core.result.parquet import parquet_bytes, read_parquet, write_parquet
from larnet_core.paths import write_atomic

__all__ = [
    "DATASETS",
    "SUMMARY_COLUMNS",
    "TIMING_COLUMNS",
    "MARKER_FORMAT",
    "BatchOutput",
    "is_batch_dir",
    "find_batch_dirs",
]

#: The per-clip tables written as partitioned datasets.
DATASETS = ("frames", "intervals", "faces")
#: Summary columns, in order (``subject`` and ``label`` follow ``source`` when a manifest gave them).
SUMMARY_COLUMNS = ("clip", "path", "source", "subject", "label", "status", "error", "error_type", "prediction",
                   "confidence", "intervals", "n_micro", "n_macro", "frames", "fps", "seconds", "width", "height",
                   "faces", "input_sha256", "model_sha256", "settings_sha256", "worker", "elapsed_s",
                   "finished_at")
#: Summary columns that describe the run rather than the result (differ between two runs of the same batch).
TIMING_COLUMNS = ("worker", "elapsed_s", "finished_at")
MARKER_FORMAT = 1

_SUMMARY = "summary.parquet"
_PART = "part.parquet"


def is_batch_dir(path: str | Path) -> bool:
    """Whether ``path`` is a batch output folder (it has a summary)."""
    return (Path(path) / _SUMMARY).is_file()


def find_batch_dirs(root: str | Path, max_depth: int = 2) -> list[Path]:
    """Batch output folders at most ``max_depth`` levels under ``root`` (``root`` itself included), sorted."""
    root = Path(root)
    if not root.is_dir():
        return []
    found, level = [], [root]
    for _ in range(max_depth + 1):
        found.extend(p for p in level if is_batch_dir(p))
        level = [c for p in level if not is_batch_dir(p) for c in sorted(p.iterdir())
                 if c.is_dir() and not c.name.startswith(".")]
    return sorted(found)


class BatchOutput:
    """Reads and writes one batch output folder (see the module docstring for the layout).

    Args:
        root: the output folder (created on the first write).
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    # ------------------------------------------------------------------------------------------- paths
    @property
    def summary_path(self) -> Path:
        return self.root / _SUMMARY

    def marker_path(self, clip_id: str) -> Path:
        return self.root / "clips" / f"{clip_id}.json"

    def partition(self, dataset: str, clip_id: str) -> Path:
        """The folder holding one clip's part of a dataset."""
        return self.root / dataset / f"clip={clip_id}"

    # ------------------------------------------------------------------------------------------- markers
    def read_marker(self, clip_id: str) -> dict[str, Any] | None:
        """The clip's completion marker, or None when it has none (or an unreadable one: then it is redone)."""
        try:
            marker = json.loads(self.marker_path(clip_id).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return marker if isinstance(marker, dict) and marker.get("format") == MARKER_FORMAT else None

    def is_complete(self, marker: Mapping[str, Any] | None) -> bool:
        """Whether a marker's clip is fully written: a failure is; a success when all its partitions exist."""
        if not marker:
            return False
        if marker.get("status") == "failed":
            return True
        clip = str(marker.get("clip", ""))
        return marker.get("status") == "ok" and all((self.partition(d, clip) / _PART).is_file() for d in DATASETS)

    def touch_marker(self, marker: dict[str, Any], stat: Mapping[str, int]) -> None:
        """Record a new size / modification time for an input whose content did not change."""
        marker = {**marker, "input": {**marker.get("input", {}), **stat}}
        write_atomic(self.marker_path(str(marker["clip"])), json.dumps(marker).encode())

    def markers(self) -> list[dict[str, Any]]:
        """Every readable completion marker in the folder."""
        folder = self.root / "clips"
        if not folder.is_dir():
            return []
        found = (self.read_marker(p.stem) for p in sorted(folder.glob("*.json")))
        return [m for m in found if m is not None]

    def models(self) -> pd.DataFrame:
        """The models the finished clips were analysed with: one row per checkpoint (``sha256``, ``preset``,
        ``checkpoint``, ``synthetic``, ``training_data``, ``clips``), most used first."""
        rows: dict[str, dict[str, Any]] = {}
        for marker in self.markers():
            model = (marker.get("record") or {}).get("model") if marker.get("status") == "ok" else None
            if not isinstance(model, dict):
                continue
            key = str(model.get("sha256", ""))
            row = rows.setdefault(key, {"sha256": key, "preset": str(model.get("preset", "")),
                                        "checkpoint": str(model.get("checkpoint", "")),
                                        "synthetic": bool(model.get("synthetic", False)),
                                        "training_data": str(model.get("training_data", "")), "clips": 0})
            row["clips"] += 1
        columns = ["sha256", "preset", "checkpoint", "synthetic", "training_data", "clips"]
        table = pd.DataFrame(list(rows.values()), columns=columns)
        return table.sort_values("clips", ascending=False, kind="stable").reset_index(drop=True)

    # ------------------------------------------------------------------------------------------- writing
    def forget(self, clip_id: str) -> None:
        """Remove a clip's marker, then its partitions (so nothing half-written ever looks complete)."""
        self.marker_path(clip_id).unlink(missing_ok=True)
        for dataset in DATASETS:
            target = self.partition(dataset, clip_id)
            if target.exists():
                # Rename away first: a reader of the dataset never sees a partly deleted folder.
                trash = self.root / ".tmp" / f"trash-{uuid.uuid4().hex}"
                trash.parent.mkdir(parents=True, exist_ok=True)
                os.replace(target, trash)
                shutil.rmtree(trash, ignore_errors=True)

    def write_clip(self, clip_id: str, tables: Mapping[str, pd.DataFrame], marker: dict[str, Any]) -> None:
        """Write a clip's tables and then its marker; a clip interrupted half way has no marker."""
        self.forget(clip_id)
        staging = self.root / ".tmp" / f"{clip_id}-{uuid.uuid4().hex[:8]}"
        try:
            for dataset in DATASETS:
                folder = staging / dataset
                folder.mkdir(parents=True)
                write_parquet(tables[dataset], folder / _PART)
            for dataset in DATASETS:
                target = self.partition(dataset, clip_id)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staging / dataset, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        self.write_marker(clip_id, marker)

    def write_marker(self, clip_id: str, marker: Mapping[str, Any]) -> None:
        write_atomic(self.marker_path(clip_id), json.dumps({"format": MARKER_FORMAT, "clip": clip_id, **marker},
                                                            default=str).encode())

    def write_failure(self, clip_id: str, marker: dict[str, Any]) -> None:
        """Record a clip that could not be analysed (its old results, if any, are removed)."""
        self.forget(clip_id)
        self.write_marker(clip_id, marker)

    def clear_staging(self) -> None:
        """Remove what an interrupted run left half-written (run before a batch starts, never during one)."""
        shutil.rmtree(self.root / ".tmp", ignore_errors=True)

    def write_summary(self, rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
        """Write the summary atomically (a reader sees the old or the new one, never a part) and return it."""
        table = summary_frame(rows)
        self.root.mkdir(parents=True, exist_ok=True)
        write_atomic(self.summary_path, parquet_bytes(table))
        return table

    # ------------------------------------------------------------------------------------------- reading
    def read_summary(self) -> pd.DataFrame:
        """The summary table.

        Raises:
            LarnetError: the folder has no summary (not a batch output, or a batch that finished no clip yet).
        """
        if not self.summary_path.is_file():
            raise LarnetError(f"{self.root} has no {_SUMMARY}: it is not a batch output folder (run larnet batch "
                              "with --out pointing here)")
        return pd.read_parquet(self.summary_path)

    def dataset(self, name: str) -> pd.DataFrame:
        """Every clip's rows of one dataset (``frames``, ``intervals`` or ``faces``) with a ``clip`` column."""
        if name not in DATASETS:
            raise LarnetError(f"unknown batch dataset {name!r}; use one of {', '.join(DATASETS)}")
        folder = self.root / name
        if not folder.is_dir() or not any(folder.iterdir()):
            return pd.DataFrame()
        return pd.read_parquet(folder)

    def load_result(self, clip_id: str):
        """One finished clip's :class:`~larnet_core.result.AnalysisResult`, read back from the folder.

        Raises:
            LarnetError: the clip is unknown, failed, or its files are incomplete.
        """
        marker = self.read_marker(clip_id)
        if marker is None:
            raise LarnetError(f"clip {clip_id} is not in the batch {self.root}")
        if marker.get("status") != "ok":
            raise LarnetError(f"clip {clip_id} was not analysed: {marker.get('row', {}).get('error', 'it failed')}")
        if not self.is_complete(marker):
            raise LarnetError(f"clip {clip_id}'s results are incomplete; run the batch again to redo it")
        tables = {d: read_parquet(self.partition(d, clip_id) / _PART) for d in DATASETS}
        record = marker.get("record") or {}
        try:
            meta = ClipMeta(**{k: record["clip"][k] for k in ClipMeta.__dataclass_fields__})
            prediction = ClipPrediction.from_dict(record["prediction"]) if record.get("prediction") else None
            return AnalysisResult.from_frames(meta, tables["frames"], tables["intervals"], prediction,
                                              list(record["class_names"]), dict(record.get("model") or {}),
                                              dict(record.get("settings") or {}), list(record.get("warnings") or []),
                                              tables["faces"])
        except (KeyError, TypeError) as exc:
            raise LarnetError(f"clip {clip_id}'s marker is malformed ({exc}); delete it and run the batch again") \
                from None


def summary_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Summary rows as a table with :data:`SUMMARY_COLUMNS` in order and stable types."""
    table = pd.DataFrame(list(rows))
    for column in SUMMARY_COLUMNS:
        if column not in table:
            table[column] = pd.Series(dtype="object")
    table = table[list(SUMMARY_COLUMNS) + [c for c in table.columns if c not in SUMMARY_COLUMNS]]
    numbers = {"confidence": "float64", "intervals": "Int64", "n_micro": "Int64", "n_macro": "Int64",
               "frames": "Int64", "fps": "float64", "seconds": "float64", "width": "Int64", "height": "Int64",
               "faces": "Int64", "elapsed_s": "float64", "finished_at": "float64"}
    for column, dtype in numbers.items():
        table[column] = pd.to_numeric(table[column], errors="coerce").astype(dtype)
    for column in table.columns:
        if column not in numbers:
            # Missing text is null (no error, no subject), never an empty string.
            text = table[column].astype("string")
            table[column] = text.where(text.notna() & (text != ""), pd.NA)
    return table.reset_index(drop=True)


def now() -> float:
    """Seconds since the epoch (the summary's ``finished_at``)."""
    return round(time.time(), 3)
