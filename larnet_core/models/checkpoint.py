"""Checkpoints: one file holding the weights and a model card, loaded safely with ``weights_only=True``."""

from __future__ import annotations

import logging
import os
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from larnet_core import __version__
from larnet_core.errors import CheckpointError
from larnet_core.models.card import CHECKPOINT_ZIP_LIMITS, ModelCard, file_sha256
from larnet_core.models.card_checks import MAX_PARAMETERS, card_from_untrusted
from larnet_core.paths import cache_dir, open_input
from larnet_core.safezip import SafeZip

__all__ = ["ModelCard", "LoadedModel", "save_checkpoint", "load_checkpoint", "file_sha256", "CHECKPOINT_FORMAT"]

log = logging.getLogger(__name__)

# Checking a card runs the network on the meta device, whose batch-norm rule imports torch._dynamo, which
# creates its cache folder on import: keep it in LARNet's cache rather than the system's temporary folder.
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache_dir("torchinductor")))

CHECKPOINT_FORMAT = "larnet-checkpoint"
CHECKPOINT_VERSION = 1


@dataclass
class LoadedModel:
    """A network in eval mode with its card and where it came from."""

    model: nn.Module
    card: ModelCard
    path: Path | None = None
    sha256: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. optimizer state saved for resuming


def save_checkpoint(
    model: nn.Module, card: ModelCard, path: str | Path, half: bool = False, extra: dict[str, Any] | None = None
) -> Path:
    """Write weights and card to ``path`` atomically (a partial file never replaces a good one).

    Args:
        half: store floating-point tensors as float16 (halves the file; loading casts back to float32).
        extra: additional tensors or plain values (e.g. optimizer state for resuming training).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        k: (v.detach().half() if half and v.is_floating_point() else v.detach()).cpu().clone()
        for k, v in model.state_dict().items()
    }
    payload = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_VERSION,
        "card": card.to_dict(),
        "state_dict": state,
        "extra": extra or {},
    }
    tmp = path.with_name(path.name + ".part")
    torch.save(payload, tmp)
    tmp.replace(path)
    return path


_TENSOR_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64, torch.int64)


#: How every file torch.save writes begins: a zip archive (the format since PyTorch 1.6) or a pickle stream
#: (the legacy format: protocol 2 and up start with 0x80 and the protocol number).
_TORCH_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


def _looks_like_torch_file(head: bytes) -> bool:
    return head.startswith(_TORCH_MAGIC) or (len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5)


def _read_payload(path: Path) -> dict[str, Any]:
    what = f"checkpoint {path}"
    if not os.path.lexists(path):
        raise CheckpointError(f"checkpoint {path} does not exist; check the path or train one with `larnet train`")
    # A regular file within the archive limit: a device or FIFO is refused before torch reads a byte.
    with open_input(path, what, max_bytes=CHECKPOINT_ZIP_LIMITS.max_archive_bytes, error=CheckpointError) as handle:
        size = os.fstat(handle.fileno()).st_size
        if size == 0:
            raise CheckpointError(f"checkpoint {path} is empty (0 bytes); the file was not written completely")
        head = handle.read(4)
        if not _looks_like_torch_file(head):
            raise CheckpointError(f"{path} is not a PyTorch checkpoint (it does not start as a file written by "
                                  "torch.save does); give a .pt file written by `larnet train` or `save_checkpoint`")
        handle.seek(0)
        if zipfile.is_zipfile(handle):
            # Member count, declared sizes and compression ratios are checked before torch reads anything.
            SafeZip(path, CHECKPOINT_ZIP_LIMITS, what, error=CheckpointError).close()
        handle.seek(0)
        try:
            payload = torch.load(handle, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            raise CheckpointError(
                f"{path} holds objects that are not plain weights, so it was not loaded (safe loading refuses "
                f"arbitrary code); re-save it with `larnet_core.models.save_checkpoint` ({_unpickling_reason(exc)})"
            ) from None
        except Exception as exc:  # noqa: BLE001 - a damaged file makes torch raise many types (and RecursionError)
            raise CheckpointError(
                f"{path} is not a readable PyTorch checkpoint (corrupt or truncated?): {_first_line(exc)}"
            ) from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{path} is a PyTorch file but not a LARNet checkpoint (no model card); "
            "use a checkpoint written by `larnet train` or `save_checkpoint`"
        )
    version = payload.get("format_version", 0)
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise CheckpointError(f"{path} has no valid checkpoint format version")
    if version > CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{path} was written by a newer LARNet Studio (checkpoint format {min(version, 10**6)}); upgrade"
        )
    return payload


def _unpickling_reason(exc: BaseException) -> str:
    """What torch's safe loader refused, without torch's advice to load the file unsafely (which would run
    whatever code the file carries)."""
    unsafe = ("weights_only", "trusted source", "Re-running", "documentation", "can still be loaded",
              "arbitrary code", "safe_globals")
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    kept = [line for line in lines if not any(word in line for word in unsafe)]
    return kept[0][:200] if kept else "it refers to code, not only to tensors"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0][:200] if text else type(exc).__name__)


def _build_on_meta(card: ModelCard, path: Path) -> nn.Module:
    """The card's network with shapes but no memory, after checking its size."""
    try:
        with torch.device("meta"):
            model = card.build()
    except Exception as exc:  # noqa: BLE001 - builders reject bad combinations with ValueError, RuntimeError ...
        raise CheckpointError(f"{path} has an invalid model card: {_first_line(exc)}") from None
    count = sum(p.numel() for p in model.parameters())
    if count > MAX_PARAMETERS:
        raise CheckpointError(f"{path}: the model card describes a network of {count:,} parameters; at "
                              f"most {MAX_PARAMETERS:,} are allowed")
    return model


