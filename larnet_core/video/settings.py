"""How a clip is analysed: one frozen :class:`AnalysisSettings` for ``larnet analyze``, ``larnet batch``, the
clip page and live video.

The settings are what changes a result (face mode, every face or the main one, frame rate of image sequences,
model rate, spotting threshold, limits, inference backend); how the work is spread (threads, workers, Ray) is
not. A batch hashes them to decide whether a finished clip can be kept (:mod:`larnet_core.batch.settings`).
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from typing import Any

from larnet_core.errors import LarnetError
from larnet_core.face.inputs import check_face_mode
from larnet_core.video.limits import DEFAULT_LIMITS, VideoLimits
from larnet_core.video.spotting import SpottingParams

__all__ = ["AnalysisSettings", "BACKENDS"]

#: Inference backends (``auto``: ONNX Runtime on CPU).
BACKENDS = ("auto", "torch", "onnxruntime")


@dataclass(frozen=True)
class AnalysisSettings:
    """The analysis settings of a clip (``larnet analyze``'s and ``larnet batch``'s options).

    Attributes:
        face: face mode (``auto``, ``mediapipe``, ``mtcnn``, ``haar``, ``none``).
        all_faces: rows and intervals for every face track, not only the main face.
        fps: frame rate of image sequences (zips or folders of frames); None: the reader's default.
        max_infer_fps: run the model on at most this many frames a second (None or 0: every frame).
        threshold_p: spotting threshold position p (None: the default).
        max_frames: refuse clips with more frames than this (None: the default limit).
        max_seconds: refuse clips longer than this (None: the default limit).
        backend: inference backend (``auto``: ONNX Runtime on CPU).
    """

    face: str = "auto"
    all_faces: bool = False
    fps: float | None = None
    max_infer_fps: float | None = 60.0
    threshold_p: float | None = None
    max_frames: int | None = None
    max_seconds: float | None = None
    backend: str = "auto"

    def __post_init__(self) -> None:
        check_face_mode(self.face)
        if self.backend not in BACKENDS:
            raise LarnetError(f"unknown backend {self.backend!r}; use {', '.join(BACKENDS)}")
        for name in ("fps", "max_infer_fps", "max_seconds"):
            value = getattr(self, name)
            if value is not None and not value >= 0:
                raise LarnetError(f"{name} must be a positive number, got {value}")

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> AnalysisSettings:
        """The settings of the options :func:`larnet_core.cli._options.add_analysis_arguments` adds."""
        return cls(face=args.face, all_faces=args.all_faces, fps=args.fps, max_infer_fps=args.max_infer_fps,
                   threshold_p=args.threshold_p, max_frames=args.max_frames, max_seconds=args.max_seconds,
                   backend=args.backend)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def limits(self) -> VideoLimits:
        """The safety limits: the defaults, with the frame or duration limit changed."""
        limits = DEFAULT_LIMITS
        if self.max_frames is not None:
            limits = dataclasses.replace(limits, max_frames=self.max_frames)
        if self.max_seconds is not None:
            limits = dataclasses.replace(limits, max_seconds=self.max_seconds)
        return limits

    @property
    def spotting(self) -> SpottingParams:
        """The spotting settings: the defaults, with the threshold position changed."""
        return SpottingParams() if self.threshold_p is None else SpottingParams(p=self.threshold_p)

    def analyze_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`~larnet_core.video.analyze_clip` for these settings."""
        return {"face": self.face, "all_faces": self.all_faces, "fps": self.fps, "limits": self.limits,
                "spotting": self.spotting, "max_infer_fps": self.max_infer_fps or None}
