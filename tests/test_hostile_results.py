"""Hostile stored results: bundles and saves whose tables, record or images would crash or overload the pages that
read them (docs/security.md, "bundle values" and "bundle tables"). Each must be refused at import or save with a
message naming the table, column or field; the memory cases run through ``larnet sessions import`` in one process
under a ceiling and must stay under 1 GB peak. Builders are shared with tests/test_hostile_inputs.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from larnet_core.errors import BundleError, LarnetError
from test_hostile_inputs import REPO, clip_tables, parquet_bytes, png_declaring, rewrite_bundle
from test_hostile_inputs import good_bundle  # noqa: F401 - the same module-scoped bundle fixture

CLASSES = ["happiness", "others"]


def frames_parquet(**columns) -> bytes:
    """The good clip bundle's per-frame table with some columns replaced, as Parquet."""
    import pyarrow as pa

    return parquet_bytes(pa.Table.from_pandas(clip_tables()[0].assign(**columns), preserve_index=False))


def intervals_parquet(**columns) -> bytes:
    import pyarrow as pa

    return parquet_bytes(pa.Table.from_pandas(clip_tables()[1].assign(**columns), preserve_index=False))


def record(**changes) -> bytes:
    """A clip result record like an analysis writes, with some fields replaced."""
    base = {"format": 1, "kind": "clip", "class_names": CLASSES,
            "prediction": {"label": "others", "confidence": 0.5, "probabilities": {"happiness": 0.5, "others": 0.5},
                           "window": [1, 3], "source": "apex-window"},
            "model": {"preset": "larnet-lite"}, "settings": {"all_faces": True, "main_face_id": 0},
            "warnings": []}
    return json.dumps({**base, **changes}).encode()


def faces_parquet(face_ids: list[int]) -> bytes:
    import pyarrow as pa

    n = len(face_ids)
    return parquet_bytes(pa.table({"face_id": face_ids, "first_frame": [0] * n, "last_frame": [5] * n,
                                   "main": [True] + [False] * (n - 1)}))


@pytest.fixture
def store(tmp_path):
    from larnet_core.sessions import SessionStore

    with SessionStore.open(f"sqlite:///{tmp_path / 'sessions.sqlite3'}") as opened:
        yield opened


# What each case makes crash without the checks: cv2.rectangle (box), the frame slider (frame numbers),
# AnalysisResult.face_ids (face_id), the face picker (main_face_id, duplicate faces), Pillow (images).
VALUE_CASES = [
    ("a face box of 1e300", {"results.parquet": lambda: frames_parquet(face_x0=1e300)}, "face_x0.*outside"),
    ("frame numbers up to 2^62", {"results.parquet": lambda: frames_parquet(frame=[0, 1, 2, 3, 4, 2**62])},
     "frame.*outside"),
    ("a negative frame number", {"results.parquet": lambda: frames_parquet(frame=[-6, -5, -4, -3, -2, -1])},
     "frame.*outside"),
    ("text in the face_id column", {"results.parquet": lambda: frames_parquet(face_id="0")}, "face_id.*not integer"),
    ("an infinite time", {"results.parquet": lambda: frames_parquet(time_s=[0, 0.1, 0.2, np.inf, 0.4, 0.5])},
     "time_s.*infinite"),
    ("missing times", {"results.parquet": lambda: frames_parquet(time_s=np.nan)}, "time_s.*missing"),
    ("a probability of 7", {"results.parquet": lambda: frames_parquet(prob_happiness=7.0)}, "prob_happiness"),
    ("a text cell of 100,000 characters", {"results.parquet": lambda: frames_parquet(note="x" * 100_000)},
     "note.*text of"),
    ("a negative apex frame", {"intervals.parquet": lambda: intervals_parquet(apex_frame=-5)}, "apex_frame"),
    ("an interval time of 1e300", {"intervals.parquet": lambda: intervals_parquet(offset_s=1e300)}, "offset_s"),
    ("a face listed twice", {"faces.parquet": lambda: faces_parquet([0, 0])}, "face id twice"),
    ("text in settings.main_face_id", {"result.json": lambda: record(settings={"main_face_id": "main"})},
     "main_face_id"),
    ("a prediction window of 2^62", {"result.json": lambda: record(prediction={
        "label": "others", "confidence": 0.5, "probabilities": {"others": 1.0}, "window": [0, 2**62],
        "source": "apex-window"})}, "window"),
    ("an infinite prediction confidence", {"result.json": lambda: record(prediction={
        "label": "others", "confidence": 1e400, "probabilities": {"others": 1.0}, "window": [0, 1],
        "source": "apex-window"})}, "confidence"),
    ("a thousand long warnings", {"result.json": lambda: record(warnings=["w" * 900] * 1000)}, "warnings"),
]


