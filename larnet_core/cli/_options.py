"""Command-line options shared by the commands that analyse clips (``larnet analyze``, ``larnet batch``)."""

from __future__ import annotations

import argparse

from larnet_core.devices import DEVICE_CHOICES
from larnet_core.face.inputs import FACE_MODES

__all__ = ["add_analysis_arguments"]


def add_analysis_arguments(parser: argparse.ArgumentParser) -> None:
    """How a clip is analysed: face tracking, frame rate, device and backend, model rate, limits, spotting."""
    parser.add_argument("--face", default="auto", choices=FACE_MODES,
                        help="face tracking backend (auto: MediaPipe Face Mesh when installed, else MTCNN, else "
                             "Haar; the whole frame for small face-filled frames without a detected face)")
    parser.add_argument("--all-faces", action="store_true",
                        help="analyse every tracked face (one row per frame and face, intervals per face) instead "
                             "of only the main face")
    parser.add_argument("--fps", type=float, help="frame rate of an image sequence (default 200, as CASME II)")
    parser.add_argument("--device", default="auto", choices=DEVICE_CHOICES, help="where the model runs")
    parser.add_argument("--backend", default="auto", choices=("auto", "torch", "onnxruntime"),
                        help="inference backend (auto: ONNX Runtime on CPU)")
    parser.add_argument("--max-infer-fps", type=float, default=60.0,
                        help="run the model on at most this many frames per second of video (0 = every frame)")
    parser.add_argument("--max-frames", type=int, help="refuse clips with more frames than this")
    parser.add_argument("--max-seconds", type=float, help="refuse clips longer than this many seconds")
    parser.add_argument("--threshold-p", type=float, help="spotting threshold position p in mean + p*(max-mean)")
