"""ResNet-18 for face crops of micro-expression sets: the paper's plain-ResNet baseline, as a model preset.

torchvision's resnet18, adapted in its classifier (the scheme's classes) and input channels, trained by the
same trainer at the same input size as the model it is compared with, so the cost stays similar (at 48 px:
about 0.10 G multiply-adds, against 0.037 G for larnet-lite). ``small_input=True`` swaps the 7x7/2 stem and
max-pool for a 3x3/1 convolution (the CIFAR adaptation of He et al.); that keeps more resolution on tiny
inputs but costs about 16 times more.

It has the same inspection interface as the LARNet presets (``forward_features``/``forward_head``,
``forward_intermediates``, ``feature_info``), so Grad-CAM and hidden-layer views work on it; it has no soft
masks, so its ``masks`` list is empty.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch
from torch import Tensor, nn

from larnet_core.models.networks import FeatureInfo, Intermediates

__all__ = ["ResNet18"]


class ResNet18(nn.Module):
    """torchvision ResNet-18 with ``forward_features`` / ``forward_head`` like the LARNet presets.

    Args:
        num_classes: classifier outputs.
        in_channels: input channels.
        small_input: 3x3/1 stem without max-pool (more resolution on tiny inputs, 16x the cost).
        **_: attention options of the LARNet presets, accepted and ignored (a ResNet has no attention).
    """

    def __init__(self, num_classes: int = 7, in_channels: int = 3, small_input: bool = False, **_: Any) -> None:
        super().__init__()
        import torchvision  # imported here: only this preset needs it, and it costs ~1 s at startup

        net = torchvision.models.resnet18(num_classes=num_classes)
        if small_input:
            net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
            net.maxpool = nn.Identity()
        elif in_channels != 3:
            net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.net = net
        self.num_classes = num_classes
        self.feature_info = [FeatureInfo(f"net.layer{i}", 64 * 2 ** (i - 1), 2 ** (i - 1) * (1 if small_input else 4))
                             for i in range(1, 5)]

    def _stages(self, x: Tensor) -> tuple[Tensor, "OrderedDict[str, Tensor]"]:
        n = self.net
        x = n.maxpool(n.relu(n.bn1(n.conv1(x))))
        stages: OrderedDict[str, Tensor] = OrderedDict()
        for i in range(1, 5):
            x = getattr(n, f"layer{i}")(x)
            stages[f"net.layer{i}"] = x
        return x, stages

    def forward_features(self, x: Tensor) -> Tensor:
        return self._stages(x)[0]

    def forward_head(self, x: Tensor) -> Tensor:
        return self.net.fc(torch.flatten(self.net.avgpool(x), 1))

    def forward_intermediates(self, x: Tensor) -> Intermediates:
        features, stages = self._stages(x)
        return Intermediates(stages, [], self.forward_head(features))

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))
