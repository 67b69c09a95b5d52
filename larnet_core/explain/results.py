"""What the explainer returns: small dataclasses holding maps as numpy arrays, plus JSON-able summaries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import pandas as pd

from larnet_core.explain.overlay import normalize_map, overlay_heatmap

__all__ = ["StageMask", "HiddenLayerGrid", "CamResult", "Explanation"]


@dataclass(frozen=True, eq=False)
class StageMask:
    """The soft mask M(x) of one attention module for one image.

    Attributes:
        stage: the stage the module belongs to (``stage1`` ... for LARNet, ``levels.0`` ... for the others).
        module: dotted path of the attention module inside the network.
        kind: the mask activation (``mixed``, ``channel`` or ``spatial``).
        mask_mean: ``H x W`` float32 in ``[0, 1]`` at the size of the image that was explained: the mean of
            M(x) over channels, ready for :func:`overlay_heatmap`. For ``mixed`` and ``spatial`` masks (sigmoid
            outputs) it is the plain mean, comparable across modules and images; ``channel`` masks lie in
            ``[-1, 1]`` (unit-length channel vectors) and are mapped linearly with ``(m + 1) / 2``.
        channels: ``C x h x w`` float32, the raw per-channel mask at the module's own resolution.
    """

    stage: str
    module: str
    kind: str
    mask_mean: np.ndarray = field(repr=False)
    channels: np.ndarray = field(repr=False)

    @property
    def resolution(self) -> tuple[int, int]:
        """``(h, w)`` of the module's feature maps."""
        return int(self.channels.shape[1]), int(self.channels.shape[2])

    def channel_map(self, index: int, size: tuple[int, int] | None = None) -> np.ndarray:
        """One channel of the mask, resized to ``size`` = ``(height, width)`` (default: the explained image's)."""
        if not 0 <= index < self.channels.shape[0]:
            raise IndexError(f"{self.module} has {self.channels.shape[0]} mask channels; {index} is out of range")
        height, width = size or self.mask_mean.shape
        return cv2.resize(self.channels[index], (width, height), interpolation=cv2.INTER_LINEAR)

    def overlay(self, image: np.ndarray, alpha: float = 0.5, colormap: int = cv2.COLORMAP_JET,
                stretch: bool = False) -> np.ndarray:
        """The channel-mean mask blended over ``image`` (RGB uint8).

        Args:
            stretch: min-max scale the mask first. Untrained or weakly trained masks sit near 0.5 everywhere;
                stretching shows where they differ, at the price of hiding how much (say so in captions).
        """
        values = normalize_map(self.mask_mean) if stretch else self.mask_mean
        return overlay_heatmap(image, values, alpha, colormap)

    def summary(self) -> dict[str, Any]:
        """JSON-able description: names, resolution and statistics of the raw mask."""
        return {
            "stage": self.stage,
            "module": self.module,
            "kind": self.kind,
            "channels": int(self.channels.shape[0]),
            "resolution": list(self.resolution),
            "mean": float(self.channels.mean()),
            "min": float(self.channels.min()),
            "max": float(self.channels.max()),
        }


@dataclass(frozen=True, eq=False)
class HiddenLayerGrid:
    """The ``k`` most active feature maps of one stage, tiled (the paper's Figs. 4-6).

    Attributes:
        stage: name of the intermediate output (a key of ``forward_intermediates(x).stages``).
        channels: channel indices shown, most active first (tile ``i`` is channel ``channels[i]``).
        scores: mean absolute activation of each shown channel.
        tiles: ``k x h x w`` float32, each map min-max scaled to ``[0, 1]`` on its own.
        grid: RGB uint8 image of the tiles (viridis, channel index in each tile's corner).
        columns: tiles per row of ``grid``.
        tile_size: side of one tile in ``grid`` pixels; tiles are separated by 2 px.
    """

    stage: str
    channels: list[int]
    scores: list[float]
    tiles: np.ndarray = field(repr=False)
    grid: np.ndarray = field(repr=False)
    columns: int
    tile_size: int

    def summary(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "channels": list(self.channels),
            "scores": [round(s, 6) for s in self.scores],
            "resolution": [int(self.tiles.shape[1]), int(self.tiles.shape[2])],
            "columns": self.columns,
        }


@dataclass(frozen=True, eq=False)
class CamResult:
    """A class activation map of one stage for one image.

    Attributes:
        stage: the layer whose output was explained.
        method: ``gradcam``, ``gradcam++``, ``eigencam`` ...
        target_class: index of the class explained; ``target_label`` its name.
        score: the model's probability for that class on this image.
        heatmap: ``H x W`` float32 in ``[0, 1]`` at the explained image's size (scaled so its maximum is 1,
            unless the map is all zero: nothing in the layer argued for the class).
        overlay: RGB uint8, ``heatmap`` blended over the image.
        resolution: ``(h, w)`` of the layer's feature maps: the map's true detail.
        image_index: position of the image in the batch that was explained.
    """

    stage: str
    method: str
    target_class: int
    target_label: str
    score: float
    heatmap: np.ndarray = field(repr=False)
    overlay: np.ndarray = field(repr=False)
    resolution: tuple[int, int]
    image_index: int = 0

    def summary(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "method": self.method,
            "target_class": self.target_class,
            "target_label": self.target_label,
            "score": round(self.score, 6),
            "resolution": list(self.resolution),
            "image_index": self.image_index,
        }


@dataclass(frozen=True, eq=False)
class Explanation:
    """Everything shown for one face: prediction, attention masks, hidden layers and class activation maps.

    Attributes:
        image: the RGB uint8 face that was explained.
        probabilities: class name -> softmax probability.
        label: the predicted class.
        target_class: the class the CAMs explain (the predicted one unless another was asked for).
        masks, hidden, cams: per-module masks, per-stage grids, per-stage-and-method CAMs.
    """

    image: np.ndarray = field(repr=False)
    probabilities: dict[str, float]
    label: str
    target_class: int
    masks: list[StageMask]
    hidden: list[HiddenLayerGrid]
    cams: list[CamResult]

    def probabilities_frame(self) -> pd.DataFrame:
        """One row per class: ``class, probability``, most likely first."""
        frame = pd.DataFrame({"class": list(self.probabilities), "probability": list(self.probabilities.values())})
        return frame.sort_values("probability", ascending=False, ignore_index=True)
