"""One call that analyses a batch: find the clips, skip the finished ones, run the rest, keep the summary current.

:func:`run_batch` is what ``larnet batch`` runs. It plans (a clip whose marker matches its input's size and
modification time and the batch's settings is kept without being read; the workers hash the others and keep those
whose content did not change), runs the remaining clips in this process, in worker processes or on Ray, and
rewrites ``summary.parquet`` as clips finish.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import logging
import os
from pathlib import Path
import time
from typing import Any, Callable, Iterable, Sequence

import pandas as pd

from larnet_core.batch.inputs import ClipInput, discover_clips
from larnet_core.batch.local import run_in_process, run_processes
from larnet_core.batch.output import BatchOutput
from larnet_core.batch.ray_runner import run_ray
from larnet_core.batch.settings import BatchSettings, input_stat, settings_sha256
from larnet_core.batch.worker import ClipJob, WorkerConfig
from larnet_core.errors import CheckpointError, LarnetError
from larnet_core.inference import load_for_inference
from larnet_core.models.onnx_cache import InferenceModel
from larnet_core.paths import check_output_dir

__all__ = ["BatchProgress", "BatchReport", "plan_batch", "run_batch"]

log = logging.getLogger(__name__)

_SUMMARY_EVERY_S = 1.0


@dataclass
class BatchProgress:
    """Where a running batch stands (passed to the progress callback after every clip)."""

    total: int
    to_do: int
    done: int = 0
    failed: int = 0
    unchanged: int = 0
    kept: int = 0
    started: float = field(default_factory=time.perf_counter)

    @property
    def elapsed_s(self) -> float:
        return time.perf_counter() - self.started

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the rate so far (None before the first clip)."""
        if not self.done:
            return None
        return self.elapsed_s / self.done * (self.to_do - self.done)


@dataclass
class BatchReport:
    """What a batch did.

    Attributes:
        out: the output folder.
        summary: the summary table (every clip of the folder, ``summary.parquet``).
        analysed: clips analysed by this run (successes and failures).
        kept: clips whose finished result was kept (unchanged input and settings).
        failed: clips of this run's inputs whose row says ``failed`` (now or kept from before).
        elapsed_s: wall-clock seconds.
    """

    out: Path
    summary: pd.DataFrame
    analysed: int
    kept: int
    failed: int
    elapsed_s: float

    @property
    def ok(self) -> bool:
        return self.failed == 0


def _same_stat(marker: dict[str, Any], stat: dict[str, int]) -> bool:
    recorded = marker.get("input", {})
    return all(recorded.get(key) == stat[key] for key in ("size", "mtime_ns", "files"))


def plan_batch(clips: Sequence[ClipInput], output: BatchOutput, settings_hash: str, *, retry_failed: bool = False
               ) -> tuple[list[ClipJob], dict[str, dict[str, Any]]]:
    """Split the clips into jobs to run and rows to keep (clip id -> summary row).

    A clip is kept without being read when its marker is complete, has the batch's settings hash and records the
    input's current size and modification time, and it succeeded or failed on its input (a corrupt file is not
    retried unless ``retry_failed``).
    """
    jobs, kept = [], {}
    for clip in clips:
        marker = output.read_marker(clip.clip_id)
        keep = False
        if output.is_complete(marker) and marker.get("settings_sha256") == settings_hash:
            try:
                same = _same_stat(marker, input_stat(clip.path))
            except OSError:
                same = False
            keep = same and (marker.get("status") == "ok" or not (retry_failed or marker.get("retry", True)))
        if keep:
            kept[clip.clip_id] = dict(marker["row"])
        else:
            jobs.append(ClipJob(clip.clip_id, str(clip.path), clip.source, clip.subject, clip.label))
    return jobs, kept


def _check_checkpoint(checkpoint: str | Path, device: str = "auto", backend: str = "auto") -> InferenceModel:
    path = Path(checkpoint)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {checkpoint} does not exist; pass a .pt file written by larnet train "
                              "(the demo model is assets/models/larnet-lite-demo.pt)")
    return load_for_inference(path, device=device, backend=backend)


