"""Overlap the stages of a clip analysis on their own threads.

Decoding (PyAV, FFmpeg), face tracking (MediaPipe) and the model (ONNX Runtime) all release Python's GIL in
their native code, so a clip analysis keeps two cores busy when decoding runs ahead on one thread
(:class:`Prefetcher`) and the model's batches, flow images included, run on another (:class:`BackgroundBatches`)
while the calling thread tracks faces and measures motion.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Generic, Iterable, Iterator, TypeVar

__all__ = ["Prefetcher", "BackgroundBatches"]

T = TypeVar("T")
R = TypeVar("R")

_DONE = object()


class Prefetcher(Generic[T]):
    """Iterate ``items`` on a background thread, at most ``depth`` items ahead of the consumer.

    Use as a context manager around the iteration: leaving it (normally, by an exception or a ``break``) stops
    the producer and waits for it, so the source (an open video file) can be closed safely afterwards. An
    exception raised by the source is raised again in the consumer, at the position it happened.
    """

    def __init__(self, items: Iterable[T], depth: int = 8, name: str = "prefetch") -> None:
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        self._items = items
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, name=name, daemon=True)
        self._started = False

    def __enter__(self) -> Prefetcher[T]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[T]:
        if not self._started:
            self._started = True
            self._thread.start()
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            if isinstance(item, _Raised):
                raise item.error
            yield item

    def close(self) -> None:
        """Stop the producer and wait for it (idempotent)."""
        self._stop.set()
        if not self._started:
            return
        while self._thread.is_alive():
            try:  # make room so a producer blocked on a full queue sees the stop flag
                self._queue.get(timeout=0.05)
            except queue.Empty:
                pass
        self._thread.join()

    def _produce(self) -> None:
        iterator = iter(self._items)
        try:
            for item in iterator:
                if not self._put(item):
                    return
            self._put(_DONE)
        except BaseException as error:  # handed to the consumer, raised there
            self._put(_Raised(error))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()  # a generator's own clean-up runs on the thread that ran it

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False


class _Raised:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class BackgroundBatches(Generic[T, R]):
    """Run ``work(batch)`` for each submitted batch on one background thread, in order, at most ``ahead``
    batches queued (the submitter waits beyond that, which bounds memory). :meth:`results` waits for all and
    returns their results in submission order, raising the first error a batch raised. ``inline=True`` runs
    each batch at once on the submitting thread instead (same interface, no thread)."""

    def __init__(self, work: Callable[[list[T]], R], ahead: int = 2, name: str = "model",
                 inline: bool = False) -> None:
        self._work = work
        self._inline = inline
        self._done: list[R] = []
        self._executor = None if inline else ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._slots = threading.Semaphore(max(1, ahead))
        self._futures: list[Future] = []

    def submit(self, batch: list[T]) -> None:
        if self._executor is None:
            self._done.append(self._work(batch))
            return
        self._slots.acquire()
        future = self._executor.submit(self._work, batch)
        future.add_done_callback(lambda _f: self._slots.release())
        self._futures.append(future)

    def results(self) -> list[R]:
        try:
            return self._done + [future.result() for future in self._futures]
        finally:
            self.close()

    def close(self) -> None:
        """Drop batches not started yet and wait for the running one."""
        for future in self._futures:
            future.cancel()
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    def __enter__(self) -> BackgroundBatches[T, R]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
