"""Writer connections to a warehouse build file, with the run's resource budget applied.

Every process that writes a build file opens it here, so DuckDB's memory_limit, spill directory
and thread count come from the settings in one place (`[hunthouse] memory_limit`, `threads`).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipelines.config import Settings


def open_writer(path: Path, settings: Settings) -> duckdb.DuckDBPyConnection:
    """A read-write connection to `path` that spills to settings.spill_dir above memory_limit."""
    settings.spill_dir.mkdir(parents=True, exist_ok=True)
    config = {"memory_limit": settings.memory_limit, "temp_directory": str(settings.spill_dir)}
    if settings.threads:
        config["threads"] = settings.threads
    return duckdb.connect(str(path), config=config)
