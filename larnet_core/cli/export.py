"""``larnet export CKPT --format onnx|torchscript``: a deployable file, checked against the PyTorch model."""

from __future__ import annotations

from pathlib import Path

from larnet_core.paths import check_output_file


def register(subparsers) -> None:
    parser = subparsers.add_parser("export", help="export a checkpoint to ONNX or TorchScript for edge devices")
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--format", choices=("onnx", "torchscript"), default="onnx")
    parser.add_argument("--out", type=Path, help="output file (default: next to the checkpoint)")
    parser.set_defaults(func=_run)


def _run(args) -> int:
    # lazy: torch only when the command runs (`larnet --help` imports every command module)
    from larnet_core.models import load_checkpoint
    from larnet_core.models.export import export_model

    out = args.out or args.checkpoint.with_suffix(".onnx" if args.format == "onnx" else ".torchscript.pt")
    check_output_file(out, "--out")
    loaded = load_checkpoint(args.checkpoint)
    result = export_model(loaded, out, args.format)
    print(f"wrote {result.path} ({result.format}); max |logit difference| vs PyTorch: {result.max_abs_diff:.2e}")
    return 0
