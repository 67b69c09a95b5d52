"""Parameter and multiply-add counts, measured with torch's own flop counter."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["complexity", "count_parameters"]


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def complexity(model: nn.Module, input_size: int | tuple[int, int], in_channels: int | None = None) -> tuple[int, int]:
    """Count learnable parameters and multiply-adds of one forward pass at batch size 1.

    Args:
        model: the network (put in eval mode for the count and restored afterwards).
        input_size: ``S`` or ``(H, W)`` of the input image.
        in_channels: input channels; the model's ``in_channels`` attribute, else the first convolution's, when
            omitted.

    Returns:
        ``(params, macs)``. MACs are torch's FLOP count divided by two (convolutions and linear layers; the
        element-wise work of BN, pooling and interpolation is not counted, as in the papers' tables).
    """
    h, w = (input_size, input_size) if isinstance(input_size, int) else input_size
    if in_channels is None:
        in_channels = getattr(model, "in_channels", None)
    if in_channels is None:
        first = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
        in_channels = first.in_channels
    # Imported here: torch's flop counter imports Triton (a quarter of a second), which nothing else that loads a
    # model (every `larnet analyze`, every dashboard start) needs.
    from torch.utils.flop_counter import FlopCounterMode

    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            model(torch.zeros(1, in_channels, h, w, device=device))
    finally:
        model.train(was_training)
    return count_parameters(model), counter.get_total_flops() // 2
