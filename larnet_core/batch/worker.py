"""The per-clip work of a batch, the same in the calling process, a local worker process and a Ray actor.

A :class:`ClipWorker` loads the model once, then for each :class:`ClipJob`: reads the clip (the next one is read
and hashed on a helper thread while the current one is analysed), keeps an unchanged finished result, or
analyses the clip and writes its partitions and completion marker. It returns the clip's summary row; a clip
that cannot be analysed gives a ``failed`` row with the error's message, and the batch goes on.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import traceback
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import cv2

from larnet_core.batch.inputs import BatchInputError, clip_sha256
from larnet_core.batch.output import BatchOutput, now
from larnet_core.batch.settings import BatchSettings, input_stat
from larnet_core.errors import CheckpointError, LarnetError
from larnet_core.inference import Predictor, load_for_inference
from larnet_core.paths import read_input
from larnet_core.video import analyze_clip

__all__ = ["ClipJob", "WorkerConfig", "ClipWorker", "limit_threads"]

log = logging.getLogger(__name__)

#: Clips up to this size are read into memory by the helper thread (reading overlaps the previous analysis);
#: larger ones are analysed from their path.
PREFETCH_MAX_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True)
class ClipJob:
    """One clip to analyse (picklable: it travels to worker processes and Ray actors)."""

    clip_id: str
    path: str
    source: str
    subject: str = ""
    label: str = ""


@dataclass(frozen=True)
class WorkerConfig:
    """What every worker needs: where to write, the model (and the SHA-256 it must have) and the settings."""

    out: str
    checkpoint: str
    model_sha256: str
    settings: BatchSettings
    settings_sha256: str
    threads: int = 1
    retry_failed: bool = False
    device: str = "auto"
    overlap: bool = True  # a clip's decoding, tracking and model on threads of their own (analyze_clip)


class _Read(NamedTuple):
    data: bytes | None
    sha256: str
    stat: dict[str, int]
    error: BaseException | None


def limit_threads(threads: int) -> None:
    """Bound the native thread pools of this process (OpenMP, PyTorch, OpenCV) to ``threads``: one worker per
    core then does not fight the others for the cores."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(threads)
    import torch  # lazy: torch only in the process that analyses clips (`larnet --help` imports this module)

    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)


def _read(path: str) -> _Read:
    """Read (small clips) and hash a clip, through the bounded readers: a device, FIFO or oversized file
    becomes this clip's error instead of a read that never ends."""
    try:
        stat = input_stat(path)
        if not Path(path).is_dir() and stat["size"] <= PREFETCH_MAX_BYTES:
            data = read_input(path, path, max_bytes=PREFETCH_MAX_BYTES, error=BatchInputError)
            return _Read(data, clip_sha256(path, data), stat, None)
        return _Read(None, clip_sha256(path), stat, None)
    except (OSError, LarnetError) as exc:
        return _Read(None, "", {}, exc)


