"""``larnet spot-eval``: micro-expression spotting precision / recall / F1 at IoU >= 0.5 on long videos."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from larnet_core.errors import LarnetError
from larnet_core.face.inputs import FACE_MODES


DATASET_ALIASES = {"casme2-long": "casme2-long", "cas(me)2": "casme2-long", "casme-sq": "casme2-long"}


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "spot-eval", help="score expression spotting on long videos (CAS(ME)^2 layout) at IoU >= 0.5",
        description="Runs the training-free optical-flow spotting baseline on every long video of a dataset and "
                    "reports precision, recall and F1 (MEGC protocol: a hit needs IoU >= 0.5).",
    )
    parser.add_argument("--dataset", default="casme2-long", choices=sorted(DATASET_ALIASES),
                        help="dataset layout (casme2-long = cas(me)2; `larnet synth OUT --long` writes it)")
    parser.add_argument("--root", required=True, help="dataset folder (holds the code spreadsheet and rawpic/)")
    parser.add_argument("--fps", type=float, default=30.0, help="frame rate of frame folders (CAS(ME)^2: 30)")
    parser.add_argument("--face", default="auto", choices=FACE_MODES,
                        help="face tracking backend (auto: MediaPipe Face Mesh when installed)")
    parser.add_argument("--checkpoint", help="the model whose analysis pipeline is scored (it labels intervals; "
                        "spotting itself uses only facial motion). Default: the bundled demo model")
    parser.add_argument("--iou", type=float, default=0.5, help="IoU a spotted interval needs to count as a hit")
    parser.add_argument("--threshold-p", type=float, help="threshold position p in mean + p*(max-mean) "
                        "(default fixed in SpottingParams; never tune it on the set you report)")
    parser.add_argument("--out", help="write per-video results (.csv) here, every spotted interval next to it "
                        "(<stem>.intervals.csv) and the summary (.json)")
    parser.add_argument("--limit", type=int, help="evaluate only the first N videos")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from larnet_core.data import load_dataset
    from larnet_core.video.spot_eval import evaluate_spotting
    from larnet_core.video.spotting import SpottingParams

    if not 0 < args.iou <= 1:
        raise LarnetError(f"--iou must be in (0, 1], got {args.iou}")
    if args.out:
        from larnet_core.paths import check_output_file

        check_output_file(args.out, "--out")
    records = load_dataset(DATASET_ALIASES[args.dataset], args.root)
    if args.limit:
        records = records[: args.limit]
    if not records:
        raise LarnetError(f"no long videos found under {args.root}; check --root")
    params = SpottingParams() if args.threshold_p is None else SpottingParams(p=args.threshold_p)
    with tqdm(total=len(records), unit="video", desc="spot") as bar:
        def progress(done: int, total: int, name: str) -> None:
            bar.update(done - bar.n)
            bar.set_postfix_str(name)

        result = evaluate_spotting(records, _predictor(args.checkpoint), fps=args.fps, face=args.face, params=params, iou=args.iou,
                                   progress=progress)
    print(f"{len(records)} videos, {result.scores.ground_truth} annotated intervals, {result.scores.spotted} spotted")
    for name, scores in (("overall", result.scores), ("micro", result.micro), ("macro", result.macro)):
        print(f"{name:8s} hits {scores.true_positives:4d}  precision {scores.precision:.3f}  "
              f"recall {scores.recall:.3f}  F1 {scores.f1:.3f}")
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        result.per_video.to_csv(out, index=False)
        intervals = out.with_name(f"{out.stem}.intervals.csv")
        result.intervals.to_csv(intervals, index=False)
        out.with_suffix(".json").write_text(json.dumps(result.to_dict(), indent=2), encoding="utf-8")
        print(f"wrote {out}, {intervals} (every spotted interval, with hit) and {out.with_suffix('.json')}")
    return 0


def _predictor(checkpoint: str | None):
    from larnet_core.inference import Predictor
    from larnet_core.models import load_checkpoint
    from larnet_core.paths import demo_checkpoint_path

    return Predictor(load_checkpoint(checkpoint or demo_checkpoint_path()))
