"""Face detectors on real photos shipped by installed packages: boxes, landmarks, input checks, no-face paths."""

from __future__ import annotations

import importlib.util
import threading

import cv2
import numpy as np
import pytest

from larnet_core.errors import LarnetError, NoFaceError
from larnet_core.face import (
    FaceDetection,
    HaarFaceDetector,
    MTCNNFaceDetector,
    available_detectors,
    box_iou,
    build_detector,
    detections_frame,
    largest_face,
    sample_face_photos,
)
from conftest import require_or_skip

# Drawn by hand around brow-to-chin and cheek-to-cheek after viewing each photo on a 20-pixel grid
# (Grace Hopper: under the cap's brim to the chin; astronaut: hairline fringe to the chin).
REFERENCE_FACE_BOXES = {
    "grace_hopper": (173.0, 142.0, 362.0, 328.0),
    "astronaut": (180.0, 72.0, 277.0, 182.0),
}
NO_FACE_HINT = "use a clearer frontal face photo, or analyse the full frame with --face none"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def photos() -> dict[str, np.ndarray]:
    found = sample_face_photos()
    require_or_skip("astronaut" in found, "scikit-image (a test dependency) is needed for the astronaut photo")
    return found


@pytest.fixture(scope="module")
def detectors() -> dict[str, object]:
    return {"haar": HaarFaceDetector(), "mtcnn": MTCNNFaceDetector()}


@pytest.fixture(scope="module")
def mtcnn_faces(photos, detectors) -> dict[str, list[FaceDetection]]:
    return {name: detectors["mtcnn"].detect(photo) for name, photo in photos.items()}


def _assert_covers_reference(detection: FaceDetection, photo_name: str) -> None:
    reference = REFERENCE_FACE_BOXES[photo_name]
    iou = box_iou(detection.box, reference)
    cx, cy = detection.center
    assert iou >= 0.5, f"{photo_name}: box {detection.box} has IoU {iou:.2f} with reference {reference}"
    assert reference[0] < cx < reference[2] and reference[1] < cy < reference[3], (detection.box, reference)


def test_sample_photos_are_real_rgb_photos_and_copies():
    first = sample_face_photos()
    assert first["grace_hopper"].shape == (600, 512, 3)
    assert first["grace_hopper"].dtype == np.uint8
    assert first["grace_hopper"].std() > 30  # a photo, not a placeholder
    if importlib.util.find_spec("skimage") is not None:
        assert first["astronaut"].shape == (512, 512, 3)
    first["grace_hopper"][:] = 0
    assert sample_face_photos()["grace_hopper"].std() > 30


@pytest.mark.parametrize("detector_name", ["haar", "mtcnn"])
@pytest.mark.parametrize("photo_name", ["grace_hopper", "astronaut"])
def test_detector_finds_the_face(detectors, photos, mtcnn_faces, detector_name, photo_name):
    if detector_name == "mtcnn":
        detections = mtcnn_faces[photo_name]
    else:
        detections = detectors["haar"].detect(photos[photo_name])
    assert len(detections) == 1, detections
    _assert_covers_reference(detections[0], photo_name)
    assert detections[0].score > 0


@pytest.mark.parametrize("photo_name", ["grace_hopper", "astronaut"])
def test_mtcnn_gives_five_landmarks_in_face_order(mtcnn_faces, photo_name):
    face = mtcnn_faces[photo_name][0]
    assert face.score > 0.99
    points = face.landmarks
    assert points.shape == (5, 2)
    left_eye, right_eye, nose, mouth_left, mouth_right = points
    assert left_eye[0] < nose[0] < right_eye[0]
    assert mouth_left[0] < mouth_right[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_left[1], mouth_right[1])
    x0, y0, x1, y1 = face.box
    assert ((points[:, 0] > x0) & (points[:, 0] < x1) & (points[:, 1] > y0) & (points[:, 1] < y1)).all()
    with pytest.raises(ValueError):
        points[0, 0] = 0.0  # shared detections are read-only


@pytest.mark.parametrize("photo_name", ["grace_hopper", "astronaut"])
def test_haar_eye_search_lands_on_mtcnn_eyes(photos, mtcnn_faces, photo_name):
    haar_face = HaarFaceDetector(find_eyes=True).detect(photos[photo_name])[0]
    assert haar_face.landmarks is not None
    eye_distance = np.linalg.norm(mtcnn_faces[photo_name][0].eyes[1] - mtcnn_faces[photo_name][0].eyes[0])
    error = np.linalg.norm(haar_face.eyes - mtcnn_faces[photo_name][0].eyes, axis=1)
    assert (error < 0.2 * eye_distance).all(), (haar_face.eyes, mtcnn_faces[photo_name][0].eyes)