@pytest.mark.parametrize("name, members, message", VALUE_CASES, ids=[c[0] for c in VALUE_CASES])
def test_values_the_pages_read_are_checked_at_import(store, good_bundle, tmp_path, name, members, message):
    from larnet_core.sessions import import_bundle

    bad = rewrite_bundle(good_bundle, tmp_path / "bad.larnet.zip", members={k: v() for k, v in members.items()})
    with pytest.raises(BundleError, match=message):
        import_bundle(store, bad)
    assert store.count() == 0


SAVE_CASES = [
    ("a face box of 1e300", {"face_x0": 1e300}, "face_x0.*outside"),
    ("frame numbers up to 2^62", {"frame": [0, 1, 2, 3, 4, 2**62]}, "frame.*outside"),
    ("text in the face_id column", {"face_id": "0"}, "face_id.*not integer"),
    ("an infinite time", {"time_s": [0, 0.1, 0.2, np.inf, 0.4, 0.5]}, "time_s.*infinite"),
    ("a probability of 7", {"prob_happiness": 7.0}, "prob_happiness"),
    ("a text cell of 100,000 characters", {"note": "x" * 100_000}, "note.*text of"),
]


@pytest.mark.parametrize("name, columns, message", SAVE_CASES, ids=[c[0] for c in SAVE_CASES])
def test_the_same_values_are_refused_when_a_session_is_saved(store, name, columns, message):
    from larnet_core.sessions import AnalysisSession, InputRef

    results = clip_tables()[0].assign(**columns)
    with pytest.raises(LarnetError, match=message):
        store.create(AnalysisSession(name="bad", kind="clip", results=results, input=InputRef(name="c.mp4")))
    assert store.count() == 0


def test_a_main_face_id_of_null_is_accepted_and_the_null_shown_as_the_first_face(store, good_bundle, tmp_path):
    from larnet_core.sessions import import_bundle

    bundle = rewrite_bundle(good_bundle, tmp_path / "null.larnet.zip",
                            members={"result.json": record(settings={"all_faces": True, "main_face_id": None})})
    saved = store.get(import_bundle(store, bundle).id)
    assert saved.result["settings"]["main_face_id"] is None


@pytest.mark.parametrize("side", [30000, 12000])
def test_a_session_image_declaring_huge_sides_is_refused_before_decoding(store, good_bundle, tmp_path, side):
    from larnet_core.sessions import import_bundle

    bundle = rewrite_bundle(good_bundle, tmp_path / "image.larnet.zip", manifest={"session": {"images": ["big"]}},
                            members={"images/big.png": png_declaring(side, side)})
    with pytest.raises(BundleError, match="big.*pixel"):
        import_bundle(store, bundle)
    assert store.count() == 0


def test_session_images_are_stored_small_and_plain(store):
    import io

    from PIL import Image

    from larnet_core.sessions import AnalysisSession
    from larnet_core.sessions.model import MAX_STORED_IMAGE_SIDE, stored_image_size

    def png(width: int, height: int) -> bytes:
        out = io.BytesIO()
        Image.new("RGB", (width, height), (200, 30, 30)).save(out, format="PNG")
        return out.getvalue()

    small, large = png(64, 48), png(7680, 4320)  # 8K: within the pixel cap, above the stored side
    created = store.create(AnalysisSession(name="images", images={"small": small, "large": large}))
    images = store.get(created.id).images
    assert images["small"] == small  # a small plain PNG is kept byte for byte
    assert stored_image_size(images["large"]) == (MAX_STORED_IMAGE_SIDE, round(4320 * MAX_STORED_IMAGE_SIDE / 7680))
    with Image.open(io.BytesIO(images["large"])) as image:
        assert image.getpixel((10, 10)) == (200, 30, 30)
    with pytest.raises(LarnetError, match="pixel"):
        store.add_image(created.id, created.edit_token, "bomb", png_declaring(20000, 20000))


