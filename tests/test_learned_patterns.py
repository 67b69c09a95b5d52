"""The action units' mesh patterns learned on real faces (py-feat's AU-to-mesh model, read from its installed wheel),
and the reading that stands in for the flow's where the mesh moved far and the flow's templates do not describe
the movement."""

from __future__ import annotations

import importlib.metadata
import logging

import numpy as np
import pytest

from larnet_core.aus import learned_patterns as learned
from larnet_core.aus.names import AU_COLUMNS
from larnet_core.face.pose import canonical_face


def _forget_the_model() -> None:
    for cached in (learned._stored_model, learned.learned_patterns, learned.learned_mean_face, learned._columns):
        cached.cache_clear()


def _pattern(unit: str) -> np.ndarray:
    patterns, units = learned.learned_patterns()
    return patterns[:, units.index(unit)].reshape(468, 2)


def test_the_patterns_are_in_the_canonical_faces_axes():
    # Canonical face: x to the image's right, y down, eye distance 1 (points 61 and 291 the mouth's corners, 107
    # and 336 the inner brows, 152 the chin).
    smile = _pattern("AU12")
    assert smile[61, 0] < 0 < smile[291, 0]  # the corners pulled outwards ...
    assert smile[61, 1] < 0 and smile[291, 1] < 0  # ... and up
    assert _pattern("AU01")[[107, 336], 1].max() < 0  # inner brows up
    assert _pattern("AU04")[[107, 336], 1].min() > 0  # brows down
    assert _pattern("AU26")[152, 1] > 0.05  # the chin drops
    assert _pattern("AU43")[[159, 386], 1].min() > 0.05  # the upper lids come down


def _moved(**units: float) -> np.ndarray:
    face = canonical_face().copy()
    for unit, amount in units.items():
        face[:, :2] += amount * _pattern(unit)
    return face


def test_a_face_moved_by_units_patterns_reads_those_units():
    reading = learned.mesh_reading(canonical_face(), _moved(AU06=1.0, AU12=1.0))
    named = {name for name, value in zip(AU_COLUMNS, reading.values) if value >= 0.6}
    assert named == {"AU06", "AU12"}, reading.values.round(2)
    assert reading.values[AU_COLUMNS.index("AU12")] == pytest.approx(learned.MODEL_UNIT, abs=0.3)
    assert reading.share > 0.95


def test_a_still_face_reads_nothing_and_jitter_reads_nothing():
    assert not learned.mesh_reading(canonical_face(), canonical_face()).values.any()
    # Jitter of 0.006 eye distances on every point, about what the mesh shows between still frames of a real face.
    jittered = canonical_face() + np.random.default_rng(0).normal(0.0, 0.006, canonical_face().shape)
    reading = learned.mesh_reading(canonical_face(), jittered)
    assert reading.values.max() < 0.6, reading.values.round(2)
    assert reading.size < learned.LEARNED_MOVEMENT


def test_lips_parted_in_the_mesh_read_as_lips_apart():
    apart = canonical_face().copy()
    apart[[14, 87, 317], 1] += learned.LIPS_APART + 0.02  # the lower inner lip away from the upper
    reading = learned.mesh_reading(canonical_face(), apart)
    assert reading.values[AU_COLUMNS.index("AU25")] >= learned.MODEL_UNIT


def test_the_learned_reading_stands_in_only_for_a_large_movement_the_flow_does_not_describe():
    large = learned.MeshReading(np.zeros(len(AU_COLUMNS)), share=0.85, size=0.06)
    assert learned.prefer_learned(large, flow_share=0.45)
    assert learned.prefer_learned(large, flow_share=float("nan"))  # the flow read nothing
    assert not learned.prefer_learned(large, flow_share=0.8)  # the flow's templates describe it: theirs stands
    assert not learned.prefer_learned(learned.MeshReading(large.values, 0.85, 0.01), 0.2)  # within the mesh's jitter
    assert not learned.prefer_learned(learned.MeshReading(large.values, 0.4, 0.06), 0.2)  # no unit's pattern fits
    assert not learned.prefer_learned(None, 0.2)


def test_without_py_feat_the_reading_is_off_and_the_log_says_how_to_install_it(monkeypatch, caplog):
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    _forget_the_model()
    monkeypatch.setattr(learned.importlib.metadata, "distribution", missing)
    try:
        with caplog.at_level(logging.WARNING, logger=learned.__name__):
            assert learned.mesh_reading(canonical_face(), canonical_face()) is None
        assert "requirements-nodeps.txt" in caplog.text
    finally:
        monkeypatch.undo()
        _forget_the_model()
    assert learned.learned_patterns() is not None


def test_a_foreign_file_in_its_place_is_refused(monkeypatch, tmp_path, caplog):
    foreign = tmp_path / "au_to_mesh.npz"
    np.savez(foreign, coef=np.zeros((3, 30)), mean_aligned_mesh=np.zeros((10, 3)), au_columns=np.array(["AU01"]))

    class _Wheel:
        def locate_file(self, _path):
            return foreign

    _forget_the_model()
    monkeypatch.setattr(learned.importlib.metadata, "distribution", lambda _name: _Wheel())
    try:
        with caplog.at_level(logging.WARNING, logger=learned.__name__):
            assert learned.learned_patterns() is None
        assert "unexpected shapes" in caplog.text
    finally:
        monkeypatch.undo()
        _forget_the_model()


def test_the_meshes_compare_only_while_the_head_turns_little_and_keeps_its_shape():
    from larnet_core.face.pose import HeadPose

    def pose(yaw=0.0, pitch=0.0, residual=0.04):
        return HeadPose(yaw, pitch, 0.0, np.eye(3), 100.0, np.zeros(3), residual)

    assert learned.turned_little(pose(), pose(yaw=3.0, pitch=-4.0, residual=0.03))  # a smile's nod
    assert not learned.turned_little(pose(), pose(yaw=learned.MAX_TURN_DEG + 1))  # a turn
    assert not learned.turned_little(pose(residual=0.014), pose(residual=0.034))  # the face bent, not turned
