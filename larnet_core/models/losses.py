"""The paper's L2 kernel penalty (sec. 4.1): ``loss = L2 * reduce_sum(square(kernel))``."""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["l2_kernel_penalty"]


def l2_kernel_penalty(model: nn.Module, coefficient: float = 0.01) -> Tensor:
    """Sum of squared convolution and linear kernels times ``coefficient`` (biases and BN are not penalised,
    as Keras' ``kernel_regularizer`` does)."""
    weights = [m.weight for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    if not weights:
        return torch.zeros(())
    return coefficient * torch.stack([w.pow(2).sum() for w in weights]).sum()
