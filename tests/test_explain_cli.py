"""``larnet explain``: the files it says it writes, and one-line errors for bad images and arguments."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from PIL import Image

from larnet_core.cli import main
from larnet_core.face import sample_face_photos
from larnet_core.models import ModelCard, save_checkpoint

CLASSES = ["alpha", "beta", "gamma"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    card = ModelCard(preset="attention56", class_names=CLASSES, input_size=64, model_kwargs={"width": 8},
                     synthetic=True, training_data="random weights for a test")
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    save_checkpoint(card.build(), card, path)
    return path


@pytest.fixture(scope="module")
def photo_path(tmp_path_factory):
    photos = sample_face_photos()
    path = tmp_path_factory.mktemp("img") / "grace_hopper.png"
    Image.fromarray(photos["grace_hopper"]).save(path)
    return path


def save(tmp_path, name: str, array: np.ndarray):
    path = tmp_path / name
    Image.fromarray(array).save(path)
    return path


def test_cli_writes_every_file_its_index_names(tmp_path, checkpoint, photo_path, capsys):
    out = tmp_path / "explained"
    code = main(["explain", str(photo_path), "--checkpoint", str(checkpoint), "--out", str(out),
                 "--top-k", "9", "--target", "beta", "--stretch-masks", "--face", "haar"])
    assert code == 0
    stdout = capsys.readouterr().out
    assert "prediction:" in stdout and "synthetic" in stdout and "index.json" in stdout
    index = json.loads((out / "index.json").read_text())
    assert index["format"] == "larnet-explanation" and index["size"] == [64, 64]  # the model's own input
    assert index["model"]["preset"] == "attention56" and index["model"]["synthetic"] is True
    assert index["face"]["detector"] == "haar" and len(index["face"]["box"]) == 4
    assert len(index["face"]["matrix"]) == 2  # the alignment that made the model's input
    assert sum(index["prediction"]["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    assert index["target_class"] == 1 and index["masks_stretched"] is True
    stages = ["stem", "levels.0", "levels.1", "levels.2", "tail"]
    assert [m["module"] for m in index["masks"]] == [f"levels.{i}.attention_modules.0" for i in range(3)]
    assert [h["stage"] for h in index["hidden"]] == stages
    assert [(c["method"], c["stage"]) for c in index["cams"]] == [
        (m, s) for s in stages for m in ("gradcam", "gradcam++", "eigencam")]
    assert {c["target_label"] for c in index["cams"]} == {"beta"}
    assert len(index["responses"]) == 3 and "mean_abs_response" in index["responses"][0]
    files = [index["face_file"]] + [e["file"] for key in ("masks", "hidden", "cams") for e in index[key]]
    assert len(set(files)) == len(files) == 1 + 3 + 5 + 15
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*.png"))
    assert written == sorted(files)
    for name in files:
        with Image.open(out / name) as image:
            assert image.format == "PNG" and image.mode == "RGB"
            if not name.startswith("hidden/"):
                assert image.size == (64, 64)
    assert len(index["hidden"][0]["channels"]) == 8  # the stem has only 8 channels
    assert len(index["hidden"][1]["channels"]) == 9


@pytest.mark.parametrize("mode", ["L", "RGBA"])
def test_cli_grey_and_rgba_face_crops(tmp_path, checkpoint, photo_path, mode):
    with Image.open(photo_path) as photo:
        crop = photo.crop((150, 120, 390, 360)).convert(mode)
    path = tmp_path / f"face_{mode}.png"
    crop.save(path)
    out = tmp_path / "out"
    assert main(["explain", str(path), "--checkpoint", str(checkpoint), "--out", str(out), "--face", "none",
                 "--methods", "eigencam"]) == 0
    index = json.loads((out / "index.json").read_text())
    assert index["face"] is None and index["size"] == [64, 64]
    assert {c["method"] for c in index["cams"]} == {"eigencam"}


@pytest.mark.parametrize("case, args, message", [
    ("blank", [], "no face found in .*blank.png; use a clearer frontal face photo, or analyse the full frame "
                  "with --face none"),
    ("tiny", ["--face", "none"], "only 10x8 pixels, too small to explain"),
    ("text", [], "is not a readable image"),
    ("method", ["--methods", "scorecam"], "unknown CAM method 'scorecam'; choose one of: gradcam"),
    ("target", ["--target", "delta"], "unknown target class 'delta'; this model's classes are 0=alpha"),
])
def test_cli_errors_are_one_line_with_exit_2(tmp_path, checkpoint, photo_path, capsys, case, args, message):
    image = {
        "blank": lambda: save(tmp_path, "blank.png", np.full((240, 320, 3), 128, np.uint8)),
        "tiny": lambda: save(tmp_path, "tiny.png", np.zeros((8, 10, 3), np.uint8)),
        "text": lambda: (tmp_path / "notes.png").write_text("not an image") and tmp_path / "notes.png",
    }.get(case, lambda: photo_path)()
    out = tmp_path / "out"
    code = main(["explain", str(image), "--checkpoint", str(checkpoint), "--out", str(out), *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith("larnet explain: error: ")
    assert re.search(message, err[-1]), err[-1]
    assert not (out / "index.json").exists()
