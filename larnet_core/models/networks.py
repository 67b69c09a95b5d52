"""Networks: the residual attention network (Attention-56/92), Attention EmoResNet, and the LARNet stack.

Every network follows one inspection protocol (after timm):

* ``forward(x)`` = ``forward_head(forward_features(x))``;
* ``forward_intermediates(x)`` returns :class:`Intermediates` with each stage's output and every attention
  module's soft mask, computed in the same pass (no hooks, so it is safe on a model shared between threads);
* ``feature_info`` lists each stage: its module name, channels and stride relative to the input.

Architecture numbers live only in the builders in :mod:`larnet_core.models.registry`.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from larnet_core.models.blocks import AttentionLevel, ModuleMask, PreActBottleneck

__all__ = ["FeatureInfo", "Intermediates", "ResidualAttentionNet", "EmoResNet", "LARNet", "init_weights"]


class FeatureInfo(NamedTuple):
    module: str  # attribute path of the stage, usable with ``model.get_submodule``
    num_chs: int
    reduction: int  # stride relative to the network input


class Intermediates(NamedTuple):
    """Everything a single forward pass can show: stage outputs, soft masks and logits."""

    stages: "OrderedDict[str, Tensor]"
    masks: list[ModuleMask]
    logits: Tensor


def init_weights(module: nn.Module) -> None:
    """He init for convolutions (ReLU nets), unit BN, small normal for classifiers.

    The last convolution of every residual unit starts at zero, so each unit starts as its shortcut; the deep
    Attention-92 stack then trains stably from scratch at the paper's learning rate (Goyal et al., 2017).
    """
    if any(p.is_meta for p in module.parameters()):
        return  # built on the meta device to check a checkpoint's shapes: there are no values to initialise
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.01)
            nn.init.zeros_(m.bias)
    for m in module.modules():
        if isinstance(m, PreActBottleneck):
            nn.init.zeros_(m.conv3.weight)


class _Classifier(nn.Module):
    """Global average pool, dropout, fully connected (softmax is left to the loss / caller)."""

    def __init__(self, in_features: int, num_classes: int, drop_rate: float) -> None:
        super().__init__()
        self.dropout = nn.Dropout(drop_rate)
        self.fc = nn.Linear(in_features, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.dropout(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)))


class ResidualAttentionNet(nn.Module):
    """Residual attention network of Wang et al. (CVPR 2017) following the Caffe reference.

    Stem conv 7x7/2 -> BN-ReLU -> max-pool 3x3/2; three levels, each a transition unit (to 4w, 8w, 16w channels;
    stride 1, 2, 2) followed by attention modules whose masks go ``mask_depths`` pooling steps down; a tail of
    ``tail_units`` units at 32w channels (the first with stride 2); BN-ReLU; average pool; fully connected.

    Args:
        modules_per_level: attention modules in each of the three levels ((1, 1, 1) is Attention-56,
            (1, 2, 3) is Attention-92).
        mask_depths: pooling steps of the soft-mask branch in each level.
        width: stem channels ``w`` (64 in the paper).
        num_classes: classifier outputs; 0 builds no classifier (a feature body, as LARNet's stages use).
        in_channels: input image channels.
        attention: mask activation, ``mixed`` | ``channel`` | ``spatial`` (eqs. 4-6).
        residual: ``(1 + M) * T`` when true (eq. 3), naive ``M * T`` otherwise (eq. 1).
        tail_units: units after the last attention level (3 in the paper; 0 for a feature body).
        drop_rate: dropout before the classifier.
    """

    def __init__(
        self,
        modules_per_level: tuple[int, int, int] = (1, 1, 1),
        mask_depths: tuple[int, int, int] = (3, 2, 1),
        width: int = 64,
        num_classes: int = 1000,
        in_channels: int = 3,
        attention: str = "mixed",
        residual: bool = True,
        tail_units: int = 3,
        drop_rate: float = 0.0,
    ) -> None:
        super().__init__()
        if len(modules_per_level) != 3 or len(mask_depths) != 3:
            raise ValueError(
                f"modules_per_level and mask_depths need 3 entries, got {modules_per_level} and {mask_depths}"
            )
        if width < 4 or width % 4:
            raise ValueError(f"width must be a positive multiple of 4, got {width}")
        self.num_classes = num_classes
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        channels = [4 * width, 8 * width, 16 * width]
        strides = [1, 2, 2]
        levels, previous = [], width
        for out_ch, stride, count, depth in zip(channels, strides, modules_per_level, mask_depths):
            levels.append(AttentionLevel(previous, out_ch, stride, count, depth, attention, residual))
            previous = out_ch
        self.levels = nn.ModuleList(levels)
        self.feature_info = [FeatureInfo("stem", width, 4)] + [
            FeatureInfo(f"levels.{i}", ch, r) for i, (ch, r) in enumerate(zip(channels, (4, 8, 16)))
        ]
        if tail_units:
            tail = [PreActBottleneck(previous, 32 * width, stride=2)]
            tail += [PreActBottleneck(32 * width, 32 * width) for _ in range(tail_units - 1)]
            self.tail = nn.Sequential(*tail, nn.BatchNorm2d(32 * width), nn.ReLU())
            previous = 32 * width
            self.feature_info.append(FeatureInfo("tail", previous, 32))
        else:
            self.tail = nn.Identity()
        self.num_features = previous
        self.head = _Classifier(previous, num_classes, drop_rate) if num_classes else nn.Identity()
        init_weights(self)

    def forward_features(self, x: Tensor) -> Tensor:
        x = self.stem(x)
        for level in self.levels:
            x = level(x)
        return self.tail(x)

    def forward_head(self, x: Tensor) -> Tensor:
        return self.head(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))

    def forward_stages(self, x: Tensor, prefix: str = "", stage: str = "") -> tuple[Tensor, "OrderedDict[str, Tensor]", list[ModuleMask]]:
        """Features plus each level's output and each module's mask (names prefixed for use inside LARNet)."""
        stages: OrderedDict[str, Tensor] = OrderedDict()
        masks: list[ModuleMask] = []
        x = self.stem(x)
        stages[f"{prefix}stem"] = x
        for i, level in enumerate(self.levels):
            x, level_masks = level.forward_with_masks(x)
            stages[f"{prefix}levels.{i}"] = x
            masks += [
                ModuleMask(f"{prefix}levels.{i}.attention_modules.{j}", stage or f"levels.{i}", m)
                for j, m in enumerate(level_masks)
            ]
        x = self.tail(x)
        if not isinstance(self.tail, nn.Identity):
            stages[f"{prefix}tail"] = x
        return x, stages, masks

    def forward_intermediates(self, x: Tensor) -> Intermediates:
        features, stages, masks = self.forward_stages(x)
        return Intermediates(stages, masks, self.forward_head(features))


class EmoResNet(nn.Module):
    """Attention EmoResNet (LARNet paper, sec. 4.1.3), the third stage.

    32x32 input: conv 5x5 (w channels) -> BN-ReLU -> max-pool 2 (16x16); unit(4w) + attention (mask depth 2);
    unit(8w, /2) + attention (depth 1) at 8x8; unit(16w, /2) + attention (depth 1) at 4x4; units 32w, 32w, 32w;
    average pool; fully connected. With w = 32 the channels are 32 -> 128 -> 256 -> 512 -> 1024 as in the paper.

    Args:
        width: stem channels ``w`` (32 in the paper).
        num_classes: classifier outputs (7 CASME II classes in the paper); 0 for no classifier.
        in_channels: input channels (3 for images; LARNet feeds it the bridge's ``w`` channels).
        attention, residual, drop_rate: as :class:`ResidualAttentionNet`.
    """

    def __init__(
        self,
        width: int = 32,
        num_classes: int = 7,
        in_channels: int = 3,
        attention: str = "mixed",
        residual: bool = True,
        mask_depths: tuple[int, int, int] = (2, 1, 1),
        drop_rate: float = 0.0,
    ) -> None:
        super().__init__()
        if width < 4 or width % 4:
            raise ValueError(f"width must be a positive multiple of 4, got {width}")
        self.num_classes = num_classes
        # Padding 2 keeps 32x32 so the pool gives the paper's 16x16 (its "padding = 1" would give 15x15).
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 5, padding=2, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        channels, strides = [4 * width, 8 * width, 16 * width], [1, 2, 2]
        levels, previous = [], width
        for out_ch, stride, depth in zip(channels, strides, mask_depths):
            levels.append(AttentionLevel(previous, out_ch, stride, 1, depth, attention, residual))
            previous = out_ch
        self.levels = nn.ModuleList(levels)
        self.tail = nn.Sequential(
            PreActBottleneck(previous, 32 * width),
            PreActBottleneck(32 * width, 32 * width),
            PreActBottleneck(32 * width, 32 * width),
            nn.BatchNorm2d(32 * width),
            nn.ReLU(),
        )
        self.num_features = 32 * width
        self.feature_info = [
            FeatureInfo("stem", width, 2),
            FeatureInfo("levels.0", channels[0], 2),
            FeatureInfo("levels.1", channels[1], 4),
            FeatureInfo("levels.2", channels[2], 8),
            FeatureInfo("tail", 32 * width, 8),
        ]
        self.head = _Classifier(self.num_features, num_classes, drop_rate) if num_classes else nn.Identity()
        init_weights(self)

    forward_features = ResidualAttentionNet.forward_features
    forward_head = ResidualAttentionNet.forward_head
    forward = ResidualAttentionNet.forward
    forward_stages = ResidualAttentionNet.forward_stages
    forward_intermediates = ResidualAttentionNet.forward_intermediates


class LARNet(nn.Module):
    """The LARNet stack: Attention-92 and Attention-56 feature bodies, a bridge, then Attention EmoResNet.

    Wiring (see docs/architecture.md for the sentences of the paper it rests on): both residual attention
    networks read the image ("the former two blocks take the input shape 224 x 224 x 3"), their classifiers and
    tails are removed ("froze their last layers"), their outputs are concatenated ("the output of the two
    branches are concatenated and further sent to stage 3") and a bridge (BN-ReLU-1x1 conv, bilinear resize)
    turns them into EmoResNet's 32-channel 32x32 input.

    Stages, in the order the dashboard shows them: ``stage1`` (Attention-92 body), ``stage2`` (Attention-56
    body), ``stage3`` (EmoResNet), each a complete module usable on its own.

    Args:
        num_classes: classes of the final classifier.
        in_channels: input image channels.
        width: stem channels of the two residual attention bodies (64 in the paper).
        emo_width: EmoResNet stem channels, also the bridge's output channels (32 in the paper).
        bridge_size: spatial size the bridge resizes to (32 in the paper).
        stage1_modules, stage2_modules: attention modules per level of the two bodies.
        attention, residual, drop_rate: as :class:`ResidualAttentionNet`.
    """

    def __init__(
        self,
        num_classes: int = 7,
        in_channels: int = 3,
        width: int = 64,
        emo_width: int = 32,
        bridge_size: int = 32,
        stage1_modules: tuple[int, int, int] = (1, 2, 3),
        stage2_modules: tuple[int, int, int] = (1, 1, 1),
        attention: str = "mixed",
        residual: bool = True,
        drop_rate: float = 0.0,
    ) -> None:
        super().__init__()
        if bridge_size < 8:
            raise ValueError(f"bridge_size must be >= 8 (EmoResNet pools three times), got {bridge_size}")
        self.num_classes = num_classes
        self.bridge_size = bridge_size
        body = dict(width=width, num_classes=0, in_channels=in_channels, attention=attention,
                    residual=residual, tail_units=0)
        self.stage1 = ResidualAttentionNet(stage1_modules, **body)
        self.stage2 = ResidualAttentionNet(stage2_modules, **body)
        joined = self.stage1.num_features + self.stage2.num_features
        self.bridge = nn.Sequential(
            nn.BatchNorm2d(joined), nn.ReLU(), nn.Conv2d(joined, emo_width, 1, bias=False)
        )
        self.stage3 = EmoResNet(emo_width, num_classes=num_classes, in_channels=emo_width,
                                attention=attention, residual=residual, drop_rate=drop_rate)
        self.num_features = self.stage3.num_features
        self.feature_info = [
            FeatureInfo("stage1", self.stage1.num_features, 16),
            FeatureInfo("stage2", self.stage2.num_features, 16),
            FeatureInfo("stage3", self.stage3.num_features, 0),  # 0: fixed bridge_size grid, not an input stride
        ]
        init_weights(self.bridge)

    def _bridge(self, a: Tensor, b: Tensor) -> Tensor:
        x = self.bridge(torch.cat([a, b], dim=1))
        return F.interpolate(x, size=(self.bridge_size, self.bridge_size), mode="bilinear", align_corners=False)

    def forward_features(self, x: Tensor) -> Tensor:
        joined = self._bridge(self.stage1.forward_features(x), self.stage2.forward_features(x))
        return self.stage3.forward_features(joined)

    def forward_head(self, x: Tensor) -> Tensor:
        return self.stage3.forward_head(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))

    def forward_intermediates(self, x: Tensor) -> Intermediates:
        f1, s1, m1 = self.stage1.forward_stages(x, prefix="stage1.", stage="stage1")
        f2, s2, m2 = self.stage2.forward_stages(x, prefix="stage2.", stage="stage2")
        joined = self._bridge(f1, f2)
        f3, s3, m3 = self.stage3.forward_stages(joined, prefix="stage3.", stage="stage3")
        stages = OrderedDict(s1)
        stages["stage1"] = f1
        stages.update(s2)
        stages["stage2"] = f2
        stages["bridge"] = joined
        stages.update(s3)
        stages["stage3"] = f3
        return Intermediates(stages, m1 + m2 + m3, self.forward_head(f3))
