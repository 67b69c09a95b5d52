"""Shared test fixtures. Tests make every file they need; nothing is downloaded."""

from __future__ import annotations

import os
import tempfile

import pytest
import torch

# Two cores: bound intra-op threads so parallel work (data-loader workers, the browser) does not thrash.
torch.set_num_threads(2)

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

# The suite never touches the user's ~/.larnet (sessions database, model cache): tests that need a specific
# folder still set their own with monkeypatch.
os.environ["LARNET_DATA_DIR"] = tempfile.mkdtemp(prefix="larnet-tests-")


def require_or_skip(condition: bool, reason: str) -> None:
    """Skip when a system dependency is missing on a laptop, but fail in CI where it must be present."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: this test must run, install the dependency)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def lite_predictor(tmp_path_factory):
    """An untrained ``larnet-lite`` checkpoint (classes happiness, surprise, others) behind a Predictor
    (ONNX Runtime on CPU), built once per session because the ONNX export takes a while."""
    from larnet_core.inference import Predictor
    from larnet_core.models import ModelCard, load_checkpoint, save_checkpoint

    card = ModelCard.for_preset("larnet-lite", ["happiness", "surprise", "others"])
    path = save_checkpoint(card.build(), card, tmp_path_factory.mktemp("lite_model") / "larnet-lite.pt")
    return Predictor(load_checkpoint(path))


@pytest.fixture(scope="session")
def expressions_clip(tmp_path_factory):
    """A 2 s, 320x240 h264 clip of a real photo showing one micro-expression (larnet_core.synth.footage), written
    once per session: ``path``."""
    from larnet_core.synth.footage import make_footage, write_footage

    footage = make_footage("expressions", seconds=2.0, seed=5, micro=1, size=(320, 240))
    return write_footage(tmp_path_factory.mktemp("expressions") / "expressions.mp4", footage.frames,
                         footage.truth.fps)


@pytest.fixture(scope="session")
def analysed_expressions(expressions_clip, lite_predictor):
    """:func:`expressions_clip` analysed once per session by :func:`lite_predictor` (main face, defaults). Tests
    must not change it: copy what they alter."""
    from larnet_core.video import analyze_clip

    return analyze_clip(expressions_clip, lite_predictor, face="auto")


@pytest.fixture(scope="session")
def pg_server_url():
    """One PostgreSQL server per session (tests/pg_server.py); each test makes its own schema in it. Skipped on a
    laptop without PostgreSQL, required in CI."""
    import pg_server

    reason = pg_server.unavailable_reason()
    require_or_skip(reason is None, f"PostgreSQL tests need a local server: {reason}")
    with pg_server.running_postgres() as url:
        yield url


@pytest.fixture(scope="module")
def one_torch_thread():
    """Run a module with one torch thread: models of many small operators (MTCNN, the attention networks) are as
    fast on one thread, and far faster when other processes share the two cores (docs/performance.md)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
