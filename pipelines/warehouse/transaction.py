"""One way to run statements atomically on a DuckDB connection."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """BEGIN; COMMIT when the block ends, ROLLBACK when it raises. The block's own error is the one
    raised: a ROLLBACK that fails too (the COMMIT itself failed, the connection is gone) is ignored
    rather than allowed to replace it."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
        con.execute("COMMIT")
    except BaseException:
        try:
            con.execute("ROLLBACK")
        except duckdb.Error:
            pass
        raise
