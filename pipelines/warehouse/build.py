"""The warehouse build's parts, re-exported, and `build_models` (a model group's build() in one transaction).

The run that strings the phases together, with the quality gate between them, is
pipelines/warehouse_run/run.py (`WarehouseRun`), used by the Dagster assets, the bench and the tests.

The parts live in their own modules: pipelines/warehouse/generations.py (the build file, the
standby and the atomic publish), catchup.py (bringing the standby up to the published file),
lake_sync.py (loading changed lake partitions) and transaction.py (one BEGIN/COMMIT/ROLLBACK).
Their public names are re-exported here.
"""

from __future__ import annotations

import importlib

import duckdb

from models.registry import Registry
from models.runner import ModelContext
from pipelines.warehouse.catchup import CATCH_UP, StandbyUnusable, catch_up
from pipelines.warehouse.generations import (
    STANDBY,
    BuildStart,
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
    "CATCH_UP", "MODEL_GROUPS", "STANDBY", "BuildStart", "ModelContext", "StandbyUnusable",
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
