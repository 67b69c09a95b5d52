"""Training data: labelled records, decoded sample images held in memory, statistics and augmentation.

Micro-expression sets are small (CASME II: 255 clips), so every sample is decoded (or its flow computed) once,
by DataLoader workers, into one uint8 tensor. Sampling and augmentation then run in the training process from
one seeded generator, which makes a run reproducible and resumable whatever the number of workers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from larnet_core.data import FrameDataset
from larnet_core.data.flow_cache import FlowCache, default_flow_cache_root
from larnet_core.errors import DatasetError
from larnet_core.face.flow import _check_method
from larnet_core.training.protocol import is_synthetic_root, load_sources

__all__ = ["SampleSet", "load_labelled_records", "load_sample_images", "channel_stats", "augment_batch",
           "normalize_batch", "is_synthetic_root", "flow_cache_for"]

log = logging.getLogger(__name__)

def load_labelled_records(dataset: str, root: str | Path, labels: str) -> tuple[list, tuple[str, ...]]:
    """Load one dataset and label it under a scheme (:func:`larnet_core.training.protocol.load_sources`).

    Returns:
        (clip records with ``label`` set, the scheme's class names in order).

    Raises:
        DatasetError: unknown dataset or scheme, unreadable data, or no clip left after the scheme.
    """
    return load_sources([(dataset, str(root))], labels)


class _UInt8Images(Dataset):
    """Sample images as uint8 CxHxW tensors (what FrameDataset decodes, without its float conversion)."""

    def __init__(self, frames) -> None:
        self.frames = frames

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> torch.Tensor:
        image = self.frames.image(index)
        return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))


@dataclass
class SampleSet:
    """Decoded samples of one part of a split.

    Attributes:
        samples: the rows of :func:`larnet_core.data.expand_samples` for these samples.
        images: uint8 tensor N x C x S x S.
        targets: int64 tensor N of class indices.
        cached: flow samples that were read from the flow cache rather than computed.
    """

    samples: pd.DataFrame
    images: torch.Tensor
    targets: torch.Tensor
    cached: int = 0

    def __len__(self) -> int:
        return len(self.targets)

    def subset(self, indices: Sequence[int]) -> "SampleSet":
        index = torch.as_tensor(list(indices), dtype=torch.long)
        return SampleSet(self.samples.iloc[list(indices)].reset_index(drop=True), self.images[index],
                         self.targets[index], self.cached)


def flow_cache_for(method: str, size: int, folder: str | Path | None = None, face: str = "none"):
    """The flow-sample cache of a method and size: ``folder``, or the default under the data dir when None;
    no cache when ``folder`` is ""."""
    if folder == "":
        return None
    return FlowCache(Path(folder) if folder is not None else default_flow_cache_root(), method, int(size),
                     face or "none")


def load_sample_images(samples: pd.DataFrame, mode: str, input_size: int, classes: Sequence[str],
                       workers: int = 0, progress: bool = False, flow: str = "tvl1",
                       flow_cache: str | Path | None = None, face: str = "none") -> SampleSet:
    """Decode every sample of a table at ``input_size``; in ``flow`` mode compute (or read from the cache) its
    onset->apex flow image.

    Args:
        flow: flow estimator of flow samples (``tvl1`` or ``farneback``).
        flow_cache: cache folder; None = the default under the data dir; "" = no cache.
        face: ``none`` (whole frames) or a face detector: samples aligned on the clip-analysis road.
    """
    cache = None
    if mode == "flow":
        _check_method(flow)  # fails before any worker starts when TV-L1 is unavailable
        cache = flow_cache_for(flow, input_size, flow_cache, face)
    frames = FrameDataset(samples, mode, input_size, classes=classes, flow_method=flow, flow_cache=cache,
                          face=face or "none")
    cached = 0
    if cache is not None:
        cached = sum(cache.contains(str(r.dataset), str(r.subject), str(r.clip), str(r.path), str(r.apex_path))
                     for r in frames.samples.itertuples(index=False))
        log.info("%s flow samples: %d cached, %d to compute (cache %s)", flow, cached, len(frames) - cached,
                 cache.root)
    loader = DataLoader(_UInt8Images(frames), batch_size=32, num_workers=max(0, workers), shuffle=False)
    batches = []
    iterator = loader
    if progress:
        what = (f"{flow} flow samples ({cached} of {len(frames)} cached)" if mode == "flow"
                else f"{len(frames)} {mode} samples")
        iterator = tqdm(loader, desc=f"reading {what}", unit="batch", leave=False)
    for batch in iterator:
        batches.append(batch)
    if not batches:
        raise DatasetError("no sample to read: the split part is empty")
    images = torch.cat(batches)
    return SampleSet(frames.samples, images, torch.as_tensor(frames.targets, dtype=torch.long), cached=cached)


def channel_stats(images: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation of uint8 images, on the [0, 1] scale."""
    data = images.float().div_(255.0).transpose(0, 1).reshape(images.shape[1], -1)
    mean = data.mean(dim=1)
    std = data.std(dim=1).clamp_min(1e-3)
    return [round(float(v), 6) for v in mean], [round(float(v), 6) for v in std]


def normalize_batch(images: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 (or [0, 1] float) N x C x H x W -> normalised float32."""
    batch = images.float().div(255.0) if images.dtype == torch.uint8 else images.float()
    mean_t = torch.as_tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    std_t = torch.as_tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    return (batch - mean_t) / std_t


def augment_batch(images: torch.Tensor, generator: torch.Generator, pad: int = 4, flip: bool = True,
                  flow: bool = False) -> torch.Tensor:
    """The paper's augmentation: reflect-pad by ``pad`` then a random crop back to size, and random flips.

    Args:
        images: uint8 N x C x H x W.
        generator: the run's sampling generator (keeps runs reproducible and resumable).
        flow: the images are encoded flow (channel 0 = horizontal flow around 128): a mirror also negates it.

    Returns:
        float32 N x C x H x W in [0, 1].
    """
    batch = images.float().div_(255.0)
    n, _, height, width = batch.shape
    offsets = torch.randint(0, 2 * pad + 1, (n, 2), generator=generator) if pad > 0 else torch.zeros(n, 2, dtype=torch.long)
    mirror = torch.rand(n, generator=generator) < 0.5 if flip else torch.zeros(n, dtype=torch.bool)
    if pad > 0:
        padded = F.pad(batch, (pad, pad, pad, pad), mode="reflect")
        batch = torch.stack([padded[i, :, y:y + height, x:x + width] for i, (y, x) in enumerate(offsets.tolist())])
    if mirror.any():
        flipped = batch[mirror].flip(-1)
        if flow:
            flipped[:, 0] = (256.0 / 255.0 - flipped[:, 0]).clamp_(0.0, 1.0)
        batch[mirror] = flipped
    return batch
