"""Grad-CAM points at what decides: a tiny attention network taught that a bright patch means class 1."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from larnet_core.explain import Explainer
from larnet_core.models import ModelCard

SIZE, PATCH = 32, 8


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def patch_images(rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """Grey-ish noise; every other image (class 1) has a white square somewhere: the only cue there is."""
    images = rng.integers(40, 120, (count, SIZE, SIZE, 3), dtype=np.uint8)
    labels = np.arange(count) % 2
    corners = []
    for i in range(count):
        y, x = (int(v) for v in rng.integers(0, SIZE - PATCH, 2))
        corners.append((y, x))
        if labels[i]:
            images[i, y:y + PATCH, x:x + PATCH] = 255
    return images, labels, corners


@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    card = ModelCard(preset="emoresnet", class_names=["plain", "patch"], input_size=SIZE, mean=[0.5] * 3,
                     std=[0.25] * 3, model_kwargs={"width": 4})
    model = card.build()
    explainer = Explainer((model, card))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(24):
        images, labels, _ = patch_images(rng, 16)
        loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(explainer.preprocess(list(images)))),
                                                 torch.from_numpy(labels))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    return explainer, patch_images(rng, 16)


def test_toy_model_learned_the_patch(trained):
    explainer, (images, labels, _) = trained
    with torch.no_grad():
        predicted = explainer.model(torch.from_numpy(explainer.preprocess(list(images)))).argmax(1).numpy()
    assert (predicted == labels).mean() >= 0.9


@pytest.mark.parametrize("stage, method, at_least", [
    # Thresholds hold for seeds 0-6: the last stage (4 x 4 cells) always finds the patch; the finer 8 x 8 level
    # found it in 5/8 to 8/8 images depending on the seed (earlier layers see edges, not yet "the cue").
    (None, "gradcam", 1.0),
    (None, "gradcam++", 0.75),
    ("levels.1", "gradcam", 0.6),
])
def test_cam_for_the_patch_class_is_higher_on_the_patch(trained, stage, method, at_least):
    explainer, (images, labels, corners) = trained
    patched = [i for i in range(len(images)) if labels[i] == 1]
    results = explainer.grad_cam_batch([images[i] for i in patched], target_class="patch",
                                       stages=[stage or explainer.stages[-1]], methods=(method,))
    hits = []
    for result, i in zip(results, patched):
        y, x = corners[i]
        inside = np.zeros((SIZE, SIZE), bool)
        inside[y:y + PATCH, x:x + PATCH] = True
        hits.append(result.heatmap[inside].mean() > result.heatmap[~inside].mean())
    assert np.mean(hits) >= at_least, f"{method} on {stage}: patch highlighted in {sum(hits)}/{len(hits)} images"
