"""``larnet synth``: generate a synthetic micro-expression set (CASME II clips, or CAS(ME)^2 long videos of drawn
faces or of real photos), or test footage composed from real photos."""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

from tqdm import tqdm

from larnet_core.errors import LarnetError
from larnet_core.paths import check_output_dir
from larnet_core.synth import generate_dataset, generate_long_videos
from larnet_core.synth.footage import SCENARIOS, make_footage, write_footage
from larnet_core.synth.photo_long_videos import generate_photo_long_videos

__all__ = ["register"]


def _size(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"size {text!r} is not WIDTHxHEIGHT, e.g. 280x340")
    return int(match.group(1)), int(match.group(2))


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "synth",
        help="generate synthetic micro-expression data (CASME II layout, CAS(ME)^2 long videos with --long, "
             "test footage from real photos with --footage)",
        description="Generate synthetic faces showing micro-expressions, written in CASME II's exact layout "
                    "(CASME2_RAW_selected/ + coding sheet) or, with --long, CAS(ME)^2's long-video layout "
                    "(rawpic/ + CAS(ME)^2code_final.xlsx); --long --photos animates real photographed faces "
                    "instead of drawn ones. --footage writes short test scenarios (a face entering, leaving, a shot "
                    "cut, head movements, a hand over the mouth, two faces, expressions) with their ground truth. "
                    "Synthetic data proves the machinery; it says nothing about human emotions.",
    )
    parser.add_argument("out", help="output folder")
    parser.add_argument("--subjects", type=int, default=20, help="number of subjects (default 20)")
    parser.add_argument("--clips-per-class", type=int, default=3, help="clips per emotion per subject (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; same seed, same bytes (default 0)")
    parser.add_argument("--size", type=_size, default=None,
                        help="frame size WIDTHxHEIGHT (default 280x340, or 320x240 with --long)")
    parser.add_argument("--fps", type=float, default=None, help="frame rate (default 200, or 30 with --long)")
    parser.add_argument("--difficulty", type=float, default=0.5,
                        help="0..1: smaller motion, more noise/jitter/blinks as it rises (default 0.5)")
    parser.add_argument("--amplitude", type=float, default=1.0, help="extra multiplier on the deformation (default 1)")
    parser.add_argument("--workers", type=int, default=None, help="processes (default min(2, CPU count))")
    parser.add_argument("--overwrite", action="store_true", help="replace a set already in OUT")
    long_group = parser.add_argument_group("long videos (CAS(ME)^2 layout)")
    long_group.add_argument("--long", action="store_true", help="write long videos for spotting instead of clips")
    long_group.add_argument("--videos-per-subject", type=int, default=3, help="long videos per subject (default 3)")
    long_group.add_argument("--seconds", type=float, default=None,
                            help="length of each long video (default 8; 20 with --photos; 5 with --footage)")
    long_group.add_argument("--no-mp4", action="store_true", help="skip the rawvideo/*.mp4 copies of long videos")
    long_group.add_argument("--photos", action="store_true",
                            help="long videos of real photographed faces (the sample photos installed packages ship) "
                                 "with expressions and expression-free head turns and nods (default size 640x480)")
    long_group.add_argument("--videos", type=int, default=4, help="number of long videos with --photos (default 4)")
    footage_group = parser.add_argument_group("test footage (composed from real photos)")
    footage_group.add_argument("--footage", action="store_true",
                               help="write test footage scenarios as OUT/<scenario>.mp4 with <scenario>.truth.json "
                                    "(default size 640x360, 30 fps)")
    footage_group.add_argument("--scenario", action="append", default=None,
                               help=f"a scenario to write (repeatable; default all of {', '.join(SCENARIOS)})")
    footage_group.add_argument("--codec", choices=("h264", "hevc"), default="h264", help="video codec (default h264)")
    parser.set_defaults(func=_run)


def _run_footage(args: argparse.Namespace) -> int:
    names = args.scenario or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise LarnetError(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fps = args.fps or 30.0
    for name in names:
        path = out / f"{name}.mp4"
        if path.exists() and not args.overwrite:
            raise LarnetError(f"{path} exists; choose an empty folder or pass --overwrite")
        options = {"fps": fps, "size": args.size or (640, 360), "seed": args.seed}
        if args.seconds:
            options["seconds"] = args.seconds
        started = time.perf_counter()
        frames, truth = make_footage(name, **options)
        write_footage(path, frames, fps=fps, codec=args.codec)
        truth.save(out / f"{name}.truth.json")
        print(f"wrote {path} ({truth.n_frames} frames, {args.codec}) and {name}.truth.json "
              f"in {time.perf_counter() - started:.1f} s")
    return 0


def _run(args: argparse.Namespace) -> int:
    if args.workers is not None and args.workers < 1:
        raise LarnetError(f"--workers must be at least 1, got {args.workers}")

    check_output_dir(args.out, "the output folder")
    if args.footage:
        return _run_footage(args)
    if args.photos and not args.long:
        raise LarnetError("--photos makes long videos; add --long (or use --footage for short test scenarios)")
    unit = "frame" if args.long else "clip"
    bars: list[tqdm] = []  # opened on the first report, so argument errors print no empty bar

    def progress(done: int, total: int) -> None:
        if not bars:
            bars.append(tqdm(total=total, unit=unit, desc="synth", file=sys.stderr, dynamic_ncols=True))
        bars[0].update(done - bars[0].n)

    started = time.perf_counter()
    try:
        if args.long and args.photos:
            manifest = generate_photo_long_videos(
                args.out, n_videos=args.videos, seed=args.seed, seconds=args.seconds or 20.0, fps=args.fps or 30.0,
                size=args.size or (640, 480), write_video=not args.no_mp4, workers=args.workers, progress=progress,
                overwrite=args.overwrite,
            )
        elif args.long:
            manifest = generate_long_videos(
                args.out, subjects=args.subjects, videos_per_subject=args.videos_per_subject, seed=args.seed,
                seconds=args.seconds or 8.0, fps=args.fps or 30.0, size=args.size or (320, 240),
                difficulty=args.difficulty, amplitude=args.amplitude, write_video=not args.no_mp4,
                workers=args.workers, progress=progress, overwrite=args.overwrite,
            )
        else:
            manifest = generate_dataset(
                args.out, subjects=args.subjects, clips_per_class=args.clips_per_class, seed=args.seed,
                size=args.size or (280, 340), fps=args.fps or 200.0, difficulty=args.difficulty,
                amplitude=args.amplitude, workers=args.workers, progress=progress, overwrite=args.overwrite,
            )
    finally:
        for bar in bars:
            bar.close()
    counts = manifest.counts()
    what = "expressions in long videos" if args.long else "clips"
    print(f"wrote {counts['rows']} {what} ({counts.get('frames', 0)} frames) of {counts['subjects']} subjects "
          f"to {manifest.root} in {time.perf_counter() - started:.1f} s; coding sheet {manifest.annotation_file.name}")
    if "head_movements" in manifest.extra:
        print(f"{len(manifest.extra['head_movements'])} head movements without expression (not in the coding sheet) "
              f"are listed in {manifest.manifest_file.name}")
    print(manifest.notice)
    return 0
