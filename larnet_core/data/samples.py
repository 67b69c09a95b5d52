"""From clip records to training samples: the sample table and a torch Dataset that reads it.

Sample modes:

* ``apex``   one sample per clip, its apex frame (the middle frame when the apex is not annotated);
* ``frames`` every frame from onset to offset, each with the clip's label;
* ``flow``   one sample per clip: onset -> apex optical flow u, v and optical strain as 3 channels
  (:func:`compute_flow_image`; TV-L1 by default, Farneback on request), optionally cached on disk
  (:class:`larnet_core.data.flow_cache.FlowCache`).

Whatever the mode, a clip is the unit the field scores: frame-level predictions are combined per clip before
any metric (:func:`larnet_core.training.protocol.clip_predictions`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from larnet_core.data.images import read_rgb, resize_to
from larnet_core.data.records import ClipRecord
from larnet_core.errors import NoFaceError
from larnet_core.face.flow import compute_flow_image
from larnet_core.face.inputs import InputConfig, photo_model_input

if TYPE_CHECKING:
    from larnet_core.data.flow_cache import FlowCache

__all__ = ["SAMPLE_MODES", "SAMPLE_COLUMNS", "expand_samples", "FrameDataset", "compute_flow_image",
           "sample_image"]

log = logging.getLogger(__name__)

SAMPLE_MODES = ("apex", "frames", "flow")
# Columns of the sample table; apex_path is only filled in flow mode (path then holds the onset frame).
SAMPLE_COLUMNS = ("record", "dataset", "subject", "clip", "emotion", "label", "frame", "path", "apex_path")


def sample_image(path: str, apex_path: str, mode: str, input_size: int | tuple[int, int], flow_method: str = "tvl1",
                 face: str = "none") -> np.ndarray:
    """One training sample as uint8 HxWx3: the frame (``apex``/``frames``) or the onset -> apex flow image
    (``flow``: ``path`` is the onset, ``apex_path`` the apex).

    Samples are made on the same road as clip analysis and live video
    (:func:`larnet_core.face.inputs.photo_model_input`), so a model is trained on exactly what it is later shown:
    with a face detector the face found in the apex frame, aligned to the canonical template, onset and apex cut
    with the same alignment; with ``none`` the whole frame, fitted into the square input without squashing
    (:func:`~larnet_core.face.inputs.whole_frame_matrix`). A non-square ``input_size`` (no model card has one)
    resizes whole frames to it.
    """
    whole = face in ("", "none")
    flow = mode == "flow"
    if not isinstance(input_size, int):
        if not whole:
            raise ValueError(f"face-aligned samples are square; give one input size, not {input_size}")
        if flow:
            return compute_flow_image(read_rgb(path), read_rgb(apex_path), input_size, flow_method)
        return resize_to(read_rgb(path), input_size)
    config = InputConfig(size=int(input_size), sample_mode="flow" if flow else "apex", flow=flow_method)
    apex = read_rgb(apex_path if flow else path)
    onset = read_rgb(path) if flow else None
    what = str(apex_path if flow else path)
    try:
        model_input, _ = photo_model_input(apex, config, "none" if whole else face, reference=onset, what=what)
    except NoFaceError:
        # One unreadable face must not end a long run: this sample is taken whole, and the log says so.
        log.warning("no face found in %s; the sample uses the whole frame", what)
        model_input, _ = photo_model_input(apex, config, "none", reference=onset, what=what)
    return model_input.image


def _check_mode(mode: str) -> str:
    if mode not in SAMPLE_MODES:
        raise ValueError(f"unknown sample mode {mode!r}; use one of {', '.join(SAMPLE_MODES)}")
    return mode


def expand_samples(records: Sequence[ClipRecord], mode: str) -> pd.DataFrame:
    """One row per training sample.

    Args:
        records: clip records, usually after :func:`larnet_core.data.labels.apply_scheme`.
        mode: ``apex``, ``frames`` or ``flow``.

    Returns:
        A table with :data:`SAMPLE_COLUMNS`: ``record`` is the index into ``records``; ``label`` is the scheme
        label, or the emotion when no scheme was applied; ``frame`` is the frame number as text (``"46"``), or
        ``"31->46"`` (onset->apex) in flow mode; ``path`` is the image (the onset frame in flow mode) and
        ``apex_path`` the apex frame in flow mode, else "".
    """
    _check_mode(mode)
    rows = []
    still = 0
    for index, record in enumerate(records):
        base = {
            "record": index,
            "dataset": record.dataset,
            "subject": record.subject,
            "clip": record.clip,
            "emotion": record.emotion,
            "label": record.label if record.label is not None else record.emotion,
        }
        if mode == "apex":
            positions = [record.apex_index]
        elif mode == "frames":
            positions = list(range(record.onset_index, record.offset_index + 1))
        else:
            onset, apex = record.onset_index, record.apex_index
            still += onset == apex
            rows.append({
                **base,
                "frame": f"{record.frame_numbers[onset]}->{record.frame_numbers[apex]}",
                "path": str(record.frames[onset]),
                "apex_path": str(record.frames[apex]),
            })
            continue
        for position in positions:
            rows.append({**base, "frame": str(record.frame_numbers[position]), "path": str(record.frames[position]),
                         "apex_path": ""})
    if still:
        log.warning("flow samples: %d clip(s) have the onset as apex frame (single-frame clips?); "
                    "their flow is zero", still)
    return pd.DataFrame(rows, columns=list(SAMPLE_COLUMNS))


class FrameDataset(Dataset):
    """Reads a sample table into ``(tensor, label index)`` pairs.

    Images are read with OpenCV as RGB and resized to ``input_size``; the tensor is float32 CxHxW in [0, 1]
    (flow mode: the encoded flow image of :func:`compute_flow_image` divided by 255). No normalisation happens
    here: the trainer applies the model's mean/std.

    Args:
        samples: a table from :func:`expand_samples`.
        mode: the mode the table was made with.
        input_size: an int for a square, or (height, width).
        transform: optional callable applied to the tensor (augmentation).
        cache: keep decoded (resized) images in memory; each DataLoader worker holds its own copy.
        classes: class names in label-index order; default: the sorted labels present in ``samples``.
        flow_method: ``tvl1`` (the field's input) or ``farneback``, for flow mode.
        flow_cache: read flow samples from (and write them to) this cache; its method, size and face win.
        face: ``none`` (whole frames) or a face detector: samples aligned as in clip analysis
            (:func:`sample_image`).

    Raises:
        ValueError: bad mode, or labels not in ``classes``.
        DatasetError: when an item is read, an unreadable image (the message names the file).
    """

    def __init__(
        self,
        samples: pd.DataFrame,
        mode: str,
        input_size: int | tuple[int, int],
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        cache: bool = False,
        classes: Sequence[str] | None = None,
        flow_method: str = "tvl1",
        flow_cache: "FlowCache | None" = None,
        face: str = "none",
    ) -> None:
        self.mode = _check_mode(mode)
        self.face = face
        self.flow_method = flow_method
        self.flow_cache = flow_cache
        if mode == "flow" and (samples["apex_path"] == "").any():
            raise ValueError("flow mode needs a sample table made with expand_samples(records, 'flow')")
        self.samples = samples.reset_index(drop=True)
        self.input_size = input_size
        self.transform = transform
        self.classes: tuple[str, ...] = tuple(classes) if classes is not None else tuple(sorted(set(samples["label"])))
        unknown = sorted(set(samples["label"]) - set(self.classes))
        if unknown:
            raise ValueError(f"sample labels {unknown} are not among the classes {list(self.classes)}")
        index_of = {name: i for i, name in enumerate(self.classes)}
        self.targets: list[int] = [index_of[label] for label in self.samples["label"]]
        self._paths = list(self.samples["path"])
        self._apex_paths = list(self.samples["apex_path"])
        self._cache: dict[int, np.ndarray] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.samples)

    def image(self, index: int) -> np.ndarray:
        """The sample as a uint8 HxWx3 array (RGB image, or encoded flow), before any transform."""
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        if self.mode == "flow" and self.flow_cache is not None:
            row = self.samples.iloc[index]
            array = self.flow_cache.image(str(row["dataset"]), str(row["subject"]), str(row["clip"]),
                                          self._paths[index], self._apex_paths[index])
        else:
            array = sample_image(self._paths[index], self._apex_paths[index], self.mode, self.input_size,
                                 self.flow_method, self.face)
        if self._cache is not None:
            self._cache[index] = array
        return array

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        tensor = torch.from_numpy(np.ascontiguousarray(self.image(index).transpose(2, 0, 1))).float().div_(255.0)
        if self.transform is not None:
            tensor = self.transform(tensor)
        return tensor, self.targets[index]
