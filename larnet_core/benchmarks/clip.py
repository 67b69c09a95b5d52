"""``larnet bench clip``: a 3 s, 200 fps, 1920x1080 clip (600 frames) analysed end to end."""

from __future__ import annotations

import argparse
from pathlib import Path
import resource
import tempfile
import time

from larnet_core.video.writer import VideoClipWriter

DESCRIPTION = "end-to-end clip analysis of a 3 s 200 fps 1080p clip (target: under 30 s with larnet-lite, 2 cores)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # lazy: pandas and OpenCV only once the benchmark runs (`larnet bench --help` imports every benchmark module)
    from larnet_core.benchmarks._common import add_model_arguments

    add_model_arguments(parser)
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--fps", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--max-infer-fps", type=float, default=60.0, help="as for larnet analyze (0 = every frame)")
    parser.add_argument("--clip", help="time this clip instead of generating one")


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(args: argparse.Namespace) -> int:
    # lazy: the analysis only once the benchmark runs (`larnet bench --help` imports every benchmark module)
    from larnet_core.benchmarks._common import animated_face, load_predictor
    from larnet_core.video import analyze_clip, read_video_frames

    predictor, described = load_predictor(args)
    with tempfile.TemporaryDirectory(prefix="larnet-bench-clip-") as tmp:
        if args.clip:
            path = Path(args.clip)
        else:
            path = Path(tmp) / "clip.mp4"
            frames, truth = animated_face(args.width, args.height, args.fps, args.seconds)
            start = time.perf_counter()
            with VideoClipWriter(path, fps=args.fps) as writer:
                for frame in frames:
                    writer.write(frame)
            print(f"generated {path.name}: {args.width}x{args.height}, {args.fps:g} fps, {args.seconds:g} s, "
                  f"{path.stat().st_size / 2**20:.1f} MB in {time.perf_counter() - start:.1f} s "
                  f"(expression frames {truth[0]}-{truth[2]})")
        rss_before = _max_rss_mb()
        start = time.perf_counter()
        n = sum(1 for _ in read_video_frames(path, max_side=640))
        decode_s = time.perf_counter() - start
        start = time.perf_counter()
        analysis = analyze_clip(path, predictor, max_infer_fps=args.max_infer_fps or None)
        total_s = time.perf_counter() - start
        rss_after = _max_rss_mb()
    frame_bytes = analysis.meta.width * analysis.meta.height * 3
    print(f"model: {described}")
    print(f"frames: {n} decoded; inference stride {analysis.settings['inference_stride']} "
          f"({-(-n // analysis.settings['inference_stride'])} model calls)")
    print(f"decode + downscale only: {decode_s:.2f} s ({n / decode_s:.0f} frames/s)")
    print(f"end-to-end analysis:     {total_s:.2f} s ({n / total_s:.0f} frames/s; target < 30 s)")
    print(f"peak RSS {rss_after:.0f} MB (before analysis {rss_before:.0f} MB); holding every decoded frame "
          f"would take {n * frame_bytes / 2**20:.0f} MB")
    spotted = ", ".join(f"{r.onset_frame}-{r.offset_frame} ({r.kind})" for r in analysis.intervals.itertuples())
    print(f"spotted: {spotted or 'nothing'}; prediction {analysis.prediction.label} "
          f"({analysis.prediction.confidence:.1%}, {analysis.prediction.source})")
    return 0
