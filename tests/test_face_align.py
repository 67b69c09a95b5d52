"""Face crops and eye-line alignment on real photos, and mapping results from the crop back to the frame."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from larnet_core.face import (
    AlignedFace,
    FaceDetection,
    MTCNNFaceDetector,
    align_face,
    crop_face,
    eye_angle,
    sample_face_photos,
)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def mtcnn() -> MTCNNFaceDetector:
    return MTCNNFaceDetector(max_side=320)  # the face is large; a smaller search keeps the tests quick


@pytest.fixture(scope="module")
def grace() -> np.ndarray:
    return sample_face_photos()["grace_hopper"]


@pytest.fixture(scope="module")
def upright_angle(mtcnn, grace) -> float:
    return eye_angle(mtcnn.detect(grace)[0].landmarks)


def _rotate(image: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate about the image centre (counter-clockwise on screen for positive degrees), edges replicated."""
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


@pytest.mark.parametrize("degrees", [15.0, -15.0])
def test_alignment_levels_the_eye_line(mtcnn, grace, upright_angle, degrees):
    tilted = _rotate(grace, degrees)
    face = mtcnn.detect(tilted)[0]
    # On screen a counter-clockwise turn lifts the right-hand eye: the eye-line angle drops by `degrees`.
    assert eye_angle(face.landmarks) == pytest.approx(upright_angle - degrees, abs=3.0)

    aligned = align_face(tilted, face, output_size=(224, 224), margin=0.2)
    assert aligned.image.shape == (224, 224, 3)
    assert aligned.angle == pytest.approx(eye_angle(face.landmarks))
    assert abs(eye_angle(aligned.landmarks)) < 1e-6  # the warp levels the detected eyes exactly
    # ...and the face itself: detecting again on the crop finds level eyes.
    again = mtcnn.detect(aligned.image)
    assert again, "no face found in the aligned crop"
    assert abs(eye_angle(again[0].landmarks)) < 3.0
    # Eyes in the upper half of the crop, left of centre then right of centre.
    (lx, ly), (rx, ry) = aligned.landmarks[:2]
    assert lx < 112 < rx and ly < 112 and ry < 112


def test_points_map_back_to_the_source_frame(mtcnn, grace):
    tilted = _rotate(grace, 15.0)
    face = mtcnn.detect(tilted)[0]
    aligned = align_face(tilted, face, output_size=(160, 192))
    np.testing.assert_allclose(aligned.to_source(aligned.landmarks), face.landmarks, atol=1e-6)
    points = np.array([[10.0, 20.0], [300.0, 400.0]])
    np.testing.assert_allclose(aligned.to_source(aligned.from_source(points)), points, atol=1e-6)
    # The crop centre is the box centre.
    np.testing.assert_allclose(aligned.to_source([[80, 96]])[0], face.center, atol=1e-6)
    # Pixels agree: a crop pixel equals the source pixel it maps to (away from edges, up to interpolation).
    for col, row in [(80, 96), (50, 60), (120, 150)]:
        cx, cy = aligned.to_source([[col + 0.5, row + 0.5]])[0]
        expected = cv2.getRectSubPix(tilted, (1, 1), (cx - 0.5, cy - 0.5))[0, 0]
        assert np.abs(aligned.image[row, col].astype(int) - expected.astype(int)).max() <= 2


def test_heat_map_is_warped_back_onto_the_frame(grace):
    face = FaceDetection((173.0, 142.0, 362.0, 328.0), 1.0)
    crop = crop_face(grace, face.box, output_size=(64, 64), margin=0.25)
    heat = np.zeros((8, 8), np.float32)  # coarser than the crop, like a CAM map
    heat[3:5, 3:5] = 1.0
    frame_map = crop.map_to_source(heat, source_size=(grace.shape[1], grace.shape[0]))
    assert frame_map.shape == grace.shape[:2]
    ys, xs = np.indices(frame_map.shape)
    # + 0.5: pixel (i, j) is centred on (j + 0.5, i + 0.5) in the face pipeline's continuous coordinates.
    centre_of_mass = np.array([(xs * frame_map).sum(), (ys * frame_map).sum()]) / frame_map.sum() + 0.5
    np.testing.assert_allclose(centre_of_mass, face.center, atol=0.5)
    assert frame_map[10, 10] == 0.0  # outside the crop region
    corners = crop.source_corners()
    side = max(face.width, face.height) * 1.5  # margin 0.25 each side, grown to square
    assert corners[2] - corners[0] == pytest.approx([side, side])


def test_plain_crop_keeps_the_aspect_and_centres_the_box(grace):
    box = (173.0, 142.0, 362.0, 328.0)  # 189 x 186
    crop = crop_face(grace, box, output_size=(100, 150), margin=0.1)
    assert isinstance(crop, AlignedFace)
    assert crop.image.shape == (150, 100, 3)
    assert crop.angle == 0.0 and crop.landmarks is None
    linear = crop.matrix[:, :2]
    assert linear[0, 0] == pytest.approx(linear[1, 1]) and linear[0, 1] == pytest.approx(0.0)  # no squash
    np.testing.assert_allclose(crop.from_source([[267.5, 235.0]])[0], [50.0, 75.0])
    # The region is the box plus margin, widened to 2:3 (width-limited here), so the whole box fits.
    x0, y0 = crop.from_source([box[:2]])[0]
    x1, y1 = crop.from_source([box[2:]])[0]
    assert 0 < x0 < x1 < 100 and 0 < y0 < y1 < 150
    # A detection without landmarks gives the same plain crop.
    same = align_face(grace, FaceDetection(box, 1.0), output_size=(100, 150), margin=0.1)
    np.testing.assert_array_equal(same.image, crop.image)


def test_crop_accepts_grey_frames_and_rejects_bad_arguments(grace):
    grey = cv2.cvtColor(grace, cv2.COLOR_RGB2GRAY)
    crop = crop_face(grey, (173, 142, 362, 328), output_size=(32, 32))
    assert crop.image.shape == (32, 32, 3)
    # Boxes reaching past the frame are padded with black, not shifted.
    edge = crop_face(grace, (-50, -50, 50, 50), output_size=(20, 20), margin=0.0)
    assert edge.image[:5, :5].max() == 0
    with pytest.raises(ValueError, match="output_size"):
        crop_face(grace, (0, 0, 10, 10), output_size=(0, 10))
    with pytest.raises(ValueError, match="margin"):
        crop_face(grace, (0, 0, 10, 10), margin=-0.5)
    with pytest.raises(ValueError, match="x1 > x0"):
        crop_face(grace, (10, 10, 5, 20))
