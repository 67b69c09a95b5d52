"""``larnet train``: train a model (or the LBP-TOP + SVM baseline) and write a run directory.

Defaults are the LARNet paper's recipe (Nesterov SGD, lr 0.01, momentum 0.9, weight decay 1e-4, batch 64,
pad-4 crops + flips + mean subtraction, L2 kernel penalty 0.01, 12,000 iterations). Runs unchanged under
``torchrun --nproc_per_node N`` with DistributedDataParallel.

One dataset: --dataset casme2 --root PATH. The MEGC composite (LOSO over the subjects of all three, UF1/UAR
pooled and per dataset): --data casme2=PATH --data samm=PATH --data smic=PATH --labels megc-3 --protocol loso.
"""

from __future__ import annotations

import argparse
import os

from larnet_core.devices import DEVICE_CHOICES
from larnet_core.errors import LarnetError
from larnet_core.paths import check_output_dir, check_output_file
from larnet_core.training.config import FACE_CHOICES, FLOW_CHOICES

DATASETS = ("casme2", "samm", "smic", "casme3", "folder")


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="train a model under hold-out or LOSO and write a run directory",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_arguments(p)
    p.add_argument("--labels", default="casme2-7", help="label scheme: casme2-7, casme2-5, megc-3")
    p.add_argument("--model", default="larnet-lite",
                   help="preset (larnet-lite, larnet, emoresnet, attention56, attention92), a baseline "
                        "(resnet18, ststnet, off-apexnet) or lbptop-svm")
    p.add_argument("--protocol", choices=("holdout", "loso"), default="holdout")
    p.add_argument("--out", required=True, help="run directory to write")
    p.add_argument("--iterations", type=int, default=12000, help="optimiser steps per model (paper: 12000)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--l2-kernel", type=float, default=0.01, help="L2 kernel penalty coefficient (0 = off)")
    p.add_argument("--lr-schedule", choices=("constant", "cosine"), default="constant")
    p.add_argument("--warmup", type=int, default=0, help="linear warm-up iterations")
    p.add_argument("--sample-mode", choices=("apex", "frames", "flow"), default="apex",
                   help="apex frame, every onset..offset frame (combined per clip before scoring), or onset->apex "
                        "flow + strain")
    p.add_argument("--flow", choices=FLOW_CHOICES, default="tvl1",
                   help="optical flow of flow samples: tvl1 (the field's; cached) or farneback (fast)")
    p.add_argument("--flow-cache", default=None,
                   help="folder of the flow-sample cache (default: $LARNET_DATA_DIR/cache/flow; '' = none)")
    p.add_argument("--face", choices=FACE_CHOICES, default="none",
                   help="none: frames are face-filled crops, taken whole (CASME II's cropped set); a detector (auto = "
                        "MediaPipe when installed): every sample is the face aligned exactly as clip analysis and "
                        "live video align it")
    p.add_argument("--input-size", type=int, default=None, help="input side in pixels (default: the preset's)")
    p.add_argument("--pad", type=int, default=4, help="reflect padding of the random crop (0 = no crops)")
    p.add_argument("--no-flip", action="store_true", help="no random horizontal flips")
    p.add_argument("--seed", type=int, default=0, help="seeds the split, initialisation, sampling and augmentation")
    p.add_argument("--split-seed", type=int, default=None,
                   help="seed of the subject split alone (default: --seed); vary --seed with a fixed --split-seed to "
                        "train several seeds on one split")
    p.add_argument("--workers", type=int, default=2, help="DataLoader workers decoding images")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--test-fraction", type=float, default=0.2, help="hold-out: share of subjects for testing")
    p.add_argument("--val-fraction", type=float, default=0.0,
                   help="share of the TRAINING subjects kept for validation (never the test subjects)")
    p.add_argument("--select", choices=("last", "val"), default="last",
                   help="weights kept: the fixed schedule's last, or the best validation UF1")
    p.add_argument("--eval-every", type=int, default=0, help="iterations between validation passes")
    p.add_argument("--checkpoint-every", type=int, default=500, help="iterations between last.pt saves")
    p.add_argument("--log-every", type=int, default=10, help="iterations between history rows")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run from OUT/last.pt")
    p.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    p.add_argument("--attention", default="mixed", help="mask activation: mixed, channel, spatial")
    p.add_argument("--naive-attention", action="store_true",
                   help="attention presets: naive M*T attention (paper eq. 1) instead of residual (1+M)*T (eq. 3)")
    p.add_argument("--half", action="store_true", help="store model.pt in float16")
    p.add_argument("--checkpoint-to", default=None, help="write the hold-out model here instead of OUT/model.pt")
    p.add_argument("--synthetic", action="store_true", default=None,
                   help="mark the data as synthetic (detected automatically from the generator's manifest)")
    p.add_argument("--training-data", default=None, help="model-card text describing the training data")
    p.add_argument("--name", default=None, help="display name of the run")
    p.add_argument("--svm-c", type=float, default=1.0, help="C of the lbptop-svm baseline")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_run)


