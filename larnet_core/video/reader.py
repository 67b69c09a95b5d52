"""Open any clip the project accepts and stream its frames: video files, bytes, zip archives, frame folders.

Video is decoded with PyAV (FFmpeg), frame by frame, and converted to RGB at a working size in the same
swscale call, so a 1080p clip never exists in memory at full size more than one frame at a time.
Image sequences (a CASME II clip folder or a zip of one) are decoded one image at a time on demand.
"""

from __future__ import annotations

import errno
import hashlib
import io
import logging
import os
from pathlib import Path
from typing import IO, Iterable, Iterator, NamedTuple, Union

import numpy as np

from larnet_core.errors import VideoError
from larnet_core.paths import open_input, sha256_input
from larnet_core.text import strip_bidi
from larnet_core.result.meta import ClipMeta
from larnet_core.video.archive import FrameImages, folder_frames, zip_frames
from larnet_core.video.limits import DEFAULT_LIMITS, VideoLimits

__all__ = [
    "ClipMeta",
    "ClipSource",
    "DecodedFrame",
    "ClipReader",
    "VIDEO_EXTENSIONS",
    "IMAGE_SEQUENCE_FPS",
    "open_clip",
    "read_video_frames",
    "frame_at",
    "frames_at",
    "iter_frames_at",
]

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".avi", ".webm", ".mkv", ".mpg", ".mpeg", ".ogv")
#: A clip decoding fewer than this share of its declared frames (and at least _SHORTFALL_MIN_FRAMES fewer) is
#: reported as truncated.
_SHORTFALL_SHARE = 0.9
_SHORTFALL_MIN_FRAMES = 3
#: Frame rate assumed for image sequences when the caller gives none: CASME II and SAMM record at 200 fps.
IMAGE_SEQUENCE_FPS = 200.0

ClipSource = Union[str, os.PathLike, bytes, bytearray, memoryview, IO[bytes]]
"""A path (video file, ``.zip`` of frames, or frame folder), the bytes of one, or a binary file object."""


class DecodedFrame(NamedTuple):
    """One frame of a clip: position, time stamp in seconds from the first frame, and RGB pixels."""

    index: int
    time_s: float
    image: np.ndarray


def _as_bytes(source: ClipSource) -> bytes | None:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    if hasattr(source, "getvalue"):
        return bytes(source.getvalue())
    if hasattr(source, "read"):
        return bytes(source.read())
    return None


def _is_zip(head: bytes) -> bool:
    return head[:4] in (b"PK\x03\x04", b"PK\x05\x06")


