"""Batched, thread-safe inference on face crops for a loaded checkpoint.

Two backends run the same weights: PyTorch (any device; what training, explanations and GPUs use) and ONNX
Runtime (CPU). The attention networks are hundreds of small operators, and on a CPU ONNX Runtime's lower
per-operator overhead makes ``larnet-lite`` several times faster, so ``auto`` picks it for CPU inference.

:func:`load_for_inference` is how commands load a checkpoint to predict with: on the CPU with ONNX Runtime, a
checkpoint checked and exported once before is read from the ONNX cache (:mod:`larnet_core.models.onnx_cache`)
and this module never imports torch; otherwise torch loads it (:func:`larnet_core.models.load_checkpoint`).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import cv2
import numpy as np

from larnet_core.devices import resolve_device, wants_cpu_without_torch
from larnet_core.errors import CheckpointError
from larnet_core.models.card import file_sha256
from larnet_core.models.onnx_cache import InferenceModel, export_path, read_cached, remember
from larnet_core.paths import write_atomic

if TYPE_CHECKING:
    import torch

    from larnet_core.models.checkpoint import LoadedModel

__all__ = ["BACKENDS", "Predictor", "load_for_inference", "preprocess_faces"]

log = logging.getLogger(__name__)

BACKENDS = ("auto", "torch", "onnxruntime")


def preprocess_faces(images: Sequence[np.ndarray], input_size: int, mean: Sequence[float],
                     std: Sequence[float]) -> np.ndarray:
    """RGB uint8 crops (any size) -> normalised float32 batch ``N x 3 x S x S``."""
    batch = np.empty((len(images), 3, input_size, input_size), dtype=np.float32)
    mean_arr = np.asarray(mean, dtype=np.float32)[:, None, None]
    std_arr = np.asarray(std, dtype=np.float32)[:, None, None]
    for i, image in enumerate(images):
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
        elif image.shape[2] == 4:
            image = cv2.cvtColor(image, cv2.COLOR_RGBA2RGB)
        if image.shape[:2] != (input_size, input_size):
            shrink = image.shape[0] > input_size
            image = cv2.resize(image, (input_size, input_size),
                               interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        batch[i] = (image.transpose(2, 0, 1).astype(np.float32) / 255.0 - mean_arr) / std_arr
    return batch


def load_for_inference(path: str | Path, device: "str | torch.device" = "auto",
                       backend: str = "auto") -> InferenceModel:
    """A checkpoint file ready for :class:`Predictor`, without torch when it can be.

    With ``backend`` ``auto`` or ``onnxruntime`` on a device that is surely the CPU (``cpu``, or ``auto`` on a
    machine without a GPU driver) and ONNX Runtime installed, the file is hashed and its card and ONNX export
    are read from the cache, if an earlier run checked and exported this very file. Otherwise (first run, CUDA,
    the torch backend, a cache entry that cannot be used) torch loads it with every check.

    Raises:
        CheckpointError: as :func:`larnet_core.models.load_checkpoint`.
        LarnetError: ``device`` names a CUDA device that is not there.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    path = Path(path)
    if backend != "torch" and wants_cpu_without_torch(device) and _has_onnxruntime():
        try:
            sha256 = file_sha256(path)
        except CheckpointError:
            sha256 = ""  # missing, not a regular file, too large: load_checkpoint says what is wrong
        cached = read_cached(path, sha256) if sha256 else None
        if cached is not None:
            return cached
    # lazy: torch only where the cache cannot serve (first run, CUDA, the torch backend)
    from larnet_core.models.checkpoint import load_checkpoint

    return InferenceModel.from_loaded(load_checkpoint(path, device=resolve_device(device)
                                                      if isinstance(device, str) else device))


