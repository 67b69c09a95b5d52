"""Batch analysis: many clips, resumable, in this process, in worker processes or on a Ray cluster.

Typical use::

    from larnet_core.batch import BatchOutput, BatchSettings, run_batch

    report = run_batch(["recordings/"], "assets/models/larnet-lite-demo.pt", "out/", workers=2,
                       settings=BatchSettings(face="auto"))
    report.summary                                  # one row per clip (status, error, prediction, ...)
    BatchOutput("out/").dataset("frames")           # every clip's per-frame table, with a clip column
    BatchOutput("out/").load_result(clip_id)        # one clip's AnalysisResult

Names are imported on first use; docs/scale.md explains resuming, workers and Ray.
"""

from __future__ import annotations

from larnet_core._lazy import lazy_exports

_EXPORTS = {
    "BATCH_EXTENSIONS": "inputs",
    "BatchInputError": "inputs",
    "ClipInput": "inputs",
    "clip_id": "inputs",
    "discover_clips": "inputs",
    "read_manifest": "inputs",
    "BatchSettings": "settings",
    "settings_sha256": "settings",
    "content_sha256": "settings",
    "DATASETS": "output",
    "SUMMARY_COLUMNS": "output",
    "TIMING_COLUMNS": "output",
    "BatchOutput": "output",
    "is_batch_dir": "output",
    "find_batch_dirs": "output",
    "ClipJob": "worker",
    "ClipWorker": "worker",
    "WorkerConfig": "worker",
    "BatchProgress": "runner",
    "BatchReport": "runner",
    "plan_batch": "runner",
    "run_batch": "runner",
    "RayUnavailable": "ray_runner",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
