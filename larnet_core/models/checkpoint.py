"""Checkpoints: one file holding the weights and a model card, loaded safely with ``weights_only=True``."""

from __future__ import annotations

import datetime as _dt
import hashlib
import logging
import pickle
import zipfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn

from larnet_core import __version__
from larnet_core.errors import CheckpointError
from larnet_core.models.registry import build_model, model_config

__all__ = ["ModelCard", "LoadedModel", "save_checkpoint", "load_checkpoint", "file_sha256", "CHECKPOINT_FORMAT"]

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "larnet-checkpoint"
CHECKPOINT_VERSION = 1


@dataclass
class ModelCard:
    """What a checkpoint is: enough to rebuild the network, preprocess its input and describe it honestly.

    Attributes:
        preset: name for :func:`larnet_core.models.build_model`.
        class_names: output classes in logit order.
        input_size: square input side in pixels.
        mean, std: per-channel normalisation applied to [0, 1] inputs.
        attention: mask activation; ``residual`` False means naive ``M * T`` attention.
        in_channels: 3 for RGB faces or flow images.
        sample_mode: ``apex`` | ``frames`` | ``flow``: what the model was trained on, so inference feeds the same.
        flow: optical-flow estimator of flow samples (``tvl1`` or ``farneback``); "" for older cards, which
            were trained on Farneback flow.
        face: how training samples found their face: a detector (``auto``, ``mediapipe``, ``mtcnn``, ``haar``),
            aligned on the same road as clip analysis (:mod:`larnet_core.face.inputs`), or "" / ``none`` for whole
            face-filled frames (older cards).
        label_scheme: e.g. ``casme2-7``.
        training_data: one-line description of the data it was trained on.
        training_subjects: dataset-qualified subjects whose clips trained or validated it (``casme2/sub01``),
            so an evaluation can warn when it scores them again.
        synthetic: True when trained on generated faces; every UI showing the model must say so.
        model_kwargs: extra constructor keywords (overrides of the preset).
        code_version, created_at: provenance.
        notes: free text (e.g. the command that produced it).
    """

    preset: str
    class_names: list[str]
    input_size: int
    mean: list[float] = field(default_factory=lambda: [0.485, 0.456, 0.406])
    std: list[float] = field(default_factory=lambda: [0.229, 0.224, 0.225])
    attention: str = "mixed"
    residual: bool = True
    in_channels: int = 3
    sample_mode: str = "apex"
    flow: str = ""
    face: str = ""
    label_scheme: str = ""
    training_data: str = "untrained (random weights)"
    training_subjects: list[str] = field(default_factory=list)
    synthetic: bool = False
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    code_version: str = __version__
    created_at: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    notes: str = ""

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelCard":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def build(self) -> nn.Module:
        """Build the untrained network this card describes."""
        return build_model(
            self.preset,
            num_classes=self.num_classes,
            in_channels=self.in_channels,
            attention=self.attention,
            residual=self.residual,
            **self.model_kwargs,
        )

    @classmethod
    def for_preset(cls, preset: str, class_names: list[str], **kw: Any) -> "ModelCard":
        cfg = model_config(preset)
        kw.setdefault("mean", list(cfg.mean))
        kw.setdefault("std", list(cfg.std))
        return cls(preset=preset, class_names=list(class_names), input_size=cfg.input_size, **kw)


@dataclass
class LoadedModel:
    """A network in eval mode with its card and where it came from."""

    model: nn.Module
    card: ModelCard
    path: Path | None = None
    sha256: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. optimizer state saved for resuming


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


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


def _read_payload(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist; check the path or train one with `larnet train`")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {path} is empty (0 bytes); the file was not written completely")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{path} holds objects that are not plain weights, so it was not loaded (safe loading refuses "
            f"arbitrary code); re-save it with `larnet_core.models.save_checkpoint` ({str(exc).splitlines()[0]})"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as exc:
        raise CheckpointError(
            f"{path} is not a readable PyTorch checkpoint (corrupt or truncated?): {str(exc).splitlines()[0]}"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{path} is a PyTorch file but not a LARNet checkpoint (no model card); "
            "use a checkpoint written by `larnet train` or `save_checkpoint`"
        )
    if int(payload.get("format_version", 0)) > CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{path} was written by a newer LARNet Studio (checkpoint format {payload['format_version']}); upgrade"
        )
    return payload


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> LoadedModel:
    """Load a checkpoint written by :func:`save_checkpoint`.

    Raises:
        CheckpointError: missing, empty, corrupt, truncated, foreign (not a LARNet checkpoint) or mismatching
            weights, with a message naming the file.
    """
    path = Path(path)
    payload = _read_payload(path)
    try:
        card = ModelCard.from_dict(payload["card"])
        model = card.build()
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path} has an invalid model card: {exc}") from None
    state = {k: v.float() if v.is_floating_point() else v for k, v in payload["state_dict"].items()}
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "shape mismatch"
        raise CheckpointError(f"{path}: weights do not match preset {card.preset!r}: {first}") from None
    model.to(device).eval()
    return LoadedModel(model=model, card=card, path=path, sha256=file_sha256(path), extra=payload.get("extra") or {})
