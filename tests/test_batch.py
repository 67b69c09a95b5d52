"""Batch analysis: a folder of generated clips with one corrupt file, resuming, manifests, worker processes, Ray.

The clips are short (2 s, 30 fps, 320x240) real-photo footage from larnet_core.synth.footage, so the whole file
stays well under two minutes on two shared cores; the model is the shipped demo checkpoint.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from larnet_core.batch import (
    DATASETS,
    SUMMARY_COLUMNS,
    TIMING_COLUMNS,
    BatchInputError,
    BatchOutput,
    BatchSettings,
    discover_clips,
    run_batch,
)
from larnet_core.cli import main
from larnet_core.errors import CheckpointError

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "assets" / "models" / "larnet-lite-demo.pt"


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    """interviews/a.mp4 (Grace Hopper), interviews/day2/b.mp4 (the astronaut), interviews/broken.mp4 (noise)."""
    from larnet_core.synth.footage import make_footage, write_footage

    root = tmp_path_factory.mktemp("batch") / "interviews"
    (root / "day2").mkdir(parents=True)
    for path, photo, seed in ((root / "a.mp4", "grace_hopper", 1), (root / "day2" / "b.mp4", "astronaut", 2)):
        footage = make_footage("expressions", size=(320, 240), seconds=2.0, fps=30.0, micro=1, seed=seed,
                               photo=photo)
        write_footage(path, footage.frames, 30.0)
    (root / "broken.mp4").write_bytes(os.urandom(4096))
    (root / "notes.txt").write_text("not a clip")
    return root


@pytest.fixture(scope="module")
def first(clips, tmp_path_factory) -> Path:
    """One batch run through the CLI (in this process, one worker)."""
    out = tmp_path_factory.mktemp("first") / "out"
    code = main(["batch", str(clips), "--checkpoint", str(DEMO), "--out", str(out), "--no-progress"])
    assert code == 1  # one clip failed, and the exit code says so
    return out


def _copy(out: Path, tmp_path: Path) -> Path:
    target = tmp_path / "out"
    shutil.copytree(out, target)
    return target


def _comparable(summary: pd.DataFrame) -> pd.DataFrame:
    return summary.drop(columns=list(TIMING_COLUMNS)).sort_values("clip").reset_index(drop=True)


def _frames(out: Path) -> pd.DataFrame:
    table = pd.read_parquet(out / "frames")
    table["clip"] = table["clip"].astype(str)
    return table.sort_values(["clip", "frame"]).reset_index(drop=True)


def test_a_folder_with_a_corrupt_file_gives_summary_rows_an_error_row_and_readable_datasets(first):
    summary = pd.read_parquet(first / "summary.parquet")
    assert list(summary.columns[:len(SUMMARY_COLUMNS)]) == list(SUMMARY_COLUMNS)
    # Missing values are nulls in the file, not empty strings: two clips without an error, none with a subject.
    import pyarrow.parquet as pq

    stored = pq.read_table(first / "summary.parquet")
    assert stored.column("error").null_count == 2 and stored.column("subject").null_count == 3
    assert len(summary) == 3  # notes.txt is not a clip
    by_source = summary.set_index("source")
    broken = by_source.loc["interviews/broken.mp4"]
    assert broken["status"] == "failed" and broken["error_type"] == "VideoError"
    assert "corrupt" in broken["error"] and pd.isna(broken["frames"])
    for source in ("interviews/a.mp4", "interviews/day2/b.mp4"):
        row = by_source.loc[source]
        assert row["status"] == "ok" and pd.isna(row["error"]) and pd.isna(row["error_type"])
        assert row["frames"] == 60 and row["seconds"] == pytest.approx(2.0) and row["prediction"]
        assert len(row["model_sha256"]) == 64 and len(row["input_sha256"]) == 64
    # Each dataset in one call, with the clip it came from; only the clips that succeeded have rows.
    frames = pd.read_parquet(first / "frames")
    good = set(summary.loc[summary["status"] == "ok", "clip"])
    assert set(frames["clip"].astype(str)) == good and len(frames) == 120
    assert {"prob_happiness", "motion", "face_found"} <= set(frames.columns)
    intervals = pd.read_parquet(first / "intervals")
    counts = intervals.groupby(intervals["clip"].astype(str), observed=True).size()
    expected = summary.set_index("clip")["intervals"]
    assert all(counts.get(clip, 0) == expected[clip] for clip in good)
    import pyarrow.dataset as ds

    assert ds.dataset(first / "faces", partitioning="hive").to_table().num_rows >= 2
    # One clip's whole result reads back for the clip view.
    clip = sorted(good)[0]
    result = BatchOutput(first).load_result(clip)
    assert len(result.frames) == 60 and result.prediction.label == summary.set_index("clip").loc[clip, "prediction"]


def test_the_folder_names_the_model_of_its_clips(first):
    from larnet_core.models import load_checkpoint

    models = BatchOutput(first).models()
    assert len(models) == 1 and int(models["clips"].iloc[0]) == 2  # the two analysed clips, not the failed one
    assert models["sha256"].iloc[0] == load_checkpoint(DEMO).sha256 and bool(models["synthetic"].iloc[0])


def test_a_rerun_does_nothing_and_a_deleted_or_half_written_clip_is_redone(first, clips, tmp_path):
    out = _copy(first, tmp_path)
    before = pd.read_parquet(out / "summary.parquet")
    again = run_batch([clips], DEMO, out)
    assert (again.analysed, again.kept, again.failed) == (0, 3, 1)  # the corrupt file is not retried
    pd.testing.assert_frame_equal(_comparable(again.summary), _comparable(before))

    ids = before.set_index("source")["clip"]
    shutil.rmtree(out / "frames" / f"clip={ids['interviews/a.mp4']}")
    # Interrupted after its partitions were renamed into place, before its marker: not complete.
    (out / "clips" / f"{ids['interviews/day2/b.mp4']}.json").unlink()
    (out / ".tmp" / "x").mkdir(parents=True)
    redone = run_batch([clips], DEMO, out)
    assert (redone.analysed, redone.kept) == (2, 1)
    assert not (out / ".tmp").exists()
    pd.testing.assert_frame_equal(_comparable(redone.summary).drop(columns=["finished_at"], errors="ignore"),
                                  _comparable(before))
    pd.testing.assert_frame_equal(_frames(out), _frames(first))

    # A touched but unchanged file is read and hashed, and kept; retrying failures analyses the corrupt one again.
    os.utime(clips / "a.mp4")
    touched = run_batch([clips], DEMO, out, retry_failed=True)
    assert touched.analysed == 1 and touched.kept == 2 and touched.failed == 1


def test_changed_settings_redo_every_clip(first, clips, tmp_path):
    out = _copy(first, tmp_path)
    changed = run_batch([clips], DEMO, out, settings=BatchSettings(threshold_p=0.35))
    assert changed.analysed == 3 and changed.kept == 0
    hashes = set(changed.summary["settings_sha256"])
    assert len(hashes) == 1 and hashes != set(pd.read_parquet(first / "summary.parquet")["settings_sha256"])


def test_a_manifest_carries_subject_and_label_and_bad_inputs_say_what_to_do(clips, tmp_path):
    manifest = tmp_path / "manifest.csv"
    shutil.copy(clips / "a.mp4", tmp_path / "a.mp4")
    manifest.write_text("path,subject,label,notes\na.mp4,sub01,happiness,x\n")
    report = run_batch([manifest], DEMO, tmp_path / "out")
    row = report.summary.iloc[0]
    assert (row["subject"], row["label"], row["status"], row["source"]) == ("sub01", "happiness", "ok", "a.mp4")

    (tmp_path / "bad.csv").write_text("file,subject\na.mp4,sub01\n")
    with pytest.raises(BatchInputError, match="no 'path' column"):
        discover_clips([tmp_path / "bad.csv"])
    (tmp_path / "missing.csv").write_text("path\nnope.mp4\n")
    with pytest.raises(BatchInputError, match="row 2: nope.mp4 does not exist"):
        discover_clips([tmp_path / "missing.csv"])
    with pytest.raises(BatchInputError, match="does not exist"):
        discover_clips([tmp_path / "nowhere"])
    with pytest.raises(BatchInputError, match="no clips found"):
        discover_clips([tmp_path / "out" / "clips"])
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError):
        run_batch([manifest], tmp_path / "junk.pt", tmp_path / "out2")
    assert main(["batch", str(manifest), "--checkpoint", str(tmp_path / "none.pt"), "--out",
                 str(tmp_path / "out3")]) == 2


def test_two_worker_processes_give_the_same_results_as_one(first, clips, tmp_path):
    report = run_batch([clips], DEMO, tmp_path / "out", workers=2)
    assert report.analysed == 3 and report.failed == 1
    assert report.summary["worker"].nunique() >= 1
    pd.testing.assert_frame_equal(_comparable(report.summary), _comparable(pd.read_parquet(first / "summary.parquet")))
    pd.testing.assert_frame_equal(_frames(tmp_path / "out"), _frames(first))
    for dataset in DATASETS:
        assert len(pd.read_parquet(tmp_path / "out" / dataset)) == len(pd.read_parquet(first / dataset))


@pytest.mark.slow
def test_a_local_ray_cluster_gives_the_same_summary(first, clips, tmp_path):
    ray = pytest.importorskip("ray", reason="Ray is an optional extra (pip install .[ray]; make test installs it)")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(filter(None, (str(REPO),
                                                                                    os.environ.get("PYTHONPATH"))))}})
    try:
        report = run_batch([clips], DEMO, tmp_path / "out", workers=2, ray="local")
    finally:
        ray.shutdown()
    assert report.analysed == 3 and report.failed == 1
    pd.testing.assert_frame_equal(_comparable(report.summary), _comparable(pd.read_parquet(first / "summary.parquet")))
    pd.testing.assert_frame_equal(_frames(tmp_path / "out"), _frames(first))
    again = run_batch([clips], DEMO, tmp_path / "out", ray="local")  # resumes without starting Ray: nothing to do
    assert again.analysed == 0


def test_a_killed_batch_resumes_and_loses_only_the_clip_in_flight(clips, tmp_path):
    """The whole command killed (SIGKILL: no clean-up at all) once a clip is finished: the rerun keeps every
    finished clip and analyses only the rest."""
    import signal
    import subprocess
    import sys
    import time

    folder = tmp_path / "clips"
    folder.mkdir()
    for index in range(4):
        shutil.copy(clips / ("a.mp4" if index % 2 == 0 else "day2/b.mp4"), folder / f"take{index}.mp4")
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    process = subprocess.Popen([sys.executable, "-m", "larnet_core", "batch", str(folder), "--checkpoint", str(DEMO),
                                "--out", str(out), "--no-progress"], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while not list(out.glob("clips/*.json")):
            assert process.poll() is None, "the batch ended before it could be interrupted"
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    finished = {p.stem for p in (out / "clips").glob("*.json")}
    assert 1 <= len(finished) < 4
    resumed = run_batch([folder], DEMO, out)
    assert resumed.kept == len(finished) and resumed.analysed == 4 - len(finished) and resumed.ok
    summary = pd.read_parquet(out / "summary.parquet")
    assert sorted(summary["status"]) == ["ok"] * 4 and not (out / ".tmp").exists()
    assert pd.read_parquet(out / "frames")["clip"].nunique() == 4


def _killer_of_the_other_worker(killed: list[int], the_one_that_finished: bool = False):
    """A batch progress callback that SIGKILLs, once the first clip's row arrives, a worker other than the one
    that finished it (or that one: it is then idle, waiting for its next clip); the pid goes in ``killed``."""
    import multiprocessing
    import signal

    def kill_one_worker(state, row) -> None:
        if row is not None and not killed:
            done_by = int(str(row["worker"]).rsplit(":", 1)[-1])
            worker = next(p for p in multiprocessing.active_children()
                          if p.name.startswith("larnet-batch-") and (p.pid == done_by) == the_one_that_finished)
            os.kill(worker.pid, signal.SIGKILL)
            killed.append(worker.pid)

    return kill_one_worker


def _clips_with_a_long_second_one(clips: Path, tmp_path: Path, count: int) -> Path:
    """``count`` clips take0, take1, ...; take1 (the second worker's first clip) lasts 6 s, the others 2 s: when the
    first worker's take0 finishes, the second is mid-clip. (With clips of one length both sometimes finished
    together on a fast machine, and the worker killed then held nothing.)"""
    from larnet_core.synth.footage import make_footage, write_footage

    folder = tmp_path / "clips"
    folder.mkdir()
    for index in range(count):
        if index != 1:
            shutil.copy(clips / "a.mp4", folder / f"take{index}.mp4")
    footage = make_footage("expressions", size=(320, 240), seconds=6.0, fps=30.0, micro=1, seed=2, photo="astronaut")
    write_footage(folder / "take1.mp4", footage.frames, 30.0)
    return folder


@pytest.mark.timeout(300)
def test_a_worker_killed_while_waiting_for_its_next_clip_does_not_stall_the_batch(clips, tmp_path):
    # The clip handed to the killed worker goes to a new one. (Workers once shared one queue of clips: one killed
    # while waiting on it kept the queue's read lock and the others waited for ever; the mid-clip test below hung
    # so, by chance, when its victim had just finished. Each worker now has a queue and a pipe of its own.)
    folder = tmp_path / "clips"
    folder.mkdir()
    for index in range(4):
        shutil.copy(clips / ("a.mp4" if index % 2 == 0 else "day2/b.mp4"), folder / f"take{index}.mp4")
    killed: list[int] = []
    report = run_batch([folder], DEMO, tmp_path / "out", workers=2,
                       progress=_killer_of_the_other_worker(killed, the_one_that_finished=True))
    assert killed and report.ok and len(report.summary) == 4 and (report.summary["status"] == "ok").all()


def test_a_worker_process_that_dies_costs_only_its_clip_and_a_rerun_redoes_it(clips, tmp_path, monkeypatch):
    from larnet_core.batch import local

    monkeypatch.setattr(local, "MAX_ATTEMPTS", 1)  # no second try: the clip's row says what happened

    folder = _clips_with_a_long_second_one(clips, tmp_path, 4)
    out = tmp_path / "out"
    killed: list[int] = []
    # After the first finished clip the other worker is still analysing its own first clip, the long one.
    report = run_batch([folder], DEMO, out, workers=2, progress=_killer_of_the_other_worker(killed))
    assert killed and len(report.summary) == 4  # every clip has its row; the batch went on with a new worker
    failed = report.summary[report.summary["status"] == "failed"]
    assert (failed["error_type"] == "WorkerDied").all() and 1 <= len(failed) <= 2
    assert failed["error"].str.contains("worker process was killed .SIGKILL., most often by the system running out "
                                        "of memory").all()
    again = run_batch([folder], DEMO, out)  # a clip lost with its worker is not the input's fault: redone
    assert again.ok and again.analysed == len(failed) and (again.summary["status"] == "ok").all()


def test_a_worker_process_that_dies_mid_clip_is_replaced_and_the_clip_tried_again(clips, tmp_path, caplog):
    import logging

    folder = _clips_with_a_long_second_one(clips, tmp_path, 3)
    killed: list[int] = []
    with caplog.at_level(logging.WARNING, logger="larnet_core.batch.local"):
        report = run_batch([folder], DEMO, tmp_path / "out", workers=2, progress=_killer_of_the_other_worker(killed))
    assert killed and report.ok and len(report.summary) == 3  # nothing lost
    retries = [r.getMessage() for r in caplog.records if "trying it again" in r.getMessage()]
    long_clip = report.summary.loc[report.summary["path"].str.endswith("take1.mp4"), "clip"].item()
    assert retries and retries[0].startswith(f"clip {long_clip}:"), retries
    # The lost clip was analysed again, by another worker.
    row = report.summary.set_index("clip").loc[long_clip]
    assert row["status"] == "ok" and not str(row["worker"]).endswith(f":{killed[0]}")