def test_tables_share_one_byte_budget(store, good_bundle, tmp_path):
    """Four tables each within its own limit (the per-table bound) are refused together from their footers."""
    from larnet_core.sessions import import_bundle
    from larnet_core.sessions.tables import MAX_SESSION_TABLE_BYTES, MAX_TABLE_BYTES

    wide = _wide_table(MAX_TABLE_BYTES)
    bundle = rewrite_bundle(good_bundle, tmp_path / "four.larnet.zip",
                            members={f"{part}.parquet": wide for part in ("results", "intervals", "events", "faces")})
    with pytest.raises(BundleError, match="intervals table would take .* limit is"):
        import_bundle(store, bundle)
    assert 2 * MAX_TABLE_BYTES > MAX_SESSION_TABLE_BYTES and store.count() == 0


def _wide_table(limit: int) -> bytes:
    """A table of zeros (a few kilobytes of Parquet) that takes just under ``limit`` bytes in memory."""
    import pyarrow as pa

    from larnet_core.sessions.tables import MAX_TABLE_ROWS

    zeros = pa.array(np.zeros(MAX_TABLE_ROWS))
    columns = limit // (8 * MAX_TABLE_ROWS)
    return parquet_bytes(pa.table({f"c{i}": zeros for i in range(columns)}))


# ---------------------------------------------------------------------------------------------------- memory
_TEXT_CELL_SCRIPT = """
import io, sys
import numpy as np, pyarrow as pa, pyarrow.parquet as pq
n = int(sys.argv[2])
cell = pa.StringArray.from_buffers(1, pa.py_buffer(np.array([0, n], np.int32).tobytes()), pa.py_buffer(b"x" * n))
out = io.BytesIO()
pq.write_table(pa.table({"note": cell}), out, compression="zstd", use_dictionary=False, write_statistics=False)
open(sys.argv[1], "wb").write(out.getvalue())
"""


def _text_cell_parquet(path: Path, size: int) -> bytes:
    # Written by a child process: making the cell costs over a gigabyte, which then goes back to the system.
    subprocess.run([sys.executable, "-c", _TEXT_CELL_SCRIPT, str(path), str(size)], check=True, timeout=300)
    return path.read_bytes()


