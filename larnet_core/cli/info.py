"""``larnet info``: versions and presets with their parameter and multiply-add counts."""

from __future__ import annotations

import json
import platform
import sys

from larnet_core import __version__


def register(subparsers) -> None:
    parser = subparsers.add_parser("info", help="versions, devices and model presets (params, MACs)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=_run)


def _run(args) -> int:
    # lazy: torch only when the command runs (`larnet --help` imports every command module)
    import torch

    from larnet_core.models import MODEL_CONFIGS, build_model, complexity

    presets = []
    for name, cfg in MODEL_CONFIGS.items():
        params, macs = complexity(build_model(name), cfg.input_size)
        presets.append({"name": name, "input_size": cfg.input_size, "params": params, "macs": macs,
                        "stages": list(cfg.stages), "description": cfg.description})
    info = {
        "larnet_studio": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "cuda_available": torch.cuda.is_available(),
        "threads": torch.get_num_threads(),
        "presets": presets,
    }
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    for key in ("larnet_studio", "python", "platform", "torch", "cuda_available", "threads"):
        print(f"{key:>14}: {info[key]}")
    print(f"\n{'preset':<12} {'input':>5} {'params':>9} {'MACs':>9}  description")
    for p in presets:
        print(f"{p['name']:<12} {p['input_size']:>5} {p['params'] / 1e6:>8.2f}M {p['macs'] / 1e9:>8.3f}G  {p['description']}")
    return 0
