"""Batched, thread-safe inference on face crops for a loaded checkpoint.

Two backends run the same weights: PyTorch (any device; what training, explanations and GPUs use) and ONNX
Runtime (CPU). The attention networks are hundreds of small operators, and on a CPU ONNX Runtime's lower
per-operator overhead makes ``larnet-lite`` several times faster, so ``auto`` picks it for CPU inference.
"""

from __future__ import annotations

import logging
import threading
from typing import Sequence

import cv2
import numpy as np
import torch

from larnet_core import __version__
from larnet_core.models.checkpoint import LoadedModel
from larnet_core.models.export import onnx_bytes
from larnet_core.paths import cache_dir, write_atomic

__all__ = ["BACKENDS", "Predictor", "preprocess_faces"]

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


class Predictor:
    """Class probabilities for face crops.

    Args:
        loaded: a checkpoint from :func:`larnet_core.models.load_checkpoint`.
        backend: ``auto`` (ONNX Runtime on CPU, PyTorch on CUDA), ``torch`` or ``onnxruntime``.
        threads: intra-op threads for ONNX Runtime (PyTorch uses ``torch.set_num_threads``).

    Safe to share between threads: ONNX Runtime sessions are, and the PyTorch path runs under a lock.
    """

    def __init__(self, loaded: LoadedModel, backend: str = "auto", threads: int | None = None) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        self.loaded = loaded
        self.card = loaded.card
        self.device = next(loaded.model.parameters()).device
        if backend == "auto":
            backend = "onnxruntime" if self.device.type == "cpu" and _has_onnxruntime() else "torch"
        self.backend = backend
        self._lock = threading.Lock()
        self._session = None
        if backend == "onnxruntime":
            self._session = self._make_session(threads or torch.get_num_threads())

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
        """The model as ONNX, from the cache when this checkpoint file was exported before.

        Exporting traces hundreds of small modules and takes seconds; the cache key is the checkpoint's
        SHA-256 plus the torch and project versions, so a changed file or exporter never reuses a stale graph.
        """
        cached = None
        if self.loaded.sha256:
            cached = cache_dir("onnx") / f"{self.loaded.sha256[:32]}-torch{torch.__version__}-{__version__}.onnx"
            if use_cache and cached.is_file():
                return cached.read_bytes()
        model_bytes = onnx_bytes(self.loaded.model.cpu(), self.card.in_channels, self.card.input_size)
        self.loaded.model.to(self.device)
        if cached is not None:
            try:
                write_atomic(cached, model_bytes)
            except OSError as exc:  # a read-only home only costs the next start its export time
                log.info("could not cache the ONNX export at %s: %s", cached, exc)
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
        with self._lock, torch.inference_mode():
            return self.loaded.model(torch.from_numpy(batch).to(self.device)).float().cpu().numpy()

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


def _has_onnxruntime() -> bool:
    try:
        # lazy: only to learn whether ONNX Runtime is installed (else CPU inference uses PyTorch)
        import onnxruntime  # noqa: F401
    except ImportError:
        log.info("onnxruntime is not installed; CPU inference uses PyTorch")
        return False
    return True
