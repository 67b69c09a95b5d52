"""Identities derived from one photo (larnet_core.synth.face_variants) and the generator's lip points measured by the
face mesh: the key points must follow the face, as the face mesh finds it, whatever the face's shape."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from larnet_core.synth.face_variants import CHECK_SHAPES, TUNING_SHAPES, FaceShape, derived_layer
from larnet_core.synth.photo_faces import head_layer
from markers import needs_mediapipe


@functools.lru_cache(maxsize=1)
def _detector():
    from larnet_core.face.mesh import MeshFaceDetector

    return MeshFaceDetector(max_faces=1)


def _mesh(image: np.ndarray) -> np.ndarray:
    return _detector().detect(image)[0].mesh


def _lip_offsets(layer) -> np.ndarray:
    """Upper- and lower-lip key points less the mesh's lip borders (points 0 and 17), in eye distances."""
    mesh = _mesh(layer.image)
    marks = layer.landmarks
    return np.array([np.subtract(marks.upper_lip, mesh[0]), np.subtract(marks.lower_lip, mesh[17])]) / \
        marks.eye_distance


def test_a_neutral_shape_leaves_the_photo_and_its_key_points_alone():
    base = head_layer("grace_hopper", 160)
    same = derived_layer(base, FaceShape("same"))
    assert np.array_equal(same.image, base.image)
    assert np.allclose(same.landmarks.as_array(), base.landmarks.as_array())
    assert same.name == "grace_hopper-same"


def test_a_lip_fullness_that_folds_the_image_is_refused():
    with pytest.raises(ValueError, match="folds the image"):
        derived_layer(head_layer("grace_hopper", 160), FaceShape("lips", lip_fullness=0.8))


@needs_mediapipe
def test_the_generator_lip_points_can_come_from_the_face_mesh_on_both_photos():
    for name in ("grace_hopper", "astronaut"):
        layer = head_layer(name, 180, mesh_lips=True)
        assert layer.source.endswith("+mesh lips")
        assert np.abs(_lip_offsets(layer)).max() < 0.02
    guessed = head_layer("astronaut", 180)  # the default: guessed from the mouth corners
    assert not guessed.source.endswith("+mesh lips")
    assert abs(_lip_offsets(guessed)[1, 1]) > 0.15  # a lip's height off on this face


@needs_mediapipe
@pytest.mark.parametrize("shape", [*TUNING_SHAPES, *CHECK_SHAPES], ids=lambda shape: shape.name)
def test_derived_faces_keep_their_key_points_on_the_features_the_mesh_finds(shape):
    base = head_layer("grace_hopper", 180, mesh_lips=True)
    layer = derived_layer(base, shape)
    # The lips moved up or down with the key points (the mesh's midline points wander sideways more).
    assert np.abs(_lip_offsets(layer) - _lip_offsets(base))[:, 1].max() < 0.03
    moved = np.abs(layer.landmarks.as_array() - base.landmarks.as_array()).max() / base.landmarks.eye_distance
    assert moved < 0.3 and np.allclose(layer.landmarks.left_eye, base.landmarks.left_eye, atol=0.5)


@needs_mediapipe
def test_derived_faces_differ_where_their_shape_says():
    base = head_layer("grace_hopper", 180)
    plain = _mesh(base.image)

    def measures(mesh: np.ndarray) -> tuple[float, float, float]:
        iod = np.hypot(*(mesh[263, :2] - mesh[33, :2]))
        jaw = np.hypot(*(mesh[365, :2] - mesh[136, :2])) / iod  # the jaw's width below the mouth
        chin = (mesh[152, 1] - mesh[17, 1]) / iod  # lower lip to the chin's bottom
        lips = (mesh[17, 1] - mesh[0, 1]) / iod  # both lips' height
        return jaw, chin, lips

    jaw, chin, lips = measures(plain)
    wide_jaw, _, thin_lips = measures(_mesh(derived_layer(base, FaceShape("w", jaw_width=0.12,
                                                                          lip_fullness=-0.3)).image))
    _, long_chin, full_lips = measures(_mesh(derived_layer(base, FaceShape("l", chin_length=0.15,
                                                                           lip_fullness=0.3)).image))
    assert wide_jaw > jaw * 1.02 and thin_lips < lips * 0.9
    assert long_chin > chin + 0.05 and full_lips > lips * 1.1
