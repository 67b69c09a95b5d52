"""``larnet bench live``: LiveAnalyzer.process on 640x480 frames of an animated real face."""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from larnet_core.benchmarks._common import add_model_arguments, animated_face, load_predictor
from larnet_core.video import LiveAnalyzer

DESCRIPTION = "live frame processing, 640x480 (targets: >= 15 fps and p95 < 80 ms with larnet-lite, 2 cores)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    # One inference thread per stream: with two, ONNX Runtime's threads spin against everything else the
    # page runs (decoding, WebRTC) and batch-1 latency doubles or worse on a busy 2-core machine.
    parser.set_defaults(threads=1)
    parser.add_argument("--frames", type=int, default=300, help="frames to process (after 10 warm-up frames)")
    parser.add_argument("--no-draw", action="store_true", help="skip drawing the overlay")


def run(args: argparse.Namespace) -> int:
    predictor, described = load_predictor(args)
    fps = 30.0
    frames, _ = animated_face(640, 480, fps, 4.0, face_height=0.9)
    frames = list(frames)
    analyzer = LiveAnalyzer(predictor, fps_hint=fps, draw=not args.no_draw)
    for frame in frames[:10]:
        analyzer.process(frame)
    analyzer.reset()
    latencies = []
    cpu_start = time.process_time()
    start = time.perf_counter()
    for i in range(args.frames):
        _, result = analyzer.process(frames[i % len(frames)])
        if result.error:
            print(f"frame {i}: {result.error}")
        latencies.append(result.latency_ms)
    elapsed = time.perf_counter() - start
    cpu_ms = 1000.0 * (time.process_time() - cpu_start) / args.frames
    lat = np.asarray(latencies)
    print(f"model: {described}")
    print(f"{args.frames} frames of 640x480 in {elapsed:.2f} s: {args.frames / elapsed:.1f} fps processed "
          f"(target >= 60)")
    print(f"latency per frame: p50 {np.percentile(lat, 50):.1f} ms, p95 {np.percentile(lat, 95):.1f} ms "
          f"(target <= 25), max {lat.max():.1f} ms; events spotted: {len(analyzer.events)}")
    load = os.getloadavg()[0]
    print(f"CPU time per frame (all threads of this process): {cpu_ms:.1f} ms; load average {load:.2f} on "
          f"{os.cpu_count()} cores (other work on the machine inflates the wall-clock figures above)")
    return 0