@pytest.mark.parametrize("detector_name", ["haar", "mtcnn"])
def test_grey_and_rgba_inputs_are_converted(detectors, photos, detector_name):
    photo = photos["astronaut"]
    grey = (photo @ np.array([0.299, 0.587, 0.114])).astype(np.uint8)
    rgba = np.dstack([photo, np.full(photo.shape[:2], 255, np.uint8)])
    inputs = {"grey": grey, "grey1": grey[:, :, None], "rgba": rgba}
    if detector_name == "mtcnn":
        inputs.pop("grey1")  # same conversion path as "grey"; MTCNN is the slow one
    for kind, image in inputs.items():
        faces = detectors[detector_name].detect(image)
        assert faces, f"{detector_name} found no face in the {kind} photo"
        _assert_covers_reference(faces[0], "astronaut")
    assert photo.shape == (512, 512, 3)  # inputs are not modified


@pytest.mark.parametrize(
    ("bad", "fragment"),
    [
        (np.zeros((32, 32, 3), np.float32), "dtype float32"),
        (np.zeros((2, 32, 32, 3), np.uint8), "shape (2, 32, 32, 3)"),
        (np.zeros((32, 32, 2), np.uint8), "shape (32, 32, 2)"),
        (np.zeros((0, 0, 3), np.uint8), "empty"),
        ([[0, 1], [2, 3]], "not an image array"),
    ],
)
def test_non_images_raise_a_clear_error(detectors, bad, fragment):
    for detector in detectors.values():
        with pytest.raises(LarnetError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
            detector.detect(bad)


def test_no_face_gives_empty_list_and_largest_face_raises(detectors):
    rng = np.random.default_rng(7)
    blank = np.full((240, 320, 3), 127, np.uint8)
    noise = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
    for name, detector in detectors.items():
        assert detector.detect(blank) == [], name
        assert detector.detect(noise) == [], name
        with pytest.raises(NoFaceError) as caught:
            largest_face(noise, detector, what="noise.png")
        assert str(caught.value) == f"no face found in noise.png; {NO_FACE_HINT}"


@pytest.mark.parametrize("shape", [(8, 8), (8, 8, 3), (1, 1, 4)])
def test_tiny_images_are_handled(detectors, shape):
    tiny = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    for detector in detectors.values():
        assert detector.detect(tiny) == []


def test_largest_face_picks_the_biggest(photos):
    # Two faces side by side, the right one at double size; full-size search so the small one is found too.
    detector = HaarFaceDetector(max_side=None)
    canvas = np.zeros((512, 768, 3), np.uint8)
    canvas[:256, :256] = photos["astronaut"][::2, ::2]
    canvas[:, 256:] = photos["astronaut"]
    faces = detector.detect(canvas)
    assert len(faces) == 2
    biggest = largest_face(canvas, detector)
    assert biggest.center[0] > 256
    assert biggest.area == max(f.area for f in faces)


def test_build_detector_and_available_detectors():
    assert available_detectors() == ["haar", "mtcnn", "mediapipe"]
    assert isinstance(build_detector("haar"), HaarFaceDetector)
    assert isinstance(build_detector("MTCNN", device="cpu", min_face_size=40), MTCNNFaceDetector)
    with pytest.raises(ValueError, match="choose one of: haar, mtcnn"):
        build_detector("dlib")
    with pytest.raises(ValueError, match="cascade"):
        HaarFaceDetector(cascade="nope")


def test_mtcnn_instance_is_safe_to_share_between_threads(photos, detectors):
    detector = detectors["mtcnn"]
    small = {name: cv2.resize(photo, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
             for name, photo in photos.items()}
    serial = {name: detector.detect(photo) for name, photo in small.items()}
    names = ["grace_hopper", "astronaut", "grace_hopper", "astronaut"]
    results: dict[int, list[FaceDetection]] = {}

    def work(index: int) -> None:
        results[index] = detector.detect(small[names[index]])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(names))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for index, name in enumerate(names):
        assert len(results[index]) == 1 and results[index] == serial[name]
        np.testing.assert_allclose(results[index][0].landmarks, serial[name][0].landmarks)


def test_face_detection_checks_and_table(mtcnn_faces):
    with pytest.raises(ValueError, match="x1 > x0"):
        FaceDetection((10, 10, 5, 20), 1.0)
    with pytest.raises(ValueError, match="5"):
        FaceDetection((0, 0, 5, 5), 1.0, np.zeros((4, 2)))
    face = mtcnn_faces["astronaut"][0]
    half = face.scaled(0.5)
    assert half.box == pytest.approx([v / 2 for v in face.box])
    table = detections_frame([face, FaceDetection((0, 0, 4, 4), 0.5)])
    assert list(table.columns[:5]) == ["x0", "y0", "x1", "y1", "score"]
    assert table.loc[0, "left_eye_x"] == pytest.approx(face.landmarks[0, 0])
    assert np.isnan(table.loc[1, "nose_y"])
