"""The Python SDK: `mediatag.Client`, a thin layer over the SQL functions.

Every method maps to the SQL function of the same name and arguments (`client.preview(tag_group=..., tag=...)` is
`SELECT * FROM mediatag.preview(tag_group => ..., tag => ...)`), so a user who learned one knows both.
Built on a SQLAlchemy 2 engine (psycopg 3 underneath): pass any SQLAlchemy/libpq URL, reflect the asset views and
dt_* tables as `Table` objects with `table()`, and get DataFrames with `dataframe()` where pandas is installed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, Table, create_engine, text
from sqlalchemy.engine import Engine

from .cluster import database_url
from .sdk_concepts import ConceptsAndSearch

# Parameters that need an explicit SQL type (arrays, and numbers Postgres would otherwise guess).
_CASTS = {
    "tags": "text[]",
    "keyframes": "bigint[]",
    "threshold": "real",
    "evaluation_id": "bigint",
    "n": "int",
    "k": "int",
    "size": "int",
    "seed": "int",
    "per_bucket": "int",
    "version": "int",
    "label": "boolean",
    "truth": "boolean",
    "removed": "boolean",
    "include_removed": "boolean",
    "weighted": "boolean",
    "evaluation": "bigint",
    "save": "boolean",
}


def _sqlalchemy_url(url: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class Client(ConceptsAndSearch):
    def __init__(self, url: str | None = None, *, engine: Engine | None = None) -> None:
        self.url = url or database_url()
        self.engine = engine or create_engine(_sqlalchemy_url(self.url), pool_pre_ping=True)
        self._metadata = MetaData()
        self._ensure_extension()

    def _ensure_extension(self) -> None:
        from .db import ensure_extension

        with self.engine.connect() as conn:
            ensure_extension(conn.connection.driver_connection)

    # -- plumbing ---------------------------------------------------------------------------------------------
    def _sql(self, fn: str, params: dict[str, Any], rows: bool) -> str:
        # Names quoted: some arguments are SQL keywords ("offset").
        casts = {**_CASTS, **getattr(self, "_extra_casts", {})}
        args = ", ".join(f'"{k}" => CAST(:{k} AS {casts[k]})' if k in casts else f'"{k}" => :{k}' for k in params)
        return f"SELECT * FROM mediatag.{fn}({args})" if rows else f"SELECT mediatag.{fn}({args})"

    def _execute(self, fn: str, params: dict[str, Any], rows: bool) -> Any:
        # None arguments are left out, so the SQL function's own default applies.
        params = {k: v for k, v in params.items() if v is not None}
        with self.engine.begin() as conn:
            result = conn.execute(text(self._sql(fn, params, rows=rows)), params)
            return [dict(r._mapping) for r in result] if rows else result.scalar()

    def call(self, fn: str, **params: Any) -> Any:
        """Call a scalar SQL function by name with named arguments (None arguments are left to their default)."""
        return self._execute(fn, params, rows=False)

    def rows(self, fn: str, **params: Any) -> list[dict[str, Any]]:
        """Call a set-returning SQL function; rows come back as dicts."""
        return self._execute(fn, params, rows=True)

    def query(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        with self.engine.begin() as conn:
            return [dict(r._mapping) for r in conn.execute(text(sql), params)]

    def table(self, name: str, schema: str = "mediatag_data") -> Table:
        """A reflected SQLAlchemy Table for a view or score table (e.g. 'dt_celebrities_visual'), with pgvector's
        types for vector columns, to compose your own queries."""
        import pgvector.sqlalchemy  # noqa: F401 — registers vector/halfvec types for reflection

        return Table(name, self._metadata, schema=schema, autoload_with=self.engine)

    def dataframe(self, sql: str, **params: Any):
        import pandas as pd

        with self.engine.connect() as conn:
            return pd.read_sql(text(sql), conn, params=params)

    # -- datasets ---------------------------------------------------------------------------------------------
    def version(self) -> dict[str, Any]:
        return self.call("version")

    def dataset_summary(self, dataset: str | None = None) -> list[dict[str, Any]]:
        return self.rows("dataset_summary", dataset=dataset)

    def ingest(self, dataset: str, paths: Sequence[str | Path], **options: Any):
        from .db import connect
        from .ingest import IngestOptions, ingest

        with connect(self.url) as conn:
            return ingest(conn, dataset, paths, IngestOptions(progress=False, **options))

    def drop_dataset(self, dataset: str) -> None:
        self.call("drop_dataset", dataset=dataset)

    def search_keyframes(self, dataset: str, query: str, k: int = 50) -> list[dict[str, Any]]:
        return self.rows("search_keyframes", dataset=dataset, query=query, k=k)

    # -- tag groups -------------------------------------------------------------------------------------------
    def create_tag_group(self, dataset: str, name: str, tags: Sequence[str] | str, visibility: str = "secret") -> int:
        if isinstance(tags, str):
            return self.call("create_tag_group", dataset=dataset, name=name, keywords=tags, visibility=visibility)
        return self.call("create_tag_group", dataset=dataset, name=name, tags=list(tags), visibility=visibility)

    def add_tags(self, tag_group: str, tags: Sequence[str], dataset: str | None = None) -> int:
        return self.call("add_tags", tag_group=tag_group, tags=list(tags), dataset=dataset)

    def rename_tag(self, tag_group: str, tag: str, new_name: str, dataset: str | None = None) -> None:
        self.call("rename_tag", tag_group=tag_group, tag=tag, new_name=new_name, dataset=dataset)

    def delete_tag(self, tag_group: str, tag: str, dataset: str | None = None) -> None:
        self.call("delete_tag", tag_group=tag_group, tag=tag, dataset=dataset)

    def add_prompt(
        self,
        tag_group: str,
        tag: str,
        prompt: str,
        polarity: str = "positive",
        modality: str = "both",
        origin: str = "user",
        dataset: str | None = None,
    ) -> None:
        self.call(
            "add_prompt",
            tag_group=tag_group,
            tag=tag,
            prompt=prompt,
            polarity=polarity,
            modality=modality,
            origin=origin,
            dataset=dataset,
        )

    def remove_prompt(
        self,
        tag_group: str,
        tag: str,
        prompt: str,
        polarity: str = "positive",
        modality: str = "both",
        dataset: str | None = None,
    ) -> int:
        return self.call(
            "remove_prompt",
            tag_group=tag_group,
            tag=tag,
            prompt=prompt,
            polarity=polarity,
            modality=modality,
            dataset=dataset,
        )

    def edit_prompt(
        self,
        tag_group: str,
        tag: str,
        prompt: str,
        new_prompt: str,
        polarity: str = "positive",
        modality: str = "both",
        dataset: str | None = None,
    ) -> int:
        return self.call(
            "edit_prompt",
            tag_group=tag_group,
            tag=tag,
            prompt=prompt,
            new_prompt=new_prompt,
            polarity=polarity,
            modality=modality,
            dataset=dataset,
        )

    def set_threshold(self, tag_group: str, tag: str, threshold: float) -> None:
        self.call("set_threshold", tag_group=tag_group, tag=tag, threshold=threshold)

    def label_keyframes(
        self,
        tag_group: str,
        tag: str,
        keyframes: Sequence[int],
        label: bool,
        origin: str = "preview",
        dataset: str | None = None,
    ) -> int:
        return self.call(
            "label_keyframes",
            tag_group=tag_group,
            tag=tag,
            keyframes=[int(k) for k in keyframes],
            label=label,
            origin=origin,
            dataset=dataset,
        )

    def unlabel_keyframes(self, tag_group: str, tag: str, keyframes: Sequence[int], dataset: str | None = None) -> int:
        return self.call(
            "unlabel_keyframes", tag_group=tag_group, tag=tag, keyframes=[int(k) for k in keyframes], dataset=dataset
        )

    def retrain(self, tag_group: str, tag: str | None = None, dataset: str | None = None) -> int:
        return self.call("retrain", tag_group=tag_group, tag=tag, dataset=dataset)

    def list_tag_groups(self, dataset: str | None = None) -> list[dict[str, Any]]:
        return self.rows("list_tag_groups", dataset=dataset)

    def group_overview(self, tag_group: str) -> list[dict[str, Any]]:
        return self.rows("group_overview", tag_group=tag_group)

    def preview(
        self,
        tag_group: str,
        tag: str,
        kind: str = "compare",
        level: str = "keyframe",
        threshold: float | None = None,
        n: int = 24,
        seed: int | None = None,
    ) -> list[dict[str, Any]]:
        return self.rows(
            "preview", tag_group=tag_group, tag=tag, kind=kind, level=level, threshold=threshold, n=n, seed=seed
        )

    def preview_transcripts(
        self,
        tag_group: str,
        tag: str,
        kind: str = "positives",
        threshold: float | None = None,
        n: int = 50,
        sort: str = "score",
    ) -> list[dict[str, Any]]:
        return self.rows(
            "preview_transcripts", tag_group=tag_group, tag=tag, kind=kind, threshold=threshold, n=n, sort=sort
        )

    def search_for_labeling(self, tag_group: str, query: str, k: int = 50) -> list[dict[str, Any]]:
        return self.rows("search_for_labeling", tag_group=tag_group, query=query, k=k)

    def uncertain_keyframes(self, tag_group: str, tag: str, k: int = 20) -> list[dict[str, Any]]:
        return self.rows("uncertain_keyframes", tag_group=tag_group, tag=tag, k=k)

    def stratified_preview(
        self, tag_group: str, tag: str, dataset: str | None = None, per_bucket: int = 10, seed: int = 0
    ) -> list[dict[str, Any]]:
        return self.rows(
            "stratified_preview", tag_group=tag_group, tag=tag, dataset=dataset, per_bucket=per_bucket, seed=seed
        )

    # -- publish, apply, score --------------------------------------------------------------------------------
    def publish_tag_group(
        self, tag_group: str, visibility: str | None = None, note: str = "", dataset: str | None = None
    ) -> int:
        return self.call("publish_tag_group", tag_group=tag_group, visibility=visibility, note=note, dataset=dataset)

    def apply_tag_group(self, tag_group: str, dataset: str, version: int | None = None) -> int:
        return self.call("apply_tag_group", tag_group=tag_group, dataset=dataset, version=version)

    def update_tag_group(self, tag_group: str, dataset: str) -> int:
        return self.call("update_tag_group", tag_group=tag_group, dataset=dataset)

    def unapply_tag_group(self, tag_group: str, dataset: str) -> None:
        self.call("unapply_tag_group", tag_group=tag_group, dataset=dataset)

    def tag_group_status(self, tag_group: str) -> list[dict[str, Any]]:
        return self.rows("tag_group_status", tag_group=tag_group)

    def score_tag_group(self, tag_group: str, dataset: str | None = None) -> dict[str, Any]:
        return self.call("score_tag_group", tag_group=tag_group, dataset=dataset)

    def drop_tag_group(self, tag_group: str, dataset: str | None = None) -> None:
        self.call("drop_tag_group", tag_group=tag_group, dataset=dataset)

    def run_jobs(self, max_jobs: int = 1000) -> int:
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            return conn.execute(text("CALL mediatag.run_jobs(CAST(:m AS int), 'sdk', NULL)"), {"m": max_jobs}).scalar()

    # -- evaluation -------------------------------------------------------------------------------------------
    def start_evaluation(
        self, tag_group: str, tag: str, dataset: str | None = None, size: int = 400, seed: int = 0
    ) -> int:
        return self.call("start_evaluation", tag_group=tag_group, tag=tag, dataset=dataset, size=size, seed=seed)

    def evaluation_items(self, evaluation_id: int, include_removed: bool = False) -> list[dict[str, Any]]:
        return self.rows("evaluation_items", evaluation_id=evaluation_id, include_removed=include_removed)

    def set_ground_truth(
        self, evaluation_id: int, keyframes: Sequence[int], truth: bool, source: str = "person"
    ) -> int:
        return self.call(
            "set_ground_truth",
            evaluation_id=evaluation_id,
            keyframes=[int(k) for k in keyframes],
            truth=truth,
            source=source,
        )

    def remove_evaluation_items(self, evaluation_id: int, keyframes: Sequence[int], removed: bool = True) -> int:
        return self.call(
            "remove_evaluation_items",
            evaluation_id=evaluation_id,
            keyframes=[int(k) for k in keyframes],
            removed=removed,
        )

    def evaluation_metrics(self, evaluation_id: int, weighted: bool = True) -> list[dict[str, Any]]:
        return self.rows("evaluation_metrics", evaluation_id=evaluation_id, weighted=weighted)

    def suggest_threshold(self, evaluation_id: int, metric: str = "f1", weighted: bool = True) -> dict[str, Any]:
        return self.rows("suggest_threshold", evaluation_id=evaluation_id, metric=metric, weighted=weighted)[0]

    def labels_from_evaluation(self, evaluation: int) -> int:
        return self.call("labels_from_evaluation", evaluation=evaluation)

    def fit_model_calibration(self, tag_group: str, save: bool = True) -> dict[str, Any]:
        return self.rows("fit_model_calibration", tag_group=tag_group, save=save)[0]

    def save_threshold(self, evaluation_id: int, metric: str = "f1", threshold: float | None = None) -> float:
        return self.call("save_threshold", evaluation_id=evaluation_id, metric=metric, threshold=threshold)

    # -- LLM features (docs/llm.md) ---------------------------------------------------------------------------
    def suggest_prompts(self, tag_group: str, tag: str, per_list: int = 5) -> list[dict[str, Any]]:
        return self.query(
            "SELECT * FROM mediatag.suggest_prompts(tag_group => :g, tag => :t, per_list => CAST(:n AS int))",
            g=tag_group,
            t=tag,
            n=per_list,
        )

    def add_suggested_prompts(self, tag_group: str, tag: str, dataset: str | None = None) -> int:
        return self.call("add_suggested_prompts", tag_group=tag_group, tag=tag, dataset=dataset)

    def request_ground_truth(self, evaluation: int) -> int:
        return self.query(
            "SELECT mediatag.request_ground_truth(evaluation => CAST(:e AS bigint)) AS job", e=evaluation
        )[0]["job"]

    def evaluation_progress(self, evaluation_id: int) -> dict[str, Any]:
        return self.rows("evaluation_progress", evaluation_id=evaluation_id)[0]
