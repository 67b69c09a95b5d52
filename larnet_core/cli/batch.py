"""``larnet batch INPUT... --checkpoint CKPT --out DIR``: analyse many clips, resumably, locally or on Ray.

Writes ``DIR/summary.parquet`` (one row per clip) and the per-frame, interval and face tables as Parquet datasets
partitioned by clip (``pd.read_parquet("DIR/frames")``). A rerun keeps every clip whose input and settings did not
change. Exit code 0 when every clip was analysed, 1 when any failed (their rows say why), 2 on a usage error.
"""

from __future__ import annotations

import argparse
import sys

from tqdm import tqdm

from larnet_core.batch import run_batch
from larnet_core.cli._options import add_analysis_arguments
from larnet_core.paths import check_output_dir
from larnet_core.video.settings import AnalysisSettings


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "batch", help="analyse many clips (files, folders, a CSV manifest) into Parquet; resumable; workers or Ray",
        description="Analyse every clip of the inputs into an output folder: summary.parquet (one row per clip) "
                    "and the frames/, intervals/ and faces/ datasets partitioned by clip. Run it again to resume: "
                    "finished clips whose input and settings are unchanged are kept. See docs/scale.md.",
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="video file or zip of frames, folder (searched recursively), or CSV manifest with a "
                             "'path' column (optional 'subject' and 'label' columns are carried through)")
    parser.add_argument("--checkpoint", required=True, help="model checkpoint (.pt) written by larnet train")
    parser.add_argument("--out", required=True, help="output folder (created; reused to resume)")
    parser.add_argument("--workers", type=int, default=1,
                        help="worker processes, each holding the model (with --ray: actors; default one per CPU)")
    parser.add_argument("--threads", type=int, default=1, help="inference / OpenCV threads per worker (default 1)")
    parser.add_argument("--ray", metavar="ADDRESS",
                        help="run on a Ray cluster (head:6379, ray://head:10001, auto) or 'local' (a Ray instance "
                             "on this machine); needs pip install .[ray]")
    parser.add_argument("--ext", action="append", metavar="EXT",
                        help="file ending to search folders for (repeat; default: the video formats and .zip)")
    parser.add_argument("--retry-failed", action="store_true",
                        help="analyse again clips that failed on their input (by default kept as failed)")
    add_analysis_arguments(parser)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (logs and CI)")
    parser.set_defaults(func=_run)


def _settings(args: argparse.Namespace):
    return AnalysisSettings.from_args(args)


def _run(args: argparse.Namespace) -> int:
    check_output_dir(args.out, "--out")
    bar: list[tqdm] = []

    def progress(state, row) -> None:
        if args.no_progress:
            return
        if not bar:
            bar.append(tqdm(total=state.to_do, unit="clip", desc="batch", file=sys.stderr, dynamic_ncols=True))
            if state.kept:
                bar[0].write(f"{state.kept} of {state.total} clip(s) already done; {state.to_do} to check or analyse")
            return
        bar[0].set_postfix_str(f"failed {state.failed}, unchanged {state.unchanged}", refresh=False)
        bar[0].update(1)

    try:
        report = run_batch(args.inputs, args.checkpoint, args.out, settings=_settings(args), workers=args.workers,
                           threads=args.threads, ray=args.ray, retry_failed=args.retry_failed, extensions=args.ext,
                           device=args.device, progress=progress)
    finally:
        if bar:
            bar[0].close()
    mine = report.summary  # every clip the folder holds
    ok = int((mine["status"] == "ok").sum())
    print(f"{len(mine)} clip(s) in {report.out}: {ok} analysed, {report.failed} failed; this run analysed "
          f"{report.analysed} and kept {report.kept} in {report.elapsed_s:.1f} s")
    for _, row in mine[mine["status"] == "failed"].head(20).iterrows():
        print(f"failed: {row['source']}: {row['error']}")
    if report.failed > 20:
        print(f"... and {report.failed - 20} more (see the summary's error column)")
    print(f"wrote {report.out / 'summary.parquet'} and the frames/, intervals/, faces/ datasets")
    return 0 if report.ok else 1
