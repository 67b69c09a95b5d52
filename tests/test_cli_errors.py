"""Every user error is a message: each ``larnet`` command, given a bad path in each of its path arguments, exits
non-zero with one line on stderr and no traceback.

The bad paths: missing, a folder where a file is expected (and a file where a folder is), a FIFO, a device
(``/dev/zero``), a path under a regular file, an unreadable file or folder, and for ``--db`` a file that is not
a database. All cases of a kind run in one process (``tests/hostile_worker.py``), with a timeout: a read that
waits on a FIFO or never ends on a device fails the test instead of hanging it. Unreadable paths need a process
the permissions apply to: the tests run as root, who reads a mode-000 file anyway, so those cases run in a process
that gave up the capabilities that let root ignore permissions (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH); they are
skipped only where a process cannot give them up.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
CLASSES = ["happiness", "others", "surprise"]
_PR_CAPBSET_DROP = 24
_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH = 1, 2


# ---------------------------------------------------------------------------------------------------- inputs
def write_clip(path: Path, frames: int = 12) -> Path:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=Fraction(30))
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for index in range(frames):
            image = np.full((48, 64, 3), 40 + 8 * index, np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    return path


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[dict[str, Path | str]]:
    """Valid inputs, and every kind of bad path."""
    import cv2

    from larnet_core.face import sample_face_photos
    from larnet_core.models import ModelCard, save_checkpoint
    from larnet_core.sessions import AnalysisSession, SessionStore, export_bundle

    root = tmp_path_factory.mktemp("cli-errors")
    good, bad = root / "good", root / "bad"
    good.mkdir()
    bad.mkdir()
    card = ModelCard.for_preset("larnet-lite", CLASSES)
    card.input_size = 48
    checkpoint = save_checkpoint(card.build(), card, good / "lite.pt", half=True)
    clip = write_clip(good / "clip.mp4")
    face = cv2.resize(sample_face_photos()["grace_hopper"], (160, 188))
    cv2.imwrite(str(good / "face.png"), cv2.cvtColor(face, cv2.COLOR_RGB2BGR))
    db = good / "sessions.sqlite3"
    with SessionStore.open(f"sqlite:///{db}") as store:
        session_id = store.create(AnalysisSession(name="a session")).id
        bundle = export_bundle(store, session_id, good / "s.larnet.zip")
    (bad / "afile.txt").write_text("a regular file\n")
    (bad / "notdb.sqlite3").write_text("this is not a database\n")
    os.mkfifo(bad / "fifo")
    try:  # a character device like /dev/zero (1, 5), where writes of a bug would do no harm
        os.mknod(bad / "zero-device", stat.S_IFCHR | 0o666, os.makedev(1, 5))
    except OSError:
        pass  # not allowed here (not root, or a container without CAP_MKNOD): the FIFO stands in for it
    (bad / "folder").mkdir()
    (bad / "unreadable").write_bytes(checkpoint.read_bytes())
    (bad / "unreadable").chmod(0)
    (bad / "unreadable-folder").mkdir()
    (bad / "unreadable-folder").chmod(0)
    (bad / "readonly").mkdir()
    (bad / "readonly").chmod(0o555)
    (bad / "manifest.csv").write_text("path\n/dev/zero\n")
    (bad / "fifo-manifest.csv").write_text(f"path\n{bad / 'fifo'}\n")
    data = root / "data"
    data.mkdir()
    yield {"root": root, "good": good, "bad": bad, "checkpoint": checkpoint, "clip": clip, "face": good / "face.png",
            "db": f"sqlite:///{db}", "session": session_id, "bundle": bundle, "data": data}
    for path, mode in (("unreadable", 0o644), ("unreadable-folder", 0o755), ("readonly", 0o755)):
        (bad / path).chmod(mode)  # so that the temporary folder can be removed by any user


# Where a file is read: each of these replaces a valid input file.
BAD_FILES = {
    "missing": "bad/missing.file",
    "a folder": "bad/folder",
    "a FIFO": "bad/fifo",
    "a device": "/dev/zero",
    "under a file": "bad/afile.txt/inside.file",
}
# Where a folder is read.
BAD_FOLDERS = {
    "missing": "bad/missing-folder",
    "a file": "bad/afile.txt",
    "a FIFO": "bad/fifo",
    "a device": "/dev/zero",
    "under a file": "bad/afile.txt/inside",
}
# Where a file or a folder is written. Never the system's devices: a bug that renamed a file over one would
# replace it for the whole machine; the device here is a node of the test's own (when it may make one).
BAD_OUTPUTS = {
    "an existing folder or file of the other kind": None,  # filled per slot: a folder for files, a file for folders
    "a FIFO": "bad/fifo",
    "a device": "bad/zero-device",
    "under a file": "bad/afile.txt/out",
}
BAD_DATABASES = {
    "not a database": "bad/notdb.sqlite3",
    "a folder": "bad/folder",
    "a FIFO": "bad/fifo",
    "a device": "bad/zero-device",
    "under a file": "bad/afile.txt/s.sqlite3",
    "in a missing folder": "bad/missing-folder/s.sqlite3",
}


def _commands(w: dict) -> list[tuple[str, list[str], dict[str, tuple[str, str]]]]:
    """Each command with valid arguments, and its path slots: placeholder -> (kind of path, valid value)."""
    g, ck, clip, face, db = w["good"], str(w["checkpoint"]), str(w["clip"]), str(w["face"]), w["db"]
    out = str(w["root"] / "out")
    analysis = ["--face", "none", "--backend", "torch", "--device", "cpu"]
    return [
        ("analyze", ["analyze", "{clip}", "--checkpoint", "{ckpt}", "--out", "{out}", "--summary", "{summary}",
                     *analysis], {"{clip}": ("file", clip), "{ckpt}": ("file", ck),
                                  "{out}": ("outfile", f"{out}/a.csv"), "{summary}": ("outfile", f"{out}/a.json")}),
        ("analyze --video", ["analyze", clip, "--checkpoint", ck, "--out", f"{out}/v.csv", "--video", "{video}",
                             *analysis], {"{video}": ("outfile", f"{out}/v.mp4")}),
        ("analyze --save-session", ["analyze", clip, "--checkpoint", ck, "--out", f"{out}/s.csv", "--save-session",
                                    "x", "--db", "{db}", *analysis], {"{db}": ("db", db)}),
        ("batch", ["batch", "{input}", "--checkpoint", "{ckpt}", "--out", "{out}", "--no-progress", *analysis],
         {"{input}": ("file", clip), "{ckpt}": ("file", ck), "{out}": ("outdir", f"{out}/batch")}),
        ("bench clip", ["bench", "clip", "--clip", "{clip}", "--seconds", "0.5"], {"{clip}": ("file", clip)}),
        ("compare", ["compare", "{run}", "--out", "{out}"], {"{run}": ("folder", str(g)),
                                                           "{out}": ("outfile", f"{out}/c.csv")}),
        ("evaluate", ["evaluate", "{run}"], {"{run}": ("folder", str(g))}),
        ("evaluate --checkpoint", ["evaluate", "--checkpoint", "{ckpt}", "--root", "{root}", "--dataset", "folder",
                                   "--out", "{out}", "--no-progress"],
         {"{ckpt}": ("file", ck), "{root}": ("folder", str(g)), "{out}": ("outdir", f"{out}/eval")}),
        ("explain", ["explain", "{image}", "--checkpoint", "{ckpt}", "--out", "{out}", "--reference", "{ref}",
                     "--face", "none", "--methods", "gradcam", "--device", "cpu"],
         {"{image}": ("file", face), "{ckpt}": ("file", ck), "{out}": ("outdir", f"{out}/explain"),
          "{ref}": ("file", face)}),
        ("export", ["export", "{ckpt}", "--out", "{out}"], {"{ckpt}": ("file", ck),
                                                           "{out}": ("outfile", f"{out}/m.onnx")}),
        ("robustness", ["robustness", "--checkpoint", "{ckpt}", "--root", "{root}", "--dataset", "folder",
                        "--out", "{out}"], {"{ckpt}": ("file", ck), "{root}": ("folder", str(g)),
                                            "{out}": ("outfile", f"{out}/r.csv")}),
        ("spot-eval", ["spot-eval", "--root", "{root}", "--checkpoint", "{ckpt}", "--out", "{out}"],
         {"{root}": ("folder", str(g)), "{ckpt}": ("file", ck), "{out}": ("outfile", f"{out}/s.csv")}),
        ("synth", ["synth", "{out}", "--subjects", "1", "--clips-per-class", "1", "--size", "48x48"],
         {"{out}": ("outdir", f"{out}/synth")}),
        ("train", ["train", "--dataset", "folder", "--root", "{root}", "--out", "{out}", "--iterations", "1",
                   "--no-progress"], {"{root}": ("folder", str(g)), "{out}": ("outdir", f"{out}/train")}),
        ("sessions list", ["sessions", "list", "--db", "{db}"], {"{db}": ("db", db)}),
        ("sessions show", ["sessions", "show", w["session"], "--db", "{db}"], {"{db}": ("db", db)}),
        ("sessions export", ["sessions", "export", w["session"], "{out}", "--db", "{db}"],
         {"{out}": ("outfile", f"{out}/e.larnet.zip"), "{db}": ("db", db)}),
        ("sessions import", ["sessions", "import", "{bundle}", "--db", "{db}"],
         {"{bundle}": ("file", str(w["bundle"])), "{db}": ("db", db)}),
        ("sessions delete", ["sessions", "delete", w["session"], "--db", "{db}", "--yes", "--token", "x"],
         {"{db}": ("db", db)}),
    ]


def _absolute(root: Path, value: str) -> str:
    if value == "/dev/zero" and (root / "bad" / "zero-device").exists():
        return str(root / "bad" / "zero-device")  # the same device, where a bug's writes could harm nothing else
    return value if value.startswith("/") else str(root / value)


def _bad_values(kind: str, valid: str, root: Path) -> dict[str, str]:
    if kind == "file":
        return {name: _absolute(root, path) for name, path in BAD_FILES.items()}
    if kind == "folder":
        return {name: _absolute(root, path) for name, path in BAD_FOLDERS.items()}
    if kind == "db":
        return {name: "sqlite:///" + _absolute(root, path) for name, path in BAD_DATABASES.items()
                if "device" not in path or os.path.lexists(_absolute(root, path))}
    other = str(root / ("bad/folder" if kind == "outfile" else "bad/afile.txt"))
    return {name: other if path is None else _absolute(root, path) for name, path in BAD_OUTPUTS.items()
            if path is None or os.path.lexists(_absolute(root, path))}


def _cases(w: dict) -> list[dict]:
    """One case per command, path slot and bad path; every other slot keeps its valid value."""
    cases = []
    for command, argv, slots in _commands(w):
        for slot, (kind, valid) in slots.items():
            for name, value in _bad_values(kind, valid, w["root"]).items():
                filled = [value if a == slot else slots[a][1] if a in slots else a for a in argv]
                cases.append({"name": f"{command} {slot} {kind}: {name}", "argv": filled})
    cases.append({"name": "batch with /dev/zero in a manifest",
                  "argv": ["batch", str(w["bad"] / "manifest.csv"), "--checkpoint", str(w["checkpoint"]),
                           "--out", str(w["root"] / "out" / "m"), "--no-progress"]})
    cases.append({"name": "batch with a FIFO in a manifest",
                  "argv": ["batch", str(w["bad"] / "fifo-manifest.csv"), "--checkpoint", str(w["checkpoint"]),
                           "--out", str(w["root"] / "out" / "f"), "--no-progress"]})
    return cases


def _unreadable_cases(w: dict) -> list[dict]:
    """Each file and folder input slot given a path the (unprivileged) user may not read, and each output a
    folder it may not write."""
    cases = []
    for command, argv, slots in _commands(w):
        for slot, (kind, valid) in slots.items():
            value = {"file": str(w["bad"] / "unreadable"), "folder": str(w["bad"] / "unreadable-folder"),
                     "db": f"sqlite:///{w['bad'] / 'unreadable'}",
                     "outfile": str(w["bad"] / "readonly" / "o.csv"),
                     "outdir": str(w["bad"] / "readonly" / "o")}[kind]
            filled = [value if a == slot else slots[a][1] if a in slots else a for a in argv]
            cases.append({"name": f"{command} {slot} {kind}: unreadable", "argv": filled})
    return cases


def _drop_root_permission_override() -> None:
    """In the child before exec: drop the capabilities that let root read and write regardless of permissions
    from the bounding set, so the program it runs (as root) has them neither."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
        if libc.prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def _permissions_apply(w: dict) -> bool:
    """Whether a process started as the tests start the unreadable cases is refused a mode-000 file."""
    probe = [sys.executable, "-c", f"open({str(w['bad'] / 'unreadable')!r}, 'rb')"]
    try:
        finished = subprocess.run(probe, capture_output=True, timeout=60,
                                  preexec_fn=_drop_root_permission_override if os.geteuid() == 0 else None)
    except subprocess.SubprocessError:  # the capability could not be dropped
        return False
    return finished.returncode != 0 and b"PermissionError" in finished.stderr


