"""Time ``larnet analyze`` against the FER package on one generated clip, alternating runs in the same session.

Usage (through scripts/bench-vs-fer.sh, which creates FER's own virtualenv first):
    scripts/bench-vs-fer.sh [--quick] [--frames 600 --width 1920 --height 1080 --fps 200 --runs 3]

One clip is generated (a real photo, Grace Hopper, animated with one micro-expression; H.264), then, in turn,
each run times both tools end to end as a user starts them, each in its own process:
  larnet: ``larnet analyze CLIP --checkpoint ... --out X.csv --max-infer-fps 0`` (the model on every frame);
  FER:    ``Video(CLIP).analyze(FER(mtcnn=False), frequency=1, ...)`` with display, frame saving, annotation and
          video writing off, so it reads, detects and classifies every frame and writes nothing.
Wall times include each tool's start (imports, model load). The ratio FER / larnet is the "x times faster"
figure, printed for the medians and for each run's pair (run back to back, so under about the same load);
FER's in-process analysis time (without its TensorFlow import and model load) is printed beside it as a stricter
reference. Runs alternate (larnet, FER, larnet, FER, ...) so load that comes and goes on a shared machine falls
on both tools alike.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CHECKPOINT = REPO / "assets" / "models" / "larnet-lite-demo.pt"

# Run by FER's interpreter: argv = clip, scratch folder, JSON result path. Times are taken inside the process so
# the report can tell start-up (TensorFlow import, model load) from the analysis itself.
FER_DRIVER = r"""
import json, sys, time
t0 = time.perf_counter()
import cv2
import tensorflow as tf
import fer
from fer.classes import Video
from fer.fer import FER
t_import = time.perf_counter()
detector = FER(mtcnn=False)
t_model = time.perf_counter()
video = Video(sys.argv[1], outdir=sys.argv[2])
table = video.analyze(detector, display=False, output="pandas", frequency=1, save_frames=False,
                      save_video=False, annotate_frames=False, zip_images=False)
t_done = time.perf_counter()
face_detector = detector._FER__face_detector
json.dump({
    "frames_processed": int(video.frameCount),
    "frames_with_face": int(len(table)),
    "import_s": t_import - t0, "model_s": t_model - t_import, "analyze_s": t_done - t_model,
    "detector": "mtcnn" if face_detector == "mtcnn" else "opencv haar cascade",
    "classifier": "tflite (emotion_model_quantized.tflite)" if detector.use_tflite else "keras (emotion_model.hdf5)",
    "versions": {"fer": fer.__version__, "tensorflow": tf.__version__, "opencv": cv2.__version__,
                 "python": sys.version.split()[0]},
}, open(sys.argv[3], "w"))
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=600)
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--fps", type=float, default=200.0)
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each tool (alternating)")
    parser.add_argument("--quick", action="store_true", help="smoke test: 120 frames of 640x360, 2 runs")
    parser.add_argument("--clip", help="time this clip instead of generating one")
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT), help="model for larnet analyze")
    parser.add_argument("--larnet", default=os.environ.get("LARNET", str(REPO / ".venv" / "bin" / "larnet")),
                        help="larnet command (default: $LARNET or .venv/bin/larnet)")
    parser.add_argument("--fer-python", default=str(REPO / "build" / "fer-venv" / "bin" / "python"),
                        help="interpreter of the virtualenv holding fer and TensorFlow")
    args = parser.parse_args(argv)
    if args.quick:
        args.frames, args.width, args.height, args.runs = 120, 640, 360, 2
    # Absolute, not resolved: the tools run from a scratch folder, and a venv's python must keep its own path.
    args.fer_python = os.path.abspath(args.fer_python)
    args.checkpoint = os.path.abspath(args.checkpoint)
    if os.sep in args.larnet:
        args.larnet = os.path.abspath(args.larnet)
    return args


def generate_clip(path: Path, frames: int, width: int, height: int, fps: float) -> None:
    from larnet_core.video.writer import VideoClipWriter
    from larnet_core.benchmarks._common import animated_face

    start = time.perf_counter()
    images, truth = animated_face(width, height, fps, frames / fps)
    with VideoClipWriter(path, fps=fps) as writer:
        for image in images:
            writer.write(image)
    print(f"clip: {writer.frames_written} frames, {width}x{height}, {fps:g} fps, H.264, "
          f"{path.stat().st_size / 2**20:.1f} MB, generated in {time.perf_counter() - start:.1f} s "
          f"(expression frames {truth[0]}-{truth[2]})")


def _run(command: list[str], log: Path, what: str) -> float:
    """Wall seconds of ``command``; its output goes to ``log`` and is shown only if it fails."""
    start = time.perf_counter()
    with open(log, "w") as out:
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, cwd=log.parent)
    seconds = time.perf_counter() - start
    if done.returncode:
        tail = log.read_text(errors="replace")[-3000:]
        sys.exit(f"error: {what} failed (exit {done.returncode}):\n{tail}")
    return seconds


def run_larnet(args: argparse.Namespace, clip: Path, work: Path, i: int) -> tuple[float, dict]:
    out = work / f"larnet-{i}.csv"
    seconds = _run([args.larnet, "analyze", str(clip), "--checkpoint", args.checkpoint, "--out", str(out),
                    "--max-infer-fps", "0"], work / f"larnet-{i}.log", "larnet analyze")
    return seconds, json.loads(out.with_suffix(".json").read_text())


