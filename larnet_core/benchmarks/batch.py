"""``larnet bench batch``: clips per second of a batch with 1 and with N worker processes, measured in one run."""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from larnet_core.batch import run_batch
from larnet_core.paths import demo_checkpoint_path
from larnet_core.synth.footage import make_footage, write_footage

DESCRIPTION = ("batch throughput: clips/s with 1 and N worker processes on the same generated clips, median of "
               "--repeats runs each, and their ratio (target on 2 cores: 2 workers >= 1.6x one)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", help="model checkpoint (default: the bundled demo model)")
    parser.add_argument("--clips", type=int, default=8, help="clips per batch")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each clip")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--workers", type=int, default=2, help="the N compared with one worker")
    parser.add_argument("--repeats", type=int, default=3, help="runs per worker count (the median is printed)")
    parser.add_argument("--ray", action="store_true", help="also time a local Ray instance with N actors")


def _make_clips(folder: Path, count: int, seconds: float, size: tuple[int, int]) -> None:
    folder.mkdir(parents=True)
    photos = ("grace_hopper", "astronaut")
    for index in range(count):
        footage = make_footage("expressions", size=size, seconds=seconds, fps=30.0, micro=1, seed=index,
                               photo=photos[index % 2])
        write_footage(folder / f"clip{index:03d}.mp4", footage.frames, 30.0)


def _time(clips: Path, checkpoint: Path, out: Path, *, workers: int, ray: str | None = None,
          overlap: bool | None = None) -> tuple[float, float]:
    """Seconds for the whole batch (start-up included), and seconds per clip once every worker is busy: from
    the ``workers``-th clip finished to the last (a long batch's rate, where start-up no longer counts)."""
    shutil.rmtree(out, ignore_errors=True)
    finished: list[float] = []
    start = time.perf_counter()
    report = run_batch([clips], checkpoint, out, workers=workers, ray=ray, overlap=overlap,
                       progress=lambda state, row: row is not None and finished.append(time.perf_counter()))
    elapsed = time.perf_counter() - start
    if report.failed:
        raise SystemExit(f"{report.failed} clip(s) failed: {report.summary['error'].tolist()}")
    first = min(workers, len(finished) - 1) - 1
    steady = (finished[-1] - finished[first]) / (len(finished) - 1 - first)
    return elapsed, steady


def run(args: argparse.Namespace) -> int:
    checkpoint = Path(args.checkpoint) if args.checkpoint else demo_checkpoint_path()
    with tempfile.TemporaryDirectory(prefix="larnet-bench-batch-") as tmp:
        clips = Path(tmp) / "clips"
        start = time.perf_counter()
        _make_clips(clips, args.clips, args.seconds, (args.width, args.height))
        print(f"generated {args.clips} clips, {args.width}x{args.height}, 30 fps, {args.seconds:g} s each, in "
              f"{time.perf_counter() - start:.1f} s")
        _time(clips, checkpoint, Path(tmp) / "warm", workers=1)  # ONNX export cache, file cache, imports
        # One worker pipelines a clip over about 1.4 cores (overlap); "one core" is a worker as it runs when
        # there are as many workers as cores, the unit the N workers scale from.
        setups = [("1 worker, one core", 1, None, False), ("1 worker", 1, None, None),
                  (f"{args.workers} workers", args.workers, None, None)]
        if args.ray:
            setups.append((f"Ray local, {args.workers} actors", args.workers, "local", None))
        times: dict[str, list[tuple[float, float]]] = {name: [] for name, *_ in setups}
        for _ in range(args.repeats):  # interleaved, so a change in machine load hits every setup alike
            for name, workers, ray, overlap in setups:
                times[name].append(_time(clips, checkpoint, Path(tmp) / "out", workers=workers, ray=ray,
                                         overlap=overlap))
    if args.clips < args.workers + 2:
        raise SystemExit(f"use at least {args.workers + 2} clips to measure the rate with every worker busy")
    whole = {name: args.clips / statistics.median(t for t, _ in values) for name, values in times.items()}
    steady = {name: 1.0 / statistics.median(s for _, s in values) for name, values in times.items()}
    base, single = "1 worker, one core", "1 worker"
    for name in times:
        runs = ", ".join(f"{t:.1f}" for t, _ in times[name])
        ratio = "" if name in (base, single) else (
            f"  -> busy: {steady[name] / steady[base]:.2f}x one core's worker, {steady[name] / steady[single]:.2f}x "
            f"one pipelined worker; whole batch {whole[name] / whole[base]:.2f}x / {whole[name] / whole[single]:.2f}x")
        print(f"{name:>24}: {steady[name]:.3f} clips/s with every worker busy, {whole[name]:.3f} clips/s for the "
              f"whole batch (start-up included; runs {runs} s; medians of {args.repeats}){ratio}")
    return 0
