"""LARNet and its pieces: Attention-56/92, Attention EmoResNet, the LARNet stack, the ResNet-18 baseline, the
field's small flow networks (STSTNet, OFF-ApexNet), checkpoints and export."""

from larnet_core.models.blocks import ATTENTION_KINDS, AttentionModule, MaskActivation, ModuleMask, PreActBottleneck
from larnet_core.models.checkpoint import LoadedModel, ModelCard, file_sha256, load_checkpoint, save_checkpoint
from larnet_core.models.complexity import complexity, count_parameters
from larnet_core.models.losses import l2_kernel_penalty
from larnet_core.models.flownets import OffApexNet, STSTNet
from larnet_core.models.networks import EmoResNet, FeatureInfo, Intermediates, LARNet, ResidualAttentionNet
from larnet_core.models.resnet import ResNet18
from larnet_core.models.registry import (
    MODEL_CONFIGS,
    ModelConfig,
    attention_models,
    build_model,
    list_models,
    model_config,
)

__all__ = [
    "ATTENTION_KINDS",
    "AttentionModule",
    "EmoResNet",
    "FeatureInfo",
    "Intermediates",
    "LARNet",
    "LoadedModel",
    "MODEL_CONFIGS",
    "MaskActivation",
    "ModelCard",
    "ModelConfig",
    "ModuleMask",
    "OffApexNet",
    "PreActBottleneck",
    "ResNet18",
    "ResidualAttentionNet",
    "STSTNet",
    "attention_models",
    "build_model",
    "complexity",
    "count_parameters",
    "file_sha256",
    "l2_kernel_penalty",
    "list_models",
    "load_checkpoint",
    "model_config",
    "save_checkpoint",
]
