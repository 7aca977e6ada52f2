"""Read-only access to the published warehouse, for analysts, reports and `hunthouse sql`."""

from __future__ import annotations

import os
import time
from pathlib import Path

import duckdb

# Analysts' SQL is code: no writes (read_only), no files or network (enable_external_access off),
# and the session cannot switch those back on (lock_configuration). Timestamps read in UTC: the zone
# is set before the lock (DuckDB 2.0.1 takes no TimeZone in this config, see connect.py).
READ_ONLY_CONFIG = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "lock_configuration": True,
}
# A publish replaces the file under the path; an open races it rarely (one publish a night), so a
# reader keeps retrying for a while before it gives up with a one-line error.
OPEN_PATIENCE_S = 5.0


class WarehouseUnavailable(Exception):
    """The published warehouse cannot be opened; the message is one line for the user."""


class WarehouseMissing(WarehouseUnavailable, FileNotFoundError):
    pass


class WarehouseBusy(WarehouseUnavailable):
    pass


_UNLOCKED = {k: v for k, v in READ_ONLY_CONFIG.items() if k != "lock_configuration"}


def _utc_and_locked(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Lock `con`'s database instance with UTC as its zone.

    DuckDB shares one instance among the connections a process opens to a file, and the lock is the
    instance's: a later connection finds it locked and inherits the global zone set before the lock.
    """
    try:
        locked = con.execute("SELECT current_setting('lock_configuration')").fetchall()[0][0]
        if not locked:
            con.execute("SET GLOBAL TimeZone = 'UTC'")
            con.execute("SET lock_configuration = true")
        zone = con.execute("SELECT current_setting('TimeZone')").fetchall()[0][0]
        if zone != "UTC":
            raise RuntimeError(f"read-only connection to a database locked with TimeZone {zone!r}, not UTC")
    except BaseException:
        con.close()
        raise
    return con


def _identity(path: Path) -> tuple[int, int, int, int] | None:
    """Which file the path names now; a standby generation reused in place changes size or mtime."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def connect_readonly(path: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the one generation that `path` names for the whole open.

    DuckDB opens a database file three times (magic bytes, headers, then the locked handle), each
    time by path. A publish (`os.replace`) between two of those opens pairs one generation's header
    with another's blocks: an IO error, or a catalog that is not the published one. So the path must
    name the same file before and after the connect; a published file is never written to, and once
    the connection holds its lock no writer can reuse it as the standby either.
    """
    deadline, pause, replaced = time.monotonic() + OPEN_PATIENCE_S, 0.005, 0
    while True:
        before = _identity(path)
        if before is None:
            raise WarehouseMissing(f"no published warehouse at {path}: run `hunthouse demo` or `hunthouse run` first")
        try:
            con = duckdb.connect(str(path), read_only=True, config=_UNLOCKED)
        except duckdb.Error:
            if _identity(path) == before:
                raise
        else:
            if _identity(path) == before:
                return _utc_and_locked(con)
            con.close()
        replaced += 1
        if time.monotonic() > deadline:
            raise WarehouseBusy(f"{path} was replaced {replaced} times in {OPEN_PATIENCE_S:g} s while opening it: "
                                "publishes keep replacing it, try again")
        time.sleep(pause)
        pause = min(pause * 2, 0.05)
