"""The demo pipeline through Dagster in-process at a small scale: warehouse, publish, idempotence."""

from __future__ import annotations

import hashlib
import shutil
from datetime import date

import duckdb
import pytest

from pipelines.sources.sample.truth import planted_truth
from pipelines.warehouse import build
from pipelines.warehouse.hub import connect_warehouse
from pipelines.warehouse.readonly import connect_readonly
from tests.conftest import WORLD_END

pytestmark = pytest.mark.xdist_group("sample_warehouse")

CONTENT_TABLES = ("device_events", "alerts", "alert_entities", "incident_history", "incidents", "incident_alerts")


def content_hash(con, table: str) -> tuple[int, str]:
    """Row count and an order-independent hash of every column of a table."""
    rows, digest = con.execute(
        f'SELECT count(*), coalesce(bit_xor(hash(t::VARCHAR)), 0) FROM "{table}" AS t'  # noqa: S608 (fixed names)
    ).fetchone()
    return rows, hashlib.sha256(str(digest).encode()).hexdigest()[:16]


def test_warehouse_is_published_with_every_table(sample_warehouse):
    with connect_warehouse(sample_warehouse) as con:
        counts = {t: con.execute(f'select count(*) from "{t}"').fetchone()[0] for t in CONTENT_TABLES}  # noqa: S608
        tenants = [r[0] for r in con.execute("select distinct tenant from device_events order by 1").fetchall()]
    assert tenants == ["contoso", "fabrikam"]
    assert all(n > 0 for n in counts.values()), counts
    assert not list((sample_warehouse.home / "build").rglob("*.duckdb"))
    shards = sorted(p.name for p in sample_warehouse.warehouse_dir.glob("*.duckdb"))
    assert shards == ["contoso.duckdb", "fabrikam.duckdb"]


def test_natural_keys_are_unique(sample_warehouse):
    checks = {
        "device_events": "tenant, device_id, timestamp, report_id, action_type",
        "alerts": "tenant, system_alert_id",
        "incidents": "tenant, incident_number",
        "incident_history": "tenant, incident_number, last_modified_time",
    }
    with connect_warehouse(sample_warehouse) as con:
        for table, key in checks.items():
            dupes = con.execute(
                f'select count(*) from (select {key} from "{table}" group by all having count(*) > 1)'  # noqa: S608
            ).fetchone()[0]
            assert dupes == 0, table


def test_incidents_hold_the_latest_classified_state(sample_warehouse):
    with connect_warehouse(sample_warehouse) as con:
        versions, closed_labelled = con.execute(
            """select avg(n), (select count(*) from incidents where status = 'Closed' and classification is not null)
               from (select count(*) n from incident_history group by tenant, incident_number)"""
        ).fetchone()
        stale = con.execute(
            """select count(*) from incidents i join incident_history h using (tenant, incident_number)
               where h.last_modified_time > i.last_modified_time"""
        ).fetchone()[0]
    assert versions > 2
    assert closed_labelled > 0
    assert stale == 0


def test_planted_truth_entities_reach_alert_entities(sample_warehouse):
    settings = sample_warehouse
    with connect_warehouse(settings) as con:
        for tenant in settings.tenants:
            for item in planted_truth(tenant):
                if item.get("area") != "tuning" or item["kind"] != "exclusion":
                    continue
                n = con.execute(
                    """select count(*) from alert_entities e join alerts a using (tenant, system_alert_id)
                       where e.tenant = ? and a.rule_id = ? and e.entity_type = ? and e.entity_key = ?""",
                    [tenant.name, item["rule_id"], item["entity_type"], item["entity_key"]],
                ).fetchone()[0]
                assert n >= 5, item


@pytest.mark.slow  # a second pipeline run on the sample home: the fault suite (`make test-reliability`)
def test_rerunning_the_same_partitions_leaves_the_warehouse_identical(sample_warehouse, tmp_path):
    settings = sample_warehouse
    with connect_warehouse(settings) as con:
        before = {t: content_hash(con, t) for t in CONTENT_TABLES}
    from pipelines.orchestrate import run_pipeline

    outcome = run_pipeline(
        settings, [(t.name, WORLD_END) for t in settings.tenants], WORLD_END, {"hunthouse/trigger": "test"}, lambda _: None
    )
    assert outcome.published, outcome.failed
    with connect_warehouse(settings) as con:
        after = {t: content_hash(con, t) for t in CONTENT_TABLES}
    assert after == before


def test_reader_holding_the_published_file_does_not_block_publish(sample_warehouse, tmp_path):
    settings = sample_warehouse.for_tenant("contoso")
    backup = tmp_path / "published.duckdb"
    shutil.copyfile(settings.warehouse_path, backup)
    reader = connect_readonly(settings.warehouse_path)
    try:
        seen_before = reader.execute("select count(*) from incidents").fetchone()[0]
        path = build.start_build(settings, "reader-test").path
        with duckdb.connect(str(path)) as con:
            con.execute("delete from incidents where incident_number = (select min(incident_number) from incidents)")
        build.publish(settings, path, date(2026, 11, 8))
        # the held connection keeps its consistent old version
        assert reader.execute("select count(*) from incidents").fetchone()[0] == seen_before
    finally:
        reader.close()
    with connect_readonly(settings.warehouse_path) as fresh:
        assert fresh.execute("select count(*) from incidents").fetchone()[0] == seen_before - 1
    shutil.copyfile(backup, settings.warehouse_path)  # the other tests expect the original


def test_failed_build_leaves_published_file_byte_identical(sample_warehouse, monkeypatch):
    settings = sample_warehouse.for_tenant("contoso")
    before = settings.warehouse_path.read_bytes()
    path = build.start_build(settings, "doomed").path
    with duckdb.connect(str(path)) as con:
        con.execute("delete from alerts")

    def broken_group(con, ctx):
        raise RuntimeError("model exploded")

    import models.firewall

    monkeypatch.setattr(models.firewall, "build", broken_group)
    with duckdb.connect(str(path)) as con, pytest.raises(RuntimeError, match="model exploded"):
        build.build_models(con, build.ModelContext(settings=settings, as_of=WORLD_END), groups=("firewall",))
    assert settings.warehouse_path.read_bytes() == before
    build.discard_stale_builds(settings)
    assert not path.exists()
    shutil.rmtree(settings.home / "build", ignore_errors=True)


@pytest.mark.slow  # a second pipeline run on the sample home: the fault suite (`make test-reliability`)
def test_overlapping_backfill_does_not_duplicate_rows(sample_warehouse):
    from pipelines.orchestrate import run_pipeline
    from pipelines.plan import days_between, partitions

    settings = sample_warehouse
    with connect_warehouse(settings) as con:
        before = {t: content_hash(con, t) for t in CONTENT_TABLES}
    overlap = partitions(settings, days_between(date(2026, 10, 20), date(2026, 10, 23)))
    outcome = run_pipeline(settings, overlap, WORLD_END, {"hunthouse/trigger": "test"}, lambda _: None)
    assert outcome.published, outcome.failed
    with connect_warehouse(settings) as con:
        after = {t: content_hash(con, t) for t in CONTENT_TABLES}
    assert after == before
