"""bench.same_warehouse: equal files are IDENTICAL; a changed, extra or duplicated row is not; the
run's wall clock is ignored."""

from __future__ import annotations

import duckdb
import pytest

from bench.same_warehouse import compare, main

pytestmark = pytest.mark.fast


def _file(path, rows, loaded_at="2026-11-01 00:00:00+00"):
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE fw_daily (tenant VARCHAR, events BIGINT)")
        con.executemany("INSERT INTO fw_daily VALUES (?, ?)", rows)
        con.execute("CREATE TABLE load_log (tbl VARCHAR, loaded_at TIMESTAMPTZ)")
        con.execute("INSERT INTO load_log VALUES ('device_events', ?)", [loaded_at])
    return str(path)


def test_equal_tables_are_identical_whatever_the_runs_wall_clock(tmp_path):
    old = _file(tmp_path / "a.duckdb", [("t", 1), ("t", 2)])
    new = _file(tmp_path / "b.duckdb", [("t", 2), ("t", 1)], loaded_at="2026-12-02 09:00:00+00")
    assert compare(old, new)[-1] == "IDENTICAL"
    assert main([old, new]) == 0


@pytest.mark.parametrize("rows", [[("t", 1), ("t", 3)], [("t", 1), ("t", 2), ("t", 2)], [("t", 1)]])
def test_a_changed_duplicated_or_missing_row_is_a_difference(tmp_path, rows):
    old = _file(tmp_path / "a.duckdb", [("t", 1), ("t", 2)])
    new = _file(tmp_path / "b.duckdb", rows)
    assert compare(old, new)[-1] == "DIFFERENT: fw_daily"
    assert main([old, new]) == 1
