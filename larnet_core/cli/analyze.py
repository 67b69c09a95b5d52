"""``larnet analyze CLIP``: per-frame probabilities, motion and spotted intervals of one clip.

Writes the per-frame table (``--out result.csv`` or ``.parquet``) and a JSON summary (``--summary``, by default
next to the table as ``<stem>.json``), and optionally an annotated video (``--video annotated.mp4``).
"""

from __future__ import annotations

import argparse
import threading
from pathlib import Path

from larnet_core.cli._options import add_analysis_arguments
from larnet_core.errors import LarnetError

TABLE_SUFFIXES = (".csv", ".parquet")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "analyze", help="analyse a clip: per-frame probabilities, facial motion, spotted micro-expressions",
        description="Analyse a video (mp4, avi, mov, webm, mkv), a zip of frame images or a folder of frames.",
    )
    parser.add_argument("clip", help="video file, .zip of frames, or folder of frames")
    parser.add_argument("--checkpoint", required=True, help="model checkpoint (.pt) written by larnet train")
    parser.add_argument("--out", required=True, help="per-frame table: result.csv or result.parquet")
    parser.add_argument("--summary", help="JSON summary path (default: --out with .json)")
    parser.add_argument("--video", help="also write an annotated video here (.mp4)")
    add_analysis_arguments(parser)
    parser.add_argument("--save-session", metavar="NAME",
                        help="also save the whole result as a session of this name (prints its id and edit token)")
    parser.add_argument("--db", metavar="URL", help="sessions database for --save-session (overrides "
                        "LARNET_DATABASE_URL)")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from larnet_core.devices import resolve_device
    from larnet_core.inference import Predictor
    from larnet_core.models import load_checkpoint
    from larnet_core.video import analysis_limits, analyze_clip, render_annotated_video

    out = Path(args.out)
    if out.suffix.lower() not in TABLE_SUFFIXES:
        raise LarnetError(f"--out {out.name}: use a .csv or .parquet file name")
    summary_path = Path(args.summary) if args.summary else out.with_suffix(".json")
    limits, spotting = analysis_limits(args.max_frames, args.max_seconds, args.threshold_p)
    device = resolve_device(args.device)
    predictor = Predictor(load_checkpoint(args.checkpoint, device=device), backend=args.backend)

    cancel = threading.Event()
    with tqdm(total=100, unit="%", desc="analyse", bar_format="{l_bar}{bar}| {n:.0f}% {postfix}") as bar:
        def progress(fraction: float, message: str) -> None:
            bar.n = round(fraction * 100, 1)
            bar.set_postfix_str(message, refresh=False)
            bar.refresh()

        try:
            analysis = analyze_clip(args.clip, predictor, face=args.face, progress=progress, cancel=cancel,
                                    limits=limits, fps=args.fps, spotting=spotting,
                                    max_infer_fps=args.max_infer_fps or None, all_faces=args.all_faces)
        except KeyboardInterrupt:
            cancel.set()
            raise
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".csv":
        analysis.frames.to_csv(out, index=False)
    else:
        analysis.frames.to_parquet(out, index=False)
    summary_path.parent.mkdir(parents=True, exist_ok=True)
    summary_path.write_text(analysis.to_json(), encoding="utf-8")
    if args.video:
        render_annotated_video(args.clip, analysis, args.video, limits=limits)
    pred = analysis.prediction
    kinds = analysis.intervals["kind"].value_counts().to_dict() if len(analysis.intervals) else {}
    with_face = analysis.summary()["frames_with_face"]
    print(f"{analysis.meta.name}: {analysis.meta.frame_count} frames at {analysis.meta.fps:g} fps, face in "
          f"{with_face}; prediction {pred.label} ({pred.confidence:.1%}, {pred.source}); "
          f"{kinds.get('micro', 0)} micro / {kinds.get('macro', 0)} macro interval(s); "
          f"{len(analysis.faces)} face track(s), tracker {analysis.settings.get('tracker')}")
    for row in analysis.intervals.itertuples():
        units = getattr(row, "aus", "") or "no AU"
        rule = getattr(row, "rule_label", "") or "no rule"
        print(f"  {row.apex_s:7.2f} s {row.kind}: {units} ({rule}); model: {row.label} {row.confidence:.2f}")
    if analysis.synthetic:
        print("note: the model was trained on synthetic data (a demo model), not on real micro-expressions")
    for warning in analysis.warnings:
        print(f"warning: {warning}")
    print(f"wrote {out} and {summary_path}" + (f" and {args.video}" if args.video else ""))
    if args.save_session is not None:
        _save_session(analysis, args)
    return 0


def _save_session(analysis, args: argparse.Namespace) -> None:
    """Save the result with the clip (when it is a file the store can keep) and print its id and edit token."""
    from larnet_core.sessions import SessionStore, share_link

    clip = Path(args.clip)
    data = clip.read_bytes() if clip.is_file() else None
    with SessionStore.open(args.db) as store:
        if data is not None and len(data) > store.clip_limit_bytes:
            data = None  # the store would keep only the reference anyway; do not read it twice
        created = store.create(analysis.to_session(args.save_session, clip=data))
    print(f"session: {created.id}")
    print(f"edit token: {created.edit_token}")
    print(f"link: {share_link(created.id)}")
    for notice in created.notices:
        print(f"notice: {notice}")