class ClipReader:
    """An opened clip: its metadata and a frame stream. Use as a context manager, or call :meth:`close`.

    Args:
        source: see :data:`ClipSource`.
        limits: safety limits (defaults: :data:`DEFAULT_LIMITS`).
        fps: frame rate of an image sequence (ignored for video files); default :data:`IMAGE_SEQUENCE_FPS`.
        max_side: frames whose long side exceeds this are downscaled to it while decoding (``None``: as stored).
        name: how to name the clip when ``source`` is bytes.
        sha256: the clip's digest when the caller already has it (:attr:`ClipMeta.sha256` of an earlier opening):
            the file is then not read through to hash it again.

    Raises:
        VideoError: missing, empty, unsupported, corrupt or over-limit input.
    """

    def __init__(self, source: ClipSource, limits: VideoLimits | None = None, *, fps: float | None = None,
                 max_side: int | None = None, name: str | None = None, sha256: str | None = None) -> None:
        self.limits = limits or DEFAULT_LIMITS
        self.max_side = max_side
        self._known_sha256 = sha256  # a digest the caller already has: the file is not hashed again
        self._container = None
        self._images: FrameImages | None = None
        #: frames decoded before a corrupt part of the stream stopped decoding, or None.
        self.truncated_at: int | None = None
        data = _as_bytes(source)
        if data is None:
            path = Path(source)
            self.name = strip_bidi(name or path.name)
            self._open_path(path, fps)
        else:
            self.name = name or getattr(source, "name", None) or "upload"
            self.name = strip_bidi(Path(str(self.name)).name)
            self._open_bytes(data, fps)
        width, height = self.meta.width, self.meta.height
        #: ``(width, height)`` of the frames :meth:`frames` yields.
        self.work_size = (width, height)
        #: working size / stored size: boxes found on decoded frames divide by this to reach stored pixels.
        self.scale = 1.0
        if max_side is not None and max(width, height) > max_side:
            factor = max_side / max(width, height)
            # Even sizes: swscale's 4:2:0 paths and the H.264 encoder of annotated videos want them.
            self.work_size = (max(2, round(width * factor) // 2 * 2), max(2, round(height * factor) // 2 * 2))
            self.scale = self.work_size[0] / width

    # -- opening ---------------------------------------------------------------------------------------------
    def _open_path(self, path: Path, fps: float | None) -> None:
        if not os.path.lexists(path):
            raise VideoError(f"{path} does not exist; check the path")
        if path.is_dir():
            self._images = folder_frames(path, self.limits)
            if self._known_sha256:
                self._sequence_meta(fps, self._known_sha256)
                return
            digest = hashlib.sha256()
            for name in self._images.names:
                digest.update(name.encode() + b"\0" + bytes.fromhex(
                    sha256_input(path / name, str(path / name), max_bytes=self.limits.max_bytes, error=VideoError)))
            self._sequence_meta(fps, digest.hexdigest())
            return
        # A regular file within the size limit (a device or FIFO is refused before it is read).
        with open_input(path, path.name, error=VideoError) as fh:
            size = os.fstat(fh.fileno()).st_size
            if size == 0:
                raise VideoError(f"{path.name} is empty (0 bytes); the upload or copy did not complete")
            self.limits.check_bytes(size, path.name)
            head = fh.read(4)
        suffix = path.suffix.lower()
        if suffix == ".zip" or (_is_zip(head) and suffix not in VIDEO_EXTENSIONS):
            self._images = zip_frames(path, self.limits, path.name)
            self._sequence_meta(fps, self._file_sha256(path))
            return
        if suffix not in VIDEO_EXTENSIONS:
            raise VideoError(f"{path.name}: unsupported file type {suffix or '(none)'!r}; use a video "
                             f"({', '.join(VIDEO_EXTENSIONS)}), a .zip of frame images or a folder of frames")
        self._open_video(str(path), self._file_sha256(path))

    def _file_sha256(self, path: Path) -> str:
        if self._known_sha256:
            return self._known_sha256
        return sha256_input(path, path.name, max_bytes=self.limits.max_bytes, error=VideoError)

    def _open_bytes(self, data: bytes, fps: float | None) -> None:
        if not data:
            raise VideoError(f"{self.name} is empty (0 bytes); the upload did not complete")
        self.limits.check_bytes(len(data), self.name)
        suffix = Path(self.name).suffix.lower()
        digest = hashlib.sha256(data).hexdigest()
        if _is_zip(data[:4]) and suffix not in VIDEO_EXTENSIONS:
            self._images = zip_frames(data, self.limits, self.name)
            self._sequence_meta(fps, digest)
            return
        if suffix and suffix not in VIDEO_EXTENSIONS:
            raise VideoError(f"{self.name}: unsupported file type {suffix!r}; use a video "
                             f"({', '.join(VIDEO_EXTENSIONS)}) or a .zip of frame images")
        self._open_video(io.BytesIO(data), digest)

    def _sequence_meta(self, fps: float | None, digest: str) -> None:
        fps = float(fps or IMAGE_SEQUENCE_FPS)
        if fps <= 0:
            raise VideoError(f"frame rate must be positive, got {fps}")
        images = self._images
        self.limits.check_frames(len(images), fps, images.what)
        first = images.read(0)
        self.meta = ClipMeta(self.name, fps, first.shape[1], first.shape[0], len(images), len(images) / fps, digest)
        self._first_image = first

    def _open_video(self, file, digest: str) -> None:
        import av  # lazy: PyAV only when a video file is opened (frame folders and images need none)

        try:
            container = av.open(file, mode="r")
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise VideoError(f"{self.name} could not be opened as a video ({_short(exc)}); the file is corrupt, "
                             "truncated or not a video") from None
        try:
            if not container.streams.video:
                raise VideoError(f"{self.name} has no video stream; pick a file with video in it")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"  # frame + slice threads: decoding 1080p is the slow part of a clip
            # The decoder itself refuses frames above the pixel limit before allocating them (a stream can
            # declare a small size and then grow mid-way); frames() also checks every decoded frame.
            stream.codec_context.options = {"max_pixels": str(self.limits.max_pixels)}
            width, height = int(stream.codec_context.width or 0), int(stream.codec_context.height or 0)
            if width <= 0 or height <= 0:
                raise VideoError(f"{self.name}: the video stream declares no frame size; the file is corrupt")
            self.limits.check_size(width, height, self.name)
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            fps = float(rate) if rate else 0.0
            if not 0 < fps <= 10_000:
                log.warning("%s declares no usable frame rate; assuming 30 fps", self.name)
                fps = 30.0
            count = int(stream.frames or 0)
            if count <= 0:
                duration = None
                if stream.duration is not None and stream.time_base is not None:
                    duration = float(stream.duration * stream.time_base)
                elif container.duration is not None:
                    duration = container.duration / 1_000_000
                count = int(round(duration * fps)) if duration else 0
            self.limits.check_frames(count, fps, self.name)
        except BaseException:
            container.close()
            raise
        self._container = container
        self._stream = stream
        self.meta = ClipMeta(self.name, fps, width, height, count, count / fps, digest)

    # -- reading ---------------------------------------------------------------------------------------------
    def frames(self, start: int = 0) -> Iterator[DecodedFrame]:
        """Yield the frames from ``start`` on, RGB uint8 at :attr:`work_size`, checking limits as they come.

        Raises:
            VideoError: a corrupt stream before any frame, or more frames/seconds than the limits allow.
        """
        if self._images is not None:
            yield from self._sequence_frames(start)
        else:
            yield from self._video_frames(start)

    def _resize(self, image: np.ndarray) -> np.ndarray:
        if image.shape[1] != self.meta.width or image.shape[0] != self.meta.height:
            raise VideoError(f"a frame of {self.name} is {image.shape[1]}x{image.shape[0]} but the first is "
                             f"{self.meta.width}x{self.meta.height}; all frames of a clip must have one size")
        if self.scale >= 1:
            return image
        import cv2  # lazy: OpenCV only when frames are scaled down

        return cv2.resize(image, self.work_size, interpolation=cv2.INTER_AREA)

    def _sequence_frames(self, start: int) -> Iterator[DecodedFrame]:
        for index in range(start, len(self._images)):
            image = self._first_image if index == 0 else self._images.read(index)
            yield DecodedFrame(index, index / self.meta.fps, self._resize(image))

    def _video_frames(self, start: int) -> Iterator[DecodedFrame]:
        # lazy: PyAV only when a video file is read (frame folders and images need none)
        import av
        from av.video.reformatter import VideoReformatter

        if self._container is None:
            raise VideoError(f"{self.name} is closed; open it again")
        fps, stream = self.meta.fps, self._stream
        if start > 0:
            self._seek(start)
        first_time = None
        index = -1
        width, height = self.work_size
        # One reformatter for the whole stream: it keeps its swscale context (filters, threads) from frame to
        # frame, where VideoFrame.to_ndarray(width=...) builds and frees a new one for every frame.
        reformatter = VideoReformatter()
        interpolation = "AREA" if self.scale < 1 else None
        try:
            for frame in self._container.decode(stream):
                time_s = float(frame.time) if frame.time is not None else None
                if first_time is None:
                    first_time = time_s if time_s is not None else 0.0
                    if start > 0:
                        first_time = self._start_time()
                if start > 0 and time_s is not None:
                    index = int(round((time_s - first_time) * fps))
                else:
                    index += 1
                if index < start:
                    continue
                self.limits.check_frames(index + 1, fps, self.name)
                self.limits.check_frame(frame.width, frame.height, self.name, index)
                rgb = reformatter.reformat(frame, width, height, "rgb24", interpolation=interpolation).to_ndarray()
                yield DecodedFrame(index, (time_s - first_time) if time_s is not None else index / fps, rgb)
        except av.FFmpegError as exc:
            if getattr(exc, "errno", None) == errno.EINVAL:
                # What the decoder's max_pixels check raises; damaged data gives AVERROR_INVALIDDATA instead.
                raise VideoError(f"{self.name}: a frame after frame {index} could not be decoded: it is larger "
                                 f"than the {self.limits.max_pixels:,}-pixel limit or invalid; downscale the "
                                 "clip or raise VideoLimits(max_pixels=...)") from None
            if index < 0:
                raise VideoError(f"{self.name}: the video stream could not be decoded ({_short(exc)}); the file is "
                                 "corrupt or uses an unsupported codec") from None
            log.warning("%s: decoding stopped after frame %d (%s); the rest of the stream is corrupt", self.name,
                        index, _short(exc))
            self.truncated_at = index + 1

    def shortfall_warning(self, decoded: int) -> str | None:
        """A warning when decoding ended early: after a corrupt part of the stream, or far short of the frames
        the container declares (a truncated file decodes what it holds and then simply ends). None otherwise.

        Args:
            decoded: frames the analysis decoded.
        """
        if self.truncated_at is not None:
            return (f"the stream is corrupt after frame {self.truncated_at}; only the frames before it were "
                    "analysed")
        declared = self.meta.frame_count if self._images is None else 0
        # Declared counts are often a frame or two off (edit lists, estimates from the duration): only a real gap.
        if declared > 0 and decoded < declared * _SHORTFALL_SHARE and declared - decoded >= _SHORTFALL_MIN_FRAMES:
            return (f"only {decoded} of the {declared} frames the file declares could be decoded; the file is "
                    "probably truncated (an interrupted copy or recording), so the analysis covers only the start")
        return None

    def _start_time(self) -> float:
        stream = self._stream
        if stream.start_time is not None and stream.time_base is not None:
            return float(stream.start_time * stream.time_base)
        return 0.0

    def _seek(self, index: int) -> None:
        target_s = self._start_time() + index / self.meta.fps
        stream = self._stream
        try:
            self._container.seek(int(target_s / stream.time_base), stream=stream, backward=True, any_frame=False)
        except Exception as exc:  # noqa: BLE001 - unseekable input falls back to decoding from the start
            log.info("%s: seeking failed (%s); decoding from the start", self.name, exc)
            self._container.seek(0, stream=stream)

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None
        if self._images is not None:
            self._images.close()

    def __enter__(self) -> "ClipReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def open_clip(source: ClipSource, limits: VideoLimits | None = None, *, fps: float | None = None,
              max_side: int | None = None, name: str | None = None, sha256: str | None = None) -> ClipReader:
    """Open a clip for streaming; see :class:`ClipReader` (``sha256``: the file's digest when already known, so a
    second opening of a large file does not read it all to hash it again)."""
    return ClipReader(source, limits, fps=fps, max_side=max_side, name=name, sha256=sha256)


def read_video_frames(source: ClipSource, limits: VideoLimits | None = None, *, fps: float | None = None,
                      max_side: int | None = None) -> Iterator[np.ndarray]:
    """Yield a clip's frames one at a time as RGB uint8 arrays (lazily: nothing is decoded before it is asked for).

    Args:
        source: a video file, zip of frames, frame folder, or the bytes of a video or zip.
        limits: safety limits; default :data:`DEFAULT_LIMITS`.
        fps: frame rate of an image sequence.
        max_side: downscale frames whose long side exceeds this many pixels.

    Raises:
        VideoError: unreadable, corrupt or over-limit input.
    """
    with open_clip(source, limits, fps=fps, max_side=max_side) as reader:
        for frame in reader.frames():
            yield frame.image


def frame_at(source: ClipSource, index: int, limits: VideoLimits | None = None, *, fps: float | None = None,
             max_side: int | None = None) -> np.ndarray:
    """One frame of a clip by 0-based position (videos seek to the nearest key frame first), at full size or, with
    ``max_side``, decoded exactly as an analysis with that working size decoded it (the model-input records of
    an analysis are in those pixels).

    Raises:
        VideoError: unreadable input or ``index`` beyond the last frame.
    """
    if index < 0:
        raise VideoError(f"frame index must be 0 or more, got {index}")
    with open_clip(source, limits, fps=fps, max_side=max_side) as reader:
        if reader._images is not None:
            if index >= len(reader._images):
                raise VideoError(f"{reader.name} has {len(reader._images)} frames; frame {index} does not exist")
            image = reader._first_image if index == 0 else reader._images.read(index)
            return reader._resize(image)
        count = reader.meta.frame_count
        if count <= 0 or index < count:
            for frame in reader.frames(start=index):
                if frame.index >= index:
                    return frame.image
        raise VideoError(f"{reader.name} has {count} frames; frame {index} does not exist (pick 0 to {count - 1})")


# Frames a seek skips ahead over rather than decoding through (a few key-frame intervals of common encodes).
_SEEK_GAP_FRAMES = 250


def frames_at(source: ClipSource, indices: Iterable[int], limits: VideoLimits | None = None, *,
              fps: float | None = None, max_side: int | None = None, sha256: str | None = None) -> dict[int, np.ndarray]:
    """Several frames of a clip by 0-based position, read in one pass of one opened reader (in frame order,
    seeking only over long gaps), decoded as :func:`frame_at` decodes each. Positions beyond the last frame are
    left out of the result.

    Raises:
        VideoError: unreadable input or a negative index.
    """
    return dict(iter_frames_at(source, indices, limits, fps=fps, max_side=max_side, sha256=sha256))


def iter_frames_at(source: ClipSource, indices: Iterable[int], limits: VideoLimits | None = None, *,
                   fps: float | None = None, max_side: int | None = None,
                   sha256: str | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """:func:`frames_at` as ``(index, frame)`` pairs in increasing frame order, one at a time: a caller that reads
    many frames (every frame of a clip's intervals) keeps only what it makes of each.

    Raises:
        VideoError: unreadable input or a negative index.
    """
    wanted = sorted({int(i) for i in indices})
    if wanted and wanted[0] < 0:
        raise VideoError(f"frame index must be 0 or more, got {wanted[0]}")
    if not wanted:
        return
    with open_clip(source, limits, fps=fps, max_side=max_side, sha256=sha256) as reader:
        if reader._images is not None:
            for index in wanted:
                if index < len(reader._images):
                    yield index, reader._resize(reader._first_image if index == 0 else reader._images.read(index))
            return
        # Runs of nearby frames are decoded through; a long gap starts a new run at a seek.
        runs: list[list[int]] = [[wanted[0]]]
        for index in wanted[1:]:
            if index - runs[-1][-1] > _SEEK_GAP_FRAMES:
                runs.append([index])
            else:
                runs[-1].append(index)
        for run in runs:
            todo = set(run)
            for frame in reader.frames(start=run[0]):
                if frame.index in todo:
                    yield frame.index, frame.image
                    todo.discard(frame.index)
                if frame.index >= run[-1]:
                    break
