"""Running a batch's clips on this machine: in the calling process (one worker) or in worker processes.

Each worker process is started with ``spawn`` (the caller may hold torch and OpenCV threads that a fork would copy
mid-flight), bounds its native thread pools, loads the model once and takes its clips from a queue of its own,
taking the next clip early so that it is read while the current one is analysed; it reports on a pipe of its own.
The parent hands each worker at most two clips at a time, so an interruption loses at most the clips in flight,
and a worker that
dies (a native crash on a hostile file, the system's out-of-memory killer) costs only the clip it was analysing:
that clip is tried once more by a new worker, then recorded as failed. (Queues shared by every worker would hang
the batch: a process waiting on a queue holds its read lock, one writing to it its write lock, and one killed
meanwhile never releases it, so every other worker waits for ever.)
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import queue
import signal
import time
from collections import deque
from typing import Any, Callable, Iterator, Sequence

import cv2

from larnet_core.batch.output import BatchOutput, now
from larnet_core.batch.worker import ClipJob, ClipWorker, WorkerConfig, limit_threads
from larnet_core.errors import LarnetError

__all__ = ["run_in_process", "run_processes"]

log = logging.getLogger(__name__)

RowCallback = Callable[[dict[str, Any]], None]
_POLL_S = 0.5
#: Tries of a clip whose worker process died under it: the second runs in a new worker; a clip that takes down
#: its worker twice is reported (a crash on its data, or a machine without the memory for it).
MAX_ATTEMPTS = 2
_JOIN_S = 10.0


@contextlib.contextmanager
def _threads(threads: int) -> Iterator[None]:
    """Bound torch's and OpenCV's threads for the duration (the caller's own settings come back after)."""
    import torch  # lazy: torch only while a batch runs (the batch package imports without it)

    before = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before[0])
        cv2.setNumThreads(before[1])


def run_in_process(jobs: Sequence[ClipJob], config: WorkerConfig, on_row: RowCallback, *, loaded=None) -> None:
    """Analyse the clips one after the other in this process, reading each next clip while one is analysed."""
    if not jobs:
        return
    with _threads(config.threads):
        worker = ClipWorker(config, loaded=loaded)
        try:
            reads = deque([(jobs[0], worker.prefetch(jobs[0]))])
            for index in range(len(jobs)):
                job, read = reads.popleft()
                if index + 1 < len(jobs):
                    reads.append((jobs[index + 1], worker.prefetch(jobs[index + 1])))
                on_row(worker.run(job, read))
        finally:
            worker.close()


# ------------------------------------------------------------------------------------------------ worker side
_EMPTY = object()


def _worker_main(config: WorkerConfig, index: int, jobs, events) -> None:
    """(``jobs``: this worker's queue of clips, None to stop; ``events``: the sending end of its own pipe to the
    parent.)"""
    """A worker process: load the model, then analyse clips from ``jobs`` until it gets None."""
    try:
        limit_threads(config.threads)
        try:
            worker = ClipWorker(config)
        except LarnetError as exc:
            events.send(("fatal", index, str(exc)))
            return
        events.send(("ready", index, ""))
        current, read = jobs.get(), None
        while current is not None:
            read = read or worker.prefetch(current)
            ahead = _EMPTY
            try:
                ahead = jobs.get_nowait()  # a second clip handed out: read it while this one is analysed
            except queue.Empty:
                pass
            ahead_read = worker.prefetch(ahead) if isinstance(ahead, ClipJob) else None
            events.send(("row", index, worker.run(current, read)))
            if ahead is None:
                break
            if isinstance(ahead, ClipJob):
                current, read = ahead, ahead_read
            else:
                current, read = jobs.get(), None
        worker.close()
    except KeyboardInterrupt:
        pass