def run_fer(args: argparse.Namespace, clip: Path, work: Path, i: int) -> tuple[float, dict]:
    driver, result = work / "fer_driver.py", work / f"fer-{i}.json"
    driver.write_text(FER_DRIVER)
    scratch = work / f"fer-{i}"
    # TF_CPP_MIN_LOG_LEVEL only quiets TensorFlow's C++ log lines; it changes no computation.
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("PYTHONPATH", None)  # FER's interpreter must not see the project's packages
    start = time.perf_counter()
    with open(work / f"fer-{i}.log", "w") as out:
        done = subprocess.run([args.fer_python, str(driver), str(clip), str(scratch), str(result)],
                              stdout=out, stderr=subprocess.STDOUT, cwd=work, env=env)
    seconds = time.perf_counter() - start
    if done.returncode:
        sys.exit(f"error: FER failed (exit {done.returncode}):\n"
                 f"{(work / f'fer-{i}.log').read_text(errors='replace')[-3000:]}")
    written = [p.name for p in scratch.rglob("*") if p.is_file()]
    info = json.loads(result.read_text())
    info["files_written"] = written
    return seconds, info


def _machine() -> str:
    model = ""
    try:
        model = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()} cores ({model or platform.processor() or platform.machine()}), {platform.system()}"


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _larnet_versions() -> str:
    import onnxruntime
    import torch

    import larnet_core

    # Where larnet_core comes from (a checkout on PYTHONPATH or the installed package): the code being timed.
    return (f"larnet {larnet_core.__version__} from {Path(larnet_core.__file__).parent}, torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, "
            f"python {sys.version.split()[0]}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not Path(args.fer_python).is_file():
        sys.exit(f"error: no FER interpreter at {args.fer_python}; run scripts/bench-vs-fer.sh, which creates it")
    if not Path(args.checkpoint).is_file():
        sys.exit(f"error: checkpoint {args.checkpoint} does not exist; pass --checkpoint")
    print(f"machine: {_machine()}; load average (1/5/15 min) before: {_load()}")
    print(f"larnet side: {_larnet_versions()}; {args.larnet}")
    with tempfile.TemporaryDirectory(prefix="larnet-bench-fer-") as tmp:
        work = Path(tmp)
        clip = Path(args.clip).resolve() if args.clip else work / "clip.mp4"
        if not args.clip:
            generate_clip(clip, args.frames, args.width, args.height, args.fps)
        times: dict[str, list[float]] = {"larnet": [], "fer": []}
        fer_analyze: list[float] = []
        for i in range(args.runs):
            seconds, summary = run_larnet(args, clip, work, i)
            times["larnet"].append(seconds)
            clip_meta, settings = summary["clip"], summary["settings"]
            print(f"run {i + 1} larnet: {seconds:6.1f} s  ({clip_meta['frame_count']} frames, inference stride "
                  f"{settings['inference_stride']}, face in {summary['frames_with_face']}; load {_load()})")
            seconds, info = run_fer(args, clip, work, i)
            times["fer"].append(seconds)
            fer_analyze.append(info["analyze_s"])
            print(f"run {i + 1} FER:    {seconds:6.1f} s  ({info['frames_processed']} frames processed, face in "
                  f"{info['frames_with_face']}; import {info['import_s']:.1f} s, model {info['model_s']:.1f} s, "
                  f"analysis {info['analyze_s']:.1f} s; load {_load()})")
            if info["files_written"]:
                print(f"  note: FER wrote {len(info['files_written'])} file(s): {info['files_written'][:3]}")
    n = clip_meta["frame_count"]
    larnet_s, fer_s, fer_analyze_s = (statistics.median(v) for v in (times["larnet"], times["fer"], fer_analyze))
    print()
    print(f"FER side: fer {info['versions']['fer']}, tensorflow {info['versions']['tensorflow']}, "
          f"opencv {info['versions']['opencv']}, python {info['versions']['python']}; "
          f"face detector {info['detector']}, classifier {info['classifier']}")
    print(f"larnet: tracker {settings['tracker']}, working max side {settings['working_max_side']} px, "
          f"model {summary['model']['preset']} on {summary['model']['backend']}, input {settings['input_size']} px")
    print(f"medians of {args.runs} run(s), {n} frames of {clip_meta['width']}x{clip_meta['height']}:")
    print(f"  larnet analyze --max-infer-fps 0: {larnet_s:7.1f} s  {n / larnet_s:6.1f} frames/s")
    print(f"  FER Video.analyze, every frame:   {fer_s:7.1f} s  {n / fer_s:6.1f} frames/s "
          f"(analysis alone {fer_analyze_s:.1f} s, {n / fer_analyze_s:.1f} frames/s)")
    print(f"  ratio FER / larnet: {fer_s / larnet_s:.2f}x (wall, both with start-up); "
          f"{fer_analyze_s / larnet_s:.2f}x against FER's analysis alone")
    # Each run's pair ran back to back under about the same load: their ratios vary less than the times do.
    paired = [f / r for f, r in zip(times["fer"], times["larnet"])]
    print(f"  ratio per run: {', '.join(f'{x:.2f}x' for x in paired)} (median {statistics.median(paired):.2f}x)")
    print(f"load average after: {_load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
