"""``larnet bench train``: training throughput (images/s) of full SGD steps on random data, per preset."""

from __future__ import annotations

import argparse
import time

import pandas as pd
import torch

from larnet_core.devices import resolve_device
from larnet_core.models import build_model

DESCRIPTION = "training throughput (images/s) of larnet-lite, larnet and resnet18: forward, backward, SGD step"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    parser.add_argument("--models", nargs="*", default=["larnet-lite", "larnet"], help="presets to time")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--input-size", type=int, default=None, help="input side (default: each preset's)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per model (median reported)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")


def _images_per_second(name: str, size: int | None, batch: int, steps: int, device: torch.device) -> dict:
    # lazy: scikit-learn only once the benchmark runs (`larnet bench TARGET --help` imports this module)
    from larnet_core.training.loop import param_groups

    model = build_model(name).to(device).train()
    side = size or model.default_cfg.input_size
    optimizer = torch.optim.SGD(param_groups(model, 1e-4, 0.01), lr=0.01, momentum=0.9, nesterov=True)
    x = torch.randn(batch, 3, side, side, device=device)
    y = torch.randint(0, 7, (batch,), device=device)

    def step() -> None:
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()

    step()  # warm-up: allocator, kernels
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    median = sorted(times)[len(times) // 2]
    return {"model": name, "input": side, "batch": batch, "step_s": median, "images_per_s": batch / median}


def run(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    rows = [_images_per_second(n, args.input_size, args.batch_size, args.steps, device) for n in args.models]
    print(f"training steps on {device}, {args.threads} threads, median of {args.steps}, torch {torch.__version__}")
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    return 0
