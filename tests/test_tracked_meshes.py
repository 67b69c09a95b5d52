"""The tracked meshes a clip's pass keeps for its intervals' action units: written to a temporary file as they
come, read back exactly by face and frame, nothing for frames without one, and gone when the store closes."""

from __future__ import annotations

import io

import numpy as np
import pytest

from larnet_core.video.tracked_meshes import MESH_BYTES, TrackedMeshes


def _mesh(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 640, (478, 3))


def test_meshes_come_back_by_face_and_frame():
    with TrackedMeshes() as store:
        for frame in range(0, 40, 2):  # face 0 on even frames, face 3 on every frame from 10
            store.add(0, frame, _mesh(frame))
        for frame in range(10, 30):
            store.add(3, frame, _mesh(1000 + frame))
        assert len(store) == 40 and store.disk_bytes == 40 * MESH_BYTES
        got = store.get(0, 24)
        assert got.shape == (478, 3) and got.dtype == np.float64
        # float32 on disk: well under a thousandth of a pixel from what the tracker gave.
        assert np.abs(got - _mesh(24)).max() < 1e-3
        assert np.abs(store.get(3, 29) - _mesh(1029)).max() < 1e-3
        assert store.get(0, 25) is None  # face 0 was not seen there
        assert store.get(3, 9) is None and store.get(3, 30) is None
        assert store.get(7, 12) is None  # a face never seen


def test_frames_without_a_mesh_keep_nothing():
    with TrackedMeshes() as store:
        store.add(0, 0, None)  # no MediaPipe mesh on this frame
        store.add(0, 1, np.zeros((5, 2)))  # key points only (another detector)
        assert len(store) == 0 and store.get(0, 0) is None and store.get(0, 1) is None


def test_a_face_s_frames_must_increase():
    with TrackedMeshes() as store:
        store.add(0, 5, _mesh(0))
        store.add(1, 3, _mesh(1))  # another face: its own order
        with pytest.raises(ValueError, match="frames must increase"):
            store.add(0, 5, _mesh(2))


def test_closing_deletes_the_file():
    store = TrackedMeshes()
    store.add(0, 0, _mesh(0))
    handle = store._file
    store.close()
    assert handle.closed and len(store) == 0 and store.get(0, 0) is None


def test_an_interval_reads_the_mesh_of_the_face_its_table_follows_on_each_frame():
    """A main-face table follows whichever face is the main one on each frame (and none on some): each frame's mesh
    is that face's own, none where the face was not found."""
    import pandas as pd

    from larnet_core.video.recognise import _tracked_mesh

    table = pd.DataFrame({"face_found": [True, True, False, True], "face_id": [2, 2, -1, 5]})
    with TrackedMeshes() as store:
        for frame in range(4):
            store.add(2, frame, _mesh(frame))
            store.add(5, frame, _mesh(50 + frame))
        assert np.abs(_tracked_mesh(store, table, 1) - _mesh(1)).max() < 1e-3
        assert np.abs(_tracked_mesh(store, table, 3) - _mesh(53)).max() < 1e-3
        assert _tracked_mesh(store, table, 2) is None
        assert _tracked_mesh(None, table, 1) is None  # no meshes kept (no MediaPipe): per-frame estimates


def test_without_a_writable_temporary_folder_the_meshes_stay_in_memory(tmp_path, monkeypatch):
    import tempfile

    missing = tmp_path / "gone"
    monkeypatch.setattr(tempfile, "tempdir", str(missing))  # every TemporaryFile now fails to open
    with TrackedMeshes() as store:
        store.add(0, 0, _mesh(0))
        assert np.abs(store.get(0, 0) - _mesh(0)).max() < 1e-3
        assert isinstance(store._file, io.BytesIO)
