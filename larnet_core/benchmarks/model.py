"""``larnet bench model``: batch-1 CPU latency of every preset beside torchvision's ResNets, and load time."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

from larnet_core.benchmarks import median_ms
from larnet_core.inference import Predictor
from larnet_core.models import ModelCard, attention_models, build_model, complexity, load_checkpoint, save_checkpoint
from larnet_core.models.checkpoint import LoadedModel

DESCRIPTION = "batch-1 latency of every preset vs torchvision resnet18/resnet50 at the same input size"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=int, default=2, help="torch / onnxruntime threads (default 2)")
    parser.add_argument("--repeats", type=int, default=15, help="timed runs per model (median reported)")
    parser.add_argument("--models", nargs="*", default=attention_models(),
                        help="presets to time (default: the LARNet family; torchvision ResNets are the reference)")


def _torch_ms(model: torch.nn.Module, size: int, repeats: int) -> float:
    x = torch.rand(1, 3, size, size)
    model.eval()
    with torch.inference_mode():
        return median_ms(lambda: model(x), repeats=repeats)


def _onnx_ms(model: torch.nn.Module, size: int, repeats: int, threads: int) -> float:
    card = ModelCard(preset="bench", class_names=["c"] * model_classes(model), input_size=size)

    predictor = Predictor(LoadedModel(model.eval(), card), backend="onnxruntime", threads=threads)
    batch = predictor.preprocess([torch.randint(0, 255, (size, size, 3), dtype=torch.uint8).numpy()])
    return median_ms(lambda: predictor.logits(batch), repeats=repeats)


def model_classes(model: torch.nn.Module) -> int:
    last = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
    return last.out_features


def _load_seconds(preset: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.pt"
        card = ModelCard.for_preset(preset, [f"class{i}" for i in range(7)])
        save_checkpoint(card.build(), card, path)
        start = time.perf_counter()
        load_checkpoint(path)
        return time.perf_counter() - start


def run(args: argparse.Namespace) -> int:
    # lazy: torchvision only once the benchmark runs (`larnet bench TARGET --help` imports this module)
    import torchvision

    torch.set_num_threads(args.threads)
    rows = []
    for name in args.models:
        model = build_model(name).eval()
        size = model.default_cfg.input_size
        params, macs = complexity(model, size)
        r18 = torchvision.models.resnet18(num_classes=7).eval()
        r50 = torchvision.models.resnet50(num_classes=7).eval()
        row = {
            "model": name,
            "input": size,
            "params_M": params / 1e6,
            "GMACs": macs / 1e9,
            "torch_ms": _torch_ms(model, size, args.repeats),
            "resnet18_torch_ms": _torch_ms(r18, size, args.repeats),
            "resnet50_torch_ms": _torch_ms(r50, size, args.repeats),
            "load_s": _load_seconds(name),
        }
        if name == "larnet-lite":
            row["onnxruntime_ms"] = _onnx_ms(model, size, args.repeats, args.threads)
            row["resnet18_onnxruntime_ms"] = _onnx_ms(r18, size, args.repeats, args.threads)
        rows.append(row)
    table = pd.DataFrame(rows)
    table["vs_resnet18"] = table["torch_ms"] / table["resnet18_torch_ms"]
    table["vs_resnet50"] = table["torch_ms"] / table["resnet50_torch_ms"]
    if "onnxruntime_ms" in table:
        table["ort_vs_resnet18_ort"] = table["onnxruntime_ms"] / table["resnet18_onnxruntime_ms"]
    print(f"batch 1, {args.threads} threads, median of {args.repeats} runs, torch {torch.__version__}")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    return 0
