"""A corpus of hostile inputs, generated here (small files that declare huge sizes, counts and depths), for every
class docs/security.md lists: checkpoints, images, videos and zips, bundles, strangers, and the cases that were
already handled (so they stay handled). Each must end in a clear message, never a traceback; the command-line
cases run in one process under a memory ceiling and may write nothing outside their output and data folders.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import pickle
import struct
import subprocess
import sys
import tomllib
import zipfile
import zlib
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from larnet_core.errors import BundleError, CheckpointError, ImageError, LarnetError, VideoError

pytestmark = pytest.mark.slow  # hostile inputs at their size limits: minutes on two cores

REPO = Path(__file__).resolve().parent.parent
CLASSES = ["happiness", "others", "surprise"]


# ---------------------------------------------------------------------------------------------------- builders
def png_declaring(width: int, height: int) -> bytes:
    """A valid PNG header declaring ``width`` x ``height`` RGB pixels, with a few rows of data (a few hundred
    bytes: what matters is the declared size)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = zlib.compress(b"\x00" * (1 + 3 * min(width, 64)) * 4)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", rows) + chunk(b"IEND", b""))


def face_png() -> bytes:
    import cv2

    from larnet_core.face import sample_face_photos

    face = cv2.resize(sample_face_photos()["grace_hopper"], (160, 188))
    return cv2.imencode(".png", cv2.cvtColor(face, cv2.COLOR_RGB2BGR))[1].tobytes()


@pytest.fixture(scope="module")
def lite_checkpoint(tmp_path_factory) -> Path:
    from larnet_core.models import ModelCard, save_checkpoint

    card = ModelCard.for_preset("larnet-lite", CLASSES)
    card.input_size = 48  # small, as the demo model's flow input
    return save_checkpoint(card.build(), card, tmp_path_factory.mktemp("ckpt") / "lite.pt", half=True)


def rewrite_checkpoint(src: Path, dst: Path, card: dict | None = None, **payload_changes) -> Path:
    payload = torch.load(src, weights_only=True)
    if card:
        payload["card"] = {**payload["card"], **card}
    payload.update(payload_changes)
    torch.save(payload, dst)
    return dst


