"""``larnet analyze CLIP``: per-frame probabilities, motion and spotted intervals of one clip.

Writes the per-frame table (``--out result.csv`` or ``.parquet``) and a JSON summary (``--summary``, by default
next to the table as ``<stem>.json``), and optionally an annotated video (``--video annotated.mp4``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
import threading

from tqdm import tqdm

from larnet_core import storage
from larnet_core.aus.names import units_at, units_text
from larnet_core.cli._options import add_analysis_arguments
from larnet_core.errors import LarnetError
from larnet_core.inference import Predictor, load_for_inference
from larnet_core.paths import check_output_file
from larnet_core.result import SYNTHETIC_NOTICE
from larnet_core.video import analyze_clip, render_annotated_video
from larnet_core.video.settings import AnalysisSettings


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
    out = Path(args.out)
    if out.suffix.lower() not in storage.TABLE_SUFFIXES:
        raise LarnetError(f"--out {out.name}: use a .csv or .parquet file name")
    summary_path = Path(args.summary) if args.summary else out.with_suffix(".json")
    # Every output is checked before the analysis: a path that cannot be written must not cost the result.
    check_output_file(out, "--out")
    check_output_file(summary_path, "--summary")
    if args.video:
        check_output_file(Path(args.video), "--video")
    if args.save_session is not None:
        # lazy: SQLAlchemy only when the command runs (`larnet --help` imports every command module)
        from larnet_core.sessions import SessionStore

        SessionStore.open(args.db).close()  # reachable, and a sessions database
    settings = AnalysisSettings.from_args(args)
    predictor = Predictor(load_for_inference(args.checkpoint, device=args.device, backend=settings.backend),
                          backend=settings.backend)

    cancel = threading.Event()
    with tqdm(total=100, unit="%", desc="analyse", bar_format="{l_bar}{bar}| {n:.0f}% {postfix}") as bar:
        def progress(fraction: float, message: str) -> None:
            bar.n = round(fraction * 100, 1)
            bar.set_postfix_str(message, refresh=False)
            bar.refresh()

        try:
            analysis = analyze_clip(args.clip, predictor, progress=progress, cancel=cancel,
                                    **settings.analyze_kwargs())
        except KeyboardInterrupt:
            cancel.set()
            raise
    storage.write(analysis, out, summary=summary_path)
    if args.video:
        render_annotated_video(args.clip, analysis, args.video, limits=settings.limits)
    pred = analysis.prediction
    kinds = analysis.intervals["kind"].value_counts().to_dict() if len(analysis.intervals) else {}
    with_face = analysis.summary()["frames_with_face"]
    print(f"{analysis.meta.name}: {analysis.meta.frame_count} frames at {analysis.meta.fps:g} fps, face in "
          f"{with_face}; prediction {pred.label} ({pred.confidence:.1%}, {pred.source}); "
          f"{kinds.get('micro', 0)} micro / {kinds.get('macro', 0)} macro interval(s); "
          f"{len(analysis.faces)} face track(s), tracker {analysis.settings.get('tracker')}")
    for row in analysis.intervals.itertuples():
        table = analysis.tables.get(getattr(row, "face_id", None), analysis.frames)
        units = units_text(getattr(row, "aus", "") or "", units_at(table, row.apex_frame))
        rule = getattr(row, "rule_label", "") or "no rule"
        print(f"  {row.apex_s:7.2f} s {row.kind}: {units} ({rule}); model: {row.label} {row.confidence:.2f}")
    if analysis.synthetic:
        print(f"note: {SYNTHETIC_NOTICE}")
    for warning in analysis.warnings:
        print(f"warning: {warning}")
    print(f"wrote {out} and {summary_path}" + (f" and {args.video}" if args.video else ""))
    if args.save_session is not None:
        _save_session(analysis, args)
    return 0


def _save_session(analysis, args: argparse.Namespace) -> None:
    """Save the result with the clip (when it is a file the store can keep) and print its id and edit token."""
    # lazy: SQLAlchemy only when the command runs (`larnet --help` imports every command module)
    from larnet_core.sessions import SessionStore, share_link

    clip = Path(args.clip)
    data = clip.read_bytes() if clip.is_file() else None
    with SessionStore.open(args.db) as store:
        if data is not None and len(data) > store.clip_limit_bytes:
            data = None  # the store would keep only the reference anyway; do not read it twice
        created = storage.write(analysis, store, name=args.save_session, clip=data)
    print(f"session: {created.id}")
    print(f"edit token: {created.edit_token}")
    print(f"link: {share_link(created.id)}")
    for notice in created.notices:
        print(f"notice: {notice}")
