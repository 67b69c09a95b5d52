"""On-disk cache of onset -> apex flow samples, so TV-L1 is computed once per clip and setting.

A sample is the uint8 HxWx3 image of :func:`larnet_core.face.flow.compute_flow_image`. Its file lives under
``<cache root>/<method>-<size>/<dataset>/<subject>/<clip>-<key>.npy`` (default root: ``$LARNET_DATA_DIR/cache/
flow``). ``key`` hashes everything the image depends on: both frame paths with their size and modification
time, the method, the output size and :data:`~larnet_core.face.flow.FLOW_ENCODING_VERSION`; so an edited frame
or a changed setting is a miss, never a stale hit. Files are written atomically (temporary name, then rename),
which makes concurrent DataLoader workers safe. Deleting the folder only costs recomputation.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from larnet_core.data.samples import sample_image
from larnet_core.face.flow import FLOW_ENCODING_VERSION
from larnet_core.face.inputs import ALIGNMENT_VERSION
from larnet_core.paths import cache_dir, write_atomic

__all__ = ["FlowCache", "default_flow_cache_root"]

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def default_flow_cache_root() -> Path:
    """``$LARNET_DATA_DIR/cache/flow`` (``~/.larnet/cache/flow`` by default)."""
    return cache_dir("flow")


def _safe(part: str) -> str:
    return _UNSAFE.sub("_", str(part)).strip("._") or "_"


def _stamp(path: str) -> str:
    try:
        st = os.stat(path)
    except OSError:
        return f"{path}:missing"  # read_rgb raises the user error with the file name
    return f"{Path(path).resolve()}:{st.st_size}:{st.st_mtime_ns}"


@dataclass(frozen=True)
class FlowCache:
    """Flow samples of one method and size, stored under ``root``.

    Attributes:
        root: the cache folder (created on first write).
        method: ``tvl1`` or ``farneback``.
        size: output side in pixels.
        face: ``none`` (whole frames) or the detector that found the face the samples are aligned on.
    """

    root: Path
    method: str
    size: int
    face: str = "none"

    def path(self, dataset: str, subject: str, clip: str, onset_path: str, apex_path: str) -> Path:
        """Where the sample of this clip (these two frames) is stored under the cache's settings."""
        parts = [_stamp(onset_path), _stamp(apex_path), self.method, str(self.size), str(FLOW_ENCODING_VERSION)]
        if self.face not in ("", "none"):
            parts.append(f"face={self.face}:{ALIGNMENT_VERSION}")  # aligned samples are other samples
        else:
            parts.append("whole=fitted")  # whole frames are fitted into the square input, no longer squashed
        text = "|".join(parts)
        key = hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]
        folder = Path(self.root) / f"{self.method}-{self.size}" / _safe(dataset)
        for part in str(subject).split("/"):  # composite subjects are "dataset/subject"
            folder = folder / _safe(part)
        return folder / f"{_safe(clip)}-{key}.npy"

    def contains(self, dataset: str, subject: str, clip: str, onset_path: str, apex_path: str) -> bool:
        return self.path(dataset, subject, clip, onset_path, apex_path).is_file()

    def image(self, dataset: str, subject: str, clip: str, onset_path: str, apex_path: str) -> np.ndarray:
        """The cached sample, computed and stored first when it is missing (or unreadable)."""
        target = self.path(dataset, subject, clip, onset_path, apex_path)
        if target.is_file():
            try:
                cached = np.load(target, allow_pickle=False)
                if cached.dtype == np.uint8 and cached.shape == (self.size, self.size, 3):
                    return cached
            except (OSError, ValueError):
                pass
            log.warning("flow cache: %s is damaged; recomputing it", target)
        image = sample_image(onset_path, apex_path, "flow", self.size, self.method, self.face)
        try:
            buffer = io.BytesIO()
            np.save(buffer, image, allow_pickle=False)
            write_atomic(target, buffer.getvalue())
        except OSError as exc:  # a read-only or full disk costs speed, not the run
            log.warning("flow cache: cannot write %s (%s); samples will be recomputed next time", target, exc)
        return image