def _run_cases(cases: list[dict], w: dict, tag: str, *, unprivileged: bool = False) -> list[dict]:
    folder = w["root"] / f"run-{tag}"
    folder.mkdir(exist_ok=True)
    (folder / "cases.json").write_text(json.dumps(cases))
    env = {**os.environ, "HOME": str(folder), "LARNET_DATA_DIR": str(w["data"]), "TMPDIR": str(folder),
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    env.pop("LARNET_DATABASE_URL", None)
    preexec = _drop_root_permission_override if unprivileged and os.geteuid() == 0 else None
    finished = subprocess.run([sys.executable, str(REPO / "tests" / "hostile_worker.py"), str(folder / "cases.json"),
                               str(folder / "result.json")], cwd=folder, env=env, timeout=420, capture_output=True,
                              text=True, preexec_fn=preexec)
    assert finished.returncode == 0, finished.stderr[-3000:]
    results = json.loads((folder / "result.json").read_text())
    assert [r["name"] for r in results] == [c["name"] for c in cases]
    return results


def _failures(results: list[dict]) -> list[tuple[str, object, str]]:
    """The cases that did not end in a non-zero exit with one line on stderr naming the command, and no
    traceback. (Progress bars may precede it on stderr; the last line is the message.)"""
    bad = []
    for result in results:
        lines = [line for line in result["stderr"].replace("\r", "\n").splitlines() if line.strip()]
        message_lines = [line for line in lines if line.startswith("larnet ")]
        ok = (isinstance(result["code"], int) and result["code"] != 0 and "Traceback" not in result["stderr"]
              and len(message_lines) == 1 and lines[-1] == message_lines[0] and ": error: " in lines[-1])
        if not ok:
            bad.append((result["name"], result["code"], result["stderr"][-600:]))
    return bad


@pytest.mark.slow
def test_every_command_says_what_is_wrong_with_a_bad_path(world):
    cases = _cases(world)
    assert len(cases) > 100
    results = _run_cases(cases, world, "bad")
    assert _failures(results) == []
    # No case read far: a device that never ends or a FIFO was refused before its first byte (the whole run,
    # with the model loaded, stays far below what reading /dev/zero into memory cost before).
    assert max(r["peak_mib"] for r in results) < 2048, sorted((r["peak_mib"], r["name"]) for r in results)[-3:]
    # Nothing was written where an output was refused, and the outputs were checked before any work.
    assert not (world["bad"] / "afile.txt").is_dir()
    by_name = {r["name"]: r for r in results}
    for name, result in by_name.items():
        if "outfile" in name or "outdir" in name:
            assert "analysing" not in result["stderr"] and "prediction" not in result["stdout"], name


@pytest.mark.slow
def test_every_command_says_what_is_wrong_with_an_unreadable_path(world):
    if not _permissions_apply(world):
        pytest.skip("a mode-000 file stays readable here (root that cannot drop CAP_DAC_OVERRIDE); the other bad "
                    "paths are covered by the test above")
    results = _run_cases(_unreadable_cases(world), world, "unreadable", unprivileged=True)
    assert _failures(results) == []
