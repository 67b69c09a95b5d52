"""Per-frame face tracking on footage made in memory from real photos: faces leaving, entering, side by side,
gaps, shot cuts (and the motions that must not read as cuts), dense landmarks and their regions."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest

from larnet_core.errors import LarnetError
from larnet_core.face import (
    MESH_POINTS,
    MESH_REGIONS,
    TRACKER_BACKENDS,
    FaceTracker,
    HaarFaceDetector,
    ShotCutDetector,
    TrackedFrame,
    available_detectors,
    box_iou,
    build_detector,
    main_face_id,
    region_boxes,
    sample_face_photos,
    summarize_tracks,
)
from larnet_core.face import tracking as tracking_module
from markers import needs_mediapipe


W, H = 640, 360
PHOTOS = sample_face_photos()
# Head-and-shoulders crops of the photos (face plus some hair and collar), and the hand-drawn reference face boxes
# of tests/test_face.py.
CROPS = {"grace_hopper": (110, 50, 425, 430), "astronaut": (140, 25, 320, 225)}
REFERENCE_BOXES = {"grace_hopper": (173.0, 142.0, 362.0, 328.0), "astronaut": (180.0, 72.0, 277.0, 182.0)}


def _patch(name: str, height: int) -> np.ndarray:
    x0, y0, x1, y1 = CROPS[name]
    patch = PHOTOS[name][y0:y1, x0:x1]
    scale = height / patch.shape[0]
    return cv2.resize(patch, (round(patch.shape[1] * scale), height), interpolation=cv2.INTER_AREA)


def _background(seed: int, base: tuple[int, int, int]) -> np.ndarray:
    """A smooth, textured backdrop (a blurred colour field with a left-to-right gradient)."""
    rng = np.random.default_rng(seed)
    noise = cv2.resize(rng.uniform(0, 1, (9, 16, 3)).astype(np.float32), (W, H), interpolation=cv2.INTER_CUBIC)
    ramp = 40 * np.linspace(0, 1, W, dtype=np.float32)[None, :, None]
    return np.clip(np.array(base, np.float32) + ramp + 90 * noise, 0, 255).astype(np.uint8)


def _compose(background: np.ndarray, patch: np.ndarray, cx: float, cy: float, angle: float = 0.0) -> np.ndarray:
    """``patch`` pasted centred at ``(cx, cy)``, rotated by ``angle`` degrees; parts outside the frame are cut."""
    h, w = patch.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    matrix[:, 2] += (cx - w / 2, cy - h / 2)
    warped = cv2.warpAffine(patch, matrix, (W, H), flags=cv2.INTER_LINEAR)
    mask = cv2.warpAffine(np.ones((h, w), np.float32), matrix, (W, H), flags=cv2.INTER_LINEAR)[..., None]
    return (background * (1 - mask) + warped * mask).astype(np.uint8)


ROOM = _background(0, (30, 60, 90))
OTHER_ROOM = _background(5, (120, 40, 160))  # the shot a cut goes to
GRACE = _patch("grace_hopper", 240)
ASTRONAUT = _patch("astronaut", 150)


def _track(frames: list[np.ndarray], backend: str = "mediapipe", **options) -> list[TrackedFrame]:
    tracker = FaceTracker(backend, fps=30.0, **options)
    return [tracker.update(frame) for frame in frames]


def _ids(frames: list[TrackedFrame]) -> list[tuple[int, ...]]:
    return [tuple(face.face_id for face in frame.faces) for frame in frames]


# --- MediaPipe tracker ---------------------------------------------------------------------------------------------


@needs_mediapipe
def test_auto_backend_is_mediapipe_and_faces_carry_a_478_point_mesh_in_bounds():
    tracker = FaceTracker(fps=30.0)
    assert tracker.backend == "mediapipe"
    frame = _compose(ROOM, GRACE, 320, 180)
    for _ in range(3):
        result = tracker.update(frame)
    (face,) = result.faces
    assert face.mesh.shape == (MESH_POINTS, 2) and face.landmarks.shape == (5, 2)
    assert not face.mesh.flags.writeable
    assert (face.mesh >= 0).all() and (face.mesh[:, 0] <= W).all() and (face.mesh[:, 1] <= H).all()
    x0, y0, x1, y1 = face.box
    assert np.allclose(face.box, (*face.mesh.min(axis=0), *face.mesh.max(axis=0)), atol=1.0)
    assert 0.5 <= face.confidence <= 1.0 and face.frames_tracked == 3
    # The face of the pasted photo: its reference box, scaled and moved to where it was pasted.
    crop_x0, crop_y0, _, crop_y1 = CROPS["grace_hopper"]
    patch_scale = 240 / (crop_y1 - crop_y0)
    rx0, ry0, rx1, ry1 = REFERENCE_BOXES["grace_hopper"]
    left, top = 320 - GRACE.shape[1] / 2, 180 - GRACE.shape[0] / 2
    reference = (left + (rx0 - crop_x0) * patch_scale, top + (ry0 - crop_y0) * patch_scale,
                 left + (rx1 - crop_x0) * patch_scale, top + (ry1 - crop_y0) * patch_scale)
    assert box_iou(face.box, reference) >= 0.5
    eyes = face.landmarks[:2]
    assert eyes[0, 0] < eyes[1, 0] and x0 < eyes[:, 0].min() and eyes[:, 0].max() < x1
    assert result.face(face.face_id) is face and result.face(99) is None


@needs_mediapipe
def test_a_face_that_leaves_is_gone_and_no_cut_is_flagged():
    frames = [_compose(ROOM, GRACE, 320 + max(0, i - 10) * 30, 180) for i in range(30)]
    tracked = _track(frames)
    assert all(frame.faces for frame in tracked[:15])
    assert {face.face_id for frame in tracked for face in frame.faces} == {0}
    assert all(frame.faces == () for frame in tracked[23:])  # patch fully out of the frame from frame 23
    assert not any(frame.cut for frame in tracked)


@needs_mediapipe
def test_a_face_entering_from_the_side_is_found_when_it_appears():
    # Empty room for 8 frames, then the face slides in from the left edge at 30 px a frame.
    frames = [ROOM.copy() if i < 8 else _compose(ROOM, GRACE, -GRACE.shape[1] / 2 + (i - 7) * 30, 180)
              for i in range(30)]
    tracked = _track(frames)
    assert all(frame.faces == () for frame in tracked[:8])
    fully_in = next(i for i in range(8, 30) if -GRACE.shape[1] / 2 + (i - 7) * 30 >= GRACE.shape[1] / 2)
    assert all(len(frame.faces) == 1 for frame in tracked[fully_in:])
    assert {face.face_id for frame in tracked for face in frame.faces} == {0}  # one id from entry on
    assert not any(frame.cut for frame in tracked)


@needs_mediapipe
def test_a_cut_to_a_shot_without_a_face_and_back():
    frames = [_compose(ROOM, GRACE, 320, 180) if (i < 8 or i >= 14) else OTHER_ROOM.copy() for i in range(22)]
    tracked = _track(frames)
    assert [frame.index for frame in tracked if frame.cut] == [8, 14]
    assert all(frame.faces == () for frame in tracked[8:14])
    # Back at the same place within max_gap_s: the id is kept (IoU >= 0.5 across a cut).
    assert _ids(tracked[:8]) == [(0,)] * 8 and _ids(tracked[14:]) == [(0,)] * 8


@needs_mediapipe
def test_after_a_cut_a_face_elsewhere_gets_a_new_id():
    frames = [_compose(ROOM, GRACE, 200, 180) for _ in range(6)] + [_compose(OTHER_ROOM, GRACE, 440, 180)
                                                                  for _ in range(6)]
    tracked = _track(frames)
    assert tracked[6].cut
    assert _ids(tracked) == [(0,)] * 6 + [(1,)] * 6


@needs_mediapipe
def test_motion_turns_a_hand_and_flicker_are_not_cuts_and_keep_the_face():
    frames = [_compose(ROOM, GRACE, 300 + 3 * i, 180 + 2 * np.sin(i / 3), angle=20 * np.sin(i / 5)) for i in range(24)]
    for i in range(24, 36):  # a skin-coloured "hand" over the mouth, appearing and vanishing at once
        frame = _compose(ROOM, GRACE, 372, 180)
        if 27 <= i < 33:
            cv2.ellipse(frame, (372, 240), (60, 35), 0, 0, 360, (205, 150, 125), -1)
        frames.append(frame)
    for i in range(36, 46):  # flickering light: +-20 % brightness every other frame
        frames.append(np.clip(_compose(ROOM, GRACE, 372, 180) * (1.0 + 0.2 * (-1) ** i), 0, 255).astype(np.uint8))
    tracked = _track(frames)
    assert not any(frame.cut for frame in tracked)
    assert _ids(tracked) == [(0,)] * len(frames)


@needs_mediapipe
def test_two_faces_side_by_side_keep_two_ids_and_the_larger_is_main():
    frames = [_compose(_compose(ROOM, GRACE, 190 + 3 * np.sin(i / 3), 180), ASTRONAUT, 480, 170 + 2 * np.cos(i / 4))
              for i in range(16)]
    tracked = _track(frames)
    assert all(len(frame.faces) == 2 for frame in tracked)
    left_ids = {min(frame.faces, key=lambda f: f.box[0]).face_id for frame in tracked}
    right_ids = {max(frame.faces, key=lambda f: f.box[0]).face_id for frame in tracked}
    assert len(left_ids) == 1 and len(right_ids) == 1 and left_ids != right_ids
    assert main_face_id(tracked) == left_ids.pop()
    table = summarize_tracks(tracked)
    assert list(table.columns) == ["face_id", "first_frame", "last_frame", "n_frames", "mean_area", "mean_confidence",
                                   "steadiness", "score"]
    assert table["n_frames"].tolist() == [16, 16] and (table["steadiness"] > 0.9).all()


@needs_mediapipe
def test_a_second_face_arriving_later_is_found_at_the_next_acquisition_with_its_own_id():
    # The streaming graph is built for the faces in view (its own detector would otherwise run on every frame),
    # so a face joining them is found by the full-range detector, which runs every detect_every_s (0.5 s: 15
    # frames at 30 fps, the first at frame 0). From then on the graph follows both.
    frames = [_compose(ROOM, GRACE, 190, 180) for _ in range(6)]
    frames += [_compose(_compose(ROOM, GRACE, 190, 180), ASTRONAUT, 480, 170) for _ in range(18)]
    tracked = _track(frames)
    assert _ids(tracked) == [(0,)] * 15 + [(0, 1)] * 9
    # A face in an empty scene is still picked up on the frame it appears (the graph's own detector runs while
    # it holds fewer faces than it was built for).
    frames = [ROOM.copy() for _ in range(5)] + [_compose(ROOM, GRACE, 190, 180) for _ in range(3)]
    assert _ids(_track(frames)) == [()] * 5 + [(0,)] * 3


@needs_mediapipe
def test_a_short_gap_keeps_the_id_and_a_long_absence_gives_a_new_one():
    # max_gap_s = 0.5 s at 30 fps: 15 frames.
    present = _compose(ROOM, GRACE, 320, 180)
    frames = [present] * 6 + [ROOM] * 5 + [present] * 6 + [ROOM] * 25 + [present] * 4
    tracked = _track(frames)
    assert _ids(tracked) == [(0,)] * 6 + [()] * 5 + [(0,)] * 6 + [()] * 25 + [(1,)] * 4
    assert main_face_id(tracked) == 0
    assert main_face_id(tracked[6:11]) is None


@needs_mediapipe
def test_mesh_regions_lie_in_anatomical_order():
    frame = _compose(ROOM, GRACE, 320, 180)
    (face,) = _track([frame, frame])[-1].faces
    boxes = region_boxes(face.mesh)
    assert set(MESH_REGIONS) <= set(boxes)
    centre_y = {name: (box[1] + box[3]) / 2 for name, box in boxes.items()}
    order = ["brows", "eyes", "nose", "mouth", "chin"]
    assert [centre_y[name] for name in order] == sorted(centre_y[name] for name in order)
    centre_x = {name: (box[0] + box[2]) / 2 for name, box in boxes.items()}
    for left, right in [("left_eye", "right_eye"), ("left_brow", "right_brow"), ("left_cheek", "right_cheek"),
                        ("left_iris", "right_iris")]:
        assert centre_x[left] < centre_x["nose"] < centre_x[right]
    assert centre_y["eyes"] < centre_y["cheeks"] < centre_y["chin"]
    assert face.mesh[61, 0] < face.mesh[291, 0]  # mouth corners: image-left first
    for name, (x0, y0, x1, y1) in boxes.items():
        assert x1 > x0 and y1 > y0, name


def test_mesh_region_indices_match_mediapipe_topology():
    connections = pytest.importorskip("mediapipe.python.solutions.face_mesh_connections",
                                      reason="mediapipe is not installed")

    def vertices(edges) -> set[int]:
        return {i for edge in edges for i in edge}

    assert set(MESH_REGIONS["left_eye"]) == vertices(connections.FACEMESH_RIGHT_EYE)  # subject's right = image left
    assert set(MESH_REGIONS["right_eye"]) == vertices(connections.FACEMESH_LEFT_EYE)
    assert set(MESH_REGIONS["left_brow"]) == vertices(connections.FACEMESH_RIGHT_EYEBROW)
    assert set(MESH_REGIONS["right_brow"]) == vertices(connections.FACEMESH_LEFT_EYEBROW)
    assert set(MESH_REGIONS["mouth"]) == vertices(connections.FACEMESH_LIPS)
    assert set(MESH_REGIONS["nose"]) == vertices(connections.FACEMESH_NOSE)
    assert set(MESH_REGIONS["face_oval"]) == vertices(connections.FACEMESH_FACE_OVAL)
    assert set(MESH_REGIONS["left_iris"]) - {468} == vertices(connections.FACEMESH_RIGHT_IRIS)
    assert all(0 <= i < MESH_POINTS for indices in MESH_REGIONS.values() for i in indices)


@needs_mediapipe
@pytest.mark.parametrize("name", sorted(PHOTOS))
def test_mediapipe_detector_finds_the_face_in_each_sample_photo(name):
    assert "mediapipe" in available_detectors()
    detector = build_detector("mediapipe")
    (face,) = detector.detect(PHOTOS[name])
    assert box_iou(face.box, REFERENCE_BOXES[name]) >= 0.6
    assert 0.5 <= face.score <= 1.0 and face.mesh.shape == (MESH_POINTS, 2)
    x0, y0, x1, y1 = face.box
    assert all(x0 <= x <= x1 and y0 <= y <= y1 for x, y in face.landmarks)
    assert detector.detect(np.full((200, 300, 3), 90, np.uint8)) == []


@needs_mediapipe
def test_mediapipe_detector_meshes_each_of_two_faces():
    frame = _compose(_compose(ROOM, GRACE, 190, 180), ASTRONAUT, 480, 170)
    faces = build_detector("mediapipe").detect(frame)
    assert len(faces) == 2
    left, right = sorted(faces, key=lambda f: f.box[0])
    assert left.box[2] < right.box[0] and left.area > right.area
    assert all(f.mesh.shape == (MESH_POINTS, 2) for f in faces)


@needs_mediapipe
def test_tracker_closes_its_graphs():
    with FaceTracker("mediapipe") as tracker:
        assert tracker.update(_compose(ROOM, GRACE, 320, 180)).faces


@needs_mediapipe
def test_mediapipe_loads_without_matplotlib_and_its_drawing_helpers_still_work():
    # A fresh interpreter: the tracker's import of mediapipe must not pull in matplotlib (its drawing helpers do),
    # and the helpers must still be there, with matplotlib, for code that uses them.
    code = (
        "import sys\n"
        "from larnet_core.face.mesh import import_mediapipe\n"
        "mp = import_mediapipe()\n"
        "print(sorted(m for m in ('matplotlib', 'matplotlib.pyplot') if m in sys.modules))\n"
        "style = mp.solutions.drawing_styles.get_default_face_mesh_tesselation_style()\n"
        "print(type(style).__name__, mp.solutions.drawing_utils.DrawingSpec.__name__, 'matplotlib' in sys.modules)\n"
        "import mediapipe.python.solutions.drawing_utils as drawing\n"
        "print(drawing.DrawingSpec is mp.solutions.drawing_utils.DrawingSpec)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == ["[]", "DrawingSpec DrawingSpec True", "True"]


# --- fallbacks, cuts, arguments ------------------------------------------------------------------------------------


def test_haar_fallback_tracks_and_loses_the_face():
    frames = [_compose(ROOM, GRACE, 320 + max(0, i - 4) * 60, 180) for i in range(12)]
    tracked = _track(frames, backend="haar")
    assert all(len(frame.faces) == 1 for frame in tracked[:5])
    assert all(frame.faces == () for frame in tracked[10:])
    assert {face.face_id for frame in tracked for face in frame.faces} == {0}
    face = tracked[0].faces[0]
    assert face.mesh is None and (face.landmarks is None or face.landmarks.shape == (5, 2))
    assert not any(frame.cut for frame in tracked)


def test_auto_falls_back_to_haar_without_mediapipe_and_facenet(monkeypatch):
    monkeypatch.setattr(tracking_module, "mediapipe_available", lambda: False)
    monkeypatch.setattr(tracking_module, "_has_facenet", lambda: False)
    assert FaceTracker("auto").backend == "haar"
    assert FaceTracker(detector=HaarFaceDetector()).backend == "haar"


def test_tracker_arguments_and_inputs_are_checked():
    assert TRACKER_BACKENDS == ("auto", "mediapipe", "mtcnn", "haar")
    with pytest.raises(ValueError, match="choose one of"):
        FaceTracker("dlib")
    with pytest.raises(ValueError, match="fps"):
        FaceTracker("haar", fps=0)
    tracker = FaceTracker("haar")
    with pytest.raises(LarnetError, match="uint8"):
        tracker.update(np.zeros((60, 80, 3), np.float32))
    assert tracker.update(np.zeros((60, 80, 3), np.uint8)).faces == ()
    tracker.reset()
    assert tracker.update(np.zeros((60, 80, 3), np.uint8)).index == 0
    assert summarize_tracks([]).empty and main_face_id([]) is None


def test_cut_detector_flags_cuts_not_motion_flicker_or_a_hand():
    detector = ShotCutDetector()
    assert not detector.update(_compose(ROOM, GRACE, 300, 180)).cut  # the first frame never is
    assert not detector.update(_compose(ROOM, GRACE, 330, 185, angle=8)).cut
    hand = _compose(ROOM, GRACE, 330, 185, angle=8)
    cv2.ellipse(hand, (330, 245), (60, 35), 0, 0, 360, (205, 150, 125), -1)
    assert not detector.update(hand).cut
    dim = (_compose(ROOM, GRACE, 330, 185, angle=8) * 0.75).astype(np.uint8)
    assert not detector.update(dim).cut
    assert detector.update(OTHER_ROOM).cut
    assert detector.update(np.zeros((H, W, 3), np.uint8)).cut  # to black
    assert not detector.update(np.zeros((H, W, 3), np.uint8)).cut
