"""Head pose from the face mesh: the rigid fit's arithmetic, and the angles of real photos turned in 3-D."""

from __future__ import annotations

import numpy as np
import pytest

from larnet_core.face.pose import (
    STABLE_POINTS,
    angles_from_rotation,
    canonical_face,
    fit_pose,
    rotation_from_angles,
)
from markers import needs_mediapipe


def test_angles_round_trip_and_signs_follow_the_image():
    for angles in [(20.0, -10.0, 5.0), (-35.0, 12.0, -8.0), (0.0, 0.0, 0.0)]:
        assert np.allclose(angles_from_rotation(rotation_from_angles(*angles)), angles, atol=1e-9)
    nose = np.array([0.0, 0.0, -1.0])  # in front of the head, towards the camera
    assert (rotation_from_angles(20, 0, 0) @ nose)[0] > 0  # yaw > 0: the nose moves to the image's right
    assert (rotation_from_angles(0, 15, 0) @ nose)[1] > 0  # pitch > 0: the nose moves down
    assert (rotation_from_angles(0, 0, 10) @ np.array([1.0, 0, 0]))[1] > 0  # roll > 0: clockwise on screen


def test_canonical_face_is_frontal_symmetric_and_in_eye_distances():
    face = canonical_face()
    assert face.shape == (468, 3) and not face.flags.writeable
    eyes = [face[[33, 133]].mean(axis=0), face[[362, 263]].mean(axis=0)]
    assert np.linalg.norm(eyes[1] - eyes[0]) == pytest.approx(1.0, abs=1e-3)
    assert abs(eyes[1][1] - eyes[0][1]) < 1e-3 and abs(eyes[1][2] - eyes[0][2]) < 1e-3
    # The mirror pairs of the nose and the mouth corners sit at mirrored x.
    assert face[61][0] == pytest.approx(-face[291][0], abs=0.02)
    assert abs(face[1][0]) < 0.02
    # Depth: the nose tip is nearer the camera (smaller z) than the eye corners and the face outline.
    assert face[1][2] < face[33][2] and face[1][2] < face[234][2]


def test_fit_recovers_a_rotated_scaled_shifted_canonical_face_and_normalises_it_back():
    face = canonical_face().astype(np.float64)
    mesh = 80.0 * face @ rotation_from_angles(25, -12, 7).T + np.array([320.0, 180.0, 5.0])
    pose = fit_pose(mesh)
    assert (pose.yaw, pose.pitch, pose.roll) == pytest.approx((25, -12, 7), abs=0.05)
    assert pose.scale == pytest.approx(80.0, rel=1e-3)
    assert pose.residual < 1e-3
    assert np.allclose(pose.normalise(mesh)[:, :2], face[:, :2], atol=1e-3)
    # Moving points that are not stable (a smile) leaves the pose alone.
    smiling = mesh.copy()
    smiling[[61, 291]] += [[-4.0, -5.0, 0.0], [4.0, -5.0, 0.0]]
    assert fit_pose(smiling).yaw == pytest.approx(25, abs=0.05)
    assert 61 not in STABLE_POINTS


def test_fit_rejects_a_flat_or_broken_mesh():
    with pytest.raises(ValueError, match="478, 3"):
        fit_pose(np.zeros((478, 2)))
    broken = canonical_face().astype(np.float64).copy()
    broken[5, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        fit_pose(broken)


@needs_mediapipe
@pytest.mark.parametrize("name, yaw, pitch, roll", [
    ("grace_hopper", 20, 0, 0), ("grace_hopper", -20, 0, 0), ("grace_hopper", 0, 15, 0),
    ("grace_hopper", 0, -15, 0), ("astronaut", 20, 0, 0), ("astronaut", 25, 10, 5),
])
def test_pose_of_a_photo_turned_in_3d_is_within_a_few_degrees(name, yaw, pitch, roll):
    from larnet_core.face.mesh import MeshFaceDetector

    from rendered_faces import photo_mesh, render_turn

    photo, mesh3d = photo_mesh(name)
    detector = MeshFaceDetector(max_faces=1)
    try:
        turned = detector.detect(render_turn(photo, mesh3d, yaw, pitch, roll))[0].mesh3d
    finally:
        detector.close()
    before, after = fit_pose(mesh3d), fit_pose(turned)
    # The photos themselves are not exactly frontal: compare with the photo's own pose.
    relative = angles_from_rotation(after.rotation @ before.rotation.T)
    assert relative[0] == pytest.approx(yaw, abs=4.0)
    assert relative[1] == pytest.approx(pitch, abs=6.0)  # nods are read a little short (measured: 10.6-12.4 of 15)
    assert relative[2] == pytest.approx(roll, abs=3.0)
