"""Sample tables, the torch dataset and the onset -> apex flow image."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from larnet_core.data import ClipRecord, FrameDataset, apply_scheme, compute_flow_image, expand_samples
from larnet_core.face.flow import compute_flow
from larnet_core.errors import DatasetError


def textured(size: int, seed: int) -> np.ndarray:
    """A smooth random texture (Farneback needs gradients), RGB uint8."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (size // 4, size // 4, 3), dtype=np.uint8)
    return cv2.GaussianBlur(cv2.resize(noise, (size, size), interpolation=cv2.INTER_CUBIC), (5, 5), 1.5)


def make_clip(folder: Path, numbers: range, emotion: str, subject: str, apex: int | None) -> ClipRecord:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, number in enumerate(numbers):
        path = folder / f"img{number}.jpg"
        cv2.imwrite(str(path), cv2.cvtColor(np.roll(textured(40, 0), i, axis=1), cv2.COLOR_RGB2BGR))
        paths.append(path)
    return ClipRecord("casme2", subject, folder.name, emotion, tuple(paths), tuple(numbers),
                      numbers[0] + 1, apex, numbers[-1] - 1)


@pytest.fixture
def records(tmp_path: Path) -> list[ClipRecord]:
    return [
        make_clip(tmp_path / "sub01" / "EP01", range(10, 16), "happiness", "sub01", apex=13),
        make_clip(tmp_path / "sub02" / "EP02", range(3, 8), "surprise", "sub02", apex=None),
    ]


def test_expand_apex_frames_flow(records: list[ClipRecord]) -> None:
    apex = expand_samples(records, "apex")
    assert apex["frame"].tolist() == ["13", "5"]  # annotated apex; middle of 4..6 when missing
    assert apex["label"].tolist() == ["happiness", "surprise"]
    frames = expand_samples(records, "frames")
    assert frames["frame"].tolist() == ["11", "12", "13", "14", "4", "5", "6"]  # onset..offset only
    assert frames["record"].tolist() == [0, 0, 0, 0, 1, 1, 1]
    flow = expand_samples(records, "flow")
    assert flow["frame"].tolist() == ["11->13", "4->5"]
    assert flow["path"].str.endswith("img11.jpg")[0] and flow["apex_path"].str.endswith("img13.jpg")[0]
    labelled = expand_samples(apply_scheme(records, "megc-3"), "apex")
    assert labelled["label"].tolist() == ["positive", "surprise"] and labelled["emotion"][0] == "happiness"
    with pytest.raises(ValueError, match="apex, frames, flow"):
        expand_samples(records, "video")


@pytest.mark.parametrize("mode", ["apex", "frames", "flow"])
def test_frame_dataset_tensors(records: list[ClipRecord], mode: str) -> None:
    samples = expand_samples(records, mode)
    dataset = FrameDataset(samples, mode, input_size=(24, 20), cache=True, classes=["happiness", "surprise"])
    tensor, label = dataset[len(dataset) - 1]
    assert tensor.shape == (3, 24, 20) and tensor.dtype == torch.float32
    assert 0.0 <= float(tensor.min()) and float(tensor.max()) <= 1.0
    assert label == 1 and dataset.targets[0] == 0
    assert torch.equal(dataset[0][0], dataset[0][0])  # served from the cache the second time
    flipped = FrameDataset(samples, mode, 16, transform=lambda t: t.flip(-1))
    assert flipped[0][0].shape == (3, 16, 16)


def test_unreadable_image_names_the_file(records: list[ClipRecord]) -> None:
    broken = records[0].frames[3]  # the apex, img13.jpg
    broken.write_bytes(b"not a jpeg")
    dataset = FrameDataset(expand_samples(records, "apex"), "apex", 16)
    with pytest.raises(DatasetError, match="img13.jpg"):
        dataset[0]
    broken.unlink()
    with pytest.raises(DatasetError, match="img13.jpg"):
        dataset[0]


