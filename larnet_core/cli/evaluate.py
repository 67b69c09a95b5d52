"""``larnet evaluate``: recompute a run's metrics, or score a checkpoint on a dataset or composite."""

from __future__ import annotations

import argparse
import sys

from larnet_core.cli.train import add_data_arguments, data_sources, print_scores
from larnet_core.devices import DEVICE_CHOICES
from larnet_core.errors import LarnetError
from larnet_core.paths import check_output_dir


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate", help="recompute a run's metrics, or evaluate --checkpoint on --dataset/--root or --data",
        description="larnet evaluate RUN_DIR  |  larnet evaluate --checkpoint CKPT --dataset casme2 --root PATH "
                    "--labels casme2-7 --out DIR  |  larnet evaluate --checkpoint CKPT --data casme2=PATH "
                    "--data samm=PATH --data smic=PATH --labels megc-3 --out DIR")
    p.add_argument("run_dir", nargs="?", help="run directory whose metrics.json is recomputed from predictions.csv")
    p.add_argument("--checkpoint", help="trained model to evaluate (its sample mode and preprocessing are used)")
    add_data_arguments(p)
    p.add_argument("--labels", default=None, help="label scheme (default: the checkpoint's own)")
    p.add_argument("--out", help="run directory to write")
    p.add_argument("--flow-cache", default=None,
                   help="folder of the flow-sample cache (default: $LARNET_DATA_DIR/cache/flow; '' = none)")
    p.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    # lazy: scikit-learn only when the command runs (`larnet --help` imports every command module)
    from larnet_core.runs import load_run
    from larnet_core.training.evaluate import evaluate_checkpoint, reevaluate_run

    if args.checkpoint:
        if not args.out:
            raise LarnetError("--checkpoint needs --out (the run directory to write) and the data: --root (with "
                              "--dataset) or --data NAME=ROOT")
        check_output_dir(args.out, "--out")
        data = data_sources(args)
        out = evaluate_checkpoint(args.checkpoint, args.dataset, args.root, args.out, labels=args.labels,
                                  device=args.device, workers=args.workers, progress=not args.no_progress,
                                  data=data or None, flow_cache=args.flow_cache)
        run = load_run(out)
        report = run.metrics
        overlap = run.config.get("training_subject_overlap")
        if overlap:
            print(f"warning: {len(overlap['subjects'])} of the {overlap['n_evaluated_subjects']} evaluated subjects "
                  f"({overlap['n_clips']} of {overlap['n_total_clips']} clips) trained or validated this "
                  "checkpoint; their scores are not subject-independent", file=sys.stderr)
        protocol = "external"
    elif args.run_dir:
        out = args.run_dir
        report = reevaluate_run(out)
        protocol = str(report.extra.get("protocol", ""))
    else:
        raise LarnetError("give a RUN_DIR, or --checkpoint CKPT --root DATA --out DIR")
    print_scores(out, report, protocol)
    print(report.per_class.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return 0
