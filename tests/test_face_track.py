"""One face box per clip, and the smoothed live track, on jittered sequences built from a real photo."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from larnet_core.errors import NoFaceError
from larnet_core.face import (
    ClipFaceBox,
    FaceDetection,
    FaceDetector,
    FaceTrack,
    HaarFaceDetector,
    box_iou,
    sample_face_photos,
)

GRACE_FACE = (173.0, 142.0, 362.0, 328.0)  # reference box, see tests/test_face.py


class RecordingDetector(FaceDetector):
    """A real detector that also counts its calls and keeps what it found."""

    def __init__(self, inner: FaceDetector) -> None:
        self.inner = inner
        self.calls = 0
        self.found: list[list[FaceDetection]] = []

    def detect(self, image_rgb: np.ndarray) -> list[FaceDetection]:
        self.calls += 1
        self.found.append(self.inner.detect(image_rgb))
        return self.found[-1]


@pytest.fixture(scope="module")
def haar() -> HaarFaceDetector:
    return HaarFaceDetector()


@pytest.fixture(scope="module")
def grace() -> np.ndarray:
    return sample_face_photos()["grace_hopper"]


def _shifted(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    matrix = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(image, matrix, (image.shape[1], image.shape[0]), borderMode=cv2.BORDER_REFLECT)


def _jittered(image: np.ndarray, n: int, amplitude: float, seed: int) -> list[np.ndarray]:
    """Head-still footage with camera shake: the photo shifted by up to ``amplitude`` pixels per frame."""
    rng = np.random.default_rng(seed)
    return [_shifted(image, *rng.uniform(-amplitude, amplitude, 2)) for _ in range(n)]


def test_clip_box_is_the_median_of_the_onset_frames_and_constant(haar, grace):
    frames = _jittered(grace, 7, amplitude=4.0, seed=1)
    clip_box = ClipFaceBox.from_frames(frames, haar, n_probe=5)
    assert (clip_box.n_probed, clip_box.n_found) == (5, 5)
    per_frame = np.array([max(haar.detect(f), key=lambda d: d.area).box for f in frames[:5]])
    np.testing.assert_allclose(clip_box.box, np.median(per_frame, axis=0))
    assert box_iou(clip_box.box, GRACE_FACE) >= 0.5
    # Every frame gets the very same warp, so the crop adds no motion of its own.
    crops = [clip_box.crop(frame, output_size=(112, 112)) for frame in frames]
    for crop in crops[1:]:
        np.testing.assert_array_equal(crop.matrix, crops[0].matrix)
    assert crops[0].image.shape == (112, 112, 3)


def test_clip_box_reads_only_the_probed_frames_and_explains_no_face(haar, grace):
    read = []

    def frames():
        for index in range(100):
            read.append(index)
            yield grace

    ClipFaceBox.from_frames(frames(), haar, n_probe=3)
    assert read == [0, 1, 2]
    blank = [np.zeros((240, 320, 3), np.uint8)] * 4
    with pytest.raises(NoFaceError, match=r"no face found in the first 4 frame\(s\) of EP02_01f; .*--face none"):
        ClipFaceBox.from_frames(blank, haar, n_probe=5, what="EP02_01f")


def test_track_moves_less_than_the_raw_detections(haar, grace):
    frames = _jittered(grace, 14, amplitude=6.0, seed=3)
    recording = RecordingDetector(haar)
    track = FaceTrack(recording, smoothing=0.6, redetect_every=1, max_missed=3)
    smooth = np.array([track.update(f).center for f in frames])
    assert recording.calls == len(frames) and all(len(found) == 1 for found in recording.found)
    raw = np.array([found[0].center for found in recording.found])
    raw_path = np.linalg.norm(np.diff(raw, axis=0), axis=1).sum()
    smooth_path = np.linalg.norm(np.diff(smooth, axis=0), axis=1).sum()
    assert smooth_path < 0.6 * raw_path, (smooth_path, raw_path)
    assert smooth[1:].std(axis=0).max() < raw[1:].std(axis=0).max()
    assert box_iou(track.current.box, GRACE_FACE) >= 0.5


def test_track_detects_every_n_frames_and_reports_lost_after_misses(haar, grace):
    counting = RecordingDetector(haar)
    track = FaceTrack(counting, smoothing=0.5, redetect_every=3, max_missed=2)
    assert track.lost and track.current is None
    held = [track.update(grace) for _ in range(7)]
    assert counting.calls == 3  # frames 0, 3 and 6
    assert all(h is not None for h in held) and not track.lost

    blank = np.zeros_like(grace)
    counting.calls = 0
    results = [track.update(blank) for _ in range(4)]
    # Frames 7-8 reuse the box without detecting; frame 9 detects and misses (box held); frame 10 misses again.
    assert counting.calls == 2
    assert results[:3] == [held[-1]] * 3 and results[3] is None
    assert track.lost and track.missed == 2

    again = track.update(grace)
    assert again is not None and not track.lost and track.missed == 0
    track.reset()
    assert track.lost


def test_track_jumps_to_a_face_that_moved_far(haar, grace):
    canvas = np.zeros((600, 1100, 3), np.uint8)
    left, right = canvas.copy(), canvas.copy()
    left[:, :512] = grace
    right[:, 588:] = grace
    track = FaceTrack(haar, smoothing=0.9, redetect_every=1)
    first = track.update(left)
    moved = track.update(right)
    # Blending 90 % of the old box would leave it near the old place; a non-overlapping hit replaces it.
    assert moved.center[0] - first.center[0] == pytest.approx(588, abs=12)


def test_track_rejects_bad_settings(haar):
    with pytest.raises(ValueError, match="smoothing"):
        FaceTrack(haar, smoothing=1.0)
    with pytest.raises(ValueError, match="redetect_every"):
        FaceTrack(haar, redetect_every=0)
