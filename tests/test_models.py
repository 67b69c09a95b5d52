"""Model package: the paper's counts and equations, shapes, inspection protocol, checkpoints, export."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from larnet_core.errors import CheckpointError
from larnet_core.inference import Predictor
from larnet_core.models import (
    AttentionModule,
    MaskActivation,
    ModelCard,
    build_model,
    complexity,
    l2_kernel_penalty,
    list_models,
    load_checkpoint,
    save_checkpoint,
)
from larnet_core.models.export import export_model


@pytest.mark.parametrize(
    "name, params_ref, macs_ref",
    [("attention56", 31.9e6, 6.2e9), ("attention92", 52.5e6, 10.5e9)],
)
def test_table2_counts_within_3_percent(name, params_ref, macs_ref):
    params, macs = complexity(build_model(name, num_classes=1000), 224)
    assert abs(params - params_ref) / params_ref < 0.03, params
    assert abs(macs - macs_ref) / macs_ref < 0.03, macs


def test_attention92_params_also_near_paper_table2():
    params, _ = complexity(build_model("attention92", num_classes=1000), 224)
    assert 51.3e6 * 0.97 < params < 52.5e6 * 1.03


def test_mixed_activation_is_sigmoid_in_unit_range():
    x = torch.tensor([[[[-100.0, 0.0], [2.0, 100.0]]]])
    out = MaskActivation("mixed")(x)
    assert torch.allclose(out, torch.sigmoid(x))
    assert out.min() >= 0 and out.max() <= 1
    assert out[0, 0, 0, 1] == pytest.approx(0.5)


def test_channel_activation_l2_normalises_each_position():
    x = torch.zeros(1, 2, 1, 2)
    x[0, :, 0, 0] = torch.tensor([3.0, 4.0])
    x[0, :, 0, 1] = torch.tensor([0.0, 2.0])
    out = MaskActivation("channel")(x)
    assert torch.allclose(out[0, :, 0, 0], torch.tensor([0.6, 0.8]), atol=1e-5)
    assert torch.allclose(out[0, :, 0, 1], torch.tensor([0.0, 1.0]), atol=1e-5)
    assert torch.allclose(out.norm(dim=1), torch.ones(1, 1, 2), atol=1e-5)


def test_spatial_activation_standardises_per_channel_then_sigmoid():
    x = torch.tensor([[[[1.0, 3.0]], [[10.0, 30.0]]]])  # two channels with different scales
    out = MaskActivation("spatial")(x)
    expected = torch.sigmoid(torch.tensor([-1.0, 1.0]))
    assert torch.allclose(out[0, 0, 0], expected, atol=1e-4)
    assert torch.allclose(out[0, 1, 0], expected, atol=1e-4)  # same after standardising


def test_unknown_attention_kind_fails_at_construction():
    with pytest.raises(ValueError, match="attention"):
        build_model("attention56", attention="bogus")
    with pytest.raises(ValueError, match="larnet-lite"):
        build_model("resnet-9000")


@pytest.mark.parametrize("residual", [True, False])
def test_attention_module_output_is_eq3_or_eq1(residual):
    torch.manual_seed(0)
    module = AttentionModule(16, depth=2, residual=residual).eval()
    x = torch.randn(2, 16, 12, 12)
    with torch.no_grad():
        out, mask = module.forward_with_mask(x)
        first = module.first(x)
        trunk, expected_mask = module.trunk(first), module.mask(first)
        combined = (1 + expected_mask) * trunk if residual else expected_mask * trunk
        assert torch.allclose(mask, expected_mask)
        assert torch.allclose(out, module.last(combined), atol=1e-5)
    assert mask.shape == (2, 16, 12, 12)
    assert 0.0 <= mask.min() and mask.max() <= 1.0


class _ConstantMask(nn.Module):
    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def forward(self, x):
        return torch.full_like(x, self.value)


def test_eq2_mask_scales_the_trunk_gradient():
    """d(M T)/d(phi) = M dT/d(phi): with a constant mask c, trunk gradients are c times those for M = 1."""
    torch.manual_seed(0)
    base = AttentionModule(8, depth=1, residual=False)
    base.last = nn.Identity()
    x = torch.randn(1, 8, 6, 6)
    weights = torch.randn(1, 8, 6, 6)

    def trunk_grad(c: float) -> torch.Tensor:
        base.mask = _ConstantMask(c)
        base.zero_grad()
        (base(x) * weights).sum().backward()
        return base.trunk[0].conv1.weight.grad.clone()

    assert torch.allclose(trunk_grad(0.25), 0.25 * trunk_grad(1.0), atol=1e-6)
    assert trunk_grad(0.0).abs().max() == 0  # a closed mask blocks the trunk's update


@pytest.mark.parametrize("size", [64, 97, 160])
def test_attention56_any_input_size(size):
    model = build_model("attention56", num_classes=5, width=16).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, size, size)).shape == (2, 5)


@pytest.mark.parametrize("size", [96, 112, 128])
def test_larnet_lite_shapes_and_intermediates(size):
    model = build_model("larnet-lite", num_classes=7).eval()
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        logits = model(x)
        inter = model.forward_intermediates(x)
    assert logits.shape == (2, 7)
    assert torch.allclose(inter.logits, logits, atol=1e-5)
    for stage in ("stage1", "stage2", "stage3", "bridge"):
        assert stage in inter.stages
    assert {m.stage for m in inter.masks} == {"stage1", "stage2", "stage3"}
    for item in inter.masks:
        assert model.get_submodule(item.name).__class__.__name__ == "AttentionModule"
        assert 0.0 <= float(item.mask.min()) and float(item.mask.max()) <= 1.0
    assert [f.module for f in model.feature_info] == ["stage1", "stage2", "stage3"]
    for info in model.feature_info:
        assert model.get_submodule(info.module) is not None


def test_paper_larnet_preset_stages():
    model = build_model("larnet")
    assert [len(level.attention_modules) for level in model.stage1.levels] == [1, 2, 3]
    assert [len(level.attention_modules) for level in model.stage2.levels] == [1, 1, 1]
    assert model.stage3.stem[0].kernel_size == (5, 5) and model.stage3.num_features == 1024
    assert model.default_cfg.input_size == 224


def test_emoresnet_paper_shapes():
    model = build_model("emoresnet").eval()
    inter = model.forward_intermediates(torch.randn(1, 3, 32, 32))
    assert inter.stages["stem"].shape[-2:] == (16, 16)
    assert inter.stages["levels.1"].shape[-2:] == (8, 8)
    assert inter.stages["levels.2"].shape[1:] == (512, 4, 4)
    assert inter.stages["tail"].shape[1] == 1024


def test_l2_kernel_penalty_is_coefficient_times_sum_of_squares():
    model = nn.Sequential(nn.Conv2d(1, 1, 1, bias=True), nn.BatchNorm2d(1))
    with torch.no_grad():
        model[0].weight.fill_(2.0)
        model[0].bias.fill_(5.0)
    assert float(l2_kernel_penalty(model, 0.01).detach()) == pytest.approx(0.04)


def _card(**kw) -> ModelCard:
    return ModelCard.for_preset("larnet-lite", ["a", "b", "c"], training_data="unit test", **kw)


def _small_card() -> ModelCard:
    """A narrow EmoResNet: export and backend checks are generic, and tracing it is quick."""
    return ModelCard.for_preset("emoresnet", ["a", "b", "c"], training_data="unit test", model_kwargs={"width": 8})


def test_checkpoint_round_trip_fp32_and_fp16(tmp_path):
    card = _card(synthetic=True, sample_mode="flow")
    model = card.build().eval()
    x = torch.randn(1, 3, 112, 112)
    with torch.no_grad():
        expected = model(x)
    for half in (False, True):
        path = save_checkpoint(model, card, tmp_path / f"m{half}.pt", half=half, extra={"step": 7})
        loaded = load_checkpoint(path)
        assert loaded.card.class_names == ["a", "b", "c"] and loaded.card.synthetic and loaded.extra["step"] == 7
        assert loaded.card.sample_mode == "flow" and len(loaded.sha256) == 64
        with torch.no_grad():
            got = loaded.model(x)
        assert torch.allclose(got, expected, rtol=2e-2 if half else 1e-5, atol=1e-2 if half else 1e-5)
    assert (tmp_path / "mTrue.pt").stat().st_size < 0.6 * (tmp_path / "mFalse.pt").stat().st_size


def test_bad_checkpoints_get_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        load_checkpoint(tmp_path / "empty.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint at all" * 10)
    with pytest.raises(CheckpointError, match="junk.pt"):
        load_checkpoint(tmp_path / "junk.pt")
    good = save_checkpoint(_card().build(), _card(), tmp_path / "good.pt")
    data = good.read_bytes()
    (tmp_path / "truncated.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated.pt"):
        load_checkpoint(tmp_path / "truncated.pt")
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a LARNet checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    torch.save({"x": _ConstantMask(1.0)}, tmp_path / "code.pt")  # a pickled object: refused by weights_only
    with pytest.raises(CheckpointError, match="not plain weights"):
        load_checkpoint(tmp_path / "code.pt")
    payload = torch.load(good, weights_only=True)
    payload["card"]["class_names"] = ["only", "two"]
    torch.save(payload, tmp_path / "mismatch.pt")
    with pytest.raises(CheckpointError, match="do not match"):
        load_checkpoint(tmp_path / "mismatch.pt")


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_export_matches_pytorch(tmp_path, fmt):
    card = _small_card()
    path = save_checkpoint(card.build(), card, tmp_path / "m.pt")
    result = export_model(load_checkpoint(path), tmp_path / f"m.{fmt}", fmt)
    assert result.path.exists() and result.path.stat().st_size > 1_000
    assert result.max_abs_diff < 1e-4


def test_predictor_backends_agree():
    card = _small_card()
    model = card.build().eval()
    from larnet_core.models.checkpoint import LoadedModel

    loaded = LoadedModel(model, card)
    faces = [np.random.default_rng(i).integers(0, 255, (150, 130, 3), dtype=np.uint8) for i in range(3)]
    torch_probs = Predictor(loaded, backend="torch").predict_proba(faces)
    ort_probs = Predictor(loaded, backend="onnxruntime").predict_proba(faces)
    assert torch_probs.shape == (3, 3)
    assert np.allclose(torch_probs.sum(axis=1), 1, atol=1e-5)
    assert np.allclose(torch_probs, ort_probs, atol=1e-4)


def test_every_preset_builds_and_is_listed():
    assert list_models() == ["attention56", "attention92", "emoresnet", "larnet", "larnet-lite", "resnet18", "ststnet",
                             "off-apexnet"]


def test_engine_imports_without_streamlit_or_plotly():
    code = (
        "import sys, importlib, pkgutil, larnet_core\n"
        "for m in pkgutil.walk_packages(larnet_core.__path__, 'larnet_core.'):\n"
        "    if not m.name.endswith('__main__'):\n"
        "        importlib.import_module(m.name)\n"
        "bad = [m for m in ('streamlit', 'plotly') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def test_cli_info_json_and_export(tmp_path, capsys):
    import json

    from larnet_core.cli import main

    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert {p["name"] for p in info["presets"]} == set(list_models())
    path = save_checkpoint(_small_card().build(), _small_card(), tmp_path / "m.pt")
    assert main(["export", str(path), "--format", "onnx", "--out", str(tmp_path / "m.onnx")]) == 0
    assert "max |logit difference|" in capsys.readouterr().out
    assert main(["export", str(tmp_path / "nope.pt")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_onnx_export_is_cached_per_checkpoint_file(tmp_path, monkeypatch):
    monkeypatch.setenv("LARNET_DATA_DIR", str(tmp_path / "data"))
    card = _small_card()
    path = save_checkpoint(card.build(), card, tmp_path / "m.pt")
    loaded = load_checkpoint(path)
    first = Predictor(loaded, backend="onnxruntime")
    cached = list((tmp_path / "data" / "cache" / "onnx").glob(f"{loaded.sha256[:32]}-*.onnx"))
    assert len(cached) == 1
    cached[0].write_bytes(b"corrupted")  # a damaged cache is replaced by a fresh export, not an error
    again = Predictor(loaded, backend="onnxruntime")
    assert cached[0].stat().st_size > 1000
    face = [np.full((40, 40, 3), 128, np.uint8)]
    assert np.allclose(first.predict_proba(face), again.predict_proba(face))


def test_resolve_device():
    from larnet_core.devices import resolve_device
    from larnet_core.errors import LarnetError

    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in {"cpu", "cuda"}
    with pytest.raises(LarnetError, match="unknown device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(LarnetError, match="no CUDA"):
            resolve_device("cuda")
