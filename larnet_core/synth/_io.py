"""File writing shared by the generators: JPEG frames, byte-stable spreadsheets, the worker pool."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
import datetime
import io
import multiprocessing
import os
from pathlib import Path
import re
from typing import Callable, Iterable, Sequence, TypeVar
import zipfile

import cv2
import numpy as np

from larnet_core.errors import LarnetError

__all__ = ["write_jpeg", "save_workbook", "run_tasks", "default_workers", "ProgressCallback"]

T = TypeVar("T")
ProgressCallback = Callable[[int, int], None]

# Spreadsheets carry timestamps (document properties, zip entries); pinning them makes a seed's output
# byte-identical from run to run.
_FIXED_TIME = (2019, 7, 1, 0, 0, 0)


def write_jpeg(path: Path, rgb: np.ndarray, quality: int) -> None:
    """Encode an RGB frame as JPEG (libjpeg via OpenCV: same bytes for the same pixels and quality)."""
    ok, buffer = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover - libjpeg does not fail on valid arrays
        raise LarnetError(f"could not encode {path.name} as JPEG")
    path.write_bytes(buffer.tobytes())


def save_workbook(workbook, path: Path) -> None:
    """Save an openpyxl workbook with fixed timestamps, so identical content gives identical bytes."""
    stamp = datetime.datetime(*_FIXED_TIME)
    workbook.properties.created = stamp
    workbook.properties.lastModifiedBy = None
    workbook.properties.creator = "larnet synth"
    raw = io.BytesIO()
    workbook.save(raw)
    raw.seek(0)
    packed = io.BytesIO()
    with zipfile.ZipFile(raw) as source, zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == "docProps/core.xml":  # openpyxl stamps "modified" with the time of saving
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                              rb"\g<1>" + stamp.strftime("%Y-%m-%dT%H:%M:%SZ").encode() + rb"\g<2>", data)
            fixed = zipfile.ZipInfo(info.filename, date_time=_FIXED_TIME)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o600 << 16
            target.writestr(fixed, data)
    path.write_bytes(packed.getvalue())


def default_workers() -> int:
    """min(2, CPU count): the generators are CPU-bound and the project targets two-core machines."""
    return max(1, min(2, os.cpu_count() or 1))


def _init_worker() -> None:
    cv2.setNumThreads(1)  # one process per core already; OpenCV's own threads would oversubscribe


def run_tasks(function: Callable[[T], int], tasks: Sequence[T], workers: int | None,
              progress: ProgressCallback | None = None, weights: Iterable[int] | None = None) -> None:
    """Run ``function`` over ``tasks`` in a process pool (or inline for one worker), reporting progress.

    Each task writes its own files and seeds its own randomness, so the output does not depend on the
    number of workers or on the order tasks finish in. ``progress(done, total)`` counts ``weights``
    (default one per task).
    """
    weights = list(weights) if weights is not None else [1] * len(tasks)
    total = sum(weights)
    done = 0
    if progress:
        progress(0, total)
    workers = default_workers() if workers is None else int(workers)
    if workers < 1:
        raise LarnetError(f"--workers must be at least 1, got {workers}")
    if workers == 1 or len(tasks) <= 1:
        _init_worker()
        for task, weight in zip(tasks, weights):
            function(task)
            done += weight
            if progress:
                progress(done, total)
        return
    # spawn, not fork: the caller may hold threads (torch, OpenCV) that a fork would copy mid-flight.
    context = multiprocessing.get_context("spawn")
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_worker) as pool:
            futures = {pool.submit(function, task): weight for task, weight in zip(tasks, weights)}
            try:
                for future in as_completed(futures):
                    future.result()
                    done += futures[future]
                    if progress:
                        progress(done, total)
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
    except BrokenProcessPool as exc:
        raise LarnetError(
            "the worker processes stopped unexpectedly; when calling the generator from a script, put the call "
            "under `if __name__ == \"__main__\":` (workers are started with spawn), or use one worker"
        ) from exc
