"""The model card (what a checkpoint is: network recipe, classes, preprocessing, provenance) and the checkpoint
file's identity (its SHA-256), without PyTorch.

Kept apart from :mod:`larnet_core.models.checkpoint` so that inference from the ONNX cache
(:mod:`larnet_core.models.onnx_cache`) can identify a checkpoint and read its card without importing torch.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

from pathlib import Path

from larnet_core import __version__
from larnet_core.errors import CheckpointError
from larnet_core.paths import sha256_input
from larnet_core.safezip import ZipLimits

if TYPE_CHECKING:
    from torch import nn

__all__ = ["CHECKPOINT_ZIP_LIMITS", "ModelCard", "file_sha256"]

# A checkpoint is a zip archive written by torch.save: one member per tensor storage, stored uncompressed.
CHECKPOINT_ZIP_LIMITS = ZipLimits(max_archive_bytes=2 * 1024**3, max_members=20_000,
                                  max_member_bytes=1024**3, max_total_bytes=2 * 1024**3)


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

    def build(self) -> "nn.Module":
        """Build the untrained network this card describes."""
        from larnet_core.models.registry import build_model  # lazy: torch only to build the network

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
        from larnet_core.models.registry import model_config  # lazy: the preset table imports the networks (torch)

        cfg = model_config(preset)
        kw.setdefault("mean", list(cfg.mean))
        kw.setdefault("std", list(cfg.std))
        return cls(preset=preset, class_names=list(class_names), input_size=cfg.input_size, **kw)


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a checkpoint file, streamed and bounded by the checkpoint size limit (``chunk`` is kept for
    callers that passed it; reads are in 1 MiB blocks)."""
    return sha256_input(path, f"checkpoint {path}", max_bytes=CHECKPOINT_ZIP_LIMITS.max_archive_bytes,
                        error=CheckpointError)
