"""The ONNX cache lets CPU inference start without PyTorch: `larnet analyze` runs twice in fresh interpreters, the
second time without importing torch and with the same tables; damaged, foreign and stale entries are not used."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from larnet_core.inference import Predictor, load_for_inference
from larnet_core.models import ModelCard, load_checkpoint, save_checkpoint
from larnet_core.models import onnx_cache
from larnet_core.paths import demo_checkpoint_path

ROOT = Path(__file__).resolve().parent.parent

# Runs the CLI in a fresh interpreter and reports, on its last line, whether torch was imported by the end.
_ANALYZE = """
import json, sys
from larnet_core.cli import main
code = main(["analyze", *sys.argv[1:]])
print(json.dumps({"code": code, "torch": "torch" in sys.modules}))
"""


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory) -> Path:
    from larnet_core.synth.footage import make_footage, write_footage

    footage = make_footage("expressions", seconds=2.0, seed=3, micro=1, size=(320, 240))
    return write_footage(tmp_path_factory.mktemp("clip") / "clip.mp4", footage.frames, footage.truth.fps)


def _analyze(clip: Path, checkpoint: Path, out: Path, data: Path) -> tuple[dict, str]:
    env = dict(os.environ, LARNET_DATA_DIR=str(data),
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-c", _ANALYZE, str(clip), "--checkpoint", str(checkpoint),
                           "--out", str(out)], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def _entries(data: Path) -> list[Path]:
    return sorted((data / "cache" / "onnx").glob("*.json"))


def test_second_analysis_runs_without_torch_and_gives_the_same_tables(short_clip, tmp_path) -> None:
    data, checkpoint = tmp_path / "data", tmp_path / "model.pt"
    shutil.copy(demo_checkpoint_path(), checkpoint)

    first, _ = _analyze(short_clip, checkpoint, tmp_path / "first.csv", data)
    assert first == {"code": 0, "torch": True}  # checked, exported and cached with torch
    (entry,) = _entries(data)
    second, _ = _analyze(short_clip, checkpoint, tmp_path / "second.csv", data)
    assert second == {"code": 0, "torch": False}
    assert (tmp_path / "first.csv").read_bytes() == (tmp_path / "second.csv").read_bytes()
    summaries = [json.loads((tmp_path / f"{name}.json").read_text()) for name in ("first", "second")]
    assert summaries[0]["model"] == summaries[1]["model"]  # same provenance: path, SHA-256, backend
    assert summaries[1]["model"]["backend"] == "onnxruntime"

    # A damaged entry is ignored (with a log line), torch loads the file again and the entry is rebuilt.
    entry.write_text('{"format": "larnet-onnx-entry", "card": ')
    third, log = _analyze(short_clip, checkpoint, tmp_path / "third.csv", data)
    assert third == {"code": 0, "torch": True}
    assert "ignoring the ONNX cache entry" in log
    assert json.loads(entry.read_text())["checkpoint_sha256"] == load_checkpoint(checkpoint).sha256
    assert (tmp_path / "third.csv").read_bytes() == (tmp_path / "first.csv").read_bytes()

    # Another checkpoint under the same name is another file: it does not reuse the entry.
    card = ModelCard.for_preset("larnet-lite", ["happiness", "surprise", "others"], notes="another model")
    save_checkpoint(card.build(), card, checkpoint)
    fourth, _ = _analyze(short_clip, checkpoint, tmp_path / "fourth.csv", data)
    assert fourth == {"code": 0, "torch": True}
    assert len(_entries(data)) == 2
    assert json.loads((tmp_path / "fourth.json").read_text())["model"]["sha256"] == load_checkpoint(checkpoint).sha256


@pytest.fixture(scope="module")
def exported_once(tmp_path_factory) -> Path:
    """A folder with the demo checkpoint, copied, and a data folder in which it was loaded with torch and exported
    once (which writes its cache entry). The export takes seconds: tests copy the folder."""
    folder = tmp_path_factory.mktemp("exported")
    shutil.copy(demo_checkpoint_path(), folder / "model.pt")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LARNET_DATA_DIR", str(folder / "data"))
        model = load_for_inference(folder / "model.pt", device="cpu")
        assert model.loaded is not None  # nothing cached yet
        Predictor(model, backend="onnxruntime")
    return folder


@pytest.fixture()
def cached_model(exported_once, tmp_path, monkeypatch) -> Path:
    """The checkpoint of :func:`exported_once` with a copy of its data folder of its own (tests may damage it)."""
    shutil.copytree(exported_once, tmp_path / "copy")
    monkeypatch.setenv("LARNET_DATA_DIR", str(tmp_path / "copy" / "data"))
    return tmp_path / "copy" / "model.pt"


def test_a_cached_model_predicts_as_the_torch_loaded_one(cached_model) -> None:
    import numpy as np

    cached = load_for_inference(cached_model, device="cpu")
    assert cached.loaded is None and cached.onnx is not None
    faces = [np.random.default_rng(i).integers(0, 255, (120, 100, 3), dtype=np.uint8) for i in range(4)]
    from_cache = Predictor(cached).predict_proba(faces)
    through_torch = Predictor(load_checkpoint(cached_model), backend="onnxruntime").predict_proba(faces)
    assert np.array_equal(from_cache, through_torch)
    # The torch backend still works from a cached model: it loads the network when asked for it.
    torch_probabilities = Predictor(cached, backend="torch").predict_proba(faces)
    assert np.allclose(torch_probabilities, through_torch, atol=1e-4)


@pytest.mark.parametrize("tamper", ["card", "export", "sha", "version", "name"])
def test_an_entry_that_does_not_match_is_not_used(cached_model, tamper, caplog) -> None:
    sha256 = load_checkpoint(cached_model).sha256
    entry_file = onnx_cache.entry_path(sha256)
    entry = json.loads(entry_file.read_text())
    if tamper == "card":
        entry["card"]["input_size"] = 100_000  # out of bounds: a hostile card
    elif tamper == "export":
        export = entry_file.parent / entry["onnx_file"]
        export.write_bytes(export.read_bytes()[:-10])
    elif tamper == "sha":
        entry["checkpoint_sha256"] = "0" * 64
    elif tamper == "version":
        entry["package_version"] = "0.0.0"
    else:
        entry["onnx_file"] = "../../model.onnx"
    entry_file.write_text(json.dumps(entry))
    with caplog.at_level("WARNING"):
        model = load_for_inference(cached_model, device="cpu")
    assert model.loaded is not None  # loaded with torch, every check run again
    assert "ignoring the ONNX cache entry" in caplog.text


def test_torch_backend_and_cuda_never_read_the_cache(cached_model) -> None:
    assert load_for_inference(cached_model, device="cpu", backend="torch").loaded is not None
    assert load_for_inference(cached_model, device="cpu").loaded is None


def test_a_missing_checkpoint_is_reported_as_before(tmp_path) -> None:
    from larnet_core.errors import CheckpointError

    with pytest.raises(CheckpointError, match="does not exist"):
        load_for_inference(tmp_path / "missing.pt", device="cpu")


def test_card_checks_know_every_preset_without_the_networks() -> None:
    from larnet_core.models.blocks import ATTENTION_KINDS
    from larnet_core.models.card_checks import PRESETS
    from larnet_core.models.registry import MODEL_CONFIGS

    assert PRESETS == tuple(MODEL_CONFIGS)
    assert ATTENTION_KINDS == ("mixed", "channel", "spatial")
