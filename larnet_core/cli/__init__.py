"""The ``larnet`` command.

Each subcommand lives in its own module of this package and exposes ``register(subparsers)``, which adds a
parser whose ``func`` default takes the parsed arguments and returns an exit code. Modules are discovered, so
adding a command never edits this file.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from typing import Sequence

from larnet_core import __version__
from larnet_core.errors import LarnetError
from larnet_core.paths import describe_os_error
from larnet_core.text import strip_bidi

__all__ = ["main", "build_parser"]

log = logging.getLogger("larnet_core")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="larnet", description="LARNet micro-expression analysis (models, data, training, explain, clips)."
    )
    parser.add_argument("--version", action="version", version=f"larnet {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except LarnetError as exc:
        if args.debug:
            raise
        print(f"larnet {args.command}: error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except OSError as exc:  # a path the checks did not foresee (a file vanished, a disk filled up ...)
        if args.debug:
            raise

        print(f"larnet {args.command}: error: {_one_line(describe_os_error(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"larnet {args.command}: interrupted", file=sys.stderr)
        return 130


def _one_line(message: str) -> str:
    """A message as one line, without bidirectional controls that would make a file name read differently."""
    return " ".join(strip_bidi(message).split())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
