"""Pictures from maps: heat-map overlays on a face and tiled grids of feature maps (plain numpy + OpenCV)."""

from __future__ import annotations

import math
from typing import Sequence

import cv2
import numpy as np

from larnet_core.face.base import as_rgb_uint8

__all__ = ["overlay_heatmap", "colorize", "normalize_map", "tile_maps"]


def normalize_map(values: np.ndarray) -> np.ndarray:
    """Min-max scale a map to ``[0, 1]`` as float32; a constant map becomes all zeros (nothing stands out)."""
    values = np.nan_to_num(np.asarray(values, dtype=np.float32))
    if values.size == 0:
        return values
    low, high = float(values.min()), float(values.max())
    if high - low < 1e-12:
        return np.zeros_like(values)
    return (values - low) / (high - low)


def colorize(heatmap: np.ndarray, colormap: int = cv2.COLORMAP_JET) -> np.ndarray:
    """A ``[0, 1]`` map (values outside are clipped) as an RGB uint8 image through an OpenCV colormap."""
    grey = np.round(np.clip(np.nan_to_num(np.asarray(heatmap, dtype=np.float32)), 0.0, 1.0) * 255).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(grey, colormap), cv2.COLOR_BGR2RGB)


def overlay_heatmap(
    image: np.ndarray, heatmap: np.ndarray, alpha: float = 0.5, colormap: int = cv2.COLORMAP_JET
) -> np.ndarray:
    """Blend a heat map over an image.

    Args:
        image: RGB uint8 ``H x W x 3`` (grey-scale and RGBA are converted).
        heatmap: 2-D map with values in ``[0, 1]`` (clipped); resized to the image when its size differs.
        alpha: weight of the colored map, 0 (image only) to 1 (map only).
        colormap: an OpenCV colormap id (``cv2.COLORMAP_JET``, ``cv2.COLORMAP_VIRIDIS`` ...).

    Returns:
        RGB uint8 ``H x W x 3``.

    Raises:
        ValueError: ``alpha`` outside ``[0, 1]`` or a heat map that is not 2-D.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    rgb = as_rgb_uint8(image)
    heatmap = np.asarray(heatmap, dtype=np.float32)
    if heatmap.ndim != 2:
        raise ValueError(f"heatmap must be a 2-D map, got shape {heatmap.shape}")
    height, width = rgb.shape[:2]
    if heatmap.shape != (height, width):
        heatmap = cv2.resize(heatmap, (width, height), interpolation=cv2.INTER_LINEAR)
    blended = (1.0 - alpha) * rgb.astype(np.float32) + alpha * colorize(heatmap, colormap).astype(np.float32)
    return np.round(blended).clip(0, 255).astype(np.uint8)


def tile_maps(
    maps: Sequence[np.ndarray],
    labels: Sequence[str] | None = None,
    tile_size: int = 64,
    gap: int = 2,
    colormap: int = cv2.COLORMAP_VIRIDIS,
) -> tuple[np.ndarray, int]:
    """Tile ``[0, 1]`` maps into one RGB image, row by row, each labelled in its top-left corner.

    Maps are enlarged with nearest-neighbour interpolation so each cell of a coarse feature map stays visible
    as the block it is (a 7 x 7 map is 7 x 7 blocks, not a blur suggesting detail it does not have).

    Returns:
        ``(grid, columns)``: the RGB uint8 image (white gaps) and the number of tiles per row.
    """
    if not maps:
        raise ValueError("tile_maps needs at least one map")
    columns = math.ceil(math.sqrt(len(maps)))
    rows = math.ceil(len(maps) / columns)
    grid = np.full((rows * (tile_size + gap) + gap, columns * (tile_size + gap) + gap, 3), 255, dtype=np.uint8)
    # One colormap call for the whole stack: per-tile calls cost more than the tiles themselves.
    stack = np.concatenate([cv2.resize(np.asarray(values, dtype=np.float32), (tile_size, tile_size),
                                       interpolation=cv2.INTER_NEAREST) for values in maps])
    stack = colorize(stack, colormap)
    for i in range(len(maps)):
        tile = stack[i * tile_size:(i + 1) * tile_size]
        if labels is not None:
            _label(tile, str(labels[i]))
        y, x = gap + (i // columns) * (tile_size + gap), gap + (i % columns) * (tile_size + gap)
        grid[y:y + tile_size, x:x + tile_size] = tile
    return grid, columns


def _label(tile: np.ndarray, text: str) -> None:
    # White text on a dark outline stays readable on every colormap.
    scale = max(0.3, tile.shape[0] / 160)
    origin = (2, int(12 * scale / 0.4))
    cv2.putText(tile, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 2, cv2.LINE_AA)
    cv2.putText(tile, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
