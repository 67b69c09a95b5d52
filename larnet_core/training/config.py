"""Settings of one training run; defaults are the LARNet paper's recipe (sec. 4.1)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from larnet_core.face.inputs import FACE_MODES

__all__ = ["TrainConfig", "PROTOCOLS", "LR_SCHEDULES", "SELECT_CHOICES", "FLOW_CHOICES"]
# How training samples find their face: the face modes of the whole tool.
FACE_CHOICES = FACE_MODES

# Optical-flow estimators of flow samples (larnet_core.face.flow.FLOW_METHODS, repeated here so reading a
# config does not import OpenCV).
FLOW_CHOICES = ("tvl1", "farneback")

PROTOCOLS = ("holdout", "loso")
LR_SCHEDULES = ("constant", "cosine")
# "last": the fixed schedule's final weights; "val": best validation UF1 (validation subjects come from the
# training subjects). Never the test fold.
SELECT_CHOICES = ("last", "val")


@dataclass
class TrainConfig:
    """Everything that decides what a run computes.

    Attributes:
        dataset, root: what :func:`larnet_core.data.load_dataset` reads (one dataset).
        data: several datasets in one run, ``{name: root}`` (the MEGC composite: casme2, samm, smic); when set,
            ``dataset``/``root`` are ignored, subjects are namespaced ``name/subject`` and LOSO runs over all.
        labels: label scheme (``casme2-7``, ``casme2-5``, ``megc-3``).
        model: preset name (``larnet-lite``, ``larnet``, ``resnet18``, ``ststnet``, ``off-apexnet`` ...) or
            ``lbptop-svm``.
        protocol: ``holdout`` (one seeded subject split) or ``loso`` (leave one subject out, pooled).
        out: the run directory.
        iterations: optimiser steps per model (the paper: 12,000).
        batch_size: global batch (split across processes under DDP).
        lr, momentum, weight_decay, nesterov: SGD settings (the paper: 0.01, 0.9, 1e-4, Nesterov).
        l2_kernel: coefficient of the paper's L2 kernel penalty (0.01).
        lr_schedule: ``constant`` (the paper states no schedule) or ``cosine`` (to 0 over ``iterations``).
        warmup: linear warm-up iterations.
        sample_mode: ``apex`` | ``frames`` (the paper) | ``flow``. Scores are per clip whatever the mode.
        flow: optical flow of flow samples: ``tvl1`` (the field's) or ``farneback``.
        flow_cache: folder of the flow-sample cache; None = ``$LARNET_DATA_DIR/cache/flow``, "" = no cache.
        face: ``none`` (frames are face-filled crops, taken whole) or a face detector (``auto``, ``mediapipe``,
            ``mtcnn``, ``haar``): samples are aligned on the same road as clip analysis and live video.
        input_size: side in pixels; None = the preset's default.
        pad, flip: augmentation: random crop after reflect-padding by ``pad`` pixels, horizontal flips.
        seed: seeds splits, initialisation, sampling and augmentation.
        split_seed: seeds only the subject split when set (None = ``seed``), so several training seeds can be
            compared on one split.
        workers: DataLoader workers that decode images (and compute flow) before training.
        threads: intra-op CPU threads of torch (None = torch's default). On a busy 2-core machine 1 thread
            is several times faster than 2, because the threads' spin-waits compete with other processes.
        test_fraction, val_fraction: subject shares of the hold-out test part and of the validation part
            (carved from the training subjects).
        select: ``last`` or ``val`` (see :data:`SELECT_CHOICES`).
        eval_every: iterations between validation passes (0 = only at the end).
        checkpoint_every: iterations between ``last.pt`` resume checkpoints (0 = never).
        log_every: iterations between history rows.
        device: ``auto`` | ``cpu`` | ``cuda``.
        attention: mask activation of attention presets.
        naive_attention: attention presets combine mask and trunk as the naive ``M * T`` (the paper's eq. 1)
            instead of the residual ``(1 + M) * T`` (eq. 3); recorded in the model card (``residual``).
        half: store model.pt in float16.
        synthetic: the data is generated (marks the card and metrics); None = detect a synthetic manifest.
        training_data: text for the model card; None = built from dataset and root.
        name: display name of the run (default: the folder name).
        svm_c: C of the LBP-TOP SVM baseline.
    """

    dataset: str = "casme2"
    root: str = ""
    data: dict[str, str] = field(default_factory=dict)
    labels: str = "casme2-7"
    model: str = "larnet-lite"
    protocol: str = "holdout"
    out: str = "runs/run"
    iterations: int = 12000
    batch_size: int = 64
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-4
    nesterov: bool = True
    l2_kernel: float = 0.01
    lr_schedule: str = "constant"
    warmup: int = 0
    sample_mode: str = "apex"
    flow: str = "tvl1"
    flow_cache: str | None = None
    face: str = "none"
    input_size: int | None = None
    pad: int = 4
    flip: bool = True
    seed: int = 0
    split_seed: int | None = None
    workers: int = 2
    threads: int | None = None
    test_fraction: float = 0.2
    val_fraction: float = 0.0
    select: str = "last"
    eval_every: int = 0
    checkpoint_every: int = 500
    log_every: int = 10
    device: str = "auto"
    attention: str = "mixed"
    naive_attention: bool = False
    half: bool = False
    synthetic: bool | None = None
    training_data: str | None = None
    name: str | None = None
    svm_c: float = 1.0

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {self.protocol!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr schedule must be one of {', '.join(LR_SCHEDULES)}, got {self.lr_schedule!r}")
        if self.select not in SELECT_CHOICES:
            raise ValueError(f"select must be one of {', '.join(SELECT_CHOICES)}, got {self.select!r}")
        if self.select == "val" and self.val_fraction <= 0:
            raise ValueError("select='val' needs a validation part: set val_fraction > 0 (e.g. 0.2)")
        if self.face not in FACE_CHOICES:
            raise ValueError(f"face must be one of {', '.join(FACE_CHOICES)}, got {self.face!r}")
        if self.flow not in FLOW_CHOICES:
            raise ValueError(f"flow must be one of {', '.join(FLOW_CHOICES)}, got {self.flow!r}")
        self.data = {str(k).strip().lower(): str(v) for k, v in dict(self.data or {}).items()}
        if self.iterations < 1 or self.batch_size < 1:
            raise ValueError(f"iterations and batch size must be >= 1, got {self.iterations}, {self.batch_size}")

    def sources(self) -> list[tuple[str, str]]:
        """``(dataset, root)`` of every dataset the run reads, in the order given."""
        return list(self.data.items()) if self.data else [(self.dataset, self.root)]

    @property
    def dataset_label(self) -> str:
        """The datasets as one name: ``casme2``, or ``casme2+samm+smic`` for a composite."""
        return "+".join(name for name, _ in self.sources())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
