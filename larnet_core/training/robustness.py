"""Resolution robustness (the paper's Table 3): the same labelled clips scored as if filmed at lower resolution.

Each clip's frames are taken to be what a camera of ``reference_height`` lines (1080p by default) would give.
For a target of ``R`` lines every frame is downscaled by ``R / reference_height`` (area averaging, what a
smaller sensor or a downscaling encoder does) before the face is cropped and resized to the model's input,
so a face of 340 pixels at 1080p becomes 227 pixels at 720p and 151 pixels at 480p. The model sees the
checkpoint's usual input (apex crop, or onset->apex flow for ``flow`` models).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable, Sequence

import cv2
import numpy as np
import pandas as pd

from larnet_core.data.images import read_rgb
from larnet_core.errors import Cancelled, DatasetError
from larnet_core.face import build_detector, largest_face
from larnet_core.face.inputs import InputConfig, best_detector_name, build_photo_input

__all__ = ["RESOLUTIONS", "RobustnessResult", "resolution_robustness"]

#: Frame heights of the paper's Table 3.
RESOLUTIONS = (1080, 720, 480)


@dataclass
class RobustnessResult:
    """Accuracy per resolution.

    Attributes:
        table: one row per resolution: ``resolution, scale, face_px, n, accuracy, uf1, uar``
            (``face_px`` = median face height in pixels after downscaling).
        predictions: one row per clip and resolution: ``resolution`` then the columns of
            :func:`larnet_core.training.protocol.predictions_table`.
    """

    table: pd.DataFrame
    predictions: pd.DataFrame


def _downscale(image: np.ndarray, scale: float) -> np.ndarray:
    if scale >= 1.0:
        return image
    size = (max(2, int(round(image.shape[1] * scale))), max(2, int(round(image.shape[0] * scale))))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def resolution_robustness(
    records: Sequence,
    predictor,
    *,
    resolutions: Sequence[int] = RESOLUTIONS,
    reference_height: int = 1080,
    face: str = "none",
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> RobustnessResult:
    """Score labelled clips at each resolution.

    Args:
        records: :class:`~larnet_core.data.ClipRecord` items with ``label`` set (``apply_scheme``) in the
            model's classes; others are skipped.
        predictor: a :class:`~larnet_core.inference.Predictor`.
        resolutions: target frame heights.
        reference_height: the frame height the records' frames stand for.
        face: ``none`` (frames are face crops, as CASME II's), or ``auto`` / a detector name: the face is found
            at full resolution and aligned on the clip-analysis road at every resolution.
        progress: called as ``progress(clips done, clips total)``.
        cancel: stops with :class:`~larnet_core.errors.Cancelled` when set.

    Raises:
        DatasetError: no record has a label among the model's classes.
    """
    # lazy: scikit-learn only to score (`larnet --help` imports this module)
    from larnet_core.metrics import compute_metrics
    from larnet_core.training.protocol import predictions_table, records_table

    card = predictor.card
    classes = list(card.class_names)
    usable = [r for r in records if r.label in classes]
    if not usable:
        raise DatasetError(f"none of the {len(records)} clips has a label among the model's classes "
                           f"({', '.join(classes)}); pass --scheme matching the checkpoint ({card.label_scheme or '?'})")
    detector = None if face == "none" else build_detector(best_detector_name() if face == "auto" else face)
    config = InputConfig.for_card(card)
    probs_by_resolution: dict[int, list[np.ndarray]] = {r: [] for r in resolutions}
    face_px: dict[int, list[float]] = {r: [] for r in resolutions}
    for done, record in enumerate(usable):
        if cancel is not None and cancel.is_set():
            raise Cancelled("the robustness run was cancelled")
        apex = read_rgb(record.apex_frame)
        onset = read_rgb(record.onset_frame) if card.sample_mode == "flow" else None
        # The face is found once at full resolution; each lower resolution sees the same face, smaller.
        detection = None if detector is None else largest_face(apex, detector, what=str(record.apex_frame))
        height = detection.height if detection is not None else float(apex.shape[0])
        inputs = []
        for resolution in resolutions:
            scale = min(1.0, resolution / reference_height)
            face_px[resolution].append(height * scale)
            small_face = None if detection is None else detection.scaled(scale)
            small_onset = None if onset is None else _downscale(onset, scale)
            # The model input is made on the one road from the downscaled frame: detail lost stays lost.
            inputs.append(build_photo_input(_downscale(apex, scale), config, small_face, small_onset).image)
        for resolution, row in zip(resolutions, predictor.predict_proba(inputs)):
            probs_by_resolution[resolution].append(row)
        if progress is not None:
            progress(done + 1, len(usable))
    rows, predictions = [], []
    clips = records_table(usable)
    for resolution in resolutions:
        probs = np.stack(probs_by_resolution[resolution])
        table = predictions_table(clips, probs, classes, fold="all")
        table.insert(0, "resolution", resolution)
        report = compute_metrics(table, classes)
        rows.append({"resolution": resolution, "scale": min(1.0, resolution / reference_height),
                     "face_px": float(np.median(face_px[resolution])), "n": len(table),
                     "accuracy": report.accuracy, "uf1": report.uf1, "uar": report.uar})
        predictions.append(table)
    return RobustnessResult(pd.DataFrame(rows), pd.concat(predictions, ignore_index=True))


