"""The same `larnet train` command under torchrun: 2 CPU processes with DistributedDataParallel (gloo)."""

from __future__ import annotations

import pytest

import os
import subprocess
import sys
from pathlib import Path

from larnet_core.runs import load_run

pytestmark = pytest.mark.slow  # a two-process DDP training run


def test_two_process_ddp_run_writes_one_run_directory(tmp_path: Path) -> None:
    from larnet_core.synth import generate_dataset

    root = tmp_path / "casme2"
    generate_dataset(root, subjects=3, clips_per_class=1, seed=2, size=(64, 80), fps=30, workers=1)
    out = tmp_path / "ddp-run"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "larnet_core", "train", "--root", str(root), "--out", str(out), "--model", "larnet-lite",
        "--input-size", "32", "--sample-mode", "apex", "--iterations", "3", "--batch-size", "4", "--workers", "0",
        "--threads", "1", "--device", "cpu", "--no-progress",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    run = load_run(out)
    assert run.config["world_size"] == 2
    assert (out / "model.pt").exists() and not (out / "last.pt").exists()
    # Rank 0 alone wrote: one summary line, and one history row per logged step.
    assert done.stdout.count("UF1") == 1
    assert run.history["iteration"].is_unique
