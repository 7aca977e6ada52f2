"""Read-only access to the published warehouse, for analysts, reports and `hunthouse sql`."""

from __future__ import annotations

from pathlib import Path

import duckdb

# Analysts' SQL is code: no writes (read_only), no files or network (enable_external_access off),
# and the session cannot switch those back on (lock_configuration).
READ_ONLY_CONFIG = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "lock_configuration": True,
}


class WarehouseMissing(FileNotFoundError):
    pass


def connect_readonly(path: Path) -> duckdb.DuckDBPyConnection:
    if not path.exists():
        raise WarehouseMissing(f"no published warehouse at {path}: run `hunthouse demo` or `hunthouse run` first")
    return duckdb.connect(str(path), read_only=True, config=dict(READ_ONLY_CONFIG))
