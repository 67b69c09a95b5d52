"""Model presets: one table of per-variant settings and one front door, :func:`build_model`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from torch import nn

from larnet_core.models.blocks import ATTENTION_KINDS
from larnet_core.models.flownets import OffApexNet, STSTNet
from larnet_core.models.networks import EmoResNet, LARNet, ResidualAttentionNet
from larnet_core.models.resnet import ResNet18

__all__ = ["ModelConfig", "MODEL_CONFIGS", "attention_models", "build_model", "list_models", "model_config"]

# Per-channel normalisation used when a checkpoint does not carry its own dataset statistics.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ModelConfig:
    """Settings of one preset (timm's default config): what input it expects and what its stages are called."""

    name: str
    input_size: int
    description: str
    stages: tuple[str, ...]
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    builder_kwargs: dict[str, Any] = field(default_factory=dict)
    has_attention: bool = True  # False for baselines without soft masks


def attention_models() -> list[str]:
    """Presets with soft attention masks (the LARNet family), in table order."""
    return [name for name, cfg in MODEL_CONFIGS.items() if cfg.has_attention]


def _attention56(**kw: Any) -> nn.Module:
    return ResidualAttentionNet(modules_per_level=(1, 1, 1), **kw)


def _attention92(**kw: Any) -> nn.Module:
    return ResidualAttentionNet(modules_per_level=(1, 2, 3), **kw)


def _emoresnet(**kw: Any) -> nn.Module:
    return EmoResNet(**kw)


def _larnet(**kw: Any) -> nn.Module:
    return LARNet(**kw)


def _resnet18(**kw: Any) -> nn.Module:
    return ResNet18(**kw)


def _ststnet(**kw: Any) -> nn.Module:
    return STSTNet(**kw)


def _off_apexnet(**kw: Any) -> nn.Module:
    return OffApexNet(**kw)


_BUILDERS: dict[str, Callable[..., nn.Module]] = {
    "attention56": _attention56,
    "attention92": _attention92,
    "emoresnet": _emoresnet,
    "larnet": _larnet,
    "larnet-lite": _larnet,
    "resnet18": _resnet18,
    "ststnet": _ststnet,
    "off-apexnet": _off_apexnet,
}

_LEVELS = ("stem", "levels.0", "levels.1", "levels.2", "tail")

MODEL_CONFIGS: dict[str, ModelConfig] = {
    "attention56": ModelConfig("attention56", 224, "Residual Attention Network, 1/1/1 modules (Wang et al. 2017)", _LEVELS),
    "attention92": ModelConfig("attention92", 224, "Residual Attention Network, 1/2/3 modules (Wang et al. 2017)", _LEVELS),
    "emoresnet": ModelConfig("emoresnet", 32, "Attention EmoResNet (LARNet sec. 4.1.3) on 32x32 images", _LEVELS),
    "larnet": ModelConfig(
        "larnet", 224, "LARNet: Attention-92 + Attention-56 -> bridge -> EmoResNet (paper sizes)",
        ("stage1", "stage2", "stage3"),
    ),
    # Same design for two CPU cores: a quarter of the width, 112 px faces, a 16x16 bridge and one attention
    # module per level in stage 1 (op count, not arithmetic, dominates small-tensor latency on CPU).
    "larnet-lite": ModelConfig(
        "larnet-lite", 112, "LARNet-lite: the LARNet stack at 1/4 width, 112 px input, for real time on a CPU",
        ("stage1", "stage2", "stage3"),
        builder_kwargs=dict(width=16, emo_width=8, bridge_size=16, stage1_modules=(1, 1, 1)),
    ),
    # The paper's plain-ResNet baseline; no soft masks, so attention views show nothing for it.
    "resnet18": ModelConfig(
        "resnet18", 112, "torchvision ResNet-18, stem adapted to small faces (plain-ResNet baseline)",
        ("net.layer1", "net.layer2", "net.layer3", "net.layer4"), has_attention=False,
    ),
    # The field's small flow networks (models/flownets.py), on 28 x 28 onset->apex (u, v, strain) samples.
    "ststnet": ModelConfig(
        "ststnet", 28, "STSTNet (Liong et al. 2019): three shallow conv streams on 28x28 flow + strain",
        ("streams.0", "streams.1", "streams.2", "pool"), has_attention=False,
    ),
    "off-apexnet": ModelConfig(
        "off-apexnet", 28, "OFF-ApexNet (Gan et al. 2019): horizontal and vertical flow streams, two FC layers",
        ("horizontal", "vertical"), has_attention=False,
    ),
}


def list_models() -> list[str]:
    """Names accepted by :func:`build_model`."""
    return list(MODEL_CONFIGS)


def model_config(name: str) -> ModelConfig:
    if name not in MODEL_CONFIGS:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(MODEL_CONFIGS)}")
    return MODEL_CONFIGS[name]


def build_model(
    name: str, num_classes: int = 7, in_channels: int = 3, attention: str = "mixed", **overrides: Any
) -> nn.Module:
    """Build a preset.

    Args:
        name: one of :func:`list_models`.
        num_classes: classifier outputs (7 CASME II classes by default).
        in_channels: input channels (3 for RGB faces or flow+strain images).
        attention: soft-mask activation, ``mixed`` (eq. 4), ``channel`` (eq. 5) or ``spatial`` (eq. 6).
        **overrides: constructor keywords of the network class (e.g. ``residual=False`` for naive attention,
            ``width=32``), overriding the preset's own.

    Returns:
        The network, with ``model.default_cfg`` set to its :class:`ModelConfig`.

    Raises:
        ValueError: for an unknown name or attention kind, naming the valid values.
    """
    cfg = model_config(name)
    if attention not in ATTENTION_KINDS:
        raise ValueError(f"unknown attention {attention!r}; valid: {', '.join(ATTENTION_KINDS)}")
    if num_classes < 0 or in_channels < 1:
        raise ValueError(f"num_classes must be >= 0 and in_channels >= 1, got {num_classes} and {in_channels}")
    kwargs = {**cfg.builder_kwargs, **overrides}
    try:
        model = _BUILDERS[name](num_classes=num_classes, in_channels=in_channels, attention=attention, **kwargs)
    except TypeError as exc:
        raise ValueError(f"bad option for model {name!r}: {exc}") from None
    model.default_cfg = cfg
    model.preset = name
    return model