def zip_with_forged_count(count: int, directory_bytes: int | None = None) -> bytes:
    """A one-member zip whose end record claims ``count`` members (and optionally a huge directory)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("img1.png", b"x")
    data = bytearray(buffer.getvalue())
    end = data.rfind(b"PK\x05\x06")
    struct.pack_into("<HH", data, end + 8, min(count, 0xFFFF), min(count, 0xFFFF))
    if count > 0xFFFF:  # only a Zip64 record can count that high: rebuild with one
        struct.pack_into("<HH", data, end + 8, 0xFFFF, 0xFFFF)
        zip64 = struct.pack("<4sQHHLLQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count,
                            directory_bytes or 46 + 8, struct.unpack_from("<L", data, end + 16)[0])
        locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, end, 1)
        data = data[:end] + zip64 + locator + data[end:]
    elif directory_bytes is not None:
        struct.pack_into("<L", data, end + 12, directory_bytes)
    return bytes(data)


def growing_mkv(path: Path, small=(64, 48), big=(320, 240)) -> Path:
    """An MJPEG stream whose header says 64x48 and whose later frames grow (as a hostile encoder can do)."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("mjpeg", rate=Fraction(30))
        stream.width, stream.height, stream.pix_fmt = small[0], small[1], "yuvj420p"
        for index in range(5):
            frame = av.VideoFrame.from_ndarray(np.full((small[1], small[0], 3), 90, np.uint8), format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
        encoder = av.CodecContext.create("mjpeg", "w")
        encoder.width, encoder.height, encoder.pix_fmt = big[0], big[1], "yuvj420p"
        encoder.time_base = Fraction(1, 30)
        packets = []
        for index in range(5, 8):
            frame = av.VideoFrame.from_ndarray(np.full((big[1], big[0], 3), 90, np.uint8), format="rgb24")
            frame.pts = index
            packets += encoder.encode(frame)
        for packet in packets + list(encoder.encode(None)):
            packet.stream = stream
            container.mux(packet)
    return path


def clip_tables(n: int = 6) -> tuple[pd.DataFrame, pd.DataFrame]:
    frames = pd.DataFrame({"frame": np.arange(n), "time_s": np.arange(n) / 30, "face_x0": 1.0, "face_y0": 1.0,
                           "face_x1": 60.0, "face_y1": 60.0, "prob_happiness": 0.5, "prob_others": 0.5,
                           "pred_label": "others", "confidence": 0.5, "motion": 0.0, "in_interval": False})
    intervals = pd.DataFrame([{"onset_frame": 1, "apex_frame": 2, "offset_frame": 3, "onset_s": 0.03,
                               "apex_s": 0.06, "offset_s": 0.1, "duration_s": 0.07, "kind": "micro",
                               "label": "others", "confidence": 0.5}])
    return frames, intervals


@pytest.fixture(scope="module")
def good_bundle(tmp_path_factory) -> Path:
    from larnet_core.sessions import AnalysisSession, InputRef, SessionStore, export_bundle

    root = tmp_path_factory.mktemp("bundle")
    frames, intervals = clip_tables()
    with SessionStore.open(f"sqlite:///{root / 'source.sqlite3'}") as store:
        created = store.create(AnalysisSession(name="colleague's clip", kind="clip", results=frames,
                                               intervals=intervals, input=InputRef(name="c.mp4", fps=30.0)))
        return export_bundle(store, created.id, root / "good.larnet.zip")


def rewrite_bundle(src: Path, dst: Path, manifest: dict | None = None, members: dict | None = None,
                   raw_manifest: bytes | None = None) -> Path:
    """A copy of ``src`` with sections of the manifest and members replaced, checksums made consistent."""
    with zipfile.ZipFile(src) as archive:
        contents = {name: archive.read(name) for name in archive.namelist()}
    contents.update(members or {})
    data = json.loads(contents["manifest.json"])
    for section, values in (manifest or {}).items():
        data[section] = {**data[section], **values} if isinstance(values, dict) else values
    data["members"] = {name: {"sha256": hashlib.sha256(blob).hexdigest(), "bytes": len(blob)}
                       for name, blob in contents.items() if name != "manifest.json"}
    contents["manifest.json"] = raw_manifest if raw_manifest is not None else json.dumps(data).encode()
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, blob in contents.items():
            archive.writestr(name, blob)
    return dst


def parquet_bytes(table) -> bytes:
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue()


def deep_json(depth: int) -> str:
    return "[" * depth + "]" * depth


# ---------------------------------------------------------------------------------------------------- checkpoints
CARD_CASES = [
    ("wider network than the weights", {"model_kwargs": {"width": 128}}, "weights do not match"),
    ("input of 60000 pixels", {"input_size": 60000}, "input_size.*between 16 and 512"),
    ("input of 0 pixels", {"input_size": 0}, "input_size"),
    ("no classes", {"class_names": []}, "class_names"),
    ("a million classes", {"class_names": [f"c{i}" for i in range(10**6)]}, "class_names"),
    ("huge width", {"model_kwargs": {"width": 4096}}, "width"),
    ("keyword the builder does not take", {"model_kwargs": {"num_classes": 10**9}}, "does not take"),
    ("unknown preset", {"preset": "os.system"}, "preset"),
    ("unknown card field", {"__reduce__": "x"}, "does not know"),
    ("markup in a class name", {"class_names": ["<a href='https://x'>c</a>", "b", "c"]}, "class_names"),
    ("integer wider than 64 bits", {"input_size": 2**70}, "input_size.*huge"),
    ("nested card value", {"label_scheme": json.loads(deep_json(200))}, "label_scheme.*text"),
    ("NaN normalisation", {"std": [float("nan")] * 3}, "std"),
    ("three channels of mean for one input channel", {"in_channels": 1}, "mean"),
]


@pytest.mark.parametrize("name, card, message", CARD_CASES, ids=[c[0] for c in CARD_CASES])
def test_hostile_model_cards_are_refused_with_a_message(lite_checkpoint, tmp_path, name, card, message):
    from larnet_core.models import load_checkpoint

    bad = rewrite_checkpoint(lite_checkpoint, tmp_path / "bad.pt", card=card)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(bad)


def test_a_weight_of_the_right_shape_over_a_tiny_storage_is_refused(lite_checkpoint, tmp_path):
    from larnet_core.models import load_checkpoint

    payload = torch.load(lite_checkpoint, weights_only=True)
    name, tensor = max(payload["state_dict"].items(), key=lambda item: item[1].numel())
    payload["state_dict"][name] = torch.zeros(1, dtype=tensor.dtype).expand(tensor.shape)  # stride 0
    torch.save(payload, tmp_path / "strided.pt")
    with pytest.raises(CheckpointError, match="not stored as a plain tensor"):
        load_checkpoint(tmp_path / "strided.pt")


class _Payload:
    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


MARKER = Path(os.environ.get("TMPDIR", "/tmp")) / f"larnet-hostile-marker-{os.getpid()}"


def test_a_pickle_payload_never_runs(tmp_path):
    from larnet_core.models import load_checkpoint

    path = tmp_path / "evil.pt"
    torch.save({"format": "larnet-checkpoint", "card": _Payload()}, path)
    with pytest.raises(CheckpointError, match="not plain weights"):
        load_checkpoint(path)
    assert not MARKER.exists()
    with pytest.raises(CheckpointError, match="not plain weights"):
        path.write_bytes(pickle.dumps(_Payload()))
        load_checkpoint(path)
    assert not MARKER.exists()


def test_every_checkpoint_read_in_the_code_is_weights_only():
    calls = [(p, line) for p in (REPO / "larnet_core").rglob("*.py") for line in p.read_text().splitlines()
             if "torch.load(" in line]
    assert calls and all("weights_only=True" in line for _, line in calls), calls


def test_checkpoint_archives_are_checked_before_torch_reads_them(lite_checkpoint, tmp_path):
    from larnet_core.models import load_checkpoint

    forged = tmp_path / "many.pt"
    forged.write_bytes(zip_with_forged_count(10**6))
    with pytest.raises(CheckpointError, match="1,000,000 members"):
        load_checkpoint(forged)
    bomb = tmp_path / "bomb.pt"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bomb/data.pkl", b"\0" * (8 * 1024 * 1024))
    with pytest.raises(CheckpointError, match="compression ratio"):
        load_checkpoint(bomb)
    for data, message in ((b"", "empty"), (lite_checkpoint.read_bytes()[:5000], "not a"),
                          (b"\x80\x04junk", "not a readable PyTorch checkpoint")):
        broken = tmp_path / "broken.pt"
        broken.write_bytes(data)
        with pytest.raises(CheckpointError, match=message):
            load_checkpoint(broken)


def test_the_upload_cache_is_bounded_and_expires(tmp_path):
    from larnet_core.uploads import UploadCache

    cache = UploadCache(tmp_path / "uploads", suffix=".pt", max_files=3, max_bytes=1000, max_age_s=60)
    paths = [cache.put(bytes([i]) * 100) for i in range(5)]
    assert sorted(p.name for p in (tmp_path / "uploads").glob("*.pt")) == sorted(p.name for p in paths[-3:])
    with pytest.raises(LarnetError, match="at most 1,000 bytes"):
        cache.put(b"x" * 1001)
    old = paths[-1]
    os.utime(old, (0, 0))
    assert cache.prune() == [old]
    cache.discard(paths[-2])
    assert not paths[-2].exists()


# ---------------------------------------------------------------------------------------------------- images
IMAGE_CASES = [
    ("declares 20000x20000 (a decompression bomb)", png_declaring(20000, 20000), "pixel"),
    ("declares 8000x8000, above the frame limit", png_declaring(8000, 8000), "8000x8000 pixels, above"),
    ("truncated PNG", png_declaring(64, 64)[:40], "not a readable image|not an image"),
    ("zero bytes", b"", "empty"),
    ("text", b"hello, not an image", "not a readable image .not one of the accepted formats"),
    ("EPS (would run Ghostscript)", b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", "accepted format"),
    ("zero-width PNG", png_declaring(0, 10), "not a readable image|not an image|declares a size"),
]


@pytest.mark.parametrize("name, data, message", IMAGE_CASES, ids=[c[0] for c in IMAGE_CASES])
def test_hostile_images_are_refused_before_decoding(name, data, message):
    from larnet_core.images import decode_image

    with pytest.raises(ImageError, match=message):
        decode_image(data, "upload.png")


def test_the_attention_page_and_frame_archives_use_the_same_checked_decoder():
    from larnet_core.video import open_clip

    source = (REPO / "dashboard" / "pages" / "attention.py").read_text()
    assert "decode_image" in source and "cv2.imdecode" not in source
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("img1.png", face_png())
        archive.writestr("img2.png", png_declaring(20000, 20000))
    with pytest.raises(VideoError, match="img2.png.*pixel"):
        with open_clip(buffer.getvalue()) as reader:
            list(reader.frames())


# ---------------------------------------------------------------------------------------------------- videos, zips
def test_frames_that_grow_mid_stream_are_refused(tmp_path):
    from larnet_core.video import VideoLimits, open_clip

    clip = growing_mkv(tmp_path / "grow.mkv")
    with open_clip(clip, VideoLimits(max_pixels=100 * 100)) as reader:
        assert (reader.meta.width, reader.meta.height) == (64, 48)  # the header is within the limit
        with pytest.raises(VideoError, match="10,000-pixel limit"):
            list(reader.frames())
    with open_clip(clip) as reader:  # within the default limit: scaled to the first frame's size
        assert {f.image.shape for f in reader.frames()} == {(48, 64, 3)}


@pytest.mark.parametrize("count, directory", [(1_000_000, None), (70_000, None), (10, 50 * 1024 * 1024)])
def test_zip_member_counts_come_from_the_end_record_before_the_directory(count, directory):
    from larnet_core.video import open_clip

    with pytest.raises(VideoError, match="members|directory"):
        open_clip(zip_with_forged_count(count, directory), name="frames.zip")


def test_frame_zips_and_bundles_share_one_reader_and_ratio():
    from larnet_core.safezip import MAX_ZIP_RATIO, ZipLimits
    from larnet_core.video import VideoLimits

    assert VideoLimits().zip_limits().max_ratio == ZipLimits().max_ratio == MAX_ZIP_RATIO
    for module in ("video/archive.py", "sessions/safezip.py", "models/checkpoint.py"):
        assert "SafeZip(" in (REPO / "larnet_core" / module).read_text(), module


# ---------------------------------------------------------------------------------------------------- bundles
@pytest.fixture
def store(tmp_path):
    from larnet_core.sessions import SessionStore

    with SessionStore.open(f"sqlite:///{tmp_path / 'sessions.sqlite3'}") as opened:
        yield opened


def _ten_million_rows() -> bytes:
    import pyarrow as pa

    return parquet_bytes(pa.table({"frame": pa.array(np.zeros(10**7, np.int8))}))


BUNDLE_CASES = [
    ("10^7 rows in a small Parquet member", {"members": {"results.parquet": _ten_million_rows}}, "rows; at most"),
    ("a date at the calendar's end", {"manifest": {"session": {"created_at": "9999-12-31T23:59:59-23:59"}}},
     "year 9999"),
    ("a date at the calendar's start", {"manifest": {"session": {"updated_at": "0001-01-01T00:00:00+23:59"}}},
     "year 1;"),
    ("an integer wider than 64 bits", {"manifest": {"input": {"width": 2**70}}}, "wider than 64 bits"),
    ("a huge but 64-bit width", {"manifest": {"input": {"frame_count": 2**62}}}, "frame_count"),
    ("deeply nested JSON", {"raw_manifest": lambda: ('{"a": ' + deep_json(100_000) + "}").encode()},
     "nested too deeply|levels"),
    ("nested JSON within the manifest", {"manifest": {"session": {"notes": json.loads(deep_json(50))}}},
     "nested|levels"),
    ("clip results with the wrong columns",
     {"members": {"results.parquet": lambda: parquet_bytes(__import__("pyarrow").table({"x": [1, 2]}))}},
     "lacks the column"),
    ("a label that is markup", {"members": {"results.parquet": lambda: parquet_bytes(
        __import__("pyarrow").Table.from_pandas(clip_tables()[0].assign(pred_label="<a href=x>y</a>")))}},
     "not labels"),
    ("a nested-list column", {"members": {"results.parquet": lambda: parquet_bytes(
        __import__("pyarrow").table({"x": [[[1]] * 3]}))}}, "type"),
]


@pytest.mark.parametrize("name, change, message", BUNDLE_CASES, ids=[c[0] for c in BUNDLE_CASES])
def test_hostile_bundles_are_refused_with_a_message(store, good_bundle, tmp_path, name, change, message):
    from larnet_core.sessions import import_bundle

    members = {k: v() for k, v in change.get("members", {}).items()}
    raw = change["raw_manifest"]() if "raw_manifest" in change else None
    bad = rewrite_bundle(good_bundle, tmp_path / "bad.larnet.zip", change.get("manifest"), members, raw)
    with pytest.raises(BundleError, match=message):
        import_bundle(store, bad)
    assert store.count() == 0


def test_repeated_long_text_is_measured_before_it_is_expanded():
    import pyarrow as pa

    from larnet_core.sessions.tables import decode_parquet

    text = pa.array(["x" * 100_000] * 200)  # 20 MB as text, a few hundred bytes as dictionary-encoded Parquet
    data = parquet_bytes(pa.table({"note": text}))
    assert len(data) < 50_000
    with pytest.raises(LarnetError, match="text would expand"):
        decode_parquet(data, "results", max_bytes=10 * 1024 * 1024)


def test_nothing_a_bundle_names_is_looked_up_on_the_server(store, good_bundle, tmp_path):
    from larnet_core.sessions import import_bundle

    shown = []
    for path in ("/etc/passwd", "/no/such/file.pt"):
        bundle = rewrite_bundle(good_bundle, tmp_path / "probe.larnet.zip", {"model": {"checkpoint_path": path}})
        session = store.get(import_bundle(store, bundle).id)
        shown.append(session.notices)
    assert shown[0] == shown[1]  # an existing and a missing file look the same
    assert not any("checkpoint" in notice for notice in shown[0])


# ---------------------------------------------------------------------------------------------------- strangers
def test_a_visitor_lists_only_their_own_sessions(store):
    from larnet_core.sessions import AnalysisSession

    mine = store.create(AnalysisSession(name="mine")).id
    store.create(AnalysisSession(name="a stranger's"))
    assert list(store.list(ids=[mine])["name"]) == ["mine"] and store.count(ids=[mine]) == 1
    assert store.list(ids=[]).empty and store.count(ids=["not an id", "'; DROP TABLE sessions; --"]) == 0
    assert len(store.list()) == 2  # the operator's view (CLI)


def test_visitor_cookies_are_signed_and_the_operator_token_is_compared_safely(monkeypatch):
    from larnet_core.sessions import visitors

    secret = b"k" * 32
    ids = ["A" * 22, "B" * 22]
    value = visitors.sign_ids(ids + ["<script>", "x;y"], secret)
    assert visitors.verify_ids(value, secret) == ids
    assert visitors.verify_ids(value.replace("A", "C", 1), secret) == []  # edited: signature fails
    assert visitors.verify_ids(value, b"other key" * 4) == [] and visitors.verify_ids("v1..", secret) == []
    assert set(value) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~")
    monkeypatch.delenv(visitors.ADMIN_TOKEN_ENV, raising=False)
    assert not visitors.admin_enabled() and not visitors.admin_token_matches("")
    monkeypatch.setenv(visitors.ADMIN_TOKEN_ENV, "s3cret")
    assert visitors.admin_token_matches("s3cret") and not visitors.admin_token_matches("s3cre")


def test_user_text_is_escaped_for_markdown():
    from dashboard.text import plain, plain_block

    shown = plain("![x](https://t.example/p.png) [a](javascript:x) <img src=x> :red[x] $x$ www.x.org a@b.c")
    joiner = "\u2060"  # invisible: bare addresses are not turned into links
    assert shown == (rf"\!\[x\]\(https\:{joiner}\/\/t.example\/p.png\) \[a\]\(javascript\:x\) \<img src\=x\> "
                     rf"\:red\[x\] \$x\$ www{joiner}.x.org a\@{joiner}b.c")
    assert plain_block("line one\n  line two") == "line one  \n\u00a0\u00a0line two"


def test_the_shared_server_configuration():
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "127.0.0.1"
    assert config["client"]["showErrorDetails"] == "none"
    assert config["server"]["enableXsrfProtection"] is True


# ---------------------------------------------------------------------------------------------------- already handled
def test_edit_tokens_are_256_bit_hashed_and_compared_in_constant_time(store):
    import inspect

    from larnet_core.sessions import AnalysisSession, sharing

    created = store.create(AnalysisSession(name="s"))
    assert len(created.edit_token) >= 43  # 32 random bytes, URL-safe base64
    with store.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT edit_token_hash FROM sessions").scalar_one()
    assert stored == hashlib.sha256(created.edit_token.encode()).hexdigest() and created.edit_token not in stored
    assert "compare_digest" in inspect.getsource(sharing.token_matches)
    assert not store.can_edit(created.id, created.edit_token[:-1])


@pytest.mark.parametrize("search", ["'; DROP TABLE sessions; --", "%", "_", "\\", "\" OR 1=1 --"])
def test_search_text_is_never_sql(store, search):
    from larnet_core.sessions import AnalysisSession

    store.create(AnalysisSession(name="plain name"))
    assert store.list(search=search).empty and store.count() == 1


# ---------------------------------------------------------------------------------------------------- the CLI, measured
def test_cli_cases_exit_cleanly_under_2_gb_and_write_only_their_output(lite_checkpoint, good_bundle, tmp_path):
    import pyarrow as pa

    inputs, out, data, home, tmp = (tmp_path / d for d in ("inputs", "out", "data", "home", "tmp"))
    for folder in (inputs, out, data, home, tmp):
        folder.mkdir()
    (inputs / "bomb.png").write_bytes(png_declaring(20000, 20000))
    (inputs / "face.png").write_bytes(face_png())
    checkpoints = {
        "wide": {"model_kwargs": {"width": 128}}, "huge-input": {"input_size": 60000}, "zero": {"input_size": 0},
    }
    for name, card in checkpoints.items():
        rewrite_checkpoint(lite_checkpoint, inputs / f"{name}.pt", card=card)
    torch.save({"format": "larnet-checkpoint", "card": _Payload()}, inputs / "payload.pt")
    bundles = {
        "rows": {"members": {"results.parquet": parquet_bytes(pa.table({"frame": np.zeros(10**7, np.int8)}))}},
        "date": {"manifest": {"session": {"created_at": "9999-12-31T23:59:59-23:59"}}},
        "bigint": {"manifest": {"input": {"width": 2**70}}},
        "columns": {"members": {"results.parquet": parquet_bytes(pa.table({"x": [1]}))}},
    }
    for name, change in bundles.items():
        rewrite_bundle(good_bundle, inputs / f"{name}.larnet.zip", change.get("manifest"), change.get("members"))
    (inputs / "deep.larnet.zip").write_bytes(rewrite_bundle(
        good_bundle, tmp_path / "deep.zip", raw_manifest=("[" * 100_000 + "]" * 100_000).encode()).read_bytes())
    before = {p for p in tmp_path.rglob("*")}

    explain = ["explain", "--out", str(out / "x"), "--face", "none", "--methods", "gradcam"]
    cases = [{"name": "bomb image", "argv": [*explain[:1], str(inputs / "bomb.png"), *explain[1:],
                                             "--checkpoint", str(lite_checkpoint)]}]
    cases += [{"name": f"{name} checkpoint", "argv": [*explain[:1], str(inputs / "face.png"), *explain[1:],
                                                      "--checkpoint", str(inputs / f"{name}.pt")]}
              for name in (*checkpoints, "payload")]
    db = f"sqlite:///{data / 'sessions.sqlite3'}"
    cases += [{"name": f"{name} bundle", "argv": ["sessions", "import", str(inputs / f"{name}.larnet.zip"),
                                                  "--db", db]} for name in (*bundles, "deep")]
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    env = {**os.environ, "HOME": str(home), "LARNET_DATA_DIR": str(data), "TMPDIR": str(tmp),
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    env.pop("LARNET_DATABASE_URL", None)
    finished = subprocess.run([sys.executable, str(REPO / "tests" / "hostile_worker.py"), str(tmp_path / "cases.json"),
                               str(tmp_path / "result.json")], cwd=tmp_path / "out", env=env, timeout=300,
                              capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr[-3000:]
    results = json.loads((tmp_path / "result.json").read_text())
    assert [r["name"] for r in results] == [c["name"] for c in cases]
    for result in results:
        assert result["code"] == 2, result
        last = result["stderr"].strip().splitlines()[-1]  # after the progress bar, one line says what is wrong
        assert "Traceback" not in result["stderr"] and last.startswith("larnet ") and ": error: " in last, result
    assert max(r["peak_mib"] for r in results) < 2048, [(r["name"], r["peak_mib"]) for r in results]
    assert not MARKER.exists()
    written = {p for p in tmp_path.rglob("*") if p.is_file()} - before - {tmp_path / "result.json",
                                                                          tmp_path / "cases.json"}
    outside = [p for p in written if not (p.is_relative_to(out) or p.is_relative_to(data))]
    assert outside == [], outside
    assert not any(tmp.iterdir()), list(tmp.iterdir())


# ---------------------------------------------------------------------------------------------------- bounded reads
@pytest.fixture
def fifo(tmp_path) -> Path:
    path = tmp_path / "pipe.larnet.zip"
    os.mkfifo(path)
    return path


@pytest.mark.timeout(120)
def test_devices_fifos_and_folders_are_refused_before_a_byte_is_read(store, fifo, tmp_path, lite_checkpoint):
    """/dev/zero reports a size of 0 and never ends; opening a FIFO waits for a writer. Every reader of a
    user's path refuses both by name (a hang here is ended by the timeout, and fails)."""
    from larnet_core.batch import discover_clips
    from larnet_core.batch.inputs import BatchInputError, clip_sha256
    from larnet_core.images import read_image_file
    from larnet_core.models import load_checkpoint
    from larnet_core.sessions import import_bundle
    from larnet_core.video import open_clip

    for path, kind in (("/dev/zero", "a device"), (fifo, "a FIFO"), (tmp_path, "a folder")):
        with pytest.raises(BundleError, match=kind):
            import_bundle(store, path)
        with pytest.raises(CheckpointError, match=kind):
            load_checkpoint(path)
        with pytest.raises(ImageError, match=kind):
            read_image_file(path)
        if kind != "a folder":  # a folder is a clip of frame images
            with pytest.raises(VideoError, match=kind):
                open_clip(path)
            with pytest.raises(BatchInputError, match=kind):
                clip_sha256(path)
    assert store.count() == 0
    manifest = tmp_path / "clips.csv"
    for cell, kind in (("/dev/zero", "a device"), (str(fifo), "a FIFO")):
        manifest.write_text(f"path\n{cell}\n")
        with pytest.raises(BatchInputError, match=f"row 2.*{kind}"):
            discover_clips([manifest])
        with pytest.raises(BatchInputError, match=kind):
            discover_clips([cell])


def test_reads_and_hashes_stop_at_their_limit(tmp_path):
    from larnet_core.paths import read_input, sha256_input

    path = tmp_path / "data.bin"
    path.write_bytes(b"x" * 1000)
    assert read_input(path, max_bytes=1000) == b"x" * 1000
    assert sha256_input(path, max_bytes=1000) == hashlib.sha256(b"x" * 1000).hexdigest()
    for read in (read_input, sha256_input):
        with pytest.raises(LarnetError, match="1,000 bytes, above the 999-byte limit"):
            read(path, max_bytes=999)


# ---------------------------------------------------------------------------------------------------- wrong data
def _encode_png(array: np.ndarray) -> bytes:
    import cv2

    return cv2.imencode(".png", array)[1].tobytes()


def test_16_bit_and_float_images_are_scaled_not_clipped_to_white(tmp_path):
    from PIL import Image

    from larnet_core.images import decode_image
    from larnet_core.video import open_clip

    ramp = (np.arange(64 * 64).reshape(64, 64) * 16).astype(np.uint16)  # 0 .. 65520
    expected = ramp / 257.0
    grey = decode_image(_encode_png(ramp), "grey16.png")
    assert grey.shape == (64, 64, 3) and abs(grey[..., 0].mean() - expected.mean()) < 1
    assert np.abs(grey[..., 0].astype(float) - expected).max() <= 1
    colour = decode_image(_encode_png(np.stack([ramp, ramp // 2, ramp // 4], -1)), "colour16.png")  # BGR on disk
    assert abs(colour[..., 2].mean() - expected.mean()) < 1 and abs(colour[..., 1].mean() - expected.mean() / 2) < 1
    buffer = io.BytesIO()
    Image.fromarray((ramp / 65535.0).astype(np.float32), "F").save(buffer, "TIFF")
    assert abs(decode_image(buffer.getvalue(), "float.tif")[..., 0].mean() - expected.mean()) < 1
    frames = io.BytesIO()
    with zipfile.ZipFile(frames, "w") as archive:  # 16-bit frames of a clip, as some cameras export them
        for index in range(3):
            archive.writestr(f"img{index}.png", _encode_png((ramp // (index + 1)).astype(np.uint16)))
    with open_clip(frames.getvalue(), name="frames.zip") as reader:
        means = [frame.image.mean() for frame in reader.frames()]
    assert abs(means[0] - expected.mean()) < 1 and means[2] < means[1] < means[0] < 200


def _rotated_phone_photo(path: Path, orientation: int = 6) -> Path:
    """The sample portrait stored sideways, as a phone stores it, with the EXIF tag saying how to turn it."""
    from PIL import Image

    from larnet_core.face import sample_face_photos

    upright = Image.fromarray(sample_face_photos()["grace_hopper"])
    exif = Image.Exif()
    exif[0x0112] = orientation
    upright.transpose(Image.Transpose.ROTATE_90).save(path, "JPEG", quality=92, exif=exif.tobytes())
    return path


def test_exif_orientation_is_applied_so_a_rotated_phone_photo_finds_its_face(lite_checkpoint, tmp_path, capsys):
    from larnet_core.cli import main
    from larnet_core.face import sample_face_photos
    from larnet_core.images import read_image_file

    photo = _rotated_phone_photo(tmp_path / "phone.jpg")
    upright = sample_face_photos()["grace_hopper"]
    decoded = read_image_file(photo)
    assert decoded.shape == upright.shape
    assert np.abs(decoded.astype(float) - upright).mean() < 8  # the same picture, up to JPEG
    argv = ["explain", str(photo), "--checkpoint", str(lite_checkpoint), "--out", str(tmp_path / "x"), "--face",
            "haar", "--methods", "gradcam", "--device", "cpu"]
    assert main(argv) == 0
    face = json.loads((tmp_path / "x" / "index.json").read_text())["face"]
    assert face is not None and face["detector"] == "haar"
    sideways = tmp_path / "sideways.jpg"  # the same pixels without the tag: no upright face to find
    from PIL import Image

    Image.open(photo).save(sideways, "JPEG", quality=92)
    assert main([*argv[:1], str(sideways), *argv[2:4], "--out", str(tmp_path / "y"), *argv[6:]]) == 2
    assert "face" in capsys.readouterr().err


def test_a_truncated_video_warns_that_most_of_its_frames_are_missing(lite_checkpoint, tmp_path):
    import av

    from larnet_core.inference import Predictor
    from larnet_core.models import load_checkpoint
    from larnet_core.video import analyze_clip, open_clip

    path = tmp_path / "full.mp4"
    with av.open(str(path), "w", options={"movflags": "faststart"}) as container:  # the index first, as phones do
        stream = container.add_stream("mpeg4", rate=Fraction(30))
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        noise = np.random.default_rng(0)
        for index in range(60):  # textured frames, so that each takes its share of the file
            image = noise.integers(0, 255, (48, 64, 3), dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    data = path.read_bytes()
    media = data.find(b"mdat")
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(data[: media + (len(data) - media) // 6])  # an interrupted copy: a sixth of the frames
    with open_clip(truncated) as reader:
        assert reader.meta.frame_count == 60
        decoded = len(list(reader.frames()))
    assert 2 <= decoded < 30
    predictor = Predictor(load_checkpoint(lite_checkpoint), backend="torch")
    result = analyze_clip(truncated, predictor, face="none")
    assert any(f"only {decoded} of the 60 frames" in w and "truncated" in w for w in result.warnings), result.warnings
    complete = analyze_clip(path, predictor, face="none")
    assert not any("truncated" in w for w in complete.warnings)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_checkpoint_with_non_finite_weights_is_refused_at_load(lite_checkpoint, tmp_path, value):
    from larnet_core.models import load_checkpoint

    payload = torch.load(lite_checkpoint, weights_only=True)
    name = next(k for k, v in payload["state_dict"].items() if v.is_floating_point() and v.numel() > 1)
    payload["state_dict"][name] = payload["state_dict"][name].clone()
    payload["state_dict"][name].view(-1)[0] = value
    torch.save(payload, tmp_path / "diverged.pt")
    with pytest.raises(CheckpointError, match=f"{name}.*NaN or infinite"):
        load_checkpoint(tmp_path / "diverged.pt")


def test_a_file_that_is_no_checkpoint_is_named_as_such_without_unsafe_advice(tmp_path):
    from larnet_core.models import load_checkpoint

    for name, data in (("notes.pt", b"these are my notes, not weights\n"), ("image.pt", face_png()),
                       ("json.pt", b'{"state_dict": {}}')):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(CheckpointError, match="is not a PyTorch checkpoint") as refused:
            load_checkpoint(tmp_path / name)
        assert "weights_only" not in str(refused.value)
    torch.save({"format": "larnet-checkpoint", "card": _Payload()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="not plain weights") as refused:
        load_checkpoint(tmp_path / "evil.pt")
    assert "weights_only" not in str(refused.value) and "trusted" not in str(refused.value)
    assert "system" in str(refused.value)  # what was refused is still named


BIDI = "\u202e\u202a\u202b\u202c\u202d\u2066\u2067\u2068\u2069\u200e\u200f"


def test_bidirectional_controls_are_stripped_from_names_shown_or_stored(store, tmp_path, capsys):
    from larnet_core.batch import discover_clips
    from larnet_core.cli import main
    from larnet_core.sessions import AnalysisSession, InputRef
    from larnet_core.video import open_clip

    spoof = "invoice\u202egpj.mp4"  # shows as "invoice4pm.jpg"
    created = store.create(AnalysisSession(name=f"talk {BIDI}one", input=InputRef(name=spoof)))
    saved = store.get(created.id)
    assert saved.name == "talk one" and saved.input.name == "invoicegpj.mp4"
    clip = tmp_path / spoof
    with av_clip(clip) as path, open_clip(path) as reader:
        assert reader.name == "invoicegpj.mp4"
    assert [c.source for c in discover_clips([clip])] == [f"{tmp_path.as_posix()}/invoicegpj.mp4"]
    assert main(["sessions", "show", "nope" + BIDI, "--db", f"sqlite:///{tmp_path / 'other.sqlite3'}"]) == 2
    assert not any(ch in capsys.readouterr().err for ch in BIDI)


@contextlib.contextmanager
def av_clip(path: Path):
    """A short real video written at ``path``."""
    import av

    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=Fraction(30))
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for index in range(4):
            image = np.full((48, 64, 3), 60 + index, np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    yield path
