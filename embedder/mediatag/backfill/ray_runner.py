"""The Ray path: work units become a Ray Dataset, `map_batches` runs them on a pool of UnitEmbedder actors (each
loads the model once; `num_gpus` where the cluster has GPUs), and the driver only sums what the actors report.
Every actor writes its units back itself, one transaction per unit, so a killed actor or driver loses at most
the units in flight, which the next run finds still lacking."""

from __future__ import annotations

import os
from collections.abc import Mapping

from .run import BackfillOptions, EmbedBackfillSummary, add_result, worker_env
from .units import WorkUnit
from .worker import UnitEmbedder


def import_ray():
    try:
        import ray
        import ray.data
    except ImportError as e:
        raise RuntimeError(
            "the Ray path needs Ray: pip install 'ray[data]' (requirements.lock pins it), or run without --ray-address"
        ) from e
    return ray


def actor_resources(cluster: Mapping[str, float], workers: int, gpus_per_worker: float | None) -> tuple[int, float]:
    """(CPUs, GPUs) each embedding actor asks for. Where the cluster has a GPU, one each (unless given): Ray then
    shows the actor its GPU and the model loads there (models.base.torch_device); a GPU actor needs one CPU for
    decoding. Without GPUs the cluster's CPUs are shared out, and the actor's torch uses that many threads."""
    gpus = gpus_per_worker if gpus_per_worker is not None else (1.0 if cluster.get("GPU", 0) >= 1 else 0.0)
    cpus = 1 if gpus else max(1, int(cluster.get("CPU", 1)) // max(1, workers))
    return cpus, gpus


def run_on_ray(
    url: str,
    dataset: str,
    modality: str,
    model: str,
    units: list[WorkUnit],
    opts: BackfillOptions,
    summary: EmbedBackfillSummary,
) -> str:
    """Runs the units on Ray; returns a line naming the engine for the summary."""
    ray = import_ray()
    started = False
    if not ray.is_initialized():
        if opts.ray_address == "local":
            ray.init(num_cpus=opts.workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
        else:
            ray.init(address=opts.ray_address, log_to_driver=False, configure_logging=False)
        started = True
    try:
        cpus, gpus = actor_resources(ray.cluster_resources(), opts.workers, opts.gpus_per_worker)
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = opts.progress
        items = [{"first_id": u.first_id, "last_id": u.last_id} for u in units]
        ds = ray.data.from_items(items, override_num_blocks=min(len(items), 200))
        out = ds.map_batches(
            UnitEmbedder,
            fn_constructor_kwargs={
                "url": url,
                "dataset": dataset,
                "modality": modality,
                "model": model,
                "embed_batch": opts.embed_batch,
                "env": worker_env(threads=cpus),
            },
            batch_size=1,  # one unit per call: each is written back (and committed) before the next is taken
            compute=ray.data.ActorPoolStrategy(size=opts.workers),
            num_cpus=cpus,
            num_gpus=gpus,
        )
        for batch in out.iter_batches(batch_size=None, batch_format="numpy"):
            add_result(summary, batch)
        where = "local Ray" if opts.ray_address == "local" else f"Ray at {opts.ray_address}"
        return f"{where}, {opts.workers} worker(s){f', {gpus:g} GPU each' if gpus else ''}"
    finally:
        if started:
            ray.shutdown()


def default_address() -> str | None:
    return os.environ.get("RAY_ADDRESS") or None
