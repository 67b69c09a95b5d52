"""Explainability API: attention masks, hidden layers, Grad-CAM (batch, targets, threads, leaks), responses."""

from __future__ import annotations

import copy
import gc
import threading
import tracemalloc

import numpy as np
import pytest
import torch

from larnet_core.errors import LarnetError, NoFaceError
from larnet_core.explain import (
    Explainer,
    attention_maps,
    explainer_for,
    grad_cam,
    hidden_layers,
    mean_absolute_response,
    overlay_heatmap,
)
from larnet_core.explain.response import RESPONSE_COLUMNS
from larnet_core.inference import Predictor
from larnet_core.models import AttentionModule, LoadedModel, ModelCard

CLASSES = ["alpha", "beta", "gamma"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def small_card(**kw) -> ModelCard:
    """Attention-56 at width 8 on 64 px faces: the same blocks as the paper's nets, in milliseconds."""
    return ModelCard(preset="attention56", class_names=CLASSES, input_size=64, model_kwargs={"width": 8}, **kw)


def small_model(seed: int = 0, **kw) -> tuple[torch.nn.Module, ModelCard]:
    torch.manual_seed(seed)
    card = small_card(**kw)
    model = card.build().eval()
    # Random (non-zero) last convolutions, so every unit contributes and the maps are not trivial.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("conv3.weight"):
                p.normal_(0, 0.05)
    return model, card


def face_like(height: int = 90, width: int = 80, seed: int = 0) -> np.ndarray:
    """A smooth random RGB image (structure at several scales, like a face crop)."""
    rng = np.random.default_rng(seed)
    import cv2

    coarse = rng.integers(0, 256, (max(2, height // 10), max(2, width // 10), 3), dtype=np.uint8)
    image = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(image.astype(int) + rng.integers(-20, 20, image.shape), 0, 255).astype(np.uint8)


def hook_count(model: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
               + len(getattr(m, "_backward_pre_hooks", {})) for m in model.modules())


@pytest.fixture(scope="module")
def small():
    model, card = small_model()
    return Explainer((model, card))


@pytest.fixture(scope="module")
def lite_explanation():
    torch.manual_seed(0)
    card = ModelCard.for_preset("larnet-lite", CLASSES)
    explainer = Explainer(LoadedModel(card.build().eval(), card))
    image = face_like(150, 130)
    return explainer, image, explainer.explain(image, methods=("gradcam", "gradcam++", "eigencam"), k=12)


def test_larnet_lite_masks_per_stage_module_with_ranges_and_shapes(lite_explanation):
    explainer, image, explanation = lite_explanation
    masks = explanation.masks
    assert [m.stage for m in masks] == ["stage1"] * 3 + ["stage2"] * 3 + ["stage3"] * 3
    assert masks[0].module == "stage1.levels.0.attention_modules.0"
    # larnet-lite: width 16 bodies at 112 px (28, 14, 7) and an 8-channel 16x16 bridge into EmoResNet (8, 4, 2).
    expected = [(64, 28), (128, 14), (256, 7)] * 2 + [(32, 8), (64, 4), (128, 2)]
    assert [(m.channels.shape[0], m.resolution[0]) for m in masks] == expected
    for mask in masks:
        assert mask.kind == "mixed"
        assert mask.mask_mean.shape == image.shape[:2] and mask.mask_mean.dtype == np.float32
        assert 0.0 <= mask.mask_mean.min() and mask.mask_mean.max() <= 1.0
        assert 0.0 <= mask.channels.min() and mask.channels.max() <= 1.0  # sigmoid masks
        assert mask.channel_map(3).shape == image.shape[:2]
        overlay = mask.overlay(image)
        assert overlay.shape == image.shape and overlay.dtype == np.uint8
    # The channel mean at module resolution, resized, is what mask_mean holds.
    coarse = masks[2].channels.mean(axis=0)
    assert abs(float(masks[2].mask_mean.mean()) - float(coarse.mean())) < 0.02


def test_larnet_lite_hidden_layers_and_cams_per_stage(lite_explanation):
    explainer, image, explanation = lite_explanation
    assert explainer.stages == ["stage1", "stage2", "stage3"]
    assert [g.stage for g in explanation.hidden] == explainer.stages
    for grid in explanation.hidden:
        assert len(grid.channels) == 12 and len(set(grid.channels)) == 12
        assert grid.scores == sorted(grid.scores, reverse=True)
        assert grid.tiles.shape[0] == 12 and 0.0 <= grid.tiles.min() and grid.tiles.max() <= 1.0
        rows = -(-12 // grid.columns)
        assert grid.grid.shape == (rows * (grid.tile_size + 2) + 2, grid.columns * (grid.tile_size + 2) + 2, 3)
        assert grid.grid.dtype == np.uint8
    cams = explanation.cams
    assert [(c.stage, c.method) for c in cams] == [
        (s, m) for s in explainer.stages for m in ("gradcam", "gradcam++", "eigencam")]
    assert {c.resolution for c in cams} == {(7, 7), (2, 2)}
    for cam in cams:
        assert cam.target_class == explanation.target_class == CLASSES.index(explanation.label)
        assert cam.heatmap.shape == image.shape[:2] and cam.overlay.shape == image.shape
        assert 0.0 <= cam.heatmap.min() and cam.heatmap.max() <= 1.0
    assert sum(explanation.probabilities.values()) == pytest.approx(1.0, abs=1e-5)


def test_mask_ranges_for_channel_and_spatial_attention():
    image = face_like()
    for kind in ("channel", "spatial"):
        model, card = small_model(attention=kind)
        masks = Explainer((model, card)).attention_maps(image)
        assert len(masks) == 3 and {m.kind for m in masks} == {kind}
        for mask in masks:
            assert 0.0 <= mask.mask_mean.min() and mask.mask_mean.max() <= 1.0
            low, high = (-1.0, 1.0) if kind == "channel" else (0.0, 1.0)
            assert low - 1e-5 <= mask.channels.min() and mask.channels.max() <= high + 1e-5
        if kind == "channel":  # unit-length channel vector at every position (eq. 5)
            norms = np.linalg.norm(masks[0].channels, axis=0)
            assert np.allclose(norms, 1.0, atol=1e-3)


def test_hidden_layers_are_the_most_active_channels(small):
    image = face_like()
    grids = small.hidden_layers(image, stage=["levels.0", "tail"], k=5)
    with torch.no_grad():
        stages = small.model.forward_intermediates(torch.from_numpy(small.preprocess([image]))).stages
    for grid in grids:
        activity = stages[grid.stage][0].abs().mean(dim=(1, 2)).numpy()
        assert grid.channels == list(np.argsort(-activity, kind="stable")[:5])
        assert grid.scores == pytest.approx(activity[grid.channels], rel=1e-5)
    every = small.hidden_layers(image, stage="levels.0", k=10_000)[0]
    assert len(every.channels) == 32  # capped at the stage's channels
    with pytest.raises(LarnetError, match="unknown stage 'stage9'.*levels.0"):
        small.hidden_layers(image, stage="stage9")
    assert "levels.1" in small.layer_names()


def test_grad_cam_batch_matches_single_calls_and_targets(small):
    images = [face_like(70, 60, seed=1), face_like(64, 64, seed=2), face_like(100, 90, seed=3)]
    batch = small.grad_cam_batch(images, target_class=["beta", 2, None], stages=["levels.2", "tail"],
                                 methods=("gradcam", "gradcam++"))
    assert len(batch) == 3 * 2 * 2
    assert [r.image_index for r in batch] == [0] * 4 + [1] * 4 + [2] * 4
    assert [r.target_class for r in batch[:8]] == [1] * 4 + [2] * 4
    for result in batch:
        single = small.grad_cam(images[result.image_index], target_class=result.target_class,
                                stage=result.stage, method=result.method)
        assert result.heatmap.shape == images[result.image_index].shape[:2]
        np.testing.assert_allclose(result.heatmap, single.heatmap, atol=1e-4)
    predicted = small.grad_cam(images[2])
    assert predicted.stage == "tail" and predicted.target_class == batch[-1].target_class
    # Module-level function: one image -> one result, a list -> a list.
    assert grad_cam(small, images[0], target_class="alpha").target_label == "alpha"
    assert len(grad_cam(small, images[:2], method="eigencam")) == 2
    with pytest.raises(LarnetError, match="unknown target class 'delta'.*0=alpha"):
        small.grad_cam(images[0], target_class="delta")
    with pytest.raises(LarnetError, match="2 target classes for 3 images"):
        small.grad_cam_batch(images, target_class=[0, 1])
    with pytest.raises(ValueError, match="unknown CAM method 'scorecam'.*gradcam\\+\\+"):
        small.grad_cam(images[0], method="scorecam")


def test_grey_rgba_tiny_and_faceless_inputs(small):
    rgb = face_like()
    grey = rgb[:, :, 1].copy()
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    np.testing.assert_allclose(small.grad_cam(rgba).heatmap, small.grad_cam(rgb).heatmap, atol=1e-6)
    grey_masks = small.attention_maps(grey)
    assert grey_masks[0].mask_mean.shape == grey.shape
    with pytest.raises(LarnetError, match="only 12x10 pixels, too small.*at least 16x16"):
        small.attention_maps(rgb[:10, :12])
    with pytest.raises(LarnetError, match="dtype float"):
        small.grad_cam(rgb.astype(np.float32) / 255)
    blank = np.full((200, 200, 3), 128, np.uint8)
    from larnet_core.face.inputs import InputConfig, photo_model_input

    config = InputConfig(size=48)
    with pytest.raises(NoFaceError, match="no face found in blank.png.*--face none"):
        photo_model_input(blank, config, "haar", what="blank.png")
    whole, detection = photo_model_input(grey, config, "none")
    assert detection is None and whole.image.shape == (48, 48, 3) and not whole.aligned
    with pytest.raises(LarnetError, match="only 12x10 pixels, too small"):
        photo_model_input(rgb[:10, :12], config, "none")


def test_overlay_heatmap_blends_and_resizes():
    image = face_like(40, 50)
    heat = np.zeros((4, 5), np.float32)
    heat[0, 0] = 1.0
    assert np.array_equal(overlay_heatmap(image, heat, alpha=0.0), image)
    full = overlay_heatmap(image, heat, alpha=1.0)
    assert full.shape == image.shape
    assert full[0, 0].tolist() == [128, 0, 0]  # JET at 1.0 is dark red
    assert full[-1, -1].tolist() == [0, 0, 128]  # and at 0.0 dark blue
    with pytest.raises(ValueError, match="alpha"):
        overlay_heatmap(image, heat, alpha=1.5)


def test_repeated_calls_add_no_hooks_no_grads_and_bounded_memory():
    model, card = small_model(seed=4)
    explainer = Explainer((model, card))
    images = [face_like(seed=s) for s in range(2)]
    hooks_before = hook_count(model)
    for _ in range(3):  # warm up: lazy CAM objects, allocator pools
        explainer.grad_cam(images[0], method="gradcam++")
        explainer.mean_absolute_response(images)
    gc.collect()
    tracemalloc.start()
    start, _ = tracemalloc.get_traced_memory()
    for i in range(20):
        explainer.grad_cam(images[i % 2], method=("gradcam", "gradcam++", "eigencam")[i % 3])
        assert hook_count(model) == hooks_before
    explainer.mean_absolute_response(images)
    gc.collect()
    end, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert hook_count(model) == hooks_before == 0
    assert all(p.grad is None for p in model.parameters())
    assert end - start < 2_000_000, f"Python-side memory grew by {end - start} bytes over 20 CAM calls"


def test_concurrent_cams_match_serial_beside_other_model_users():
    model, card = small_model(seed=5)
    explainer = Explainer((model, card))
    predictor = Predictor(LoadedModel(model, card), backend="torch")
    images = [face_like(seed=10 + i) for i in range(4)]
    methods = ("gradcam", "gradcam++", "eigencam", "gradcam")
    serial = [explainer.grad_cam(img, stage="levels.1", method=m).heatmap for img, m in zip(images, methods)]
    probabilities = predictor.predict_proba(images)
    responses = explainer.mean_absolute_response(images)
    failures: list[str] = []

    def cams(i: int) -> None:
        for _ in range(3):
            heat = explainer.grad_cam(images[i], stage="levels.1", method=methods[i]).heatmap
            if not np.allclose(heat, serial[i], atol=1e-5):
                failures.append(f"CAM {i} differs when run beside other threads")

    def predictions() -> None:
        for _ in range(3):
            if not np.allclose(predictor.predict_proba(images), probabilities, atol=1e-6):
                failures.append("predictions changed while CAMs ran")
            if not np.allclose(explainer.mean_absolute_response(images)["mean_abs_response"],
                               responses["mean_abs_response"], rtol=1e-5):
                failures.append("responses changed while CAMs ran")

    threads = [threading.Thread(target=cams, args=(i,)) for i in range(4)]
    threads.append(threading.Thread(target=predictions))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert failures == []
    assert hook_count(model) == 0


def test_mean_absolute_response_naive_vs_residual():
    residual_model, card = small_model(seed=6)
    naive_model, naive_card = small_model(seed=6, residual=False)
    naive_model.load_state_dict(residual_model.state_dict())  # same weights, only the combination differs
    images = [face_like(seed=20 + i) for i in range(3)]
    residual = mean_absolute_response((residual_model, card), images)
    naive = mean_absolute_response((naive_model, naive_card), images)
    assert list(residual.columns) == RESPONSE_COLUMNS
    assert residual["module"].tolist() == [f"levels.{i}.attention_modules.0" for i in range(3)]
    assert residual["stage"].tolist() == ["levels.0", "levels.1", "levels.2"]
    assert residual["images"].tolist() == [3, 3, 3]
    assert residual["residual"].all() and not naive["residual"].any()
    assert residual["mean_mask"].between(0, 1).all() and naive["mean_mask"].between(0, 1).all()
    # |(1 + M) T| >= |T| >= |M T| for masks in [0, 1]: naive attention shrinks what the trunk produced.
    assert (residual["mean_abs_response"] >= residual["mean_abs_trunk"]).all()
    assert (naive["mean_abs_response"] <= naive["mean_abs_trunk"]).all()
    first = 0  # identical input and weights up to the first combination
    assert naive["mean_abs_trunk"][first] == pytest.approx(residual["mean_abs_trunk"][first], rel=1e-5)
    assert naive["mean_abs_response"][first] < residual["mean_abs_response"][first]
    with pytest.raises(LarnetError, match="at least one image"):
        mean_absolute_response((naive_model, naive_card), [])
    assert len([m for m in residual_model.modules() if isinstance(m, AttentionModule)]) == len(residual)


def test_module_functions_reuse_one_explainer_per_model(small):
    model, card = small_model(seed=7)
    loaded = LoadedModel(model, card)
    image = face_like()
    first = explainer_for(loaded)
    assert explainer_for(loaded) is first and explainer_for((model, card)) is first
    assert explainer_for(first) is first
    twin = copy.deepcopy(model)  # a copy gets its own explainer, bound to the copy
    assert explainer_for((twin, card)) is not first and explainer_for((twin, card)).model is twin
    renamed = ModelCard.from_dict({**card.to_dict(), "class_names": ["x", "y", "z"]})
    assert explainer_for((model, renamed)) is not first
    assert len(attention_maps(loaded, image)) == 3
    assert [g.stage for g in hidden_layers(loaded, image, k=4)] == ["stem", "levels.0", "levels.1", "levels.2", "tail"]
    with torch.inference_mode():  # callers inside inference mode still get gradients for CAMs
        assert grad_cam(loaded, image).heatmap.max() > 0
    with pytest.raises(TypeError, match="LoadedModel or a \\(model, card\\) pair"):
        Explainer(model)