# ------------------------------------------------------------------------------------------------ parent side
class _Pool:
    """The parent's view of the worker processes: their queues, which clips each holds (in the order it analyses
    them), and who died."""

    def __init__(self, config: WorkerConfig, workers: int) -> None:
        self.config = config
        self.context = multiprocessing.get_context("spawn")
        self.queues: dict[int, Any] = {}  # per worker, the clips handed to it
        self.events: dict[int, Any] = {}  # per worker, the receiving end of its pipe of events
        self.procs: dict[int, Any] = {}
        self.held: dict[int, list[str]] = {}
        self.ready: set[int] = set()
        self.attempts: dict[str, int] = {}  # clip -> tries lost with their worker
        self._next = 0
        for _ in range(workers):
            self.start_worker()

    def start_worker(self) -> None:
        index, self._next = self._next, self._next + 1
        self.queues[index] = self.context.Queue()
        # A pipe of its own, not a shared queue: a worker killed while writing would hold a shared queue's write
        # lock for ever, and the others' events would never arrive.
        self.events[index], sender = self.context.Pipe(duplex=False)
        proc = self.context.Process(target=_worker_main, args=(self.config, index, self.queues[index], sender),
                                    name=f"larnet-batch-{index}", daemon=True)
        proc.start()
        sender.close()  # the worker's copy is the one that stays open: its end closes when it dies
        self.procs[index], self.held[index] = proc, []

    def hand_out(self, pending: deque) -> None:
        """Give each worker a clip, then a second one to read ahead while at least one more stays in line for the
        first worker to finish: at the end of a batch a clip waiting behind a busy worker's would leave another
        worker idle."""
        for most in (1, 2):
            for index in sorted(self.procs, key=lambda i: len(self.held[i])):
                while pending and len(self.held[index]) < most:
                    if most == 2 and len(pending) < 2:
                        return
                    job = pending.popleft()
                    self.queues[index].put(job)
                    self.held[index].append(job.clip_id)

    def next_event(self) -> tuple[str, int, Any] | None:
        """The next ``(kind, worker, value)`` a worker sent, or None after :data:`_POLL_S` without one (or when a
        worker's pipe closed: it died, :meth:`dead` finds it)."""
        ready = multiprocessing.connection.wait(list(self.events.values()), timeout=_POLL_S)
        for connection in ready:
            try:
                return connection.recv()
            except (EOFError, OSError):  # the worker is gone; a message cut short by its death is lost with it
                index = next(i for i, c in self.events.items() if c is connection)
                self.events.pop(index).close()
        if ready:
            time.sleep(0.05)  # a closed pipe is ready at once: give the process time to be reaped
        return None

    def dead(self) -> list[tuple[int, int | None, list[str]]]:
        """Workers that stopped, with their exit code and the clips they held (removed from the pool)."""
        gone = []
        for index, proc in list(self.procs.items()):
            if not proc.is_alive():
                gone.append((index, proc.exitcode, self.held.pop(index, [])))
                del self.procs[index]
                self.queues.pop(index).cancel_join_thread()  # its clips are handed out again from `held`
                if index in self.events:
                    self.events.pop(index).close()
        return gone

    def stop(self, graceful: bool) -> None:
        if graceful:
            for index in self.procs:
                self.queues[index].put(None)
            for proc in self.procs.values():
                proc.join(_JOIN_S)
        for proc in self.procs.values():
            if proc.is_alive():
                proc.terminate()
        for proc in self.procs.values():
            proc.join(_JOIN_S)
        for jobs in self.queues.values():
            jobs.cancel_join_thread()
        for events in self.events.values():
            events.close()


def run_processes(jobs: Sequence[ClipJob], config: WorkerConfig, on_row: RowCallback, workers: int) -> None:
    """Analyse the clips in ``workers`` spawned processes; ``on_row`` gets each summary row as a clip finishes.

    Raises:
        LarnetError: a worker could not load the model (every worker would fail the same way).
    """
    if not jobs:
        return
    by_id = {job.clip_id: job for job in jobs}
    pending = deque(jobs)
    finished: set[str] = set()
    pool = _Pool(config, min(workers, len(jobs)))
    graceful = False
    output = BatchOutput(config.out)
    try:
        while len(finished) < len(by_id):
            pool.hand_out(pending)  # at most two clips per worker: enough to overlap reading, few to lose
            event = pool.next_event()
            if event is None:
                for index, code, held in pool.dead():
                    _recover(pool, output, by_id, finished, pending, on_row, index, code, held)
                continue
            kind, index, value = event
            if kind == "fatal":
                raise LarnetError(value)
            if kind == "ready":
                pool.ready.add(index)
            elif kind == "row":
                clip = value["clip"]
                if index in pool.held and clip in pool.held[index]:
                    pool.held[index].remove(clip)
                if clip not in finished:
                    finished.add(clip)
                    on_row(value)
        graceful = True
    finally:
        pool.stop(graceful)


def _exit_reason(code: int | None) -> str:
    """How a worker process ended, in words, with what to do about it."""
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        if -code == signal.SIGKILL:
            return (f"was killed ({name}), most often by the system running out of memory; use fewer --workers or "
                    "free memory")
        return f"was stopped by {name} (a crash in native code, e.g. on a damaged file)"
    return f"stopped (exit code {code})"


def _recover(pool: _Pool, output: BatchOutput, by_id, finished, pending, on_row, index: int, code, held) -> None:
    """A worker died: its current clip is tried once more by a new worker (MAX_ATTEMPTS in all), then recorded as
    failed; the clip handed to it to read ahead goes back in line."""
    log.warning("batch worker %d stopped (exit code %s) holding %s", index, code, held)
    if index not in pool.ready:  # it died starting up: every new one would too
        raise LarnetError(f"a batch worker process stopped while starting (exit code {code}); when calling "
                          "run_batch from a script, put the call under `if __name__ == \"__main__\":` (workers "
                          "are started with spawn), or use one worker")
    for position, clip in enumerate(held):
        if clip in finished:
            continue
        if position == 0:
            job = by_id[clip]
            tries = pool.attempts[clip] = pool.attempts.get(clip, 0) + 1
            if tries < MAX_ATTEMPTS:  # the death may not be the clip's doing (memory, a kill): once more
                log.warning("clip %s: the worker process %s; trying it again (attempt %d of %d)", clip,
                            _exit_reason(code), tries + 1, MAX_ATTEMPTS)
                pending.appendleft(job)
                continue
            tried = f"; tried {tries} times" if tries > 1 else ""
            row = {"clip": clip, "path": job.path, "source": job.source, "subject": job.subject, "label": job.label,
                   "status": "failed", "error": f"the worker process {_exit_reason(code)} while analysing this "
                   f"clip{tried}", "error_type": "WorkerDied", "model_sha256": pool.config.model_sha256,
                   "settings_sha256": pool.config.settings_sha256, "worker": f"process {index}",
                   "finished_at": now()}
            output.write_failure(clip, {"status": "failed", "retry": True, "settings_sha256":
                                        pool.config.settings_sha256, "input": {"path": job.path}, "row": row})
            finished.add(clip)
            on_row({**row, "skipped": False})
        else:
            pending.appendleft(by_id[clip])
    pool.start_worker()