def _check_forward(model: nn.Module, card: ModelCard, path: Path) -> None:
    """One input must go through the loaded network and give one score per class. Run on the real weights
    (bounded by the parameter check and the card's input size): the meta device would need no memory but runs
    every operator through Python decompositions, seconds for what takes milliseconds here."""
    try:
        with torch.no_grad():
            out = model(torch.zeros(1, card.in_channels, card.input_size, card.input_size))
    except Exception as exc:  # noqa: BLE001 - a card whose parts do not fit together fails here
        raise CheckpointError(f"{path} has an invalid model card: {_first_line(exc)}") from None
    if tuple(out.shape) != (1, card.num_classes):
        raise CheckpointError(f"{path}: the network gives {tuple(out.shape)} outputs for {card.num_classes} classes")


def _checked_marker(sha256: str) -> Path:
    return cache_dir("checked") / f"{sha256[:32]}-torch{torch.__version__}-{__version__}"


def _checked_before(sha256: str) -> bool:
    """Whether this exact file passed :func:`_check_forward` before (the first forward of a process costs
    seconds of one-time set-up; the cache is the user's own, like the ONNX export cache keyed the same way)."""
    try:
        return _checked_marker(sha256).is_file()
    except OSError:
        return False


def _remember_checked(sha256: str) -> None:
    try:
        marker = _checked_marker(sha256)
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    except OSError as exc:  # a read-only cache only costs the check next time
        log.info("could not record the checked checkpoint: %s", exc)


def _checked_state(raw: Any, model: nn.Module, path: Path, preset: str) -> dict[str, torch.Tensor]:
    """The weights, after comparing every name, shape and type with the (meta) network: nothing is allocated
    for a file that does not match."""
    if not isinstance(raw, dict):
        raise CheckpointError(f"{path} has no state_dict mapping of weights")
    expected = model.state_dict()
    missing = [k for k in expected if k not in raw]
    unexpected = [str(k)[:80] for k in raw if k not in expected]
    if missing or unexpected:
        detail = f"missing {missing[0]!r}" if missing else f"unexpected {unexpected[0]!r}"
        raise CheckpointError(f"{path}: weights do not match preset {preset!r} "
                              f"({len(missing)} missing, {len(unexpected)} unexpected; {detail})")
    state = {}
    for name, want in expected.items():
        tensor = raw[name]
        if not isinstance(tensor, torch.Tensor) or tensor.dtype not in _TENSOR_DTYPES:
            raise CheckpointError(f"{path}: weight {name!r} is not a tensor of a supported type")
        if tuple(tensor.shape) != tuple(want.shape):
            raise CheckpointError(f"{path}: weights do not match preset {preset!r}: {name!r} has shape "
                                  f"{tuple(tensor.shape)[:8]}, the network needs {tuple(want.shape)}")
        if not tensor.is_contiguous():  # e.g. a stride-0 view: shape of a large tensor over a tiny storage
            raise CheckpointError(f"{path}: weight {name!r} is not stored as a plain tensor; re-save the model")
        state[name] = tensor.float() if tensor.is_floating_point() else tensor
    # Such a model predicts NaN for every input (and NaN is not valid JSON in the results). One check over all
    # the weights (a few MB) instead of one per tensor: a thousand small calls cost most of a second.
    floating = [tensor.reshape(-1) for tensor in state.values() if tensor.is_floating_point()]
    if floating and not bool(torch.isfinite(torch.cat(floating)).all()):
        name = next(n for n, t in state.items() if t.is_floating_point() and not bool(torch.isfinite(t).all()))
        raise CheckpointError(f"{path}: weight {name!r} holds NaN or infinite values (training diverged or the "
                              "file is damaged); retrain the model or use another checkpoint")
    return state


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> LoadedModel:
    """Load a checkpoint written by :func:`save_checkpoint`, treating the file as untrusted.

    The card is checked field by field (:mod:`~larnet_core.models.card_checks`), the network is built on the
    ``meta`` device and every weight's name, shape and type compared with it before any memory is allocated;
    only then do the weights become the network's parameters.

    Raises:
        CheckpointError: missing, empty, corrupt, truncated, foreign (not a LARNet checkpoint), an invalid card
            or mismatching weights, with a message naming the file.
    """
    path = Path(path)
    payload = _read_payload(path)
    try:
        card = ModelCard(**card_from_untrusted(payload.get("card")))
    except CheckpointError as exc:
        raise CheckpointError(f"{path} has an invalid model card: {exc}") from None
    model = _build_on_meta(card, path)
    state = _checked_state(payload.get("state_dict"), model, path, card.preset)
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not match preset {card.preset!r}: {_first_line(exc)}") from None
    if any(t.is_meta for t in (*model.parameters(), *model.buffers())):
        # A non-persistent buffer has no value in the file: build the network for real and load into it.
        model = card.build()
        model.load_state_dict(state)
    model.eval()
    sha256 = file_sha256(path)
    if not _checked_before(sha256):
        _check_forward(model, card, path)
        _remember_checked(sha256)
    model.to(device)
    extra = payload.get("extra")
    return LoadedModel(model=model, card=card, path=path, sha256=sha256,
                       extra=extra if isinstance(extra, dict) else {})