def add_data_arguments(p: argparse.ArgumentParser) -> None:
    """--dataset/--root for one set, --data NAME=ROOT (repeatable) for several."""
    p.add_argument("--dataset", choices=DATASETS, default="casme2", help="dataset loader of --root")
    p.add_argument("--root", default=None, help="dataset folder (one dataset)")
    p.add_argument("--data", action="append", default=[], metavar="NAME=ROOT",
                   help="a dataset of a composite, repeatable: --data casme2=PATH --data samm=PATH --data smic=PATH "
                        f"(names: {', '.join(DATASETS)})")


def data_sources(args: argparse.Namespace) -> dict[str, str]:
    """The --data sources, or {} when --dataset/--root are used; LarnetError for a bad or missing choice."""
    # lazy: scikit-learn only when the command runs (`larnet --help` imports every command module)
    from larnet_core.training.protocol import parse_data_options

    if args.data and args.root:
        raise LarnetError("give either --dataset/--root (one dataset) or --data NAME=ROOT (several), not both")
    sources = parse_data_options(args.data)
    unknown = sorted(set(sources) - set(DATASETS))
    if unknown:
        raise LarnetError(f"--data names unknown dataset(s) {', '.join(unknown)}; use {', '.join(DATASETS)}")
    if not sources and not args.root:
        raise LarnetError("no data: pass --root DATASET_FOLDER (with --dataset), or --data NAME=ROOT per dataset")
    return sources


def _run(args: argparse.Namespace) -> int:
    # lazy: torch only when the command runs (`larnet --help` imports every command module)
    from larnet_core.training import TrainConfig, train

    check_output_dir(args.out, "--out")
    if args.checkpoint_to:
        check_output_file(args.checkpoint_to, "--checkpoint-to")
    data = data_sources(args)
    try:
        config = TrainConfig(
            dataset=args.dataset, root=args.root or "", data=data, labels=args.labels, model=args.model,
            protocol=args.protocol,
            out=args.out, iterations=args.iterations, batch_size=args.batch_size, lr=args.lr,
            momentum=args.momentum, weight_decay=args.weight_decay, l2_kernel=args.l2_kernel,
            lr_schedule=args.lr_schedule, warmup=args.warmup, sample_mode=args.sample_mode, flow=args.flow,
            flow_cache=args.flow_cache, face=args.face,
            input_size=args.input_size, pad=args.pad, flip=not args.no_flip, seed=args.seed, split_seed=args.split_seed, workers=args.workers, threads=args.threads,
            test_fraction=args.test_fraction, val_fraction=args.val_fraction, select=args.select,
            eval_every=args.eval_every, checkpoint_every=args.checkpoint_every, log_every=args.log_every,
            device=args.device, attention=args.attention, naive_attention=args.naive_attention, half=args.half,
            synthetic=args.synthetic,
            training_data=args.training_data, name=args.name, svm_c=args.svm_c,
        )
    except ValueError as exc:
        raise LarnetError(str(exc)) from None
    out = train(config, resume=args.resume, progress=not args.no_progress, checkpoint_to=args.checkpoint_to)

    if int(os.environ.get("RANK", "0")) == 0:
        # lazy: scikit-learn only when the command runs (`larnet --help` imports every command module)
        from larnet_core.runs import load_run

        run = load_run(out)
        print_scores(out, run.metrics, config.protocol)
    return 0


def print_scores(out, m, protocol: str) -> None:
    """The headline line, one line per dataset of a composite, and the labelled frame-level figures."""
    print(f"{out}: accuracy {m.accuracy:.3f}  UF1 {m.uf1:.3f}  UAR {m.uar:.3f}  "
          f"({m.n_samples} test clips, {protocol}{', SYNTHETIC data' if m.extra.get('synthetic') else ''})")
    if len(m.per_dataset) > 1:
        for row in m.per_dataset.itertuples(index=False):
            print(f"  {row.dataset:<8} UF1 {row.uf1:.3f}  UAR {row.uar:.3f}  accuracy {row.accuracy:.3f}  "
                  f"({row.n} clips, {row.n_subjects} subjects)")
    frame = m.extra.get("frame_level")
    if frame:
        print(f"  frame level (each frame its own prediction, not comparable with published results): "
              f"accuracy {frame['accuracy']:.3f}  UF1 {frame['uf1']:.3f}  UAR {frame['uar']:.3f} "
              f"({frame['n_samples']} frames)")
