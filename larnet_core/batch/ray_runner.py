"""Running a batch's clips on a Ray cluster: actors each holding the model, one task per clip.

Every actor is a :class:`~larnet_core.batch.worker.ClipWorker` in a Ray worker process, so the clips are
analysed, written and marked complete exactly as on one machine; the actors write straight to the output folder,
which must therefore be a path every node sees (a shared filesystem, or an object store mounted as one), as must
the clips and the checkpoint. The driver only hands out clips and writes the summary.

Faults: every way a clip's task can fail (the worker killed by Ray's memory monitor, a crashed or killed worker,
a node that left the cluster, a lost result object, an error in the task) becomes that clip's summary row with a
reason a person can act on; faults of the machinery rather than the clip are tried again once, on a new actor,
before the row says so. The driver never stops for one clip. Each actor declares the memory a clip of the batch's
largest size needs (Ray's ``memory`` resource), so Ray places actors where that memory is free rather than
having to kill them later.

Ray is optional (``pip install .[ray]``) and imported only here, when a batch asks for it.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from typing import Any, Callable, NamedTuple, Sequence

from larnet_core.batch.output import BatchOutput, now
from larnet_core.batch.worker import PREFETCH_MAX_BYTES, ClipJob, ClipWorker, WorkerConfig, limit_threads
from larnet_core.errors import LarnetError

__all__ = ["RayUnavailable", "import_ray", "run_ray", "actor_memory_bytes"]

log = logging.getLogger(__name__)

RowCallback = Callable[[dict[str, Any]], None]
#: Clips queued on each actor beyond the one it is analysing: hides the round trip, bounds what an interrupt loses.
_AHEAD = 1
#: Tries of a clip whose task failed for a reason outside the clip (memory, a worker or node lost): the second
#: runs on a new actor, possibly on another node; a clip that kills its worker twice is reported.
MAX_ATTEMPTS = 2
#: Seconds to wait for a first (or, when every actor was lost, a new) actor to start before the remaining clips
#: are reported as not analysed: a cluster without a CPU or the declared memory free never places one.
START_TIMEOUT_S = 300.0
#: Actors lost while starting (not counting those the model cannot load in, which stop the batch) before the
#: clips left are reported instead of starting yet another.
MAX_START_FAILURES = 4
#: Seconds the cluster is given to notice that the node of a lost actor is gone.
NODE_CHECK_S = 3.0
#: Memory an actor holds besides the clips: the model, ONNX Runtime or PyTorch, the face tracker, decoded frames
#: in flight and the per-frame tables of one clip.
ACTOR_BASE_MEMORY = 1024**3


class RayUnavailable(LarnetError):
    """Ray is not installed, or the cluster cannot be reached."""


def import_ray():
    """The ``ray`` module, or a :class:`RayUnavailable` saying how to install it."""
    try:
        import ray  # lazy: Ray is optional (the `ray` extra), only for `larnet batch --ray`
    except ImportError:
        raise RayUnavailable("--ray needs Ray, an optional extra: pip install 'larnet-studio[ray]' (or "
                             "pip install .[ray] in a clone)") from None
    return ray


class _RayClipWorker:
    """The actor: a ClipWorker built in the Ray worker process (so the model is loaded there, once)."""

    def __init__(self, config: WorkerConfig) -> None:
        limit_threads(config.threads)
        self.worker = ClipWorker(config)

    def ready(self) -> str:
        """The id of the node this actor runs on (the driver tells a lost node from a lost worker by it)."""
        import ray  # lazy: Ray is optional (the `ray` extra), only for `larnet batch --ray`

        return ray.get_runtime_context().get_node_id()

    def run(self, job: ClipJob) -> dict[str, Any]:
        return self.worker.run(job)


def _connect(ray, address: str, workers: int | None) -> bool:
    """Join ``address`` (or, for ``local``, this process's running Ray instance or a new local one); True when this
    call started Ray and must shut it down."""
    if ray.is_initialized():
        return False
    # The local instance and the actors must find this package the way the driver does (a clone, not installed).
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    runtime_env = {"env_vars": {"PYTHONPATH": os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH", ""))
                                                              if p)}}
    try:
        if address == "local":
            # address="local": a new instance of our own, even while another process on this machine runs one
            # (without it Ray joins that one, and refuses the CPU count asked for).
            ray.init(address="local", num_cpus=workers or os.cpu_count() or 1, include_dashboard=False,
                     runtime_env=runtime_env, logging_level=logging.WARNING, log_to_driver=False)
        else:
            ray.init(address=address, runtime_env=runtime_env, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise RayUnavailable(f"cannot reach the Ray cluster at {address}: {exc}. Start it with `ray start --head` "
                             "(workers: `ray start --address HEAD:6379`) or use --ray local") from None
    return True


def actor_memory_bytes(largest_clip_bytes: int) -> int:
    """Memory an actor needs for clips up to ``largest_clip_bytes``: its own, plus two clips held in memory at once
    (the one analysed and the next one, read ahead; larger clips are streamed from their path)."""
    return ACTOR_BASE_MEMORY + 2 * min(max(0, int(largest_clip_bytes)), PREFETCH_MAX_BYTES)


def _largest_clip(jobs: Sequence[ClipJob]) -> int:
    sizes = []
    for job in jobs:
        try:
            sizes.append(os.stat(job.path).st_size)
        except OSError:  # the worker reports it
            continue
    return max(sizes, default=0)


def _memory_request(ray, jobs: Sequence[ClipJob]) -> int:
    """The memory each actor declares, capped at the largest node's so that Ray can place it somewhere."""
    need = actor_memory_bytes(_largest_clip(jobs))
    nodes = [node.get("Resources", {}).get("memory", 0) for node in ray.nodes() if node.get("Alive")]
    largest_node = int(max(nodes, default=0))
    return min(need, largest_node) if largest_node > 0 else need


def run_ray(jobs: Sequence[ClipJob], config: WorkerConfig, on_row: RowCallback, *, address: str = "local",
            workers: int | None = None) -> None:
    """Analyse the clips on Ray; ``on_row`` gets each summary row as a clip finishes (or is reported as failed).

    Args:
        jobs: the clips to analyse.
        config: what every actor needs (paths must be valid on every node).
        on_row: called in the driver with each clip's summary row.
        address: a cluster address (``ray://head:10001``, ``head:6379``, ``auto``) or ``local``.
        workers: actors to start (default: one per CPU of the cluster); each uses ``config.threads`` CPUs.

    Raises:
        RayUnavailable: Ray is not installed or the cluster cannot be reached.
        LarnetError: the actors cannot load the model.
    """
    if not jobs:
        return
    ray = import_ray()
    started = _connect(ray, address, workers)
    try:
        cpus = int(ray.cluster_resources().get("CPU", 1))
        count = max(1, min(workers or max(1, cpus // max(1, config.threads)), len(jobs)))
        memory = _memory_request(ray, jobs)
        actor_class = ray.remote(num_cpus=config.threads, max_restarts=0)(_RayClipWorker).options(memory=memory)
        _Driver(ray, actor_class, config, on_row).run(count, list(jobs))
    finally:
        if started:
            ray.shutdown()


class _Fault(NamedTuple):
    """How a failed task is reported: the summary's error type, what happened, whether trying again can help,
    and whether the actor is gone with it."""

    kind: str
    message: str
    retry: bool
    actor_lost: bool


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0][:300] if lines else type(exc).__name__


_MEMORY_MONITOR_WORDS = ("low on memory", "memory monitor", "outofmemoryerror", "memory usage threshold")
_NODE_DEATH_WORDS = ("node has died", "node died", "node was terminated", "node is dead", "its node")


def classify_fault(exc: BaseException, node_lost: bool = False) -> _Fault:
    """What a Ray exception of a clip's task means for a person (see the module docstring).

    Args:
        exc: what ``ray.get`` raised.
        node_lost: the node the actor ran on is no longer alive in the cluster.
    """
    from ray import exceptions as rex  # lazy: Ray is optional (the `ray` extra), only for `larnet batch --ray`

    text = str(exc)
    lowered = text.lower()
    if isinstance(exc, rex.OutOfMemoryError) or any(word in lowered for word in _MEMORY_MONITOR_WORDS):
        return _Fault("OutOfMemory", "Ray's memory monitor stopped the worker analysing this clip: its node ran low "
                      "on memory. Run fewer workers per node (--workers), give the nodes more memory, or split long "
                      "clips", True, True)
    if isinstance(exc, rex.NodeDiedError) or (isinstance(exc, rex.RayActorError)
                                              and (node_lost or any(w in lowered for w in _NODE_DEATH_WORDS))):
        return _Fault("NodeDied", "the Ray node analysing this clip left the cluster (stopped, crashed or "
                      "unreachable); check the node (`ray status`), then run the batch again to redo the clip",
                      True, True)
    if isinstance(exc, rex.ObjectLostError):
        return _Fault("ObjectLost", "the result of this clip was lost with the node that held it; run the batch again "
                      "to redo the clip", True, False)
    if isinstance(exc, (rex.RayActorError, rex.WorkerCrashedError)):
        return _Fault("WorkerDied", "the Ray worker stopped while analysing this clip (killed or crashed, or its "
                      f"node was lost: {_first_line(exc)}); if it happens again on this clip, check the file; run "
                      "the batch again to redo it", True, True)
    if isinstance(exc, rex.RayTaskError):
        cause = getattr(exc, "cause", None)
        kind = type(cause).__name__ if cause is not None else "RayTaskError"
        return _Fault(kind, f"the Ray task failed: {_first_line(cause if cause is not None else exc)}", False, False)
    return _Fault(type(exc).__name__, f"Ray could not run this clip's task: {_first_line(exc)}", False, False)


class _Driver:
    """Keeps every actor busy with one clip running and ``_AHEAD`` queued, replaces actors that are lost, and
    turns every failure into its clip's row (after one more try where the fault was not the clip's)."""

    def __init__(self, ray, actor_class, config: WorkerConfig, on_row: RowCallback) -> None:
        self.ray, self.actor_class, self.config, self.on_row = ray, actor_class, config, on_row
        self.output = BatchOutput(config.out)
        self.pending: deque[ClipJob] = deque()
        self.attempts: dict[str, int] = {}
        self.running: dict[Any, tuple[Any, ClipJob]] = {}   # task ref -> (actor, clip)
        self.queues: dict[Any, deque] = {}                  # ready actor -> its task refs, oldest (running) first
        self.starting: dict[Any, Any] = {}                  # ready() ref -> actor being started
        self.lost: dict[Any, Any] = {}                      # lost actor -> the task ref it was running
        self.nodes: dict[Any, str] = {}                     # actor -> id of the node it runs on
        self.start_failures = 0
        self.last_start_error = ""
        self.waiting_since = time.monotonic()

    def start_actors(self, count: int) -> None:
        for _ in range(count):
            actor = self.actor_class.remote(self.config)
            self.starting[actor.ready.remote()] = actor

    def fill(self) -> None:
        for actor, queue in self.queues.items():
            while self.pending and len(queue) < 1 + _AHEAD:
                job = self.pending.popleft()
                ref = actor.run.remote(job)
                self.running[ref] = (actor, job)
                queue.append(ref)

    def run(self, count: int, jobs: list[ClipJob]) -> None:
        self.pending.extend(jobs)
        self.start_actors(count)
        try:
            while self.running or self.pending:
                self.fill()
                refs = [*self.running, *self.starting]
                if not refs:  # every actor was lost and no other could be started
                    self.report_unplaced()
                    return
                timeout = None
                if not self.running and not self.queues:
                    timeout = max(0.0, START_TIMEOUT_S - (time.monotonic() - self.waiting_since))
                done, _ = self.ray.wait(refs, num_returns=1, timeout=timeout)
                if not done:
                    self.report_unplaced()
                    return
                if done[0] in self.starting:
                    self.started(done[0])
                else:
                    self.finished(done[0])
        finally:
            for actor in [*self.starting.values(), *self.queues]:
                try:
                    self.ray.kill(actor)
                except Exception:  # noqa: BLE001 - already gone with its node
                    pass

    def started(self, ref) -> None:
        from ray.exceptions import RayError  # lazy: Ray is optional (the `ray` extra), only for `larnet batch --ray`

        actor = self.starting.pop(ref)
        try:
            node = self.ray.get(ref)
        except RayError as exc:
            text = str(exc)
            if "creation task" in text:  # the constructor raised: the model cannot be loaded, on any actor
                lines = [line.strip() for line in text.splitlines() if "Error:" in line]
                raise LarnetError(f"the Ray workers could not start: {lines[-1] if lines else _first_line(exc)}") \
                    from None
            # Lost while starting (its node left, memory ran out): another is started, a bounded number of times.
            self.start_failures += 1
            self.last_start_error = classify_fault(exc).message
            log.warning("a Ray worker was lost while starting: %s", _first_line(exc))
            if self.start_failures <= MAX_START_FAILURES:
                self.start_actors(1)
            return
        self.queues[actor] = deque()
        self.nodes[actor] = node

    def node_lost(self, actor, exc: BaseException) -> bool:
        """Whether the node of a lost actor left the cluster. The cluster may learn of it a little after the
        driver learns of the actor, so a worker lost without a word is given a few seconds to be explained."""
        # lazy: Ray is optional (the `ray` extra), only for `larnet batch --ray`
        from ray.exceptions import RayActorError

        node = self.nodes.get(actor)
        if node is None or not isinstance(exc, RayActorError):
            return False
        deadline = time.monotonic() + NODE_CHECK_S
        while True:
            alive = {n.get("NodeID") for n in self.ray.nodes() if n.get("Alive")}
            if node not in alive:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.5)

    def finished(self, ref) -> None:
        from ray.exceptions import RayError  # lazy: Ray is optional (the `ray` extra), only for `larnet batch --ray`

        actor, job = self.running.pop(ref)
        queue = self.queues.get(actor)
        # An actor runs its tasks in order: the oldest of its queue is the one it is running.
        head = queue[0] if queue else None
        if queue and ref in queue:
            queue.remove(ref)
        try:
            row = self.ray.get(ref)
        except RayError as exc:
            log.debug("clip %s: task failed:\n%s", job.clip_id, exc)
            fault = classify_fault(exc, self.node_lost(actor, exc))
            if fault.actor_lost:
                if actor in self.queues:
                    self.lose(actor, head)
                if ref != self.lost.get(actor):  # queued behind the clip the actor was running: not its fault
                    self.pending.appendleft(job)
                    return
            tries = self.attempts[job.clip_id] = self.attempts.get(job.clip_id, 0) + 1
            if fault.retry and tries < MAX_ATTEMPTS:
                log.warning("clip %s: %s; trying it again (attempt %d of %d)", job.clip_id, fault.message,
                            tries + 1, MAX_ATTEMPTS)
                self.pending.appendleft(job)
                return
            tried = f" (tried {tries} times)" if tries > 1 else ""
            row = self.lost_row(job, fault.message + tried, fault.kind, retry=fault.retry)
        self.on_row(row)

    def lose(self, actor, running) -> None:
        """An actor is gone, with the task it was ``running`` (its queued clips fail with it and go back in
        line); a new actor takes its place."""
        if actor in self.queues:
            del self.queues[actor]
            self.lost[actor] = running
            self.start_actors(1)
            if not self.queues:
                self.waiting_since = time.monotonic()

    def report_unplaced(self) -> None:
        """No actor could be started: every clip not analysed gets a row saying why."""
        if self.start_failures > MAX_START_FAILURES:
            message = (f"no Ray worker could be kept running ({self.start_failures} were lost while starting; the "
                       f"last: {self.last_start_error}); check the cluster, then run the batch again")
        else:
            message = (f"no Ray worker could be started within {START_TIMEOUT_S:.0f} s: the cluster has no node "
                       "with a free CPU and the memory a worker declares; add nodes or free resources, then run the "
                       "batch again")
        while self.pending:
            self.on_row(self.lost_row(self.pending.popleft(), message, "NoWorker", retry=True))

    def lost_row(self, job: ClipJob, message: str, kind: str, *, retry: bool) -> dict[str, Any]:
        config = self.config
        row = {"clip": job.clip_id, "path": job.path, "source": job.source, "subject": job.subject,
               "label": job.label, "status": "failed", "error": message, "error_type": kind,
               "model_sha256": config.model_sha256, "settings_sha256": config.settings_sha256, "worker": "ray",
               "finished_at": now()}
        self.output.write_failure(job.clip_id, {"status": "failed", "retry": retry,
                                                "settings_sha256": config.settings_sha256,
                                                "input": {"path": job.path}, "row": row})
        return {**row, "skipped": False}
