"""Class activation maps with pytorch-grad-cam, computed from activations and gradients the caller provides.

pytorch-grad-cam normally collects a layer's activations with forward hooks that stay on the model until the
CAM object is released. That does not fit here, for three measured reasons:

* LARNet calls its stages' ``forward_features`` directly, so a hook on ``stage1`` (the module that
  ``feature_info`` names) never fires;
* the dashboard shares one model between browser sessions and the live predictor, whose forward passes would
  run through (and pile activations into) hooks left on it;
* the package's backward pass fills every parameter's ``.grad`` (the size of the model, kept until the next call)
  and its ``model.zero_grad()`` clears them under any other user's feet.

So the explainer takes the stage outputs from ``forward_intermediates`` and their gradients from
``torch.autograd.grad`` (no parameter gradients), and this module feeds them to the package's own CAM
classes, built once per model and method with no target layers, hence no hooks at all.
"""

from __future__ import annotations

import contextlib
import threading
from typing import ContextManager, Sequence

import numpy as np
from torch import nn

__all__ = ["CAM_METHODS", "CamBank", "check_method"]

# name -> (pytorch_grad_cam class name, needs gradients)
CAM_METHODS: dict[str, tuple[str, bool]] = {
    "gradcam": ("GradCAM", True),
    "gradcam++": ("GradCAMPlusPlus", True),
    "eigencam": ("EigenCAM", False),
    "xgradcam": ("XGradCAM", True),
    "layercam": ("LayerCAM", True),
    "hirescam": ("HiResCAM", True),
    "eigengradcam": ("EigenGradCAM", True),
}


def check_method(method: str) -> str:
    """The canonical method name; ``ValueError`` listing the valid ones otherwise."""
    key = (method or "").strip().lower().replace("_", "").replace("-", "")
    key = {"gradcamplusplus": "gradcam++", "gradcampp": "gradcam++"}.get(key, key)
    if key not in CAM_METHODS:
        raise ValueError(f"unknown CAM method {method!r}; choose one of: {', '.join(CAM_METHODS)}")
    return key


class CamBank:
    """pytorch-grad-cam objects for one model, built lazily once per method and shared by every call.

    The objects are built with an empty target-layer list, so they register no hooks; they only turn
    activations and gradients into maps, which is stateless and safe from several threads.
    """

    def __init__(self, model: nn.Module) -> None:
        self._model = model
        self._cams: dict[str, object] = {}
        self._lock = threading.Lock()
        self._blas: object | None = None

    def needs_gradients(self, methods: Sequence[str]) -> bool:
        return any(CAM_METHODS[check_method(m)][1] for m in methods)

    def get(self, method: str) -> object:
        method = check_method(method)
        with self._lock:
            if method not in self._cams:
                # lazy: grad-cam (and the scikit-learn, matplotlib it loads) only for class activation maps
                import pytorch_grad_cam

                cam_class = getattr(pytorch_grad_cam, CAM_METHODS[method][0])
                self._cams[method] = cam_class(model=self._model, target_layers=[])
            return self._cams[method]

    def _one_blas_thread(self) -> ContextManager:
        """Run NumPy's BLAS on one thread: the eigen methods' SVDs are tiny, and BLAS threads competing with
        PyTorch's idle OpenMP workers made them 20-30x slower on a busy two-core machine."""
        with self._lock:
            if self._blas is None:
                try:
                    from threadpoolctl import ThreadpoolController  # comes with scikit-learn (grad-cam needs it)

                    self._blas = ThreadpoolController()
                except ImportError:
                    self._blas = False
        if self._blas is False:
            return contextlib.nullcontext()
        return self._blas.limit(limits=1, user_api="blas")

    def maps(
        self,
        method: str,
        activations: np.ndarray,
        gradients: np.ndarray | None,
        target_classes: Sequence[int],
    ) -> np.ndarray:
        """Raw (unscaled, ReLU'd) maps ``N x h x w`` of one layer, as the package computes them.

        Args:
            activations: ``N x C x h x w`` layer outputs.
            gradients: ``N x C x h x w`` gradients of each image's target logit; ``None`` for gradient-free
                methods.
            target_classes: one class per image (only recorded by the package's targets).
        """
        # lazy: grad-cam (and the scikit-learn, matplotlib it loads) only for class activation maps
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

        method = check_method(method)
        if CAM_METHODS[method][1] and gradients is None:
            raise ValueError(f"{method} needs gradients")
        if gradients is None:
            gradients = np.zeros_like(activations)
        cam = self.get(method)
        targets = [ClassifierOutputTarget(int(c)) for c in target_classes]
        with self._one_blas_thread():
            maps = cam.get_cam_image(None, None, targets, activations, gradients, False)
        return np.maximum(np.nan_to_num(np.asarray(maps, dtype=np.float32)), 0.0)
