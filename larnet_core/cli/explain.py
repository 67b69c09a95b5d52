"""``larnet explain IMAGE --checkpoint CKPT --out DIR``: attention masks, hidden layers and CAMs as PNG files."""

from __future__ import annotations

import argparse
from pathlib import Path

from tqdm import tqdm

from larnet_core.devices import DEVICE_CHOICES, resolve_device
from larnet_core.errors import LarnetError
from larnet_core.face.inputs import FACE_MODES, InputConfig, photo_model_input
from larnet_core.paths import check_output_dir
from larnet_core.result import SYNTHETIC_SHORT

DEFAULT_METHODS = ("gradcam", "gradcam++", "eigencam")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _opacity(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "explain", help="attention masks, hidden layers and Grad-CAM of one face image, as PNG files + JSON index",
        description="Find the face in IMAGE, run the model and write its attention masks (masks/), most active "
                    "feature maps per stage (hidden/) and class activation maps (cams/) as PNG files, with an "
                    "index.json describing every file and the prediction.",
    )
    parser.add_argument("image", type=Path, help="photo or face crop (PNG, JPEG ...)")
    parser.add_argument("--checkpoint", type=Path, required=True, help="model checkpoint (.pt)")
    parser.add_argument("--out", type=Path, required=True, help="output folder (created)")
    parser.add_argument("--face", choices=FACE_MODES, default="auto",
                        help="face detector (auto: MediaPipe when installed, else MTCNN, else Haar), or 'none' when "
                             "IMAGE already is a face crop. The face is aligned exactly as in clip analysis")
    parser.add_argument("--reference", type=Path, help="onset (reference) image, for models trained on optical flow")
    parser.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS), metavar="METHOD",
                        help=f"CAM methods (default: {' '.join(DEFAULT_METHODS)}; also xgradcam, layercam, "
                             "hirescam, eigengradcam)")
    parser.add_argument("--target", help="class (name or index) the CAMs explain (default: the predicted one)")
    parser.add_argument("--top-k", type=_positive, default=16, help="feature maps per stage grid (default 16)")
    parser.add_argument("--alpha", type=_opacity, default=0.5, help="overlay opacity 0-1 (default 0.5)")
    parser.add_argument("--stretch-masks", action="store_true",
                        help="min-max scale each attention mask before colouring it (shows where, hides how much)")
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto", help="where the model runs")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    # lazy: torch only when the command runs (`larnet --help` imports every command module)
    from larnet_core.explain import Explainer, read_image
    from larnet_core.explain.cam import check_method
    from larnet_core.explain.export import save_explanation
    from larnet_core.models import load_checkpoint

    check_output_dir(args.out, "--out")
    device = resolve_device(args.device)
    try:
        methods = [check_method(m) for m in args.methods]
    except ValueError as exc:
        raise LarnetError(str(exc)) from None
    with tqdm(total=4, desc="explain", unit="step") as progress:
        progress.set_postfix_str("loading")
        image = read_image(args.image)
        loaded = load_checkpoint(args.checkpoint, device=device)
        explainer = Explainer(loaded)
        target = explainer.class_index(args.target) if args.target is not None else None
        progress.update()
        progress.set_postfix_str("finding the face")
        reference = read_image(args.reference) if args.reference is not None else None
        model_input, detection = photo_model_input(image, InputConfig.for_card(loaded.card), args.face, reference,
                                                   what=str(args.image))
        face = model_input.image
        progress.update()
        progress.set_postfix_str("computing maps")
        explanation = explainer.explain(face, target_class=target, methods=methods, k=args.top_k,
                                        alpha=args.alpha)
        responses = explainer.mean_absolute_response([face])
        progress.update()
        progress.set_postfix_str("writing")
        meta = {
            "image": str(args.image),
            "face": None if detection is None else {
                "detector": args.face, "box": [round(v, 2) for v in detection.box], "score": detection.score,
                "aligned": model_input.aligned, "matrix": [[round(v, 6) for v in r] for r in model_input.matrix]},
            "model": {
                "checkpoint": str(args.checkpoint),
                "sha256": loaded.sha256,
                "preset": loaded.card.preset,
                "class_names": loaded.card.class_names,
                "synthetic": loaded.card.synthetic,
                "training_data": loaded.card.training_data,
            },
            "device": str(device),
        }
        index = save_explanation(explanation, args.out, responses=responses, meta=meta, alpha=args.alpha,
                                 stretch_masks=args.stretch_masks)
        progress.update()
    files = 1 + len(index["masks"]) + len(index["hidden"]) + len(index["cams"])

    note = f" ({SYNTHETIC_SHORT})" if loaded.card.synthetic else ""
    print(f"prediction: {explanation.label} ({explanation.probabilities[explanation.label]:.1%}){note}")
    print(f"wrote {files} PNG files and {args.out / 'index.json'}")
    return 0
