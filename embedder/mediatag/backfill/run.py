"""`mediatag backfill DATASET`: find the work units, run them (here or on Ray), then finish what the new vectors
make possible: keyframes that got their first vector get the post-ingest work (views, samples, scoring of applied
groups), the HNSW index and, where faces are on, a face scan; `switch` makes a re-embedded model the dataset's own.

Where it runs: `ray_address` "local" starts a Ray of `workers` CPUs on this machine, any other address joins that
cluster (as `ray.init(address=...)` takes it; RAY_ADDRESS is the default), None runs one process. Ray is imported
only on the Ray path, so the rest of mediatag works without it."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import psycopg
from tqdm import tqdm

from ..db import connect
from ..service.backfill_queue import face_scan_queued
from .units import WorkUnit, list_units
from .worker import UnitEmbedder

MODALITIES = ("visual", "transcript")
# What a worker process needs of the driver's environment to load the same model the same way.
_PASSED_ENV_PREFIXES = ("MEDIATAG_", "HF_", "TRANSFORMERS_", "OMP_NUM_THREADS")


@dataclass(slots=True)
class BackfillOptions:
    modality: str = "visual"  # visual (keyframes) | transcript (transcript segments)
    model: str | None = None  # None: the dataset's own model (keyframes stored without a vector)
    ray_address: str | None = None  # None: one process; "local": a Ray on this machine; else a cluster's address
    workers: int = 2  # Ray actors (each loads the model once)
    gpus_per_worker: float | None = None  # None: 1 where the cluster has GPUs, else 0
    unit_rows: int = 256  # rows per work unit, and per write-back transaction
    embed_batch: int = 32  # rows per model call
    progress: bool = True
    faces: bool = False  # turn faces on for the dataset before the finishing scan (ingest --ray --faces)
    switch: bool = False  # make `model` the dataset's own once every row has its vector


@dataclass(slots=True)
class EmbedBackfillSummary:
    dataset: str
    modality: str
    model: str
    engine: str = "one process"
    units: int = 0
    rows: int = 0  # rows that lacked a vector when the run started
    stored: int = 0
    failed: list[str] = field(default_factory=list)
    seconds: float = 0.0
    scoring_jobs: int = 0
    faces: int = 0
    face_scan_job: int | None = None  # queued for the worker: a login without superuser (ingest/pipeline.py)
    switched: int | None = None
    warnings: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    first_unit_s: float | None = None  # when the first unit came back: model loads and start-up are behind
    first_unit_stored: int = 0

    @property
    def rate(self) -> float:
        return self.stored / self.seconds if self.seconds else 0.0

    @property
    def steady_rate(self) -> float:
        """Rows per second after the first unit came back (start-up and model loads excluded)."""
        if self.first_unit_s is None or self.seconds <= self.first_unit_s:
            return 0.0
        return (self.stored - self.first_unit_stored) / (self.seconds - self.first_unit_s)

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__slots__}

    def render(self) -> str:
        what = "keyframes" if self.modality == "visual" else "transcript segments"
        lines = [
            f"dataset {self.dataset}: {self.stored} of {self.rows} {what} embedded with {self.model} in"
            f" {self.seconds:.1f} s ({self.rate:.1f} {what}/s, {self.steady_rate:.1f} after the first unit;"
            f" {self.engine}, {self.units} work units)"
        ]
        if self.failed:
            lines.append(f"  not embedded (they stay pending; run again once fixed): {len(self.failed)}")
            lines.extend(f"    {f}" for f in self.failed[:10])
        if self.scoring_jobs:
            lines.append(f"  scoring queued for applied tag groups: {self.scoring_jobs}")
        if self.faces:
            lines.append(f"  faces found: {self.faces}")
        if self.face_scan_job is not None:
            lines.append(f"  {face_scan_queued(self.face_scan_job)}")
        if self.switched is not None:
            lines.append(f"  switched: the dataset's {self.modality} model is now {self.model} ({self.switched} rows)")
        lines.extend(f"  warning: {w}" for w in self.warnings)
        return "\n".join(lines)


def worker_env(threads: int | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.startswith(_PASSED_ENV_PREFIXES)}
    if threads is not None:
        env.setdefault("MEDIATAG_TORCH_THREADS", str(threads))
    return env


def _target_model(conn: psycopg.Connection, dataset: str, opts: BackfillOptions) -> tuple[str, bool]:
    """(the model to embed with, whether it is the dataset's own)."""
    if opts.modality not in MODALITIES:
        raise ValueError(f"invalid modality {opts.modality!r}: use visual or transcript")
    visual, text = conn.execute(
        "SELECT visual_model, text_model FROM mediatag.dataset WHERE id = mediatag.dataset_id(%s)", (dataset,)
    ).fetchone()
    conn.commit()
    own = visual if opts.modality == "visual" else text
    model = opts.model or own
    return model, model == own


def run_here(
    url: str, dataset: str, modality: str, model: str, units: list[WorkUnit], opts: BackfillOptions, summary
) -> None:
    """The one-process path: the same UnitEmbedder a Ray actor is, called on one unit at a time."""
    embedder = UnitEmbedder(url, dataset, modality, model, opts.embed_batch)
    try:
        for u in tqdm(units, unit="unit", disable=not opts.progress, desc=f"backfill {dataset}"):
            add_result(summary, embedder({"first_id": [u.first_id], "last_id": [u.last_id]}))
    finally:
        embedder.close()


def add_result(summary: EmbedBackfillSummary, batch: Mapping) -> None:
    summary.stored += int(sum(batch["stored"]))
    if summary.first_unit_s is None:
        summary.first_unit_s, summary.first_unit_stored = time.monotonic() - summary.started, summary.stored
    summary.failed.extend(line for text in batch["failed"] for line in str(text).splitlines() if line)


def backfill(url: str, dataset: str, opts: BackfillOptions | None = None) -> EmbedBackfillSummary:
    """Embeds every row of the dataset lacking a vector of the model, then finishes (see the module's doc)."""
    opts = opts or BackfillOptions()
    with connect(url) as conn:
        model, own = _target_model(conn, dataset, opts)
        summary = EmbedBackfillSummary(dataset=dataset, modality=opts.modality, model=model)
        units = list_units(conn, dataset, opts.modality, model, opts.unit_rows)
        summary.units, summary.rows = len(units), sum(u.rows for u in units)
        address = opts.ray_address
        if units and address:
            from .ray_runner import run_on_ray

            summary.engine = run_on_ray(url, dataset, opts.modality, model, units, opts, summary)
        elif units:
            run_here(url, dataset, opts.modality, model, units, opts, summary)
        summary.seconds = time.monotonic() - summary.started
        if own and opts.modality == "visual":
            _finish_ingest(conn, dataset, opts, summary)
        if opts.switch and not own:
            summary.switched = conn.execute(
                "SELECT mediatag.switch_dataset_model(%s, %s, %s)", (dataset, model, opts.modality)
            ).fetchone()[0]
            conn.commit()
            _build_indexes(conn, dataset, summary)
    return summary


def _build_indexes(conn: psycopg.Connection, dataset: str, summary: EmbedBackfillSummary) -> None:
    from ..ingest.pipeline import _build_indexes as build

    build(conn, dataset, summary)


def _finish_ingest(
    conn: psycopg.Connection, dataset: str, opts: BackfillOptions, summary: EmbedBackfillSummary
) -> None:
    """The post-ingest work of assets whose keyframes all have their vectors now (mediatag.after_ingest skips
    those still waiting), the HNSW index, and faces where the dataset has them on."""
    from ..ingest import IngestOptions
    from ..ingest.pipeline import _scan_faces

    summary.scoring_jobs = conn.execute("SELECT mediatag.after_ingest(%s)", (dataset,)).fetchone()[0]
    conn.commit()
    _build_indexes(conn, dataset, summary)
    _scan_faces(conn, dataset, IngestOptions(faces=opts.faces, progress=opts.progress), summary)