class ClipWorker:
    """Holds the model and analyses clips (see the module docstring).

    Args:
        config: the batch's :class:`WorkerConfig`.
        name: how summary rows name this worker (default: host and process id).
        loaded: the checkpoint, already loaded (in the calling process); else the worker loads it.

    Raises:
        CheckpointError: the checkpoint is unreadable, or is not the file the batch was started with (a node of a
            cluster that sees another file at the same path).
    """

    def __init__(self, config: WorkerConfig, name: str | None = None, loaded=None) -> None:
        self.config = config
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.output = BatchOutput(config.out)
        if loaded is None:
            loaded = load_for_inference(config.checkpoint, device=config.device, backend=config.settings.backend)
        if loaded.sha256 != config.model_sha256:
            raise CheckpointError(f"{config.checkpoint} on {self.name} is not the checkpoint the batch started with "
                                  f"(SHA-256 {loaded.sha256[:12]}, expected {config.model_sha256[:12]}); give every "
                                  "worker the same file")
        self.predictor = Predictor(loaded, backend=config.settings.backend, threads=config.threads)
        self._analyze_kwargs = config.settings.analyze_kwargs()
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="larnet-batch-read")

    def close(self) -> None:
        self._reader.shutdown(wait=False, cancel_futures=True)

    def prefetch(self, job: ClipJob) -> Future:
        """Start reading and hashing a clip on the helper thread; pass the future to :meth:`run`."""
        return self._reader.submit(_read, job.path)

    def run(self, job: ClipJob, read: Future | None = None) -> dict[str, Any]:
        """Analyse one clip (or keep its unchanged result) and return its summary row (with ``skipped``)."""
        start = time.perf_counter()
        got = (read or self.prefetch(job)).result()
        if got.error is not None:
            if isinstance(got.error, LarnetError):  # not a regular file, or over the size limit: said as it is
                return self._failed(job, got, str(got.error), type(got.error).__name__, start, retry=False)
            return self._failed(job, got, f"cannot read {job.path}: {got.error}", type(got.error).__name__, start,
                                retry=True)
        marker = self.output.read_marker(job.clip_id)
        if self._unchanged(marker, got.sha256):
            if marker["input"].get("mtime_ns") != got.stat.get("mtime_ns"):
                self.output.touch_marker(marker, got.stat)
            return {**marker["row"], "skipped": True}

        try:
            result = analyze_clip(got.data if got.data is not None else job.path, self.predictor,
                                  name=Path(job.path).name, overlap=self.config.overlap, **self._analyze_kwargs)
        except LarnetError as exc:
            # The input's own fault (corrupt, no face, over a limit): the same input would fail the same way.
            return self._failed(job, got, str(exc), type(exc).__name__, start, retry=False)
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - one clip's bug must not stop a thousand-clip batch
            log.error("unexpected error on %s:\n%s", job.path, traceback.format_exc())
            return self._failed(job, got, f"unexpected error: {exc!r}", type(exc).__name__, start, retry=True)
        row = self._row(job, got, start) | _result_columns(result)
        self.output.write_clip(job.clip_id, result.stored_tables(), {
            "status": "ok", "settings_sha256": self.config.settings_sha256,
            "input": {"path": job.path, "sha256": got.sha256, **got.stat}, "row": row, "record": result.record()})
        return {**row, "skipped": False}

    # ------------------------------------------------------------------------------------------- helpers
    def _unchanged(self, marker: dict[str, Any] | None, sha256: str) -> bool:
        if not self.output.is_complete(marker) or marker.get("settings_sha256") != self.config.settings_sha256:
            return False
        if marker.get("input", {}).get("sha256") != sha256:
            return False
        return marker.get("status") == "ok" or not (self.config.retry_failed or marker.get("retry", True))

    def _row(self, job: ClipJob, got: _Read, start: float) -> dict[str, Any]:
        return {"clip": job.clip_id, "path": job.path, "source": job.source, "subject": job.subject,
                "label": job.label, "input_sha256": got.sha256, "model_sha256": self.config.model_sha256,
                "settings_sha256": self.config.settings_sha256, "worker": self.name,
                "elapsed_s": round(time.perf_counter() - start, 3), "finished_at": now()}

    def _failed(self, job: ClipJob, got: _Read, message: str, kind: str, start: float, *, retry: bool
                ) -> dict[str, Any]:
        row = self._row(job, got, start) | {"status": "failed", "error": message, "error_type": kind}
        self.output.write_failure(job.clip_id, {
            "status": "failed", "retry": retry, "settings_sha256": self.config.settings_sha256,
            "input": {"path": job.path, "sha256": got.sha256, **got.stat}, "row": row})
        return {**row, "skipped": False}


def _result_columns(result) -> dict[str, Any]:
    """The summary's columns taken from one clip's result."""
    intervals = result.intervals
    kinds = intervals["kind"].value_counts().to_dict() if len(intervals) else {}
    prediction = result.prediction
    return {"status": "ok", "error": None, "error_type": None,
            "prediction": prediction.label if prediction is not None else None,
            "confidence": float(prediction.confidence) if prediction is not None else float("nan"),
            "intervals": int(len(intervals)), "n_micro": int(kinds.get("micro", 0)),
            "n_macro": int(kinds.get("macro", 0)), "frames": int(result.meta.frame_count),
            "fps": float(result.meta.fps), "seconds": float(result.meta.duration_s),
            "width": int(result.meta.width), "height": int(result.meta.height), "faces": int(len(result.faces))}
