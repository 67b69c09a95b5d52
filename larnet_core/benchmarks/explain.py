"""``larnet bench explain``: time to compute every map for one face (attention masks, hidden-layer grids and
class activation maps of every stage), beside one plain forward pass of the same model."""

from __future__ import annotations

import argparse

import cv2
import numpy as np
import pandas as pd

from larnet_core.benchmarks import median_ms
from larnet_core.devices import resolve_device
from larnet_core.errors import LarnetError
from larnet_core.face import sample_face_photos
from larnet_core.face.inputs import InputConfig, photo_model_input
from larnet_core.models import ModelCard

DESCRIPTION = "all explanation maps for one face (masks, hidden layers, CAMs) vs a plain forward pass"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", default="larnet-lite", help="model preset, random weights (default larnet-lite)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--repeats", type=int, default=10, help="timed runs per figure (median reported)")
    parser.add_argument("--device", default="cpu", help="cpu | cuda (default cpu)")


def _face(card):
    config = InputConfig.for_card(card)
    for name, photo in sample_face_photos().items():
        try:
            return photo_model_input(photo, config, "auto", what=name)[0].image, name
        except LarnetError:
            continue
    # No sample photo here: a smooth random image exercises the same code paths.
    size = config.size
    noise = np.random.default_rng(0).integers(0, 256, (size // 8, size // 8, 3), dtype=np.uint8)
    return cv2.resize(noise, (size, size), interpolation=cv2.INTER_CUBIC), "random image"


def run(args: argparse.Namespace) -> int:
    # lazy: torch only once the benchmark runs (`larnet bench TARGET --help` imports this module)
    import torch

    from larnet_core.explain import Explainer

    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    card = ModelCard.for_preset(args.preset, [f"class{i}" for i in range(7)])
    model = card.build().to(device).eval()
    explainer = Explainer((model, card))
    face, source = _face(card)
    batch = torch.from_numpy(explainer.preprocess([face])).to(device)

    def forward() -> None:
        with torch.inference_mode():
            model(batch)

    figures = {
        "forward (reference)": forward,
        "attention_maps": lambda: explainer.attention_maps(face),
        "hidden_layers (all stages, k=16)": lambda: explainer.hidden_layers(face, k=16),
        "grad_cam (last stage)": lambda: explainer.grad_cam(face),
        "all maps: explain(gradcam)": lambda: explainer.explain(face, methods=("gradcam",)),
        "all maps: explain(gradcam, gradcam++, eigencam)":
            lambda: explainer.explain(face, methods=("gradcam", "gradcam++", "eigencam")),
        "mean_absolute_response (1 face)": lambda: explainer.mean_absolute_response([face]),
    }
    rows = [{"what": what, "median_ms": median_ms(fn, repeats=args.repeats, warmup=2)} for what, fn in figures.items()]
    table = pd.DataFrame(rows)
    table["vs_forward"] = table["median_ms"] / table["median_ms"].iloc[0]
    print(f"{args.preset} at {card.input_size} px, aligned face from {source}, device {device}, "
          f"{args.threads} threads, median of {args.repeats} runs, torch {torch.__version__}")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    return 0
