"""Faults of a batch on Ray: a worker killed by Ray's memory monitor mid-clip, a worker killed outright, and a
node of a two-node cluster (both on 127.0.0.1) stopped mid-batch. Each costs at most its own clip, which gets a
row saying what happened, or is analysed again on another worker; the driver never stops.

Real Ray, real clips (short PyAV videos analysed whole, ``face="none"``), the shipped demo model. One CPU per
Ray node and one actor per node keep each test to about a minute on two shared cores.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from larnet_core.batch import BatchSettings, run_batch

ray = pytest.importorskip("ray", reason="Ray is an optional extra (pip install .[ray]; make test installs it)")

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "assets" / "models" / "larnet-lite-demo.pt"
SETTINGS = BatchSettings(face="none", backend="torch")
RUNTIME_ENV = {"env_vars": {"PYTHONPATH": os.pathsep.join(filter(None, (str(REPO), os.environ.get("PYTHONPATH"))))}}


def write_clip(path: Path, frames: int = 90, shift: int = 0) -> Path:
    """A moving bright block on grey, 128x96 at 30 fps: a few seconds of analysis each on a shared core."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=Fraction(30))
        stream.width, stream.height, stream.pix_fmt = 128, 96, "yuv420p"
        for index in range(frames):
            image = np.full((96, 128, 3), 60, np.uint8)
            left = 20 + (index + shift) % 50
            image[20:70, left:left + 30] = 200
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("fault-clips")
    for index in range(4):
        write_clip(folder / f"take{index}.mp4", shift=7 * index)
    return folder


def _pid(row: dict) -> int:
    return int(str(row["worker"]).rsplit(":", 1)[-1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not _alive(pid)


def _available_bytes() -> tuple[int, int]:
    """(total, available) memory as Ray's memory monitor reads it without a cgroup limit: /proc/meminfo."""
    fields = {}
    with open("/proc/meminfo", encoding="ascii") as meminfo:
        for line in meminfo:
            key, value = line.split(":", 1)
            fields[key] = int(value.split()[0]) * 1024
    return fields["MemTotal"], fields["MemAvailable"]


def test_a_worker_killed_mid_clip_costs_nothing_its_clip_is_analysed_again(clips, tmp_path, caplog):
    from larnet_core.batch.ray_runner import actor_memory_bytes

    killed: list[int] = []
    declared: list[float] = []

    def kill_the_worker(state, row) -> None:
        if row is not None and not killed:
            # The one actor holds the memory it declared for clips of this size (Ray's ``memory`` resource).
            declared.append(ray.cluster_resources()["memory"] - ray.available_resources().get("memory", 0))
            # The single actor has started the clip queued behind the one it just returned.
            pid = _pid(row)
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False, runtime_env=RUNTIME_ENV)
    try:
        with caplog.at_level(logging.WARNING, logger="larnet_core.batch.ray_runner"):
            report = run_batch([clips], DEMO, tmp_path / "out", settings=SETTINGS, workers=1, ray="local",
                               progress=kill_the_worker)
    finally:
        ray.shutdown()
    assert killed
    largest = max(path.stat().st_size for path in clips.iterdir())
    assert declared and abs(declared[0] - actor_memory_bytes(largest)) < 1024**2, declared
    summary = report.summary
    assert len(summary) == 4 and (summary["status"] == "ok").all(), summary[["clip", "status", "error"]]
    assert summary["worker"].map(lambda w: int(str(w).rsplit(":", 1)[-1])).nunique() == 2  # a new actor took over
    assert any("trying it again" in r.getMessage() and "worker stopped" in r.getMessage() for r in caplog.records)


def test_a_worker_killed_by_rays_memory_monitor_gives_its_clip_a_row_saying_so(tmp_path, monkeypatch):
    """The node's memory is pushed over the monitor's threshold (by this test process, which Ray never kills)
    while the actor analyses a long clip; the monitor kills the actor; with one try per clip, that clip's row
    says what happened and the batch goes on with a new actor."""
    from larnet_core.batch import BatchOutput, ray_runner

    clips = tmp_path / "clips"
    clips.mkdir()
    for index, frames in enumerate((30, 900, 30, 30)):  # the second runs long enough to be caught mid-clip
        write_clip(clips / f"take{index}.mp4", frames=frames, shift=7 * index)

    total, available = _available_bytes()
    # Well above what the batch itself adds (Ray's own processes, the actor, its clips), so that only the ballast
    # below crosses it, and the actor that replaces the killed one starts with room to spare.
    headroom = 3 * 1024**3
    threshold = (total - available + headroom) / total
    if threshold > 0.9:
        pytest.skip(f"the machine has too little free memory ({available / 1024**3:.1f} GiB) to push it over a "
                    "threshold safely")
    monkeypatch.setenv("RAY_memory_usage_threshold", f"{threshold:.4f}")
    monkeypatch.setenv("RAY_memory_monitor_refresh_ms", "100")
    monkeypatch.setattr(ray_runner, "MAX_ATTEMPTS", 1)
    pushed: list[int] = []

    def push_memory_over_the_threshold(state, row) -> None:
        if row is None or pushed:
            return
        pid = _pid(row)
        pushed.append(pid)
        total_now, available_now = _available_bytes()
        need = int(threshold * total_now) - (total_now - available_now) + 512 * 1024**2
        ballast = np.ones(max(need, 256 * 1024**2), np.uint8)  # touched pages: resident, as the monitor counts
        try:
            assert _wait_gone(pid, 30), "the memory monitor did not stop the worker"
        finally:
            del ballast

    ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False, runtime_env=RUNTIME_ENV)
    try:
        report = run_batch([clips], DEMO, tmp_path / "out", settings=SETTINGS, workers=1, ray="local",
                           progress=push_memory_over_the_threshold)
    finally:
        ray.shutdown()
    assert pushed
    summary = report.summary
    assert len(summary) == 4, summary
    failed = summary[summary["status"] == "failed"]
    assert len(failed) == 1 and failed["error_type"].iloc[0] == "OutOfMemory", summary[["clip", "status", "error"]]
    assert "memory" in failed["error"].iloc[0] and "--workers" in failed["error"].iloc[0]
    assert failed["source"].iloc[0].endswith("take1.mp4")
    assert (summary["status"] == "ok").sum() == 3  # the others, on the first actor or the one that replaced it
    # Not the clip's fault: marked to be redone by the next run (which would analyse only it).
    assert BatchOutput(tmp_path / "out").read_marker(failed["clip"].iloc[0])["retry"] is True


