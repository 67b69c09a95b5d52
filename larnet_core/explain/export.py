"""Write an :class:`Explanation` as PNG files plus a JSON index (what ``larnet explain`` produces)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from larnet_core.explain.results import Explanation

__all__ = ["INDEX_NAME", "save_explanation"]

INDEX_NAME = "index.json"
INDEX_FORMAT = "larnet-explanation"


def _file_stem(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name.replace("++", "pp"))


def _write_png(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(image)).save(path)


def save_explanation(
    explanation: Explanation,
    out_dir: str | Path,
    *,
    responses: pd.DataFrame | None = None,
    meta: dict[str, Any] | None = None,
    alpha: float = 0.5,
    stretch_masks: bool = False,
) -> dict[str, Any]:
    """Write every map of ``explanation`` under ``out_dir`` and an ``index.json`` describing them.

    Layout: ``face.png`` (the explained crop), ``masks/<module>.png`` (channel-mean mask over the face),
    ``hidden/<stage>.png`` (feature-map grids), ``cams/<method>/<stage>.png`` (CAM over the face). Paths in the
    index are relative to ``out_dir``.

    Args:
        responses: optional table from ``mean_absolute_response``, stored in the index.
        meta: extra JSON-able entries for the index (input file, model, face box ...).
        alpha: opacity of the mask overlays.
        stretch_masks: min-max scale each mask before colouring it (see :meth:`StageMask.overlay`).

    Returns:
        The index, as written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _write_png(out / "face.png", explanation.image)
    index: dict[str, Any] = {
        "format": INDEX_FORMAT,
        "version": 1,
        **(meta or {}),
        "face_file": "face.png",
        "size": [int(explanation.image.shape[1]), int(explanation.image.shape[0])],
        "prediction": {"label": explanation.label,
                       "probabilities": {k: round(v, 6) for k, v in explanation.probabilities.items()}},
        "target_class": explanation.target_class,
        "masks_stretched": stretch_masks,
        "masks": [],
        "hidden": [],
        "cams": [],
    }
    for mask in explanation.masks:
        file = f"masks/{_file_stem(mask.module)}.png"
        _write_png(out / file, mask.overlay(explanation.image, alpha, stretch=stretch_masks))
        index["masks"].append({**mask.summary(), "file": file})
    for grid in explanation.hidden:
        file = f"hidden/{_file_stem(grid.stage)}.png"
        _write_png(out / file, grid.grid)
        index["hidden"].append({**grid.summary(), "file": file})
    for cam in explanation.cams:
        file = f"cams/{_file_stem(cam.method)}/{_file_stem(cam.stage)}.png"
        _write_png(out / file, cam.overlay)
        index["cams"].append({**cam.summary(), "file": file})
    if responses is not None:
        index["responses"] = json.loads(responses.to_json(orient="records"))
    tmp = out / (INDEX_NAME + ".part")
    tmp.write_text(json.dumps(index, indent=2), encoding="utf-8")
    tmp.replace(out / INDEX_NAME)
    return index
