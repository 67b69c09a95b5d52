"""Explainability: attention masks, hidden layers, class activation maps and mean absolute responses.

Typical use::

    from larnet_core.explain import Explainer, overlay_heatmap
    from larnet_core.models import load_checkpoint

    explainer = Explainer(load_checkpoint("assets/models/larnet-lite-demo.pt"))
    masks = explainer.attention_maps(face)               # one StageMask per attention module
    grids = explainer.hidden_layers(face, k=16)          # one HiddenLayerGrid per stage
    cam = explainer.grad_cam(face, method="gradcam++")   # CamResult for the last stage
    picture = overlay_heatmap(face, masks[0].mask_mean)

The module-level functions take a :class:`LoadedModel`, a ``(model, card)`` pair or an :class:`Explainer`
and reuse one explainer per model. Nothing here imports Streamlit or plotly; pytorch-grad-cam is imported on
first use of a CAM.
"""

from __future__ import annotations

import threading
from typing import Sequence, Union

import numpy as np
import pandas as pd

from larnet_core.explain.cam import CAM_METHODS
from larnet_core.explain.explainer import Explainer, ModelLike, TargetClass
from larnet_core.explain.inputs import MIN_IMAGE_SIDE, as_face_image, read_image
from larnet_core.explain.overlay import colorize, overlay_heatmap, tile_maps
from larnet_core.explain.results import CamResult, Explanation, HiddenLayerGrid, StageMask

__all__ = [
    "CAM_METHODS",
    "CamResult",
    "Explainer",
    "Explanation",
    "HiddenLayerGrid",
    "MIN_IMAGE_SIDE",
    "StageMask",
    "as_face_image",
    "attention_maps",
    "colorize",
    "explainer_for",
    "grad_cam",
    "hidden_layers",
    "mean_absolute_response",
    "overlay_heatmap",
    "read_image",
    "tile_maps",
]

_CACHE_ATTRIBUTE = "_larnet_explainer"
_cache_lock = threading.Lock()


class _ExplainerSlot:
    """Holds a model's cached explainer; copies and pickles of the model get an empty slot (an explainer holds
    a lock and the original model, neither of which a copy should share)."""

    __slots__ = ("explainer",)

    def __init__(self, explainer: Explainer | None = None) -> None:
        self.explainer = explainer

    def __reduce__(self):
        return (_ExplainerSlot, ())

    def __deepcopy__(self, memo: dict) -> "_ExplainerSlot":
        return _ExplainerSlot()


def explainer_for(model: Union[ModelLike, Explainer]) -> Explainer:
    """The explainer of a model, built on first use and reused afterwards.

    It is kept as an attribute of the ``nn.Module`` itself, so it lives exactly as long as the model (a
    module-level dictionary would keep every model ever explained alive). A ``(model, card)`` pair with a
    different card than the cached one gets a new explainer.
    """
    if isinstance(model, Explainer):
        return model
    explainer = Explainer(model)  # validates the argument; cheap (CAM objects are built lazily)
    with _cache_lock:
        slot = getattr(explainer.model, _CACHE_ATTRIBUTE, None)
        if isinstance(slot, _ExplainerSlot) and slot.explainer is not None and slot.explainer.card == explainer.card:
            return slot.explainer
        object.__setattr__(explainer.model, _CACHE_ATTRIBUTE, _ExplainerSlot(explainer))
        return explainer


def attention_maps(model: Union[ModelLike, Explainer], image: np.ndarray) -> list[StageMask]:
    """Soft mask M(x) of every attention module for one face; see :meth:`Explainer.attention_maps`."""
    return explainer_for(model).attention_maps(image)


def hidden_layers(
    model: Union[ModelLike, Explainer], image: np.ndarray, stage: str | Sequence[str] | None = None, k: int = 16
) -> list[HiddenLayerGrid]:
    """The ``k`` most active feature maps of each stage, tiled; see :meth:`Explainer.hidden_layers`."""
    return explainer_for(model).hidden_layers(image, stage, k)


def grad_cam(
    model: Union[ModelLike, Explainer],
    image: np.ndarray | Sequence[np.ndarray],
    target_class: TargetClass = None,
    stage: str | None = None,
    method: str = "gradcam",
) -> CamResult | list[CamResult]:
    """Class activation map of one stage (default: the last) for one face, or a list for a batch of faces.

    A single image (an ``H x W x C`` or ``H x W`` array) gives a :class:`CamResult`; a list of images gives one
    result per image. See :meth:`Explainer.grad_cam_batch`.
    """
    explainer = explainer_for(model)
    stages = [stage if stage is not None else explainer.stages[-1]]
    if isinstance(image, np.ndarray) and image.ndim in (2, 3) and not (image.ndim == 3 and image.shape[2] > 4):
        return explainer.grad_cam_batch([image], target_class, stages, (method,))[0]
    return explainer.grad_cam_batch(list(image), target_class, stages, (method,))


def mean_absolute_response(model: Union[ModelLike, Explainer], images: Sequence[np.ndarray]) -> pd.DataFrame:
    """Mean absolute response per stage and attention module over faces (Fig. 3); DataFrame with columns
    ``stage, module, depth, residual, mean_mask, mean_abs_trunk, mean_abs_response, mean_abs_output, images``."""
    return explainer_for(model).mean_absolute_response(images)