def test_labels_must_be_known(records: list[ClipRecord]) -> None:
    with pytest.raises(ValueError, match="surprise"):
        FrameDataset(expand_samples(records, "apex"), "apex", 16, classes=["happiness"])


@pytest.mark.parametrize("method", ["farneback", "tvl1"])
def test_flow_image_shape_and_shift_region(method: str) -> None:
    size = 128
    # A textured still background, as skin is: on a flat one TV-L1's smoothness term would spread the patch's
    # motion into it (nothing there contradicts it), which says nothing about faces.
    onset = textured(size, 5)
    patch = textured(48, 1)
    onset[40:88, 40:88] = patch
    apex = textured(size, 5)
    apex[40:88, 43:91] = patch  # the patch moves 3 px to the right, the rest stays still
    image = compute_flow_image(onset, apex, size, method)
    assert image.shape == (size, size, 3) and image.dtype == np.uint8
    u = image[..., 0].astype(int) - 128
    moving, still = u[50:78, 52:80], u[:24, :24]
    assert moving.mean() > 20 and np.abs(still).mean() < 3  # rightward motion only where the patch moved
    assert image[..., 2][40:90, 40:92].mean() > image[..., 2][:24, :24].mean()  # strain at the moving region
    fields = compute_flow(onset, apex, size, method)
    assert fields.dtype == np.float32 and 1.5 < float(np.median(fields[55:75, 55:75, 0])) < 4.5
    small = compute_flow_image(onset, apex, (28, 32), method)
    assert small.shape == (28, 32, 3)


@pytest.mark.parametrize("method", ["farneback", "tvl1"])
def test_flow_of_identical_frames_is_neutral(method: str) -> None:
    frame = textured(64, 2)
    image = compute_flow_image(frame, frame.copy(), 28, method)
    assert np.all(np.abs(image[..., :2].astype(int) - 128) <= 1) and image[..., 2].max() <= 1
    with pytest.raises(ValueError, match="uint8"):
        compute_flow_image(frame.astype(np.float32), frame, 28, method)
    with pytest.raises(ValueError, match="tvl1, farneback"):
        compute_flow_image(frame, frame, 28, "horn-schunck")


@pytest.mark.parametrize("mode", ["apex", "flow"])
def test_training_and_serving_make_the_same_input_from_a_non_square_face_filled_frame(tmp_path, mode):
    """``--face none``: a 160x120 face-filled frame becomes the same model input when a training sample is made
    from it as when clip analysis or live video shows it to the model (fitted, never squashed)."""
    from larnet_core.data.samples import sample_image
    from larnet_core.face import sample_face_photos
    from larnet_core.face.inputs import InputBuilder, InputConfig, photo_model_input

    photo = sample_face_photos()["grace_hopper"]
    onset = cv2.resize(photo[40:340, 20:420], (160, 120), interpolation=cv2.INTER_AREA)
    apex = np.roll(onset, 2, axis=0)
    paths = []
    for name, image in (("onset", onset), ("apex", apex)):
        paths.append(tmp_path / f"{name}.png")
        cv2.imwrite(str(paths[-1]), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    flow = mode == "flow"
    trained = (sample_image(str(paths[0]), str(paths[1]), "flow", 64, "farneback") if flow
               else sample_image(str(paths[1]), "", "apex", 64))
    config = InputConfig(size=64, sample_mode=mode, flow="farneback", reference_s=1 / 30)
    stream = InputBuilder(config, fps=30)
    if flow:
        stream.build(onset, None, 0)
    served = stream.build(apex, None, 1)
    photo_input, _ = photo_model_input(apex, config, "none", reference=onset if flow else None)
    assert trained.shape == (64, 64, 3)
    np.testing.assert_array_equal(trained, served.image)
    np.testing.assert_array_equal(trained, photo_input.image)
    if not flow:  # fitted: black bars above and below the 4:3 frame, the face's proportions kept
        assert trained[:6].max() == 0 and trained[-6:].max() == 0 and trained[10:54].mean() > 20
