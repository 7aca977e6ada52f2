"""transaction(con): commit on success, roll back on error, and the block's own error is the one raised."""

from __future__ import annotations

import duckdb
import pytest

from pipelines.warehouse.transaction import transaction

pytestmark = pytest.mark.fast


def _con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE TABLE t (x INTEGER)")
    return con


def test_a_block_that_ends_is_committed():
    con = _con()
    with transaction(con):
        con.execute("INSERT INTO t VALUES (1)")
    assert con.execute("SELECT count(*) FROM t").fetchone()[0] == 1


def test_a_block_that_raises_is_rolled_back_and_its_error_raised():
    con = _con()
    with pytest.raises(ValueError, match="the model failed"), transaction(con):
        con.execute("INSERT INTO t VALUES (1)")
        raise ValueError("the model failed")
    assert con.execute("SELECT count(*) FROM t").fetchone()[0] == 0


def test_a_rollback_that_fails_too_never_replaces_the_first_error():
    con = _con()
    with pytest.raises(ValueError, match="the first error"), transaction(con):
        con.execute("INSERT INTO t VALUES (1)")
        con.execute("COMMIT")  # the block ended the transaction itself: the ROLLBACK after it fails
        raise ValueError("the first error")
