"""export_clip_video: every container/codec pair writes a file PyAV reads back frame for frame."""

from __future__ import annotations

import av
import numpy as np
import pytest

from larnet_core.errors import VideoError
from larnet_core.video.writer import export_clip_video


def _frames(count: int = 7, height: int = 49, width: int = 65) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    base = (rng.random((height, width, 3)) * 255).astype(np.uint8)
    return [np.roll(base, shift, axis=1) for shift in range(count)]


@pytest.mark.parametrize(
    ("name", "codec", "expected_codec"),
    [
        ("clip.mp4", None, "h264"),
        ("clip.avi", None, "mjpeg"),
        ("clip.webm", None, "vp9"),
        ("clip.mkv", None, "h264"),
        ("clip_ffv1.mkv", "ffv1", "ffv1"),
        ("clip_h264.avi", "h264", "h264"),
        ("clip_hevc.mp4", "hevc", "hevc"),
        ("clip_hevc.mkv", "hevc", "hevc"),
    ],
)
def test_written_video_reads_back_with_every_frame(tmp_path, name, codec, expected_codec):
    frames = _frames()
    path = export_clip_video(frames, tmp_path / name, fps=200.0, codec=codec)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == expected_codec
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    assert len(decoded) == len(frames)
    assert decoded[0].shape == (50, 66, 3)  # odd sizes are padded to even for 4:2:0
    if expected_codec == "ffv1":  # lossless RGB
        assert np.array_equal(decoded[3][:49, :65], frames[3])


def test_writer_rejects_what_it_cannot_write(tmp_path):
    with pytest.raises(VideoError, match="unknown container"):
        export_clip_video(_frames(), tmp_path / "clip.gif")
    with pytest.raises(VideoError, match="webm"):
        export_clip_video(_frames(), tmp_path / "clip.webm", codec="h264")
    with pytest.raises(VideoError, match="no frames"):
        export_clip_video([], tmp_path / "empty.mp4")
    assert not (tmp_path / "empty.mp4").exists()
    mixed = _frames(2) + [np.zeros((30, 30, 3), np.uint8)]
    with pytest.raises(VideoError, match="one size"):
        export_clip_video(mixed, tmp_path / "mixed.mp4")
    with pytest.raises(VideoError, match="RGB uint8"):
        export_clip_video([np.zeros((8, 8), np.float32)], tmp_path / "grey.mp4")
