"""The :class:`Explainer`: attention masks, hidden layers and class activation maps of one loaded model.

Everything comes from ``model.forward_intermediates(x)``, which returns each stage's output, every attention
module's soft mask and the logits in one pass without hooks; class activation maps take the gradients of the
target logit with respect to those stage outputs (``torch.autograd.grad``, so no parameter ``.grad`` is
written). Nothing is registered on or stored in the model, so one model can be shared by any number of
threads, explainers and predictors (see :mod:`larnet_core.explain.cam`).
"""

from __future__ import annotations

import logging
import threading
from typing import Sequence, Union

import cv2
import numpy as np
import pandas as pd
import torch
from torch import nn

from larnet_core.errors import LarnetError
from larnet_core.explain.cam import CAM_METHODS, CamBank, check_method
from larnet_core.explain.inputs import as_face_image
from larnet_core.explain.overlay import normalize_map, overlay_heatmap, tile_maps
from larnet_core.explain.response import attention_responses
from larnet_core.explain.results import CamResult, Explanation, HiddenLayerGrid, StageMask
from larnet_core.inference import preprocess_faces
from larnet_core.models.checkpoint import LoadedModel, ModelCard
from larnet_core.models.networks import Intermediates

__all__ = ["Explainer", "ModelLike", "TargetClass"]

log = logging.getLogger(__name__)

ModelLike = Union[LoadedModel, "tuple[nn.Module, ModelCard]"]
TargetClass = Union[int, str, None, Sequence[Union[int, str, None]]]

#: Images per forward pass in batch calls (bounds memory: a LARNet graph with gradients is large).
BATCH_SIZE = 16


