"""The tracked face meshes of a clip's analysis pass, kept until its intervals are recognised.

An interval's action units are read from the skin's movement between its neutral frame and its apex, on face crops
cut with the mesh the tracker gave on those frames: the mesh the per-frame analysis measured, as live video reads
its events on the crops it cut with the tracked mesh of each frame (:mod:`larnet_core.video.live_events`). Which
frames an interval's neutral and apex are is known only once spotting has read the whole clip, so the pass keeps
every face frame's mesh.

Each mesh is kept as float32 ``(478, 3)`` (5,736 bytes) in an anonymous temporary file, not in memory: a face
followed through a minute of 30 fps video writes 10.3 MB to disk (103 MB for ten minutes), and memory holds only
the index, 16 bytes a frame. Only the few frames of the intervals are read back. The file has no name on disk
(:func:`tempfile.TemporaryFile`) and goes when the store is closed, or when the process ends; where no temporary
folder can be written, the meshes are kept in memory instead.
"""

from __future__ import annotations

import bisect
import io
import logging
import tempfile
from array import array

import numpy as np

from larnet_core.face.mesh import MESH_POINTS

__all__ = ["MESH_BYTES", "TrackedMeshes"]

log = logging.getLogger(__name__)

_SHAPE = (MESH_POINTS, 3)
#: Bytes one kept mesh takes on disk.
MESH_BYTES = int(np.prod(_SHAPE)) * np.dtype(np.float32).itemsize


class TrackedMeshes:
    """Each face's tracked 3-D mesh (working-frame pixels, with depth) per frame, written to a temporary file as
    they come and read back by ``(face_id, frame)``. Frames of one face must come in increasing order."""

    def __init__(self) -> None:
        self._file = None  # opened on the first mesh: a clip without a face mesh writes nothing
        self._count = 0
        # Per face: the frames kept, increasing, and each one's row in the file (array('q'): 8 bytes a number).
        self._frames: dict[int, array] = {}
        self._rows: dict[int, array] = {}

    def __enter__(self) -> "TrackedMeshes":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __len__(self) -> int:
        return self._count

    @property
    def disk_bytes(self) -> int:
        """Bytes written to the temporary file so far."""
        return self._count * MESH_BYTES

    def add(self, face_id: int, index: int, mesh3d: np.ndarray | None) -> None:
        """Keep frame ``index``'s mesh of face ``face_id`` (None, or a mesh that is not ``(478, 3)``: nothing)."""
        if mesh3d is None:
            return
        mesh = np.asarray(mesh3d, dtype=np.float32)
        if mesh.shape != _SHAPE:
            return
        frames = self._frames.setdefault(int(face_id), array("q"))
        if frames and int(index) <= frames[-1]:
            raise ValueError(f"face {face_id}: frame {index} kept after frame {frames[-1]}; frames must increase")
        if self._file is None:
            self._file = _scratch_file()
        self._file.seek(0, 2)
        self._file.write(np.ascontiguousarray(mesh).tobytes())
        frames.append(int(index))
        self._rows.setdefault(int(face_id), array("q")).append(self._count)
        self._count += 1

    def get(self, face_id: int, index: int) -> np.ndarray | None:
        """Frame ``index``'s mesh of face ``face_id`` as float64 ``(478, 3)``, or None when it was not kept."""
        frames = self._frames.get(int(face_id))
        if not frames or self._file is None:
            return None
        position = bisect.bisect_left(frames, int(index))
        if position == len(frames) or frames[position] != int(index):
            return None
        self._file.seek(self._rows[int(face_id)][position] * MESH_BYTES)
        data = self._file.read(MESH_BYTES)
        return np.frombuffer(data, dtype=np.float32).reshape(_SHAPE).astype(np.float64)

    def close(self) -> None:
        """Delete the temporary file (the store is empty afterwards)."""
        if self._file is not None:
            self._file.close()
            self._file = None
        self._frames.clear()
        self._rows.clear()
        self._count = 0


def _scratch_file():
    """An anonymous temporary file; in memory when no temporary folder can be written (the analysis still runs,
    at 10.3 MB of memory a minute of 30 fps video and face)."""
    try:
        return tempfile.TemporaryFile(prefix="larnet-meshes-")
    except OSError as exc:
        log.warning("no temporary file for the tracked face meshes (%s); they are kept in memory", exc)
        return io.BytesIO()
