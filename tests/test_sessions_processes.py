"""Several processes writing to one SQLite sessions file at once (as several dashboard workers would).

Eight writers run as four processes of two threads each: every kind of contention (between processes and
between threads of a process) happens, while only four interpreters have to start. Kept apart from the
other session tests: spawned workers import this module, so it stays light (no torch).
"""

from __future__ import annotations

import multiprocessing
import traceback
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import sqlalchemy as sa

from larnet_core.sessions import AnalysisSession, SessionStore

PROCESSES, THREADS_PER_PROCESS, SAVES, IMAGE_EVERY = 4, 2, 50, 5
WRITERS = PROCESSES * THREADS_PER_PROCESS


def _png(writer: int, save: int) -> bytes:
    """A real 1x1 PNG (a session's images are decoded when saved) whose pixel identifies the writer and save."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    pixel = bytes([0, writer, save, 7])  # filter byte, then R, G, B
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(pixel)) + chunk(b"IEND", b""))


def _results(writer: int, save: int) -> pd.DataFrame:
    return pd.DataFrame({"writer": np.full(save + 1, writer), "save": np.arange(save + 1)})


def _write(store: SessionStore, writer: int, shared_id: str, shared_token: str, start) -> None:
    own = store.create(AnalysisSession(name=f"writer {writer}"))
    start.wait(timeout=120)
    for save in range(SAVES):
        store.update(own.id, own.edit_token, results=_results(writer, save), notes=f"save {save}")
        if save % IMAGE_EVERY == 0:
            store.add_image(shared_id, shared_token, f"w{writer}-{save}", _png(writer, save))


def _process(url: str, process: int, shared_id: str, shared_token: str, start, errors) -> None:
    try:
        with SessionStore.open(url) as store, ThreadPoolExecutor(THREADS_PER_PROCESS) as pool:
            writers = range(process * THREADS_PER_PROCESS, (process + 1) * THREADS_PER_PROCESS)
            futures = [pool.submit(_write, store, writer, shared_id, shared_token, start) for writer in writers]
            for future in futures:
                future.result()
    except BaseException:
        errors.put(traceback.format_exc())
        raise


def test_processes_writing_at_once_lose_and_corrupt_nothing(tmp_path):
    url = f"sqlite:///{tmp_path / 'sessions.sqlite3'}"
    with SessionStore.open(url) as store:
        shared = store.create(AnalysisSession(name="shared"))
    context = multiprocessing.get_context("spawn")  # fresh interpreters: no inherited connections or threads
    start, errors = context.Barrier(WRITERS), context.Queue()
    workers = [
        context.Process(target=_process, args=(url, process, shared.id, shared.edit_token, start, errors))
        for process in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
    failures = [errors.get() for _ in range(errors.qsize())] if not errors.empty() else []
    assert not failures, failures[0]
    assert [worker.exitcode for worker in workers] == [0] * PROCESSES

    with SessionStore.open(url) as store:
        listing = store.list(limit=100)
        assert sorted(listing["name"]) == sorted([f"writer {w}" for w in range(WRITERS)] + ["shared"])
        for row in listing.itertuples():
            if row.name == "shared":
                continue
            writer = int(row.name.split()[1])
            loaded = store.get(row.id)
            assert loaded.notes == f"save {SAVES - 1}" and store.revision(row.id) == 1 + SAVES
            pd.testing.assert_frame_equal(loaded.results, _results(writer, SAVES - 1))
        expected = {f"w{w}-{s}": _png(w, s) for w in range(WRITERS) for s in range(0, SAVES, IMAGE_EVERY)}
        assert store.get(shared.id).images == expected
        assert store.revision(shared.id) == 1 + len(expected)
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
            assert conn.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
