"""Building blocks of residual attention networks (Wang et al., CVPR 2017) as used by LARNet.

Reads from leaf to composite: mask activations (paper eqs. 4-6), the pre-activation bottleneck unit of the Caffe
reference, the soft-mask branch, the attention module (eq. 1 naive / eq. 3 residual), and a level (transition
unit + attention modules).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from larnet_core.models.card_checks import ATTENTION_KINDS

__all__ = [
    "ATTENTION_KINDS",
    "MaskActivation",
    "PreActBottleneck",
    "SoftMaskBranch",
    "AttentionModule",
    "AttentionLevel",
    "ModuleMask",
]

_EPS = 1e-6


class ModuleMask(NamedTuple):
    """The soft mask M(x) of one attention module, as returned by ``forward_intermediates``."""

    name: str  # dotted module path inside the network, e.g. "stage1.levels.1.modules.0"
    stage: str  # e.g. "stage1"
    mask: Tensor  # N x C x h x w, the activated mask (range [0, 1] for mixed/spatial)


class MaskActivation(nn.Module):
    """Activation at the end of the soft-mask branch.

    * ``mixed`` (eq. 4): sigmoid of every channel at every position.
    * ``channel`` (eq. 5): L2-normalise the channel vector at each spatial position (no spatial information).
    * ``spatial`` (eq. 6): standardise each channel over its spatial positions, then sigmoid.
    """

    def __init__(self, kind: str = "mixed") -> None:
        super().__init__()
        if kind not in ATTENTION_KINDS:
            raise ValueError(f"attention must be one of {ATTENTION_KINDS}, got {kind!r}")
        self.kind = kind

    def forward(self, x: Tensor) -> Tensor:
        if self.kind == "mixed":
            return torch.sigmoid(x)
        if self.kind == "channel":
            return x / (x.norm(p=2, dim=1, keepdim=True) + _EPS)
        mean = x.mean(dim=(2, 3), keepdim=True)
        std = x.std(dim=(2, 3), keepdim=True, unbiased=False)
        return torch.sigmoid((x - mean) / (std + _EPS))

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}"


class PreActBottleneck(nn.Module):
    """Pre-activation bottleneck residual unit of the Caffe reference.

    BN-ReLU -> 1x1 (C/4) -> BN-ReLU -> 3x3 (C/4, stride) -> BN-ReLU -> 1x1 (C). The projection shortcut (1x1,
    stride) is applied to the pre-activated input and exists only when the shape changes.

    Args:
        in_channels: input channels.
        out_channels: output channels (the bottleneck width is ``out_channels // expansion``).
        stride: stride of the 3x3 convolution and of the projection.
    """

    expansion = 4

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        if out_channels % self.expansion:
            raise ValueError(f"out_channels must be divisible by {self.expansion}, got {out_channels}")
        mid = out_channels // self.expansion
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, mid, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, stride=stride, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, out_channels, 1, bias=False)
        self.shortcut = (
            nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)
            if stride != 1 or in_channels != out_channels
            else None
        )

    def forward(self, x: Tensor) -> Tensor:
        # Out-of-place ReLUs: CAM hooks on CPU see corrupted activations after in-place ops.
        pre = F.relu(self.bn1(x))
        identity = x if self.shortcut is None else self.shortcut(pre)
        out = self.conv1(pre)
        out = self.conv2(F.relu(self.bn2(out)))
        out = self.conv3(F.relu(self.bn3(out)))
        return out + identity


def _units(channels: int, count: int) -> nn.Sequential:
    return nn.Sequential(*(PreActBottleneck(channels, channels) for _ in range(count)))


def _down(x: Tensor) -> Tensor:
    return F.max_pool2d(x, kernel_size=3, stride=2, padding=1)


class SoftMaskBranch(nn.Module):
    """Bottom-up / top-down soft-mask branch.

    ``depth`` max-pool steps go down (``r`` units after each; the lowest level has ``2r``), bilinear steps come
    back up to each level's exact size (so any input size works), with a skip connection (one unit) from each
    intermediate level, as in the reference: depth 3 has two skips, depth 2 one, depth 1 none. The branch ends
    BN-ReLU-1x1 -> BN-ReLU-1x1 -> activation.
    """

    def __init__(self, channels: int, depth: int, r: int = 1, attention: str = "mixed") -> None:
        super().__init__()
        if depth < 1:
            raise ValueError(f"mask depth must be >= 1, got {depth}")
        self.depth = depth
        self.down_units = nn.ModuleList(_units(channels, r) for _ in range(depth - 1))
        self.skips = nn.ModuleList(PreActBottleneck(channels, channels) for _ in range(depth - 1))
        self.bottom = _units(channels, 2 * r)
        self.up_units = nn.ModuleList(_units(channels, r) for _ in range(depth - 1))
        self.head = nn.Sequential(
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 1, bias=False),
        )
        self.activation = MaskActivation(attention)

    def forward(self, x: Tensor) -> Tensor:
        sizes = [x.shape[-2:]]
        skips = []
        out = x
        for unit, skip in zip(self.down_units, self.skips):
            out = unit(_down(out))
            sizes.append(out.shape[-2:])
            skips.append(skip(out))
        out = self.bottom(_down(out))
        for unit in self.up_units:
            size = sizes.pop()
            out = F.interpolate(out, size=size, mode="bilinear", align_corners=False) + skips.pop()
            out = unit(out)
        out = F.interpolate(out, size=sizes.pop(), mode="bilinear", align_corners=False)
        return self.activation(self.head(out))


class AttentionModule(nn.Module):
    """Attention module with p=1, t=2, r=1: first unit, trunk + soft mask, combine, last unit.

    The combination is ``(1 + M) * T`` (attention residual learning, eq. 3) or, with ``residual=False``, the naive
    ``M * T`` (eq. 1) used for ablations.
    """

    def __init__(
        self, channels: int, depth: int, attention: str = "mixed", residual: bool = True, r: int = 1, t: int = 2
    ) -> None:
        super().__init__()
        self.residual = residual
        self.first = PreActBottleneck(channels, channels)
        self.trunk = _units(channels, t)
        self.mask = SoftMaskBranch(channels, depth, r=r, attention=attention)
        self.last = PreActBottleneck(channels, channels)

    def forward_with_mask(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Return the module output and its soft mask M(x) (N x C x H x W)."""
        x = self.first(x)
        trunk = self.trunk(x)
        mask = self.mask(x)
        out = (1 + mask) * trunk if self.residual else mask * trunk
        return self.last(out), mask

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_with_mask(x)[0]


class AttentionLevel(nn.Module):
    """One resolution level: a transition unit (channel change, optional stride) then attention modules."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int,
        num_modules: int,
        depth: int,
        attention: str = "mixed",
        residual: bool = True,
    ) -> None:
        super().__init__()
        self.transition = PreActBottleneck(in_channels, out_channels, stride=stride)
        self.attention_modules = nn.ModuleList(
            AttentionModule(out_channels, depth, attention=attention, residual=residual) for _ in range(num_modules)
        )

    def forward_with_masks(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        x = self.transition(x)
        masks = []
        for module in self.attention_modules:
            x, mask = module.forward_with_mask(x)
            masks.append(mask)
        return x, masks

    def forward(self, x: Tensor) -> Tensor:
        x = self.transition(x)
        for module in self.attention_modules:
            x = module(x)
        return x
