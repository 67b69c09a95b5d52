"""Running a batch's clips on a Ray cluster: actors each holding the model, one task per clip.

Every actor is a :class:`~larnet_core.batch.worker.ClipWorker` in a Ray worker process, so the clips are
analysed, written and marked complete exactly as on one machine; the actors write straight to the output folder,
which must therefore be a path every node sees (a shared filesystem, or an object store mounted as one), as must
the clips and the checkpoint. The driver only hands out clips and writes the summary.

Ray is optional (``pip install .[ray]``) and imported only here, when a batch asks for it.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Callable, Sequence

from larnet_core.batch.output import BatchOutput, now
from larnet_core.batch.worker import ClipJob, WorkerConfig
from larnet_core.errors import LarnetError

__all__ = ["RayUnavailable", "import_ray", "run_ray"]

log = logging.getLogger(__name__)

RowCallback = Callable[[dict[str, Any]], None]
#: Clips queued on each actor beyond the one it is analysing: hides the round trip, bounds what an interrupt loses.
_AHEAD = 1


class RayUnavailable(LarnetError):
    """Ray is not installed, or the cluster cannot be reached."""


def import_ray():
    """The ``ray`` module, or a :class:`RayUnavailable` saying how to install it."""
    try:
        import ray
    except ImportError:
        raise RayUnavailable("--ray needs Ray, an optional extra: pip install 'larnet-studio[ray]' (or "
                             "pip install .[ray] in a clone)") from None
    return ray


class _RayClipWorker:
    """The actor: a ClipWorker built in the Ray worker process (so the model is loaded there, once)."""

    def __init__(self, config: WorkerConfig) -> None:
        from larnet_core.batch.worker import ClipWorker, limit_threads

        limit_threads(config.threads)
        self.worker = ClipWorker(config)

    def ready(self) -> str:
        return self.worker.name

    def run(self, job: ClipJob) -> dict[str, Any]:
        return self.worker.run(job)


def _connect(ray, address: str, workers: int | None) -> bool:
    """Join ``address`` (or, for ``local``, the running Ray instance or a new local one); True when this call
    started Ray and must shut it down."""
    if ray.is_initialized():
        return False
    # The local instance and the actors must find this package the way the driver does (a clone, not installed).
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    runtime_env = {"env_vars": {"PYTHONPATH": os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH", ""))
                                                              if p)}}
    try:
        if address == "local":
            ray.init(num_cpus=workers or os.cpu_count() or 1, include_dashboard=False, runtime_env=runtime_env,
                     logging_level=logging.WARNING, log_to_driver=False)
        else:
            ray.init(address=address, runtime_env=runtime_env, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise RayUnavailable(f"cannot reach the Ray cluster at {address}: {exc}. Start it with `ray start --head` "
                             "(workers: `ray start --address HEAD:6379`) or use --ray local") from None
    return True


def run_ray(jobs: Sequence[ClipJob], config: WorkerConfig, on_row: RowCallback, *, address: str = "local",
            workers: int | None = None) -> None:
    """Analyse the clips on Ray; ``on_row`` gets each summary row as a clip finishes.

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
        actor_class = ray.remote(num_cpus=config.threads, max_restarts=0)(_RayClipWorker)
        _drive(ray, actor_class, count, list(jobs), config, on_row)
    finally:
        if started:
            ray.shutdown()


def _start(ray, actor_class, config: WorkerConfig, count: int) -> list:
    """``count`` actors with the model loaded; a model that cannot be loaded stops the batch with its message."""
    from ray.exceptions import RayError

    actors = [actor_class.remote(config) for _ in range(count)]
    try:
        ray.get([actor.ready.remote() for actor in actors])
    except RayError as exc:
        lines = [line.strip() for line in str(exc).splitlines() if "Error:" in line]
        raise LarnetError(f"the Ray workers could not start: {lines[-1] if lines else exc}") from None
    return actors


def _drive(ray, actor_class, count: int, jobs: list[ClipJob], config: WorkerConfig, on_row: RowCallback) -> None:
    """Keep every actor busy with one clip running and ``_AHEAD`` queued; replace an actor that dies (its
    running clip is recorded as failed, the clips queued on it go back in line)."""
    from ray.exceptions import RayActorError, RayTaskError

    pending = list(reversed(jobs))
    running: dict[Any, tuple[Any, ClipJob]] = {}
    load: dict[Any, int] = {actor: 0 for actor in _start(ray, actor_class, config, count)}
    dead: set = set()
    output = BatchOutput(config.out)

    def fill() -> None:
        for actor in list(load):
            while pending and load[actor] < 1 + _AHEAD:
                job = pending.pop()
                running[actor.run.remote(job)] = (actor, job)
                load[actor] += 1

    fill()
    while running:
        done, _ = ray.wait(list(running), num_returns=1)
        actor, job = running.pop(done[0])
        try:
            row = ray.get(done[0])
        except RayActorError as exc:
            if actor in dead:  # queued behind the clip that killed it: try it again elsewhere
                pending.append(job)
                continue
            dead.add(actor)
            load.pop(actor, None)
            row = _lost(output, config, job, "the Ray worker stopped while analysing this clip: "
                                             f"{str(exc).splitlines()[0]}")
            load.update({new: 0 for new in _start(ray, actor_class, config, 1)})
        except RayTaskError as exc:
            row = _lost(output, config, job, f"the Ray task failed: {str(exc).splitlines()[0]}")
        if actor in load:
            load[actor] -= 1
        on_row(row)
        fill()


def _lost(output: BatchOutput, config: WorkerConfig, job: ClipJob, message: str) -> dict[str, Any]:
    row = {"clip": job.clip_id, "path": job.path, "source": job.source, "subject": job.subject, "label": job.label,
           "status": "failed", "error": message, "error_type": "WorkerDied", "model_sha256": config.model_sha256,
           "settings_sha256": config.settings_sha256, "worker": "ray", "finished_at": now()}
    output.write_failure(job.clip_id, {"status": "failed", "retry": True, "settings_sha256": config.settings_sha256,
                                       "input": {"path": job.path}, "row": row})
    return {**row, "skipped": False}
