"""LARNet and its pieces: Attention-56/92, Attention EmoResNet, the LARNet stack, the ResNet-18 baseline, the
field's small flow networks (STSTNet, OFF-ApexNet), checkpoints and export.

Names load lazily: the model card (:mod:`~larnet_core.models.card`) and the ONNX cache
(:mod:`~larnet_core.models.onnx_cache`) import no torch, so inference from a cached export starts without it.
"""

from larnet_core._lazy import lazy_exports

_EXPORTS = {
    "ModelCard": "card",
    "ATTENTION_KINDS": "blocks", "AttentionModule": "blocks", "MaskActivation": "blocks", "ModuleMask": "blocks", "PreActBottleneck": "blocks",
    "file_sha256": "card", "LoadedModel": "checkpoint", "load_checkpoint": "checkpoint",
    "save_checkpoint": "checkpoint",
    "InferenceModel": "onnx_cache",
    "complexity": "complexity", "count_parameters": "complexity",
    "l2_kernel_penalty": "losses",
    "OffApexNet": "flownets", "STSTNet": "flownets",
    "EmoResNet": "networks", "FeatureInfo": "networks", "Intermediates": "networks", "LARNet": "networks",
    "ResidualAttentionNet": "networks",
    "ResNet18": "resnet",
    "MODEL_CONFIGS": "registry", "ModelConfig": "registry", "attention_models": "registry",
    "build_model": "registry", "list_models": "registry", "model_config": "registry",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
