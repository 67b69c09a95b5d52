"""``larnet bench flow``: seconds per onset -> apex flow sample, TV-L1 against Farneback, and a cache read."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from larnet_core.face import sample_face_photos
from larnet_core.face.flow import compute_flow_image

DESCRIPTION = ("seconds per onset->apex flow sample (u, v, strain) with TV-L1 and Farneback at each output size, "
               "and the cost of reading a cached sample")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sizes", type=int, nargs="+", default=[28, 48, 112], help="output sides in pixels")
    parser.add_argument("--methods", nargs="+", default=["tvl1", "farneback"], help="flow estimators")
    parser.add_argument("--repeats", type=int, default=3, help="timed samples per setting (median reported)")
    parser.add_argument("--threads", type=int, default=1, help="OpenCV threads (default 1, as one DataLoader worker)")


def _face_pair() -> tuple[np.ndarray, np.ndarray]:
    """A real face photo and the same face moved by a small, smooth deformation (a micro-movement)."""
    face = cv2.resize(sample_face_photos()["grace_hopper"][60:420, 120:440], (170, 190), interpolation=cv2.INTER_AREA)
    ys, xs = np.mgrid[0:face.shape[0], 0:face.shape[1]].astype(np.float32)
    bump = np.exp(-((xs - 85) ** 2 + (ys - 130) ** 2) / (2 * 20.0 ** 2)).astype(np.float32)
    moved = cv2.remap(face, xs, ys - 1.5 * bump, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return face, moved


def _median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def run(args: argparse.Namespace) -> int:
    # lazy: torch only once the benchmark runs (`larnet bench TARGET --help` imports this module)
    from larnet_core.data.flow_cache import FlowCache

    cv2.setNumThreads(int(args.threads))
    onset, apex = _face_pair()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        paths = [str(Path(folder) / name) for name in ("onset.png", "apex.png")]
        for path, image in zip(paths, (onset, apex)):
            cv2.imwrite(path, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        for method in args.methods:
            for size in args.sizes:
                compute = _median_seconds(lambda: compute_flow_image(onset, apex, size, method), args.repeats)
                cache = FlowCache(Path(folder) / "cache", method, size)
                cache.image("bench", "s1", "clip", *paths)  # fill the cache
                cached = _median_seconds(lambda: cache.image("bench", "s1", "clip", *paths), args.repeats)
                rows.append({"method": method, "size": size, "compute_ms": 1000 * compute, "cached_ms": 1000 * cached,
                             "composite_442_s": 442 * compute})
    table = pd.DataFrame(rows)
    print(f"onset->apex flow samples, {args.threads} OpenCV thread(s); composite_442_s = one pass over the MEGC "
          "composite's 442 clips without the cache")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    return 0
