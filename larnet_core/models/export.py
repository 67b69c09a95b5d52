"""Export a checkpoint for edge deployment (ONNX, TorchScript) and check the exported outputs match."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from larnet_core.errors import LarnetError
from larnet_core.models.checkpoint import LoadedModel

__all__ = ["EXPORT_FORMATS", "ExportResult", "onnx_bytes", "export_model"]

EXPORT_FORMATS = ("onnx", "torchscript")


@dataclass(frozen=True)
class ExportResult:
    path: Path
    format: str
    max_abs_diff: float  # largest logit difference between the export and the PyTorch model on random inputs


def _example(loaded: LoadedModel, batch: int = 2) -> torch.Tensor:
    card = loaded.card
    generator = torch.Generator().manual_seed(0)
    return torch.rand(batch, card.in_channels, card.input_size, card.input_size, generator=generator)


def onnx_bytes(model: nn.Module, in_channels: int, input_size: int) -> bytes:
    """Serialise ``model`` to ONNX (dynamic batch axis) in memory."""
    buffer = io.BytesIO()
    example = torch.zeros(1, in_channels, input_size, input_size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter announces its own deprecation
        torch.onnx.export(
            model.eval(), (example,), buffer, dynamo=False, input_names=["image"], output_names=["logits"],
            dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17,
        )
    return buffer.getvalue()


def export_model(loaded: LoadedModel, out: str | Path, fmt: str = "onnx") -> ExportResult:
    """Write ``loaded`` as ONNX or TorchScript to ``out`` and verify it against the PyTorch model."""
    if fmt not in EXPORT_FORMATS:
        raise LarnetError(f"unknown export format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    model = loaded.model.cpu().eval()
    example = _example(loaded)
    with torch.no_grad():
        reference = model(example).numpy()
    if fmt == "onnx":
        import onnxruntime as ort  # lazy: ONNX Runtime only to check an ONNX export

        out.write_bytes(onnx_bytes(model, loaded.card.in_channels, loaded.card.input_size))
        session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        exported = session.run(None, {"image": example.numpy()})[0]
    else:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scripted = torch.jit.trace(model, example)
        scripted.save(str(out))
        with torch.no_grad():
            exported = torch.jit.load(str(out)).eval()(example).numpy()
    return ExportResult(out, fmt, float(np.abs(exported - reference).max()))
