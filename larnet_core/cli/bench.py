"""``larnet bench TARGET``: run one of the benchmarks in :mod:`larnet_core.benchmarks`.

Targets are listed without importing them (they pull in torch and friends), so ``larnet --help`` stays fast; the
chosen target's own options are parsed after it is imported.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil

import larnet_core.benchmarks as benchmarks


def _targets() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__) if not m.name.startswith("_"))


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "bench", help="print performance figures", description="Print performance figures. "
        "Run `larnet bench TARGET --help` for a target's options.", add_help=True,
    )
    parser.add_argument("target", choices=_targets(), help="what to measure")
    parser.add_argument("options", nargs=argparse.REMAINDER, help="options of the target")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    module = importlib.import_module(f"{benchmarks.__name__}.{args.target}")
    parser = argparse.ArgumentParser(prog=f"larnet bench {args.target}", description=getattr(module, "DESCRIPTION", ""))
    module.add_arguments(parser)
    return int(module.run(parser.parse_args(args.options)) or 0)
