"""Mean absolute response of every attention module (the paper's Fig. 3): naive ``M * T`` attention shrinks
features module after module, residual ``(1 + M) * T`` attention keeps them.

An attention module's trunk output T(x) is not part of ``forward_intermediates``, so it is read with forward
hooks on each module's ``trunk`` and ``mask`` branches and its ``last`` unit. :class:`ModuleRecorder` owns those
hooks: it registers them on entry, removes them on exit (also on errors), records only the forward passes of
the thread that entered it (other users of a shared model pass through untouched), and keeps running sums
rather than tensors, so memory does not grow with the number of images.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Iterable, Sequence

import pandas as pd
import torch
from torch import Tensor, nn

from larnet_core.models.blocks import AttentionModule

__all__ = ["ModuleRecorder", "attention_responses", "RESPONSE_COLUMNS"]

RESPONSE_COLUMNS = [
    "stage", "module", "depth", "residual", "mean_mask", "mean_abs_trunk", "mean_abs_response",
    "mean_abs_output", "images",
]


class _Sums:
    __slots__ = ("mask", "trunk", "response", "output", "count", "pending_trunk", "pending_mask")

    def __init__(self) -> None:
        self.mask = self.trunk = self.response = self.output = 0.0
        self.count = 0
        self.pending_trunk: Tensor | None = None
        self.pending_mask: Tensor | None = None


class ModuleRecorder:
    """Context manager that accumulates per-module mean statistics of every :class:`AttentionModule`.

    Args:
        model: any network built from :mod:`larnet_core.models` blocks.

    After the ``with`` block, :meth:`frame` returns the table. The hooks exist only inside the block.
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.modules: "OrderedDict[str, AttentionModule]" = OrderedDict(
            (name, m) for name, m in model.named_modules() if isinstance(m, AttentionModule)
        )
        self._sums = {name: _Sums() for name in self.modules}
        self._handles: list[torch.utils.hooks.RemovableHandle] = []
        self._owner: int | None = None

    def __enter__(self) -> "ModuleRecorder":
        self._owner = threading.get_ident()
        try:
            for name, module in self.modules.items():
                sums = self._sums[name]
                self._handles.append(module.trunk.register_forward_hook(self._on_trunk(sums)))
                self._handles.append(module.mask.register_forward_hook(self._on_mask(sums, module.residual)))
                self._handles.append(module.last.register_forward_hook(self._on_last(sums)))
        except BaseException:
            self._remove()
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._remove()  # errors propagate: nothing is swallowed here

    def _remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        for sums in self._sums.values():
            sums.pending_trunk = sums.pending_mask = None

    def _mine(self) -> bool:
        return threading.get_ident() == self._owner

    def _on_trunk(self, sums: _Sums):
        def hook(module: nn.Module, inputs: tuple, output: Tensor) -> None:
            if self._mine():
                sums.pending_trunk = output.detach()
                sums.trunk += float(output.detach().abs().mean(dim=(1, 2, 3)).sum())
                sums.count += output.shape[0]
        return hook

    def _on_mask(self, sums: _Sums, residual: bool):
        def hook(module: nn.Module, inputs: tuple, output: Tensor) -> None:
            if not self._mine():
                return
            mask = output.detach()
            sums.mask += float(mask.mean(dim=(1, 2, 3)).sum())
            trunk = sums.pending_trunk
            if trunk is not None:
                combined = (1 + mask) * trunk if residual else mask * trunk
                sums.response += float(combined.abs().mean(dim=(1, 2, 3)).sum())
            sums.pending_trunk = None
        return hook

    def _on_last(self, sums: _Sums):
        def hook(module: nn.Module, inputs: tuple, output: Tensor) -> None:
            if self._mine():
                sums.output += float(output.detach().abs().mean(dim=(1, 2, 3)).sum())
        return hook

    def frame(self, stage_names: Sequence[str] = ()) -> pd.DataFrame:
        """One row per attention module in forward order; see :func:`attention_responses` for the columns."""
        rows = []
        for depth, (name, module) in enumerate(self.modules.items()):
            sums = self._sums[name]
            n = max(sums.count, 1)
            stage = next((s for s in stage_names if name.startswith(s + ".")), name.rsplit(".attention_modules", 1)[0])
            rows.append([stage, name, depth, bool(module.residual), sums.mask / n, sums.trunk / n,
                         sums.response / n, sums.output / n, sums.count])
        return pd.DataFrame(rows, columns=RESPONSE_COLUMNS)


def attention_responses(model: nn.Module, batches: Iterable[Tensor], stage_names: Sequence[str] = ()) -> pd.DataFrame:
    """Run ``model`` on preprocessed batches and average each attention module's responses over all images.

    Returns:
        DataFrame, one row per attention module in forward order, columns: ``stage``, ``module`` (dotted
        path), ``depth`` (0-based position in the network), ``residual`` (``(1 + M) * T`` if true, ``M * T``
        if false), ``mean_mask`` (mean M(x)), ``mean_abs_trunk`` (mean |T(x)|), ``mean_abs_response`` (mean
        |H(x)| with H the module's combination of mask and trunk: the Fig. 3 quantity), ``mean_abs_output``
        (mean |output| after the module's last unit) and ``images``.
    """
    with ModuleRecorder(model) as recorder, torch.no_grad():
        for batch in batches:
            model(batch)
    return recorder.frame(stage_names)