def test_a_node_stopped_mid_batch_costs_nothing_its_clip_is_analysed_on_the_other(clips, tmp_path, caplog,
                                                                                    monkeypatch):
    from ray._private import ray_constants
    from ray.cluster_utils import Cluster

    # Both nodes on the loopback address only (Ray's switch for single-machine clusters, read by this process and
    # by the processes it starts).
    monkeypatch.setenv(ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR, "0")
    monkeypatch.setattr(ray_constants, "ENABLE_RAY_CLUSTER", False)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    second = cluster.add_node(num_cpus=1)
    stopped: list[bool] = []

    def stop_the_second_node(state, row) -> None:
        if row is not None and not stopped:
            cluster.remove_node(second, allow_graceful=False)  # its raylet and workers killed: a node lost
            stopped.append(True)

    try:
        assert cluster.address.startswith("127.0.0.1:")
        ray.init(address=cluster.address, log_to_driver=False, runtime_env=RUNTIME_ENV)
        assert [n["NodeManagerAddress"] for n in ray.nodes() if n["Alive"]] == ["127.0.0.1", "127.0.0.1"]
        with caplog.at_level(logging.WARNING, logger="larnet_core.batch.ray_runner"):
            report = run_batch([clips], DEMO, tmp_path / "out", settings=SETTINGS, workers=2, ray=cluster.address,
                               progress=stop_the_second_node)
        deadline = time.monotonic() + 60  # the cluster marks the node dead after its health checks fail
        while len([n for n in ray.nodes() if n["Alive"]]) > 1 and time.monotonic() < deadline:
            time.sleep(0.5)
        alive = len([n for n in ray.nodes() if n["Alive"]])
    finally:
        ray.shutdown()
        cluster.shutdown()
    assert stopped and alive == 1
    summary = report.summary
    assert len(summary) == 4 and (summary["status"] == "ok").all(), summary[["clip", "status", "error"]]
    retried = [r.getMessage() for r in caplog.records if "trying it again" in r.getMessage()]
    assert retried and all("left the cluster" in m or "worker stopped" in m for m in retried), retried
    assert pd.read_parquet(tmp_path / "out" / "frames")["clip"].nunique() == 4
