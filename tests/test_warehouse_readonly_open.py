"""Opening the published warehouse while a publish replaces it (pipelines/warehouse/readonly.py).

DuckDB opens a database file three times by path while connecting (magic bytes, headers, then the
locked handle). A publish between two of those opens paired one generation's header with another's
blocks: CI saw "Failed to load metadata pointer" in an analyst process during a publish. Unprotected,
the stress below reproduces it on about 1% of opens ("Could not read enough bytes from file").
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from pipelines.warehouse import readonly
from pipelines.warehouse.readonly import WarehouseBusy, connect_readonly

# Publishes in bursts, each a new file (a fresh inode, as a real publish's build file is) renamed
# over the path, alternating two generations whose block layouts differ; quiet gaps in between.
PUBLISHER = """
import os, shutil, sys, time
from pathlib import Path
home = Path(sys.argv[1]); published = 0
while not (home / "stop").exists():
    burst_ends = time.monotonic() + 0.2
    while time.monotonic() < burst_ends:
        shutil.copyfile(home / ("big.duckdb" if published % 2 == 0 else "small.duckdb"), home / "build.duckdb")
        os.replace(home / "build.duckdb", home / "warehouse.duckdb")
        published += 1
    time.sleep(0.1)
print(published)
"""


def _generation(path: Path, tables: int) -> None:
    """A warehouse whose `generation` table says how many tables t0..t{n-1} it has, and their sizes."""
    with duckdb.connect(str(path)) as con:
        for i in range(tables):
            con.execute(f"CREATE TABLE t{i} AS SELECT range AS x FROM range({20_000 * (i + 1) ** 2})")  # noqa: S608 - integers
        con.execute(f"CREATE TABLE generation AS SELECT {tables} AS tables")


def _read_one(con: duckdb.DuckDBPyConnection) -> int:
    tables = con.execute("SELECT tables FROM generation").fetchone()[0]
    rows = con.execute(f"SELECT count(*) FROM t{tables - 1}").fetchone()[0]  # noqa: S608 - our own table names
    assert rows == 20_000 * tables**2, f"generation {tables} has {rows} rows in its last table"
    return tables


def test_opens_during_a_storm_of_publishes_each_see_one_whole_generation(tmp_path):
    _generation(tmp_path / "small.duckdb", 3)
    _generation(tmp_path / "big.duckdb", 7)
    shutil.copyfile(tmp_path / "small.duckdb", tmp_path / "warehouse.duckdb")
    publisher = subprocess.Popen([sys.executable, "-c", PUBLISHER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    seen, errors = [], []
    try:
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            try:
                with connect_readonly(tmp_path / "warehouse.duckdb") as con:
                    seen.append(_read_one(con))
            except (duckdb.Error, AssertionError, WarehouseBusy) as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        (tmp_path / "stop").touch()
        publishes = int(publisher.communicate(timeout=30)[0])
    assert errors == [], errors[:3]
    assert publishes > 200, publishes
    assert {3, 7} <= set(seen), "the readers should have seen both generations"


def test_a_publish_during_the_open_is_retried_on_the_new_generation(tmp_path, monkeypatch):
    """The publish lands between the path check and DuckDB's own opens (injected at DuckDB's
    boundary, deterministically): the reader opens again and gets the generation now published."""
    _generation(tmp_path / "small.duckdb", 3)
    _generation(tmp_path / "big.duckdb", 7)
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(tmp_path / "small.duckdb", warehouse)
    real_connect, opens = duckdb.connect, []

    def connect_then_publish(*args, **kwargs):
        con = real_connect(*args, **kwargs)
        if not opens:  # the first open saw the old file; a publish lands before it returns
            shutil.copyfile(tmp_path / "big.duckdb", tmp_path / "build.duckdb")
            os.replace(tmp_path / "build.duckdb", warehouse)
        opens.append(con)
        return con

    monkeypatch.setattr(readonly.duckdb, "connect", connect_then_publish)
    with connect_readonly(warehouse) as con:
        assert _read_one(con) == 7
    assert len(opens) == 2


def test_a_warehouse_replaced_on_every_attempt_is_a_one_line_error(tmp_path, monkeypatch):
    _generation(tmp_path / "small.duckdb", 3)
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(tmp_path / "small.duckdb", warehouse)
    real_connect = duckdb.connect

    def connect_then_publish(*args, **kwargs):
        con = real_connect(*args, **kwargs)
        shutil.copyfile(tmp_path / "small.duckdb", tmp_path / "build.duckdb")
        os.replace(tmp_path / "build.duckdb", warehouse)
        return con

    monkeypatch.setattr(readonly.duckdb, "connect", connect_then_publish)
    monkeypatch.setattr(readonly, "OPEN_PATIENCE_S", 0.3)
    with pytest.raises(WarehouseBusy, match=r"replaced \d+ times in 0.3 s while opening it"):
        connect_readonly(warehouse)