def run_batch(
    inputs: Sequence[str | Path],
    checkpoint: str | Path,
    out: str | Path,
    *,
    settings: BatchSettings | None = None,
    workers: int = 1,
    threads: int = 1,
    ray: str | None = None,
    retry_failed: bool = False,
    extensions: Iterable[str] | None = None,
    device: str = "auto",
    progress: Callable[[BatchProgress, dict[str, Any] | None], None] | None = None,
    overlap: bool | None = None,
) -> BatchReport:
    """Analyse every clip of ``inputs`` into the output folder ``out``, resuming what an earlier run finished.

    Args:
        inputs: video files, folders (searched recursively), CSV manifests (:func:`discover_clips`).
        checkpoint: the model checkpoint (every worker loads it; on Ray, a path every node sees).
        out: the output folder (layout: :mod:`larnet_core.batch.output`).
        settings: the analysis settings (:class:`BatchSettings`).
        workers: worker processes (1: this process), or Ray actors with ``ray``.
        threads: ONNX Runtime / PyTorch / OpenCV threads per worker.
        ray: a Ray cluster address, or ``local`` for a Ray instance on this machine; None: no Ray.
        retry_failed: analyse again clips that failed on their input (by default they are kept as failed).
        extensions: file endings to search folders for.
        device: where each worker runs the model (``auto``, ``cpu``, ``cuda``).
        progress: called with the :class:`BatchProgress` at the start (row None) and after every clip.
        overlap: run each clip's decoding, tracking and model on threads of their own (``analyze_clip``'s
            ``overlap``; about 1.4 cores a worker). None: only where cores are left over (local workers at most
            half the CPUs); with as many workers as cores, one thread each wastes nothing on switching.

    Returns:
        A :class:`BatchReport`.

    Raises:
        LarnetError: bad inputs, an unreadable checkpoint, a bad worker count, Ray missing or unreachable.
    """
    started = time.perf_counter()
    settings = settings or BatchSettings()
    if workers < 1 or threads < 1:
        raise LarnetError(f"--workers and --threads must be at least 1, got {workers} and {threads}")
    check_output_dir(out, "the batch output folder")  # before any clip is read or the model loaded
    clips = discover_clips(inputs, extensions)
    loaded = _check_checkpoint(checkpoint, device, settings.backend)
    output = _open_output(out)
    settings_hash = settings_sha256(settings, loaded.sha256)
    jobs, kept = plan_batch(clips, output, settings_hash, retry_failed=retry_failed)
    state = BatchProgress(total=len(clips), to_do=len(jobs), kept=len(kept))
    summary = _LiveSummary(output, clips, kept, state, progress)
    config = WorkerConfig(out=str(output.root.resolve()), checkpoint=str(Path(checkpoint).resolve()),
                          model_sha256=loaded.sha256, settings=settings, settings_sha256=settings_hash,
                          threads=threads, retry_failed=retry_failed, device=device,
                          overlap=_overlap(overlap, workers, ray))
    summary.write(force=True)
    if progress is not None:
        progress(state, None)
    try:
        _run_jobs(jobs, config, summary.on_row, ray=ray, workers=workers, loaded=loaded)
    finally:
        table = summary.write(force=True)
        output.clear_staging()
    mine = table[table["clip"].isin(list(summary.by_id))]
    return BatchReport(output.root, table, analysed=state.done - state.unchanged,
                       kept=len(kept) + state.unchanged, failed=int((mine["status"] == "failed").sum()),
                       elapsed_s=time.perf_counter() - started)


def _open_output(out: str | Path) -> BatchOutput:
    """The output folder, created, with what an interrupted run left half-written removed."""
    output = BatchOutput(out)
    output.root.mkdir(parents=True, exist_ok=True)
    output.clear_staging()
    return output


class _LiveSummary:
    """The batch's summary rows, kept current as clips finish: every clip the folder holds stays in it (earlier
    runs' clips, then this run's in input order), and ``summary.parquet`` is rewritten at most once a second."""

    def __init__(self, output: BatchOutput, clips: Sequence[ClipInput], kept: dict[str, dict[str, Any]],
                 state: BatchProgress,
                 progress: Callable[[BatchProgress, dict[str, Any] | None], None] | None) -> None:
        self.output, self.state, self.progress = output, state, progress
        self.by_id = {clip.clip_id: clip for clip in clips}
        self.rows: dict[str, dict[str, Any]] = {m["clip"]: dict(m["row"]) for m in output.markers()
                                                if m.get("clip") not in self.by_id and isinstance(m.get("row"), dict)}
        self.order = list(self.rows) + [clip.clip_id for clip in clips]
        self.rows.update(kept)
        self.last_write = 0.0

    def _current(self, row: dict[str, Any]) -> dict[str, Any]:
        clip = self.by_id.get(row.get("clip", ""))
        # The inputs name the clip now (a manifest's subject or label may have been corrected since).
        fresh = {"path": str(clip.path), "source": clip.source, "subject": clip.subject, "label": clip.label} \
            if clip else {}
        return {k: v for k, v in {**row, **fresh}.items() if k != "skipped"}

    def write(self, force: bool = False) -> pd.DataFrame | None:
        """Rewrite ``summary.parquet`` (at most once a second unless ``force``); the table written, or None."""
        if not force and time.perf_counter() - self.last_write < _SUMMARY_EVERY_S:
            return None
        self.last_write = time.perf_counter()
        return self.output.write_summary(self._current(self.rows[c]) for c in self.order if c in self.rows)

    def on_row(self, row: dict[str, Any]) -> None:
        """A clip finished: keep its row, count it, and report progress."""
        self.rows[row["clip"]] = row
        state = self.state
        state.done += 1
        state.unchanged += bool(row.get("skipped"))
        state.failed += row.get("status") == "failed" and not row.get("skipped")
        self.write()
        if self.progress is not None:
            self.progress(state, row)


def _run_jobs(jobs: list[ClipJob], config: WorkerConfig, on_row: Callable[[dict[str, Any]], None], *,
              ray: str | None, workers: int, loaded) -> None:
    """Run the jobs on Ray, in worker processes, or in this process (with the model already loaded)."""
    if ray is not None:
        run_ray(jobs, config, on_row, address=ray, workers=workers if workers > 1 else None)
    elif workers > 1 and len(jobs) > 1:
        run_processes(jobs, config, on_row, workers)
    else:
        run_in_process(jobs, config, on_row, loaded=loaded)


def _overlap(wanted: bool | None, workers: int, ray: str | None) -> bool:
    if wanted is not None:
        return wanted

    return ray is None and 2 * workers <= (os.cpu_count() or 1)
