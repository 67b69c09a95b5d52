"""Command-line options shared by the commands that analyse clips (``larnet analyze``, ``larnet batch``,
``larnet spot-eval``); :meth:`AnalysisSettings.from_args <larnet_core.video.settings.AnalysisSettings.from_args>`
reads them back."""

from __future__ import annotations

import argparse

from larnet_core.devices import DEVICE_CHOICES
from larnet_core.face.inputs import FACE_MODES

__all__ = ["add_analysis_arguments"]


def add_analysis_arguments(parser: argparse.ArgumentParser, *, fps_default: str = "200, as CASME II",
                           max_infer_fps: float = 60.0) -> None:
    """How a clip is analysed: face tracking, frame rate, device and backend, model rate, limits, spotting.

    Args:
        parser: the command's parser.
        fps_default: the ``--fps`` default as its help states it (a command may fill it in from a dataset).
        max_infer_fps: the ``--max-infer-fps`` default (spotting evaluation runs the model far less often).
    """
    parser.add_argument("--face", default="auto", choices=FACE_MODES,
                        help="face tracking backend (auto: MediaPipe Face Mesh when installed, else MTCNN, else "
                             "Haar; the whole frame for small face-filled frames without a detected face)")
    parser.add_argument("--all-faces", action="store_true",
                        help="analyse every tracked face (one row per frame and face, intervals per face) instead "
                             "of only the main face")
    parser.add_argument("--fps", type=float, help=f"frame rate of an image sequence (default {fps_default})")
    parser.add_argument("--device", default="auto", choices=DEVICE_CHOICES, help="where the model runs")
    parser.add_argument("--backend", default="auto", choices=("auto", "torch", "onnxruntime"),
                        help="inference backend (auto: ONNX Runtime on CPU)")
    parser.add_argument("--max-infer-fps", type=float, default=max_infer_fps,
                        help=f"run the model on at most this many frames per second of video (default "
                             f"{max_infer_fps:g}; 0 = every frame)")
    parser.add_argument("--max-frames", type=int, help="refuse clips with more frames than this")
    parser.add_argument("--max-seconds", type=float, help="refuse clips longer than this many seconds")
    parser.add_argument("--threshold-p", type=float, help="spotting threshold position p in mean + p*(max-mean)")
