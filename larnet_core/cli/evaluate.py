"""``larnet evaluate``: recompute a run's metrics, or score a checkpoint on a dataset."""

from __future__ import annotations

import argparse

from larnet_core.devices import DEVICE_CHOICES
from larnet_core.errors import LarnetError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate", help="recompute a run's metrics, or evaluate --checkpoint on --dataset/--root",
        description="larnet evaluate RUN_DIR  |  larnet evaluate --checkpoint CKPT --dataset casme2 --root PATH "
                    "--labels casme2-7 --out DIR")
    p.add_argument("run_dir", nargs="?", help="run directory whose metrics.json is recomputed from predictions.csv")
    p.add_argument("--checkpoint", help="trained model to evaluate (its sample mode and preprocessing are used)")
    p.add_argument("--dataset", default="casme2", choices=("casme2", "samm", "smic", "casme3", "folder"))
    p.add_argument("--root", help="dataset folder")
    p.add_argument("--labels", default=None, help="label scheme (default: the checkpoint's own)")
    p.add_argument("--out", help="run directory to write")
    p.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from larnet_core.training.evaluate import evaluate_checkpoint, reevaluate_run

    if args.checkpoint:
        if not args.root or not args.out:
            raise LarnetError("--checkpoint needs --root (the dataset folder) and --out (the run directory to write)")
        out = evaluate_checkpoint(args.checkpoint, args.dataset, args.root, args.out, labels=args.labels,
                                  device=args.device, workers=args.workers, progress=not args.no_progress)
        from larnet_core.runs import load_run

        report = load_run(out).metrics
    elif args.run_dir:
        out = args.run_dir
        report = reevaluate_run(out)
    else:
        raise LarnetError("give a RUN_DIR, or --checkpoint CKPT --root DATA --out DIR")
    print(f"{out}: accuracy {report.accuracy:.3f}  UF1 {report.uf1:.3f}  UAR {report.uar:.3f}  "
          f"({report.n_samples} samples)")
    print(report.per_class.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return 0
