"""One writer and one reader: every face mode -> write -> read -> equal, on SQLite, PostgreSQL, bundles and batch
folders; what is read is checked as untrusted input."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import uuid

import pandas as pd
import pytest

import pg_server
from larnet_core import storage
from larnet_core.batch import BatchOutput
from larnet_core.errors import LarnetError
from larnet_core.result import AnalysisResult, live_result
from larnet_core.sessions import SessionStore
from larnet_core.synth.footage import make_footage, write_footage
from larnet_core.video import analyze_clip

pytestmark = pytest.mark.usefixtures("one_torch_thread")
CLASSES = ["happiness", "surprise", "others"]


@pytest.fixture(scope="module")
def two_faces(tmp_path_factory):
    footage = make_footage("two_faces", seed=3, seconds=2.0)
    return write_footage(tmp_path_factory.mktemp("two") / "two-faces.mp4", footage.frames, footage.truth.fps)


@pytest.fixture(scope="module")
def results(analysed_expressions, expressions_clip, two_faces, lite_predictor) -> dict[str, tuple]:
    """One result of each face mode, with its clip's bytes."""
    class Report:
        def __init__(self, index, label):
            self.frame_index, self.time_s, self.label = index, index / 30.0, label
            self.confidence = 0.6 if label else None
            self.probabilities = {"happiness": 0.6, "surprise": 0.3, "others": 0.1} if label else {}
            self.motion = 0.1 * index if label else float("nan")

    live = live_result([Report(i, "happiness" if i != 2 else None) for i in range(5)], [], CLASSES,
                       {"preset": "larnet-lite", "sha256": "ab" * 32, "checkpoint": "", "synthetic": True},
                       {"face": "auto"}, fps=30.0)
    clip, pair = expressions_clip.read_bytes(), two_faces.read_bytes()
    return {
        "main face": (analysed_expressions, clip),
        "whole frame": (analyze_clip(expressions_clip, lite_predictor, face="none", max_infer_fps=10), clip),
        "every face": (analyze_clip(two_faces, lite_predictor, all_faces=True, max_infer_fps=5), pair),
        "live": (live, None),
    }


def assert_same(got: AnalysisResult, want: AnalysisResult) -> None:
    assert sorted(got.tables) == sorted(want.tables)
    for face_id, table in want.tables.items():
        pd.testing.assert_frame_equal(got.tables[face_id], table, obj=f"face {face_id}")
    for name in ("intervals", "faces", "events"):
        wanted, read = getattr(want, name), getattr(got, name)
        if wanted is None or (wanted.empty and not len(wanted.columns)):
            assert read is None or read.empty
        else:
            pd.testing.assert_frame_equal(read, wanted, obj=name)
    assert got.prediction == want.prediction and got.class_names == want.class_names
    assert got.settings == json.loads(json.dumps(want.settings)) and got.warnings == want.warnings
    assert got.model == want.model and got.kind == want.kind


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request, tmp_path):
    url = (f"sqlite:///{tmp_path / 's.sqlite3'}" if request.param == "sqlite"
           else pg_server.create_schema(request.getfixturevalue("pg_server_url"), f"t_{uuid.uuid4().hex[:12]}"))
    with SessionStore.open(url) as opened:
        yield opened


@pytest.mark.parametrize("mode", ["main face", "whole frame", "every face", "live"])
def test_every_face_mode_round_trips_through_a_store_and_a_bundle(results, mode, store, tmp_path):
    result, clip = results[mode]
    created = storage.write(result, store, name=mode, clip=clip)
    assert_same(storage.read(store, created.id), result)
    bundle = storage.write(result, tmp_path / "r.larnet.zip", name=mode, clip=clip)
    assert_same(storage.read(bundle), result)


@pytest.mark.parametrize("mode", ["main face", "whole frame", "every face"])
def test_every_face_mode_round_trips_through_a_batch_folder(results, mode, tmp_path):
    result, _ = results[mode]
    storage.write(result, BatchOutput(tmp_path / "batch"), clip_id="c1")
    again = storage.read(tmp_path / "batch", "c1")
    assert_same(again, result)
    assert again.meta == result.meta


def test_a_table_file_and_its_summary(results, tmp_path):
    result, _ = results["every face"]
    storage.write(result, tmp_path / "t.parquet")
    table = pd.read_parquet(tmp_path / "t.parquet")
    assert len(table) == 2 * result.meta.frame_count and table["pred_label"].isna().sum() == \
        result.frames["pred_label"].isna().sum()
    assert json.loads((tmp_path / "t.json").read_text())["frames_with_face"] == result.frames_with_face
    with pytest.raises(LarnetError, match="use a .parquet or .csv file"):
        storage.write(result, tmp_path / "t.txt")


def test_read_refuses_a_stored_table_the_pages_cannot_show(results, tmp_path):
    result, _ = results["main face"]
    storage.write(result, BatchOutput(tmp_path / "batch"), clip_id="c1")
    part = tmp_path / "batch" / "intervals" / "clip=c1" / "part.parquet"
    broken = pd.DataFrame({"onset_frame": ["<b>x</b>"]})
    broken.to_parquet(part)
    with pytest.raises(LarnetError, match="intervals"):
        storage.read(tmp_path / "batch", "c1")


def test_a_table_is_written_without_the_sessions_layer_and_a_bundle_loads_it_on_demand(results, tmp_path):
    # A fresh interpreter, as `larnet analyze` starts: writing the per-frame table must not import the sessions
    # package (SQLAlchemy); a bundle written and read afterwards imports it then and round-trips.
    result, _clip = results["main face"]
    # The result travels to the child as its stored parts (Parquet tables and JSON), rebuilt with the result
    # package alone.
    result.frames.to_parquet(tmp_path / "frames.parquet")
    result.intervals.to_parquet(tmp_path / "intervals.parquet")
    (tmp_path / "parts.json").write_text(json.dumps({
        "meta": dataclasses.asdict(result.meta), "class_names": result.class_names, "model": result.model,
        "settings": result.settings}, default=str))
    code = (
        "import json, sys\n"
        "import pandas as pd\n"
        "from larnet_core import storage\n"
        "from larnet_core.result import AnalysisResult, ClipMeta\n"
        f"parts = json.loads(open({str(tmp_path / 'parts.json')!r}).read())\n"
        f"frames = pd.read_parquet({str(tmp_path / 'frames.parquet')!r})\n"
        f"intervals = pd.read_parquet({str(tmp_path / 'intervals.parquet')!r})\n"
        "result = AnalysisResult.from_frames(ClipMeta(**parts['meta']), frames, intervals, None,\n"
        "                                    parts['class_names'], parts['model'], parts['settings'])\n"
        f"storage.write(result, {str(tmp_path / 'table.csv')!r})\n"
        "print(sorted(m for m in ('sqlalchemy', 'larnet_core.sessions') if m in sys.modules))\n"
        f"storage.write(result, {str(tmp_path / 'r.larnet.zip')!r}, name='cold start')\n"
        f"back = storage.read({str(tmp_path / 'r.larnet.zip')!r})\n"
        "print(len(back.frames) == len(result.frames), len(back.intervals) == len(result.intervals))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == ["[]", "True True"]
    table = pd.read_csv(tmp_path / "table.csv")
    assert len(table) == len(result.frames) and list(table.columns) == list(result.frames.columns)
