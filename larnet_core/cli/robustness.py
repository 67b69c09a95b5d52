"""``larnet robustness``: accuracy of a checkpoint on a labelled set at 1080p, 720p and 480p (paper Table 3)."""

from __future__ import annotations

import argparse
from pathlib import Path

from tqdm import tqdm

from larnet_core.data import apply_scheme, load_dataset
from larnet_core.devices import DEVICE_CHOICES, resolve_device
from larnet_core.errors import LarnetError
from larnet_core.face.inputs import FACE_MODES
from larnet_core.inference import Predictor
from larnet_core.paths import check_output_file
from larnet_core.result import SYNTHETIC_NOTICE
from larnet_core.training.robustness import resolution_robustness


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "robustness", help="accuracy per resolution (1080p/720p/480p) on a labelled set, as the paper's Table 3",
        description="Re-runs a labelled set with every frame downscaled from --reference-height lines to each "
                    "resolution, and reports accuracy, UF1 and UAR per resolution.",
    )
    parser.add_argument("--checkpoint", required=True, help="model checkpoint (.pt)")
    parser.add_argument("--dataset", default="casme2", help="dataset loader (casme2, samm, smic, casme3, folder)")
    parser.add_argument("--root", required=True, help="dataset folder")
    parser.add_argument("--scheme", help="label scheme (default: the checkpoint's)")
    parser.add_argument("--resolutions", type=int, nargs="+", default=[1080, 720, 480], help="frame heights")
    parser.add_argument("--reference-height", type=int, default=1080,
                        help="frame height the dataset's frames stand for (default 1080)")
    parser.add_argument("--face", default="none", choices=FACE_MODES,
                        help="none: frames are face crops (CASME II); else find the face and align it as clip "
                             "analysis does")
    parser.add_argument("--subjects", nargs="*", help="only these subjects (e.g. a held-out test split)")
    parser.add_argument("--limit", type=int, help="only the first N clips")
    parser.add_argument("--out", help="write the per-resolution table (.csv) and predictions beside it")
    parser.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    parser.add_argument("--backend", default="auto", choices=("auto", "torch", "onnxruntime"))
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    # lazy: torch only when the command runs (`larnet --help` imports every command module)
    from larnet_core.models import load_checkpoint

    if any(r <= 0 for r in args.resolutions) or args.reference_height <= 0:
        raise LarnetError("--resolutions and --reference-height must be positive frame heights")
    if args.out:
        check_output_file(args.out, "--out")
    predictor = Predictor(load_checkpoint(args.checkpoint, device=resolve_device(args.device)), backend=args.backend)
    card = predictor.card
    scheme = args.scheme or card.label_scheme
    if not scheme:
        raise LarnetError(f"{args.checkpoint} names no label scheme; pass --scheme (e.g. casme2-5)")
    records = apply_scheme(load_dataset(args.dataset, args.root), scheme)
    records = [r for r in records if r.label in card.class_names] or records  # none left: the engine explains
    if args.subjects:
        records = [r for r in records if r.subject in set(args.subjects)]
    if args.limit:
        records = records[: args.limit]
    with tqdm(total=len(records), unit="clip", desc="robustness") as bar:
        result = resolution_robustness(records, predictor, resolutions=args.resolutions,
                                       reference_height=args.reference_height, face=args.face,
                                       progress=lambda done, total: bar.update(done - bar.n))
    print(f"{card.preset} on {result.table['n'].iloc[0]} clips of {args.dataset} ({scheme}); frames taken as "
          f"{args.reference_height}p")
    print(result.table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if card.synthetic:
        print(f"note: {SYNTHETIC_NOTICE}")
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        result.table.to_csv(out, index=False)
        result.predictions.to_csv(out.with_name(out.stem + "_predictions.csv"), index=False)
        print(f"wrote {out} and {out.with_name(out.stem + '_predictions.csv')}")
    return 0
