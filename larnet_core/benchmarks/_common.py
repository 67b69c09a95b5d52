"""Shared pieces of the clip and live benchmarks: the model to time and an animated real face."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import cv2
import numpy as np

from larnet_core.devices import DEVICE_CHOICES, resolve_device
from larnet_core.errors import CheckpointError
from larnet_core.face import build_detector, largest_face, sample_face_photos
from larnet_core.inference import Predictor
from larnet_core.paths import demo_checkpoint_path
from larnet_core.synth.emotions import sample_action_units
from larnet_core.synth.landmarks import landmarks_from_box
from larnet_core.synth.render import Expression, render_frames

DEMO_CHECKPOINT = demo_checkpoint_path()


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", help="checkpoint to time (default: the demo model if present, "
                        "else an untrained larnet-lite)")
    parser.add_argument("--backend", default="auto", choices=("auto", "torch", "onnxruntime"))
    parser.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    parser.add_argument("--threads", type=int, default=2, help="torch / onnxruntime intra-op threads")


def load_predictor(args: argparse.Namespace):
    """The Predictor the benchmark times, and a one-line description of it."""
    # lazy: torch only once the benchmark runs (`larnet bench TARGET --help` imports this module)
    import torch

    from larnet_core.models import ModelCard, load_checkpoint, save_checkpoint

    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    path = Path(args.checkpoint) if args.checkpoint else DEMO_CHECKPOINT
    if not path.is_file():
        if args.checkpoint:
            raise CheckpointError(f"checkpoint {path} does not exist; check --checkpoint")
        card = ModelCard.for_preset("larnet-lite", ["disgust", "happiness", "others", "repression", "surprise"])
        path = Path(tempfile.mkdtemp(prefix="larnet-bench-")) / "larnet-lite.pt"
        save_checkpoint(card.build(), card, path)
    predictor = Predictor(load_checkpoint(path, device=device), backend=args.backend, threads=args.threads)
    card = predictor.card
    return predictor, f"{card.preset} ({path.name}, {predictor.backend} on {device}, {args.threads} threads)"


def animated_face(width: int, height: int, fps: float, seconds: float, seed: int = 0, face_height: float = 0.8):
    """Yield ``(frames iterator, truth)``: a real photo (Grace Hopper) pasted at ``face_height`` of a
    ``width`` x ``height`` frame, showing one micro-expression. Frames are rendered one at a time."""
    photo = sample_face_photos()["grace_hopper"]
    scale = face_height * height / photo.shape[0]
    size = (int(photo.shape[1] * scale) // 2 * 2, int(photo.shape[0] * scale) // 2 * 2)
    face = cv2.resize(photo, size, interpolation=cv2.INTER_AREA)
    n = int(round(fps * seconds))
    rng = np.random.default_rng(seed)
    onset = n // 2
    apex, offset = onset + int(0.12 * fps), onset + int(0.3 * fps)
    aus = sample_action_units("happiness", rng, peak=(0.9, 1.0))

    x0, y0, x1, y1 = largest_face(face, build_detector("haar"), what="the benchmark photo").box
    marks = landmarks_from_box((x0, y0, x1 - x0, y1 - y0))
    x0, y0 = (width - size[0]) // 2, (height - size[1]) // 2
    background = np.full((height, width, 3), 50, np.uint8)

    def frames():
        for image in render_frames(face, marks, n, [Expression(aus, onset, apex, offset, 1.5)]):
            frame = background.copy()
            frame[y0:y0 + size[1], x0:x0 + size[0]] = image
            yield frame

    return frames(), (onset, apex, offset)
