"""``larnet bench face``: FaceTracker milliseconds per frame, per backend and frame size.

The footage is a real photo (Grace Hopper) pasted on a textured backdrop, drifting and turning slowly, so the
trackers follow a moving face as they would in a clip. Each run starts a fresh tracker on the same frames; the
first frames of a run (graph start-up, first acquisition) are left out of the timing.
"""

from __future__ import annotations

import argparse
import statistics
import time

import cv2
import numpy as np

from larnet_core.face import FaceTracker, sample_face_photos

__all__ = ["add_arguments", "moving_face_frames", "run", "time_tracker"]

DESCRIPTION = "face tracking per frame (FaceTracker), per backend at 640x480 and 1920x1080"
_SIZES = {"640x480": (640, 480), "1920x1080": (1920, 1080)}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backends", nargs="+", default=["mediapipe", "haar", "mtcnn"],
                        choices=["mediapipe", "haar", "mtcnn"], help="tracker backends to time")
    parser.add_argument("--sizes", nargs="+", default=list(_SIZES), choices=list(_SIZES), help="frame sizes")
    parser.add_argument("--frames", type=int, default=60, help="timed frames per run")
    parser.add_argument("--runs", type=int, default=3, help="runs per backend and size (a fresh tracker each)")
    parser.add_argument("--threads", type=int, default=1, help="OpenCV and torch threads")
    parser.add_argument("--max-faces", type=int, default=4, help="FaceTracker max_faces")


def moving_face_frames(width: int, height: int, n: int, face_height: float = 0.6) -> list[np.ndarray]:
    """``n`` RGB frames: a real face photo drifting sideways and turning by up to 10 degrees."""
    photo = sample_face_photos()["grace_hopper"][40:440, 100:440]  # head and shoulders
    scale = face_height * height / photo.shape[0]
    patch = cv2.resize(photo, (round(photo.shape[1] * scale), round(photo.shape[0] * scale)),
                       interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(0)
    noise = cv2.resize(rng.uniform(0, 1, (9, 16, 3)).astype(np.float32), (width, height),
                       interpolation=cv2.INTER_CUBIC)
    backdrop = np.clip(np.array([40, 60, 80], np.float32) + 120 * noise, 0, 255).astype(np.uint8)
    mask = np.ones(patch.shape[:2], np.float32)
    frames = []
    for i in range(n):
        cx = width / 2 + 0.1 * width * np.sin(i / 20)
        cy = height / 2 + 0.02 * height * np.sin(i / 7)
        matrix = cv2.getRotationMatrix2D((patch.shape[1] / 2, patch.shape[0] / 2), 10 * np.sin(i / 15), 1.0)
        matrix[:, 2] += (cx - patch.shape[1] / 2, cy - patch.shape[0] / 2)
        face = cv2.warpAffine(patch, matrix, (width, height))
        alpha = cv2.warpAffine(mask, matrix, (width, height))[..., None]
        frames.append((backdrop * (1 - alpha) + face * alpha).astype(np.uint8))
    return frames


def time_tracker(backend: str, frames: list[np.ndarray], runs: int, warmup: int = 5, **options) -> dict[str, float]:
    """Per-frame times of ``FaceTracker(backend)`` over ``frames``: median and p95 wall ms over all timed frames,
    the median over runs of each run's mean, the median CPU ms of the process (all threads: steadier than wall
    time when other work shares the cores), and the share of frames with exactly one face."""
    tracker = FaceTracker(backend, fps=30.0, **options)
    times, cpu_times, run_means, found = [], [], [], 0
    for _ in range(runs):
        tracker.reset()
        for frame in frames[:warmup]:
            tracker.update(frame)
        run = []
        for frame in frames[warmup:]:
            start, cpu_start = time.perf_counter(), time.process_time()
            result = tracker.update(frame)
            run.append((time.perf_counter() - start) * 1000.0)
            cpu_times.append((time.process_time() - cpu_start) * 1000.0)
            found += len(result.faces) == 1
        times += run
        run_means.append(statistics.fmean(run))
    return {"median_ms": statistics.median(times), "p95_ms": float(np.percentile(times, 95)),
            "run_mean_ms": statistics.median(run_means), "cpu_ms": statistics.median(cpu_times),
            "one_face": found / len(times)}


def run(args: argparse.Namespace) -> int:
    cv2.setNumThreads(args.threads)
    try:
        import torch  # lazy: torch only once the benchmark runs (`larnet bench TARGET --help` imports this module)

        torch.set_num_threads(args.threads)
    except ImportError:  # pragma: no cover - torch is a runtime dependency
        pass
    print(f"FaceTracker(max_faces={args.max_faces}), {args.frames} timed frames x {args.runs} runs after 5 warm-up "
          f"frames each, {args.threads} thread(s); a face drifting and turning on a textured backdrop")
    print(f"{'backend':<10} {'size':>10} {'median ms':>10} {'p95 ms':>8} {'run mean ms':>12} {'fps':>7} "
          f"{'cpu ms':>7} {'1 face':>7}")
    for size in args.sizes:
        width, height = _SIZES[size]
        frames = moving_face_frames(width, height, args.frames + 5)
        for backend in args.backends:
            figures = time_tracker(backend, frames, args.runs, max_faces=args.max_faces)
            print(f"{backend:<10} {size:>10} {figures['median_ms']:>10.1f} {figures['p95_ms']:>8.1f} "
                  f"{figures['run_mean_ms']:>12.1f} {1000.0 / figures['run_mean_ms']:>7.1f} "
                  f"{figures['cpu_ms']:>7.1f} {figures['one_face']:>7.0%}")
    return 0