class Predictor:
    """Class probabilities for face crops.

    Args:
        model: from :func:`load_for_inference`, or a checkpoint from :func:`larnet_core.models.load_checkpoint`.
        backend: ``auto`` (ONNX Runtime on CPU, PyTorch on CUDA), ``torch`` or ``onnxruntime``.
        threads: intra-op threads for ONNX Runtime (default: the number PyTorch would use; PyTorch itself uses
            ``torch.set_num_threads``).

    Safe to share between threads: ONNX Runtime sessions are, and the PyTorch path runs under a lock.
    """

    def __init__(self, model: "InferenceModel | LoadedModel", backend: str = "auto",
                 threads: int | None = None) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        self.model = model if isinstance(model, InferenceModel) else InferenceModel.from_loaded(model)
        self.card = self.model.card
        self._lock = threading.Lock()
        self._session = None
        if backend == "auto":
            on_cpu = self.model.loaded is None or self.device.type == "cpu"
            backend = "onnxruntime" if on_cpu and _has_onnxruntime() else "torch"
        self.backend = backend
        if backend == "torch":
            self._ensure_loaded()
        else:
            self._session = self._make_session(threads or default_threads())

    @property
    def loaded(self) -> "LoadedModel | None":
        """The PyTorch network; None when the model came from the ONNX cache (torch was never imported)."""
        return self.model.loaded

    @property
    def device(self) -> "torch.device | None":
        """Where the PyTorch network lives; None without one (ONNX Runtime runs on the CPU)."""
        loaded = self.model.loaded
        return next(loaded.model.parameters()).device if loaded is not None else None

    @property
    def path(self) -> Path | None:
        return self.model.path

    @property
    def sha256(self) -> str:
        return self.model.sha256

    def _ensure_loaded(self) -> "LoadedModel":
        """The PyTorch network, loading the checkpoint file with torch when the model came from the ONNX cache."""
        if self.model.loaded is None:
            if self.model.path is None:
                raise CheckpointError("this model has no PyTorch network and no checkpoint file to load it from")
            # lazy: torch only when the cached ONNX export cannot serve (torch backend, an export ONNX Runtime refuses)
            from larnet_core.models.checkpoint import load_checkpoint

            self.model = InferenceModel.from_loaded(load_checkpoint(self.model.path))
        return self.model.loaded

    def _make_session(self, threads: int):
        import onnxruntime as ort  # lazy: ONNX Runtime only for the onnx backend

        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # No busy-waiting between operators: in a server shared by several sessions (and beside other
        # processes) spinning threads steal the cores that the other requests need.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            return ort.InferenceSession(self._onnx_model(), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own untyped errors for bad graphs
            log.warning("cached ONNX graph unusable (%s); exporting again", str(exc).splitlines()[0])
            return ort.InferenceSession(self._onnx_model(use_cache=False), options,
                                        providers=["CPUExecutionProvider"])

    def _onnx_model(self, use_cache: bool = True) -> bytes:
        """The model as ONNX: read from the cache without torch, or exported from the PyTorch network.

        Exporting traces hundreds of small modules and takes seconds, so the export is cached, named by the
        checkpoint's SHA-256 plus the torch and project versions (a changed file or exporter never reuses a stale
        graph), with an entry that lets the next start skip torch (:mod:`larnet_core.models.onnx_cache`).
        """
        if use_cache and self.model.onnx is not None:
            return self.model.onnx
        loaded = self._ensure_loaded()
        import torch  # lazy: only to export the network (the ONNX cache serves later starts)

        from larnet_core.models.export import onnx_bytes  # lazy: the exporter imports torch.onnx

        cached = export_path(loaded.sha256, torch.__version__) if loaded.sha256 else None
        if use_cache and cached is not None and cached.is_file():
            model_bytes = cached.read_bytes()
        else:
            device = self.device
            model_bytes = onnx_bytes(loaded.model.cpu(), self.card.in_channels, self.card.input_size)
            loaded.model.to(device)
            if cached is not None:
                try:
                    write_atomic(cached, model_bytes)
                except OSError as exc:  # a read-only home only costs the next start its export time
                    log.info("could not cache the ONNX export at %s: %s", cached, exc)
                    cached = None
        self.model.onnx = model_bytes
        if cached is not None:
            remember(self.model, cached)
        return model_bytes

    @property
    def class_names(self) -> list[str]:
        return list(self.card.class_names)

    def preprocess(self, images: Sequence[np.ndarray]) -> np.ndarray:
        return preprocess_faces(images, self.card.input_size, self.card.mean, self.card.std)

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """Raw logits for an already preprocessed batch."""
        if self._session is not None:
            return self._session.run(None, {"image": batch})[0]
        import torch  # lazy: the torch backend loaded it already; this only names it

        loaded = self.model.loaded
        with self._lock, torch.inference_mode():
            return loaded.model(torch.from_numpy(batch).to(self.device)).float().cpu().numpy()

    def predict_proba(self, images: Sequence[np.ndarray], batch_size: int = 32) -> np.ndarray:
        """Softmax probabilities ``N x num_classes`` for RGB uint8 crops."""
        if len(images) == 0:
            return np.zeros((0, self.card.num_classes), dtype=np.float32)
        out = []
        for start in range(0, len(images), batch_size):
            logits = self.logits(self.preprocess(images[start:start + batch_size]))
            logits = logits - logits.max(axis=1, keepdims=True)
            exp = np.exp(logits)
            out.append(exp / exp.sum(axis=1, keepdims=True))
        return np.concatenate(out).astype(np.float32)


def default_threads() -> int:
    """The intra-op thread count PyTorch picks by default, without importing it: ``OMP_NUM_THREADS`` or
    ``MKL_NUM_THREADS`` when set, else one per physical core. ONNX Runtime gets the same count on both roads, so
    a run from the cache computes exactly what a run through torch did."""
    torch = sys.modules.get("torch")
    if torch is not None:
        return torch.get_num_threads()
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    logical = os.cpu_count() or 1
    cores = _physical_cores()
    return cores if 0 < cores < logical else logical


def _physical_cores() -> int:
    """Physical cores from /proc/cpuinfo (Linux); 0 when unknown."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            text = info.read()
    except OSError:
        return 0
    cores, package = set(), ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "physical id":
            package = value.strip()
        elif key == "core id":
            cores.add((package, value.strip()))
    return len(cores)


def _has_onnxruntime() -> bool:
    try:
        # lazy: only to learn whether ONNX Runtime is installed (else CPU inference uses PyTorch)
        import onnxruntime  # noqa: F401
    except ImportError:
        log.info("onnxruntime is not installed; CPU inference uses PyTorch")
        return False
    return True
