"""Runs the warehouse's SQL model files.

A model group is a folder of `.sql` files, each starting with a header that declares its models
(models/registry.py); the group runs in the registry's order (dependencies first). Parameters
reach SQL as DuckDB variables (`getvariable('name')`) so that no value is ever formatted into SQL
text. Models never import `pipelines`: the caller hands them plain values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Protocol

import duckdb

from models import registry
from models.registry import MODELS_DIR, Registry

__all__ = ["MODELS_DIR", "ModelContext", "ModelSettings", "run_group", "run_sql_file", "set_params"]


class ModelSettings(Protocol):
    """What models read of the run's settings: plain attributes, whatever object carries them
    (pipelines.config.Settings in the pipeline, any stand-in in a test)."""

    tenants: list[Any]  # items with a .name
    baseline_days: int


@dataclass
class ModelContext:
    """What a model build needs to know about the run.

    `as_of` is the last complete day the run processed (the nightly run's "yesterday", a backfill's
    end). During a build the connection also holds a temp table
    `changed_partitions(tbl VARCHAR, tenant VARCHAR, day DATE)`: the raw partitions (re)loaded in
    this run, which incremental models use to touch only new and re-pulled days.
    """

    settings: ModelSettings
    as_of: date
    changed: list[tuple[str, str, date]] = field(default_factory=list)

    @property
    def tenants(self) -> list[str]:
        return [t.name for t in self.settings.tenants]


def set_params(con: duckdb.DuckDBPyConnection, params: dict[str, object]) -> None:
    for name, value in params.items():
        if not name.isidentifier():
            raise ValueError(f"bad parameter name {name!r}")
        con.execute(f"SET VARIABLE {name} = ?", [value])


def run_sql_file(con: duckdb.DuckDBPyConnection, path: Path, params: dict[str, object] | None = None) -> None:
    if params:
        set_params(con, params)
    con.execute(path.read_text(encoding="utf-8"))


def run_group(con: duckdb.DuckDBPyConnection, group: str, params: dict[str, object] | None = None,
              models: Registry | None = None) -> list[str]:
    """Run the shared macros (models/macros.sql), then the group's model files in the registry's run
    order; return the files run. Every parameter the group's headers declare must be given (one clear
    error otherwise)."""
    models = models or registry.default()
    files = models.run_order(registry.SHARED) + models.run_order(group)
    missing = sorted(models.params(group) - set(params or {}))
    if missing:
        raise RuntimeError(f"model group {group} reads parameter(s) {', '.join(missing)}, which the build does not set")
    if params:
        set_params(con, params)
    for path in files:
        try:
            con.execute(path.read_text(encoding="utf-8"))
        except duckdb.Error as exc:
            raise RuntimeError(f"model {group}/{path.name} failed: {exc}") from exc
    return [p.name for p in files]


def table_counts(con: duckdb.DuckDBPyConnection, tables: list[str]) -> dict[str, int]:
    return {t: con.execute(f'select count(*) from "{t}"').fetchall()[0][0] for t in tables}  # noqa: S608 (names from code)
