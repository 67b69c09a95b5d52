"""``larnet synth``: generate a synthetic micro-expression set (CASME II clips, or CAS(ME)^2 long videos)."""

from __future__ import annotations

import argparse
import re
import sys
import time

from larnet_core.errors import LarnetError

__all__ = ["register"]


def _size(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"size {text!r} is not WIDTHxHEIGHT, e.g. 280x340")
    return int(match.group(1)), int(match.group(2))


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "synth",
        help="generate synthetic micro-expression data (CASME II layout, or CAS(ME)^2 long videos with --long)",
        description="Generate synthetic faces showing micro-expressions, written in CASME II's exact layout "
                    "(CASME2_RAW_selected/ + coding sheet) or, with --long, CAS(ME)^2's long-video layout "
                    "(rawpic/ + CAS(ME)^2code_final.xlsx). Synthetic data proves the machinery; it says nothing "
                    "about human emotions.",
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
    long_group.add_argument("--seconds", type=float, default=8.0, help="length of each long video (default 8)")
    long_group.add_argument("--no-mp4", action="store_true", help="skip the rawvideo/*.mp4 copies of long videos")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from larnet_core.synth import generate_dataset, generate_long_videos

    if args.workers is not None and args.workers < 1:
        raise LarnetError(f"--workers must be at least 1, got {args.workers}")
    unit = "frame" if args.long else "clip"
    bars: list[tqdm] = []  # opened on the first report, so argument errors print no empty bar

    def progress(done: int, total: int) -> None:
        if not bars:
            bars.append(tqdm(total=total, unit=unit, desc="synth", file=sys.stderr, dynamic_ncols=True))
        bars[0].update(done - bars[0].n)

    started = time.perf_counter()
    try:
        if args.long:
            manifest = generate_long_videos(
                args.out, subjects=args.subjects, videos_per_subject=args.videos_per_subject, seed=args.seed,
                seconds=args.seconds, fps=args.fps or 30.0, size=args.size or (320, 240),
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
    print(manifest.notice)
    return 0
