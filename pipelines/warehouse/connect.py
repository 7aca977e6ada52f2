"""Every DuckDB connection the pipeline opens, with its session in UTC and the run's budget applied.

DuckDB's TimeZone setting decides how a TIMESTAMPTZ becomes a DATE, a `strftime` text or a Python
datetime; left unset it follows the process's TZ, so one build would put a 23:30Z event on the next
day in Stockholm and a 06:00Z event on the day before in Los Angeles. Each connection therefore sets
it to UTC. DuckDB 2.0.1 refuses TimeZone in the connect config unless it may autoload ICU and must
not autoinstall it (the read-only config forbids autoloading), so it is set right after the connect,
once the statically linked ICU is loaded.

Every process that writes a build file opens it with `open_writer`, so DuckDB's memory_limit, spill
directory and thread count come from the settings in one place (`[hunthouse] memory_limit`, `threads`).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipelines.config import Settings

IN_MEMORY = ":memory:"


def in_utc(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """`con` with its session zone set to UTC; closes it if that fails."""
    try:
        con.execute("SET TimeZone = 'UTC'")
    except BaseException:
        con.close()
        raise
    return con


def connect(path: Path | str = IN_MEMORY, *, read_only: bool = False,
            config: dict[str, object] | None = None) -> duckdb.DuckDBPyConnection:
    """A connection to `path` (in memory by default) whose session zone is UTC."""
    return in_utc(duckdb.connect(str(path), read_only=read_only, config=dict(config or {})))


def open_writer(path: Path, settings: Settings) -> duckdb.DuckDBPyConnection:
    """A read-write UTC connection to `path` that spills to settings.spill_dir above memory_limit."""
    settings.spill_dir.mkdir(parents=True, exist_ok=True)
    config = {"memory_limit": settings.memory_limit, "temp_directory": str(settings.spill_dir)}
    if settings.threads:
        config["threads"] = settings.threads
    return connect(path, config=config)