def test_bundle_imports_stay_under_1_gb_of_memory(good_bundle, tmp_path):
    """The issue's cases through ``larnet sessions import`` in one process capped by RLIMIT_DATA: four tables each
    within its own limit, one 400 MiB text cell in a bundle of a few kilobytes, 400 MiB in each table, images
    declaring 12000x12000 and 30000x30000; and the largest bundle that is accepted (tables at the budget, a 50 MB
    clip, 8K images). Every refusal is one line, and the process's peak stays under 1 GB."""
    import io

    from PIL import Image

    from larnet_core.sessions.tables import MAX_SESSION_TABLE_BYTES, MAX_TABLE_BYTES

    inputs, data, home, tmp = (tmp_path / d for d in ("inputs", "data", "home", "tmp"))
    for folder in (inputs, data, home, tmp):
        folder.mkdir()
    wide = _wide_table(MAX_TABLE_BYTES)
    text = _text_cell_parquet(tmp_path / "cell.parquet", 400 * 1024 * 1024)
    assert len(text) < 100_000
    all_parts = ("results", "intervals", "events", "faces")
    refused = {
        "four tables each within its limit": {"members": {f"{p}.parquet": wide for p in all_parts}},
        "one 400 MiB text cell": {"members": {"results.parquet": text}},
        "400 MiB in each table": {"members": {f"{p}.parquet": text for p in all_parts}},
        "a 12000x12000 image": {"manifest": {"session": {"images": ["big"]}},
                                "members": {"images/big.png": png_declaring(12000, 12000)}},
        "a 30000x30000 image": {"manifest": {"session": {"images": ["big"]}},
                                "members": {"images/big.png": png_declaring(30000, 30000)}},
        "a face box of 1e300": {"members": {"results.parquet": frames_parquet(face_x0=1e300)}},
    }
    for index, change in enumerate(refused.values()):
        rewrite_bundle(good_bundle, inputs / f"refused{index}.larnet.zip", change.get("manifest"), change["members"])

    picture = io.BytesIO()
    Image.new("RGB", (7680, 4320), (200, 30, 30)).save(picture, format="PNG")
    rest = _wide_table(MAX_SESSION_TABLE_BYTES - MAX_TABLE_BYTES - 8 * 1024 * 1024)
    clip = np.random.default_rng(0).integers(0, 256, 50 * 1024 * 1024, dtype=np.uint8).tobytes()
    rewrite_bundle(good_bundle, inputs / "largest.larnet.zip",
                   {"session": {"kind": "metrics", "images": [f"map{i}" for i in range(4)]},
                    "input": {"clip": "clip/c.mp4", "sha256": ""}},
                   {"results.parquet": wide, "intervals.parquet": rest, "clip/c.mp4": clip,
                    **{f"images/map{i}.png": picture.getvalue() for i in range(4)}})
    del clip

    db = f"sqlite:///{data / 'sessions.sqlite3'}"
    cases = [{"name": name, "argv": ["sessions", "import", str(inputs / f"refused{i}.larnet.zip"), "--db", db]}
             for i, name in enumerate(refused)]
    cases.append({"name": "largest accepted", "argv": ["sessions", "import", str(inputs / "largest.larnet.zip"),
                                                      "--db", db]})
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    env = {**os.environ, "HOME": str(home), "LARNET_DATA_DIR": str(data), "TMPDIR": str(tmp),
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    env.pop("LARNET_DATABASE_URL", None)
    finished = subprocess.run([sys.executable, str(REPO / "tests" / "hostile_worker.py"), str(tmp_path / "cases.json"),
                               str(tmp_path / "result.json")], cwd=tmp_path, env=env, timeout=600,
                              capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr[-3000:]
    results = {r["name"]: r for r in json.loads((tmp_path / "result.json").read_text())}
    for name in refused:
        result = results[name]
        last = result["stderr"].strip().splitlines()[-1]
        assert result["code"] == 2 and "Traceback" not in result["stderr"], result
        assert last.startswith("larnet sessions: error: bundle refused"), result
    largest = results["largest accepted"]
    assert largest["code"] == 0 and "imported session" in largest["stdout"], largest
    assert max(r["peak_mib"] for r in results.values()) < 1024, {n: r["peak_mib"] for n, r in results.items()}


def test_a_stored_table_read_back_is_bounded_too(store):
    """A table written straight into the database (not through a save) is decoded within the per-table bound."""
    from larnet_core.sessions.tables import MAX_TABLE_BYTES, decode_parquet

    with pytest.raises(LarnetError, match="would take"):
        decode_parquet(_wide_table(2 * MAX_TABLE_BYTES), "results")
    frame = decode_parquet(_wide_table(MAX_TABLE_BYTES // 4), "results")
    assert isinstance(frame, pd.DataFrame) and len(frame.columns) > 10


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        out.append((value & 0x7F) | (0x80 if value > 0x7F else 0))
        value >>= 7
        if not value:
            return bytes(out)


def test_page_headers_that_declare_more_than_the_footer_are_refused_before_arrow_reads_them():
    """Arrow sizes a page's buffer from the page header: a file whose footer understates it is refused from the
    header, before anything is decompressed."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    from larnet_core.sessions.parquet_pages import declared_page_bytes
    from larnet_core.sessions.tables import decode_parquet

    buffer = io.BytesIO()  # 20,000 rows: one page (Arrow's rows-per-page limit)
    pq.write_table(pa.table({"x": np.zeros(20_000)}), buffer, compression="none", use_dictionary=False)
    data = bytearray(buffer.getvalue())
    metadata = pq.ParquetFile(io.BytesIO(bytes(data))).metadata
    honest = declared_page_bytes(bytes(data), metadata)
    assert 160_000 <= honest <= metadata.row_group(0).column(0).total_uncompressed_size
    # Field 2 of the page header (uncompressed size) follows the page type; the lie keeps its varint's length.
    start = metadata.row_group(0).column(0).data_page_offset
    old, new = _varint(2 * honest), _varint(2 * 1_000_000)
    assert len(old) == len(new) == 3 and data[start + 3:start + 6] == old
    data[start + 3:start + 6] = new
    forged = bytes(data)
    assert declared_page_bytes(forged, pq.ParquetFile(io.BytesIO(forged)).metadata) == 1_000_000
    with pytest.raises(LarnetError, match="pages would expand to 1000000 bytes"):
        decode_parquet(forged, "results", max_bytes=512 * 1024)  # the footer alone says 160 kB
    assert len(decode_parquet(bytes(buffer.getvalue()), "results", max_bytes=512 * 1024)) == 20_000
