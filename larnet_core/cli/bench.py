"""``larnet bench TARGET``: run one of the benchmarks in :mod:`larnet_core.benchmarks`."""

from __future__ import annotations

import importlib
import pkgutil

import larnet_core.benchmarks as benchmarks


def register(subparsers) -> None:
    parser = subparsers.add_parser("bench", help="print performance figures (model, clip, live, explain ...)")
    targets = parser.add_subparsers(dest="target", metavar="TARGET", required=True)
    for info in sorted(pkgutil.iter_modules(benchmarks.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{benchmarks.__name__}.{info.name}")
        if not hasattr(module, "run"):
            continue
        sub = targets.add_parser(info.name, help=getattr(module, "DESCRIPTION", ""))
        module.add_arguments(sub)
        sub.set_defaults(func=module.run)
