"""The field's small optical-flow networks, on the 28 x 28 onset -> apex (u, v, strain) sample.

Both are baselines of published micro-expression comparisons (MEGC 2019 composite), rebuilt from their papers
so they train in the same trainer, on the same folds and inputs as LARNet:

* :class:`STSTNet`: Liong, Gan, See, Khor, Huang, "Shallow Triple Stream Three-dimensional CNN (STSTNet) for
  Micro-expression Recognition", FG 2019 (arXiv 1902.03634). Three shallow streams of 3, 5 and 8 3x3
  convolution filters over the 3-channel input (optical strain, horizontal and vertical flow), each followed
  by ReLU and 3x3 max-pooling with stride 3 (28 -> 10); the streams are concatenated (10 x 10 x 16),
  average-pooled 2x2 (5 x 5 x 16 = 400 values) and classified by one fully connected layer.
  Parameters: (3 + 5 + 8) x (3 x 3 x 3 + 1) + 400 x K + K = 1,651 for K = 3 classes.
* :class:`OffApexNet`: Gan, Liong, Yau, Huang, Tan, "OFF-ApexNet on micro-expression recognition system",
  Signal Processing: Image Communication 74 (2019) 129-139 (arXiv 1805.08699). Two streams, one on the
  horizontal and one on the vertical flow field, each conv 5x5 (6 filters) -> 2x2 max-pool -> conv 5x5 (16
  filters) -> 2x2 max-pool (28 -> 14 -> 7); the two 7 x 7 x 16 maps are concatenated and go through two
  fully connected layers of 1024 units and the output layer. Parameters: 2 x (156 + 2,416) + 1,568 x 1024 +
  1024 + 1024 x 1024 + 1024 + 1024 x K + K = 2,664,475 for K = 3.

Choices the papers leave open (or that our trainer needs), all documented in docs/training.md:

* Convolutions use "same" padding and ReLU; STSTNet's max-pool pads by one on each side (Keras/MATLAB "same"),
  so 28 -> 10 as the paper states.
* The last pooling of each network is adaptive (STSTNet: average to 5 x 5, OFF-ApexNet: max to 7 x 7). At the
  papers' 28 x 28 input that is exactly their 2x2 pooling; at other input sizes the networks still build with
  the same parameter count instead of failing.
* Our flow samples have 3 channels (u, v, strain): STSTNet reads all three (channel order differs from the
  paper's strain-first list, which a convolution does not care about); OFF-ApexNet reads channel 0 (u) in its
  horizontal stream and channel 1 (v) in its vertical stream, and ignores strain, as the paper has none.
* Dropout: none in STSTNet (the paper mentions none); 0.5 before each fully connected layer of OFF-ApexNet
  (``drop_rate``), the usual guard for a 2.6 M-parameter head on a few hundred samples. No batch norm in
  either (neither paper has it; some public ports add it).
* PyTorch's default initialisation (neither paper states one).

Both follow the inspection protocol of the other presets (``forward_features`` / ``forward_head``,
``forward_intermediates``, ``feature_info``) with an empty mask list, so hidden layers and Grad-CAM work.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Sequence

import torch
from torch import Tensor, nn

from larnet_core.models.networks import FeatureInfo, Intermediates

__all__ = ["STSTNet", "OffApexNet"]


class STSTNet(nn.Module):
    """Shallow Triple Stream Three-dimensional CNN (Liong et al., FG 2019).

    Args:
        num_classes: classifier outputs (3 in the paper: negative, positive, surprise).
        in_channels: input channels (3: u, v, strain).
        stream_widths: filters of each stream's 3x3 convolution (the paper: 3, 5, 8).
        pooled_size: side of the map after the final average pooling (5 at the paper's 28 px input).
        drop_rate: dropout before the classifier (0: the paper has none).
        **_: attention options of the LARNet presets, accepted and ignored.
    """

    def __init__(self, num_classes: int = 3, in_channels: int = 3, stream_widths: Sequence[int] = (3, 5, 8),
                 pooled_size: int = 5, drop_rate: float = 0.0, **_: Any) -> None:
        super().__init__()
        if not stream_widths or any(int(w) < 1 for w in stream_widths):
            raise ValueError(f"stream_widths must be positive filter counts, got {stream_widths!r}")
        self.streams = nn.ModuleList(
            nn.Sequential(nn.Conv2d(in_channels, int(w), kernel_size=3, padding=1), nn.ReLU(inplace=True),
                          nn.MaxPool2d(kernel_size=3, stride=3, padding=1))
            for w in stream_widths
        )
        channels = sum(int(w) for w in stream_widths)
        self.pool = nn.AdaptiveAvgPool2d(pooled_size)  # = 2x2 average pooling, stride 2, on the 10 x 10 maps
        self.dropout = nn.Dropout(drop_rate)
        self.fc = nn.Linear(channels * pooled_size * pooled_size, num_classes)
        self.num_classes = num_classes
        self.feature_info = [FeatureInfo(f"streams.{i}", int(w), 3) for i, w in enumerate(stream_widths)]
        self.feature_info.append(FeatureInfo("pool", channels, 6))

    def _stages(self, x: Tensor) -> tuple[Tensor, "OrderedDict[str, Tensor]"]:
        stages: OrderedDict[str, Tensor] = OrderedDict()
        outputs = []
        for i, stream in enumerate(self.streams):
            outputs.append(stream(x))
            stages[f"streams.{i}"] = outputs[-1]
        pooled = self.pool(torch.cat(outputs, dim=1))
        stages["pool"] = pooled
        return pooled, stages

    def forward_features(self, x: Tensor) -> Tensor:
        """N x C x H x W -> N x 16 x 5 x 5 (at 28 px)."""
        return self._stages(x)[0]

    def forward_head(self, x: Tensor) -> Tensor:
        return self.fc(self.dropout(torch.flatten(x, 1)))

    def forward_intermediates(self, x: Tensor) -> Intermediates:
        features, stages = self._stages(x)
        return Intermediates(stages, [], self.forward_head(features))

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


def _off_stream(widths: Sequence[int], kernel: int, pooled_size: int) -> nn.Sequential:
    first, second = (int(w) for w in widths)
    return nn.Sequential(
        nn.Conv2d(1, first, kernel_size=kernel, padding=kernel // 2), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=2, stride=2),
        nn.Conv2d(first, second, kernel_size=kernel, padding=kernel // 2), nn.ReLU(inplace=True),
        nn.AdaptiveMaxPool2d(pooled_size),  # = 2x2 max pooling, stride 2, on the 14 x 14 maps
    )


class OffApexNet(nn.Module):
    """OFF-ApexNet (Gan et al., Signal Processing: Image Communication 2019): two flow streams, two FC layers.

    Args:
        num_classes: classifier outputs.
        in_channels: input channels; channel 0 (horizontal flow) and 1 (vertical flow) are used, at least 2.
        conv_widths: filters of the two convolutions of each stream (the paper: 6, 16).
        kernel_size: convolution kernel side (the paper: 5).
        hidden: units of the two fully connected layers (the paper: 1024).
        pooled_size: side of each stream's last map (7 at 28 px).
        drop_rate: dropout before each fully connected layer.
        **_: attention options of the LARNet presets, accepted and ignored.

    Raises:
        ValueError: fewer than 2 input channels.
    """

    def __init__(self, num_classes: int = 3, in_channels: int = 3, conv_widths: Sequence[int] = (6, 16),
                 kernel_size: int = 5, hidden: int = 1024, pooled_size: int = 7, drop_rate: float = 0.5,
                 **_: Any) -> None:
        super().__init__()
        if in_channels < 2:
            raise ValueError(f"OFF-ApexNet reads horizontal and vertical flow: in_channels must be >= 2, "
                             f"got {in_channels}")
        if len(conv_widths) != 2:
            raise ValueError(f"conv_widths must give the two convolutions' filters, got {conv_widths!r}")
        self.horizontal = _off_stream(conv_widths, kernel_size, pooled_size)
        self.vertical = _off_stream(conv_widths, kernel_size, pooled_size)
        features = 2 * int(conv_widths[1]) * pooled_size * pooled_size
        self.classifier = nn.Sequential(
            nn.Dropout(drop_rate), nn.Linear(features, hidden), nn.ReLU(inplace=True),
            nn.Dropout(drop_rate), nn.Linear(hidden, hidden), nn.ReLU(inplace=True),
            nn.Dropout(drop_rate), nn.Linear(hidden, num_classes),
        )
        self.num_classes = num_classes
        self.in_channels = in_channels  # the streams' convolutions read one channel each
        self.feature_info = [FeatureInfo("horizontal", int(conv_widths[1]), 4),
                             FeatureInfo("vertical", int(conv_widths[1]), 4)]

    def _stages(self, x: Tensor) -> tuple[Tensor, "OrderedDict[str, Tensor]"]:
        stages: OrderedDict[str, Tensor] = OrderedDict()
        stages["horizontal"] = self.horizontal(x[:, 0:1])
        stages["vertical"] = self.vertical(x[:, 1:2])
        return torch.cat(list(stages.values()), dim=1), stages

    def forward_features(self, x: Tensor) -> Tensor:
        """N x C x H x W -> N x 32 x 7 x 7 (both streams' maps, at 28 px)."""
        return self._stages(x)[0]

    def forward_head(self, x: Tensor) -> Tensor:
        return self.classifier(torch.flatten(x, 1))

    def forward_intermediates(self, x: Tensor) -> Intermediates:
        features, stages = self._stages(x)
        return Intermediates(stages, [], self.forward_head(features))

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))
