"""The warehouse step of a run: start the build file, sync the lake, build the models, publish.

The parts live in their own modules: pipelines/warehouse/generations.py (the build file, the
standby and the atomic publish), catchup.py (bringing the standby up to the published file),
lake_sync.py (loading changed lake partitions) and transaction.py (one BEGIN/COMMIT/ROLLBACK).
Their public names are re-exported here.
"""

from __future__ import annotations

import importlib
import time
from datetime import date

import duckdb

from models.registry import Registry
from models.runner import ModelContext
from pipelines.config import Settings
from pipelines.warehouse.catchup import CATCH_UP, StandbyUnusable, catch_up
from pipelines.warehouse.connect import open_writer
from pipelines.warehouse.generations import (
    STANDBY,
    BuildStart,
    Progress,
    build_path,
    discard_stale_builds,
    publish,
    standby_path,
    start_build,
)
from pipelines.warehouse.lake_sync import (
    changed_manifests,
    changed_since_publish,
    register_changed,
    sync_lake,
)
from pipelines.warehouse.transaction import transaction

__all__ = [
    "CATCH_UP", "MODEL_GROUPS", "STANDBY", "BuildStart", "ModelContext", "StandbyUnusable", "build_and_publish",
    "build_models", "build_path", "catch_up", "changed_manifests", "changed_since_publish", "discard_stale_builds",
    "publish", "standby_path", "start_build", "sync_lake", "transaction",
]

MODEL_GROUPS = ("firewall", "tuning")


def build_models(con: duckdb.DuckDBPyConnection, ctx: ModelContext, groups=MODEL_GROUPS,
                 models: Registry | None = None) -> dict[str, int]:
    """Run each model group's build() inside one transaction; returns row counts per table.
    `models` replaces this checkout's registry (for groups whose build() takes one)."""
    register_changed(con, ctx.changed)
    counts: dict[str, int] = {}
    extra = {"models": models} if models is not None else {}
    for group in groups:
        module = importlib.import_module(f"models.{group}")
        with transaction(con):
            counts.update(module.build(con, ctx, **extra))
    return counts


def build_and_publish(settings: Settings, as_of: date, run_key: str, progress: Progress | None = None,
                      timings: dict[str, float] | None = None) -> dict[str, int]:
    """The whole warehouse step in one process: sync, models, publish. Used outside Dagster (bench, tests).

    `timings`, when given, receives the seconds of each phase (start, sync, models, publish) and
    where the build file came from (`build_from`), for the benchmarks."""
    phases = timings if timings is not None else {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        phases[name] = round(now - clock, 3)
        clock = now

    start = start_build(settings, run_key, progress)
    phases["build_from"] = start.source
    lap("start_s")
    with open_writer(start.path, settings) as con:
        changed = sync_lake(con, settings, progress)
        lap("sync_s")
        counts = build_models(con, ModelContext(settings=settings, as_of=as_of, changed=changed))
        lap("models_s")
    publish(settings, start.path, as_of)
    lap("publish_s")
    return counts
