"""Time the face detectors on the shipped sample photos: median milliseconds per image over repeated runs.

Usage:
    .venv/bin/python scripts/bench_face.py [--runs 10] [--sizes 256 640] [--device cpu] [--threads 2]

Per-frame tracking (FaceTracker) has its own benchmark: ``larnet bench face``.

Each photo is resized so its long side is the given size (the 640 px versions are upscaled from about 512-600 px
originals). One untimed warm-up call precedes the timed runs of each detector, photo and size. Wall-clock
median and minimum are printed, and the median CPU time of the process (all threads).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import cv2
import numpy as np
import torch

from larnet_core.face import HaarFaceDetector, MeshFaceDetector, MTCNNFaceDetector, sample_face_photos


def _resize_long_side(image: np.ndarray, side: int) -> np.ndarray:
    factor = side / max(image.shape[:2])
    interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC
    return cv2.resize(image, None, fx=factor, fy=factor, interpolation=interpolation)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="timed runs per detector, photo and size")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 640], help="long sides to test, pixels")
    parser.add_argument("--device", default="cpu", help="device for MTCNN: cpu, cuda or auto")
    parser.add_argument("--threads", type=int, default=2, help="torch and OpenCV threads")
    parser.add_argument("--detectors", nargs="+", default=["haar", "haar+eyes", "mtcnn", "mediapipe"],
                        choices=["haar", "haar+eyes", "mtcnn", "mediapipe"], help="detectors to time")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)

    builders = {
        "haar": lambda: HaarFaceDetector(),
        "haar+eyes": lambda: HaarFaceDetector(find_eyes=True),
        "mtcnn": lambda: MTCNNFaceDetector(device=args.device),
        "mediapipe": lambda: MeshFaceDetector(),
    }
    detectors = {name: builders[name]() for name in args.detectors}
    photos = sample_face_photos()
    mtcnn_device = f", MTCNN on {detectors['mtcnn'].device}" if "mtcnn" in detectors else ""
    print(f"torch {torch.__version__}, OpenCV {cv2.__version__}, {args.threads} threads{mtcnn_device}; "
          f"median of {args.runs} runs")
    # CPU ms (all threads of this process) is less disturbed than wall time when other work shares the cores.
    print(f"{'detector':<10} {'photo':<13} {'size':>9} {'faces':>5} {'median ms':>10} {'min ms':>8} {'cpu ms':>8}")
    for name, detector in detectors.items():
        for photo_name, photo in photos.items():
            for side in args.sizes:
                image = _resize_long_side(photo, side)
                faces = detector.detect(image)  # warm-up
                times, cpu_times = [], []
                for _ in range(args.runs):
                    start, cpu_start = time.perf_counter(), time.process_time()
                    detector.detect(image)
                    times.append((time.perf_counter() - start) * 1000)
                    cpu_times.append((time.process_time() - cpu_start) * 1000)
                size = f"{image.shape[1]}x{image.shape[0]}"
                print(f"{name:<10} {photo_name:<13} {size:>9} {len(faces):>5} {statistics.median(times):>10.1f} "
                      f"{min(times):>8.1f} {statistics.median(cpu_times):>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
