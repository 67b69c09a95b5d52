"""Bad clip input gives one clear VideoError (what is wrong, what to do), never a hang or a library traceback."""

from __future__ import annotations

import io
import stat
import zipfile
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from larnet_core.errors import VideoError
from larnet_core.video import VideoLimits, frame_at, open_clip


def _mp4(path: Path, n: int = 30, size: tuple[int, int] = (64, 48), fps: int = 30) -> Path:
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.options = {"preset": "ultrafast"}
        for _ in range(n):
            frame = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _read_all(source, limits: VideoLimits | None = None) -> int:
    with open_clip(source, limits) as reader:
        return sum(1 for _ in reader.frames())


def _png() -> bytes:
    return cv2.imencode(".png", np.full((8, 8, 3), 128, np.uint8))[1].tobytes()


def test_missing_and_zero_byte_files(tmp_path):
    with pytest.raises(VideoError, match="does not exist"):
        _read_all(tmp_path / "nope.mp4")
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(VideoError, match=r"empty \(0 bytes\)"):
        _read_all(empty)
    with pytest.raises(VideoError, match="empty"):
        _read_all(b"")


def test_wrong_extension_and_not_a_video(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(VideoError, match=r"unsupported file type '\.txt'.*mp4"):
        _read_all(text)
    fake = tmp_path / "fake.mp4"
    fake.write_bytes(b"this is not a video at all " * 100)
    with pytest.raises(VideoError, match="could not be opened as a video"):
        _read_all(fake)
    with pytest.raises(VideoError, match="could not be opened as a video"):
        _read_all(np.random.default_rng(0).integers(0, 255, 5000, dtype=np.uint8).tobytes())


def test_truncated_and_corrupt_streams(tmp_path):
    good = _mp4(tmp_path / "good.mp4", n=40).read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(good[: len(good) // 2])  # the index (moov) is at the end: the file cannot be opened
    with pytest.raises(VideoError, match="corrupt, truncated or not a video"):
        _read_all(cut)
    # An mkv truncated mid-stream still holds its first frames: those are read, the rest is reported.
    mkv_path = tmp_path / "long.mkv"
    with av.open(str(mkv_path), "w") as container:
        stream = container.add_stream("mjpeg", rate=Fraction(30))
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuvj420p"
        rng = np.random.default_rng(0)
        for _ in range(30):
            frame = av.VideoFrame.from_ndarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    data = mkv_path.read_bytes()
    truncated = tmp_path / "trunc.mkv"
    truncated.write_bytes(data[: len(data) * 2 // 3])
    assert 5 <= _read_all(truncated) < 30
    garbled = bytearray(good)
    garbled[len(good) // 3: len(good) // 3 + 2000] = bytes(2000)  # zeroed payload in the middle
    n = _read_all(bytes(garbled))  # decodes what it can, never raises a library error
    assert 1 <= n <= 40


def test_limits_on_frames_seconds_pixels_and_bytes(tmp_path):
    path = _mp4(tmp_path / "clip.mp4", n=30)
    with pytest.raises(VideoError, match="max_frames"):
        _read_all(path, VideoLimits(max_frames=10))
    with pytest.raises(VideoError, match="max_seconds"):
        _read_all(path, VideoLimits(max_seconds=0.5))
    with pytest.raises(VideoError, match="pixel limit"):
        _read_all(path, VideoLimits(max_pixels=1000))
    with pytest.raises(VideoError, match="max_bytes"):
        _read_all(path, VideoLimits(max_bytes=100))
    with pytest.raises(VideoError, match="frame 40 does not exist"):
        frame_at(path, 40)


def _zip_bytes(members: dict[str, bytes], compression=zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize("name, reason", [
    ("../evil.png", "path traversal"),
    ("clip/../../evil.png", "path traversal"),
    ("/etc/evil.png", "absolute path"),
    ("C:/evil.png", "absolute path"),
    ("clip\\evil.png", "backslashes"),
])
def test_zip_with_unsafe_member_names_is_refused(name, reason):
    data = _zip_bytes({"clip/img1.png": _png(), name: _png()})
    with pytest.raises(VideoError, match=reason):
        _read_all(data)


def test_zip_with_a_symlink_is_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("img1.png", _png())
        link = zipfile.ZipInfo("img2.png")
        link.create_system = 3
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
    with pytest.raises(VideoError, match="symbolic link"):
        _read_all(buffer.getvalue())


def test_zip_bomb_and_member_limits(tmp_path):
    bomb = _zip_bytes({"img1.png": _png(), "img2.png": bytes(20 * 2**20)}, zipfile.ZIP_DEFLATED)
    assert len(bomb) < 100_000
    with pytest.raises(VideoError, match="zip bombs"):
        _read_all(bomb)
    many = _zip_bytes({f"img{i}.png": _png() for i in range(30)})
    with pytest.raises(VideoError, match="max_zip_members"):
        _read_all(many, VideoLimits(max_zip_members=20))
    with pytest.raises(VideoError, match="max_zip_total_bytes"):
        _read_all(many, VideoLimits(max_zip_total_bytes=1000))
    two_clips = _zip_bytes({"a/img1.png": _png(), "b/img1.png": _png()})
    with pytest.raises(VideoError, match="2 folders"):
        _read_all(two_clips)
    with pytest.raises(VideoError, match="holds no frame images"):
        _read_all(_zip_bytes({"readme.txt": b"hi"}))
    bad = tmp_path / "clip.zip"
    bad.write_bytes(b"PK\x03\x04 but not really a zip")
    with pytest.raises(VideoError, match="(?i)not a valid zip"):
        _read_all(bad)
    broken_image = _zip_bytes({"img1.png": _png(), "img2.png": b"\x89PNG broken"})
    with pytest.raises(VideoError, match="img2.png.*not a readable image"):
        _read_all(broken_image)


def test_folder_without_frames_points_at_clip_folders(tmp_path):
    clip = tmp_path / "sub01" / "EP02_01f"
    clip.mkdir(parents=True)
    (clip / "img1.jpg").write_bytes(cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))[1].tobytes())
    with pytest.raises(VideoError, match="sub01/EP02_01f; point at one clip folder"):
        _read_all(tmp_path)
    (clip / "img2.jpg").write_bytes(cv2.imencode(".jpg", np.zeros((9, 8, 3), np.uint8))[1].tobytes())
    with pytest.raises(VideoError, match="all frames of a clip must have one size"):
        _read_all(clip)