class Explainer:
    """Explanations for one model: masks, hidden layers, CAMs and mean absolute responses.

    Args:
        loaded: a :class:`LoadedModel` (from :func:`larnet_core.models.load_checkpoint`) or a
            ``(model, card)`` pair. The model is put in eval mode; it runs on whatever device it is on.

    Images are RGB uint8 face crops of any size (grey-scale and RGBA are converted); they are preprocessed
    like the predictor does, with the card's input size and normalisation, and every map comes back at the
    image's own size so it can be laid over it.

    Safe to share between threads, and safe beside other users of the same model.
    """

    def __init__(self, loaded: ModelLike) -> None:
        if isinstance(loaded, LoadedModel):
            model, card = loaded.model, loaded.card
        elif isinstance(loaded, tuple) and len(loaded) == 2:
            model, card = loaded
        else:
            raise TypeError(f"Explainer needs a LoadedModel or a (model, card) pair, got {type(loaded).__name__}")
        if not hasattr(model, "forward_intermediates") or not hasattr(model, "feature_info"):
            raise TypeError(f"{type(model).__name__} has no forward_intermediates/feature_info; "
                            "build it with larnet_core.models.build_model")
        if card.in_channels != 3:
            raise LarnetError(f"this checkpoint takes {card.in_channels}-channel input; explanations work on "
                              "3-channel images (RGB faces or flow images)")
        self.model: nn.Module = model.eval()
        self.card: ModelCard = card
        self.stages: list[str] = [info.module for info in model.feature_info]
        self._cams = CamBank(model)
        self._lock = threading.Lock()
        self._layer_names: list[str] | None = None

    # ----------------------------------------------------------------------------------------- basics
    @property
    def class_names(self) -> list[str]:
        return list(self.card.class_names)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def layer_names(self) -> list[str]:
        """Every intermediate output that :meth:`hidden_layers` and :meth:`grad_cam` accept, in forward order.

        The stages of :attr:`stages` plus finer ones (``stage1.levels.0`` ...); found by one small forward
        pass the first time.
        """
        with self._lock:
            if self._layer_names is None:
                blank = np.zeros((self.card.input_size, self.card.input_size, 3), dtype=np.uint8)
                self._layer_names = list(self._forward([blank], grad=False).stages)
            return list(self._layer_names)

    def class_index(self, value: int | str) -> int:
        """Index of a class given by index or name.

        Raises:
            LarnetError: unknown name or index out of range; the message lists the classes.
        """
        names = self.class_names
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            if 0 <= int(value) < len(names):
                return int(value)
        elif isinstance(value, str):
            if value in names:
                return names.index(value)
            if value.strip().isdigit() and int(value) < len(names):
                return int(value)
        raise LarnetError(f"unknown target class {value!r}; this model's classes are "
                          f"{', '.join(f'{i}={n}' for i, n in enumerate(names))}")

    def preprocess(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """RGB uint8 crops -> the normalised ``N x 3 x S x S`` float32 batch the model takes."""
        return preprocess_faces(images, self.card.input_size, self.card.mean, self.card.std)

    # ------------------------------------------------------------------------------------- public maps
    def attention_maps(self, image: np.ndarray) -> list[StageMask]:
        """The soft mask M(x) of every attention module, in forward order (stage by stage)."""
        rgb = as_face_image(image)
        inter = self._forward([rgb], grad=False)
        return self._masks(inter, 0, rgb.shape[:2])

    def hidden_layers(
        self, image: np.ndarray, stage: str | Sequence[str] | None = None, k: int = 16, tile_size: int = 64
    ) -> list[HiddenLayerGrid]:
        """The ``k`` most active feature maps (largest mean absolute activation) of stage outputs, tiled.

        Args:
            image: RGB uint8 face crop.
            stage: a name from :meth:`layer_names`, a list of them, or ``None`` for every stage in
                :attr:`stages`.
            k: feature maps per stage (fewer when the stage has fewer channels).
            tile_size: pixels per tile side in the grid.
        """
        if k < 1 or tile_size < 8:
            raise ValueError(f"k must be >= 1 and tile_size >= 8, got {k} and {tile_size}")
        rgb = as_face_image(image)
        inter = self._forward([rgb], grad=False)
        return self._hidden(inter, 0, self._pick_stages(stage, inter), k, tile_size)

    def grad_cam(
        self,
        image: np.ndarray,
        target_class: int | str | None = None,
        stage: str | None = None,
        method: str = "gradcam",
        alpha: float = 0.5,
    ) -> CamResult:
        """The class activation map of one stage for one face.

        Args:
            image: RGB uint8 face crop.
            target_class: class index or name to explain; ``None`` explains the predicted class.
            stage: a name from :meth:`layer_names`; ``None`` is the last stage (the classifier's input).
            method: one of :data:`~larnet_core.explain.cam.CAM_METHODS` (``gradcam``, ``gradcam++``,
                ``eigencam`` ...).
            alpha: overlay opacity.
        """
        stages = [stage] if stage is not None else [self.stages[-1]]
        return self.grad_cam_batch([image], target_class, stages, (method,), alpha)[0]

    def grad_cam_batch(
        self,
        images: Sequence[np.ndarray],
        target_class: TargetClass = None,
        stages: Sequence[str] | None = None,
        methods: Sequence[str] = ("gradcam",),
        alpha: float = 0.5,
    ) -> list[CamResult]:
        """Class activation maps for many faces, stages and methods, one forward and backward pass per batch.

        Args:
            images: RGB uint8 face crops (sizes may differ).
            target_class: one class for all images, one per image (``None`` items: predicted class), or
                ``None`` for each image's predicted class.
            stages: names from :meth:`layer_names`; ``None`` for every stage in :attr:`stages`.
            methods: CAM methods; the gradient-based ones share one backward pass.
            alpha: overlay opacity.

        Returns:
            One :class:`CamResult` per image, stage and method, in that nesting order.
        """
        methods = [check_method(m) for m in methods]
        rgbs = [as_face_image(image, f"image {i}") for i, image in enumerate(images)]
        targets = self._per_image_targets(target_class, len(rgbs))
        results: list[CamResult] = []
        for start in range(0, len(rgbs), BATCH_SIZE):
            chunk = rgbs[start:start + BATCH_SIZE]
            inter = self._forward(chunk, grad=self._cams.needs_gradients(methods))
            classes = self._resolve_targets(targets[start:start + BATCH_SIZE], inter.logits)
            picked = self._pick_stages(stages, inter)
            results += self._cam_results(inter, chunk, classes, picked, methods, alpha, start)
        return results

    def explain(
        self,
        image: np.ndarray,
        target_class: int | str | None = None,
        methods: Sequence[str] = ("gradcam",),
        stages: Sequence[str] | None = None,
        k: int = 16,
        alpha: float = 0.5,
    ) -> Explanation:
        """All maps for one face from a single forward (and, for gradient methods, backward) pass."""
        methods = [check_method(m) for m in methods]
        rgb = as_face_image(image)
        inter = self._forward([rgb], grad=self._cams.needs_gradients(methods))
        classes = self._resolve_targets([target_class], inter.logits)
        picked = self._pick_stages(stages, inter)
        probabilities = torch.softmax(inter.logits.detach().float(), dim=1)[0].cpu().numpy()
        return Explanation(
            image=rgb,
            probabilities={name: float(p) for name, p in zip(self.class_names, probabilities)},
            label=self.class_names[int(probabilities.argmax())],
            target_class=classes[0],
            masks=self._masks(inter, 0, rgb.shape[:2]),
            hidden=self._hidden(inter, 0, picked, k, 64),
            cams=self._cam_results(inter, [rgb], classes, picked, methods, alpha, 0),
        )

    def mean_absolute_response(self, images: Sequence[np.ndarray]) -> pd.DataFrame:
        """Mean absolute response of every attention module over ``images`` (the paper's Fig. 3).

        See :func:`larnet_core.explain.response.attention_responses` for the columns.
        """
        rgbs = [as_face_image(image, f"image {i}") for i, image in enumerate(images)]
        if not rgbs:
            raise LarnetError("mean_absolute_response needs at least one image")
        batches = (self._batch_tensor(rgbs[s:s + BATCH_SIZE]) for s in range(0, len(rgbs), BATCH_SIZE))
        return attention_responses(self.model, batches, self.stages)

    # ---------------------------------------------------------------------------------------- internals
    def _batch_tensor(self, rgbs: Sequence[np.ndarray]) -> torch.Tensor:
        return torch.from_numpy(self.preprocess(rgbs)).to(self.device)

    def _forward(self, rgbs: Sequence[np.ndarray], grad: bool) -> Intermediates:
        # inference_mode(False): callers inside torch.inference_mode() still get a graph when one is needed.
        with torch.inference_mode(False), torch.set_grad_enabled(grad):
            batch = self._batch_tensor(rgbs)
            if grad:
                # The input carries the graph even if the caller froze every parameter.
                batch.requires_grad_(True)
            return self.model.forward_intermediates(batch)

    def _pick_stages(self, stage: str | Sequence[str] | None, inter: Intermediates) -> list[str]:
        names = self.stages if stage is None else [stage] if isinstance(stage, str) else list(stage)
        unknown = [name for name in names if name not in inter.stages]
        if unknown or not names:
            raise LarnetError(f"unknown stage {', '.join(map(repr, unknown)) or '(none given)'}; this model's "
                              f"layers are {', '.join(inter.stages)}")
        return names

    def _per_image_targets(self, target_class: TargetClass, count: int) -> list[int | str | None]:
        if target_class is None or isinstance(target_class, (int, np.integer, str)):
            return [target_class] * count
        targets = list(target_class)
        if len(targets) != count:
            raise LarnetError(f"got {len(targets)} target classes for {count} images; give one per image or one")
        return targets

    def _resolve_targets(self, targets: Sequence[int | str | None], logits: torch.Tensor) -> list[int]:
        predicted = logits.detach().argmax(dim=1).tolist()
        return [p if t is None else self.class_index(t) for t, p in zip(targets, predicted)]

    def _masks(self, inter: Intermediates, index: int, size: tuple[int, int]) -> list[StageMask]:
        height, width = size
        out = []
        for record in inter.masks:
            channels = record.mask[index].detach().float().cpu().numpy()
            kind = self._mask_kind(record.name)
            mean = channels.mean(axis=0)
            if kind == "channel":
                mean = (mean + 1.0) / 2.0
            mean = cv2.resize(mean, (width, height), interpolation=cv2.INTER_LINEAR)
            out.append(StageMask(record.stage, record.name, kind, np.clip(mean, 0.0, 1.0), channels))
        return out

    def _mask_kind(self, module_name: str) -> str:
        try:
            return str(self.model.get_submodule(module_name).mask.activation.kind)
        except AttributeError:
            return self.card.attention

    def _hidden(self, inter: Intermediates, index: int, stages: Sequence[str], k: int,
                tile_size: int) -> list[HiddenLayerGrid]:
        out = []
        for stage in stages:
            features = inter.stages[stage][index].detach().float().cpu().numpy()
            scores = np.abs(features).mean(axis=(1, 2))
            order = np.argsort(-scores, kind="stable")[:k]
            tiles = np.stack([normalize_map(features[c]) for c in order])
            grid, columns = tile_maps(list(tiles), [str(c) for c in order], tile_size=tile_size)
            out.append(HiddenLayerGrid(stage, [int(c) for c in order], [float(scores[c]) for c in order],
                                       tiles, grid, columns, tile_size))
        return out

    def _cam_results(
        self,
        inter: Intermediates,
        rgbs: Sequence[np.ndarray],
        classes: list[int],
        stages: Sequence[str],
        methods: Sequence[str],
        alpha: float,
        first_index: int,
    ) -> list[CamResult]:
        # lazy: grad-cam (and the scikit-learn, matplotlib it loads) only for class activation maps
        from pytorch_grad_cam.utils.image import scale_cam_image

        activations = [inter.stages[stage] for stage in stages]
        gradients: Sequence[torch.Tensor | None] = [None] * len(stages)
        if self._cams.needs_gradients(methods):
            with torch.inference_mode(False), torch.enable_grad():
                target = torch.as_tensor(classes, device=inter.logits.device)[:, None]
                score = inter.logits.gather(1, target).sum()
                gradients = torch.autograd.grad(score, activations, allow_unused=True)
        probabilities = torch.softmax(inter.logits.detach().float(), dim=1).cpu().numpy()
        maps: dict[tuple[str, str], np.ndarray] = {}
        for stage, act, grad in zip(stages, activations, gradients):
            act_np = act.detach().float().cpu().numpy()
            grad_np = np.zeros_like(act_np) if grad is None else grad.detach().float().cpu().numpy()
            for method in methods:
                maps[stage, method] = self._cams.maps(method, act_np, grad_np if CAM_METHODS[method][1] else None,
                                                      classes)
        results = []
        for i, rgb in enumerate(rgbs):
            height, width = rgb.shape[:2]
            for stage in stages:
                for method in methods:
                    raw = maps[stage, method][i]
                    heatmap = scale_cam_image(raw[None], (width, height))[0]
                    heatmap = np.clip(np.nan_to_num(heatmap), 0.0, 1.0).astype(np.float32)
                    results.append(CamResult(
                        stage=stage, method=method, target_class=classes[i],
                        target_label=self.class_names[classes[i]], score=float(probabilities[i, classes[i]]),
                        heatmap=heatmap, overlay=overlay_heatmap(rgb, heatmap, alpha),
                        resolution=(int(raw.shape[0]), int(raw.shape[1])), image_index=first_index + i,
                    ))
        return results
