"""A data home of the one-file layout (<home>/warehouse.duckdb) is split into tenant shards once."""

from __future__ import annotations

import duckdb

from pipelines.warehouse.legacy_split import legacy_path, split_legacy_warehouse
from tests.conftest import write_config


def test_one_file_warehouse_is_split_into_one_shard_per_tenant_once(tmp_path):
    settings = write_config(tmp_path)  # tenants contoso and fabrikam
    settings.home.mkdir(parents=True)
    with duckdb.connect(str(legacy_path(settings))) as con:
        con.execute("CREATE TABLE load_log AS SELECT * FROM (VALUES ('contoso', 1), ('fabrikam', 2), ('gone', 3)) t(tenant, n)")
        con.execute("CREATE TABLE alerts AS SELECT * FROM (VALUES ('contoso', 'a1'), ('fabrikam', 'f1'), ('fabrikam', 'f2')) t(tenant, id)")
        con.execute("CREATE TABLE publish_log AS SELECT DATE '2026-11-08' AS as_of")
    said: list[str] = []

    assert split_legacy_warehouse(settings, said.append) == ["contoso", "fabrikam"]

    assert not legacy_path(settings).exists()
    assert any("splitting" in line for line in said) and any("split done" in line for line in said)
    for tenant, alerts in (("contoso", [("a1",)]), ("fabrikam", [("f1",), ("f2",)])):
        with duckdb.connect(str(settings.shard_path(tenant)), read_only=True) as con:
            assert con.execute("SELECT id FROM alerts ORDER BY id").fetchall() == alerts
            assert con.execute("SELECT DISTINCT tenant FROM load_log").fetchall() == [(tenant,)]
            assert con.execute("SELECT count(*) FROM publish_log").fetchone()[0] == 1  # no tenant column: kept
    assert split_legacy_warehouse(settings, said.append) == []  # nothing left to split
