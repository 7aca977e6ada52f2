"""The latest state (alerts, incidents, incident_alerts) is re-derived only for what the staged
partitions touched, and stays exactly what a full recomputation over every partition gives."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pyarrow as pa

from pipelines.sources.schemas import SECURITY_ALERT, SECURITY_INCIDENT, conform
from pipelines.warehouse import staging
from tests.fw_testlib import staging_db

D1, D2, D3 = date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)


def at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def incident(number: int, day: date, hour: int, classification: str, alert_ids: list[str]) -> dict:
    return {"IncidentNumber": number, "Title": f"incident {number}", "Status": "Closed",
            "Classification": classification, "CreatedTime": at(D1, 0), "LastModifiedTime": at(day, hour),
            "TimeGenerated": at(day, hour), "AlertIds": json.dumps(alert_ids)}


def alert(alert_id: str, day: date, hour: int, host: str) -> dict:
    return {"SystemAlertId": alert_id, "AlertName": "rule", "TimeGenerated": at(day, hour),
            "Entities": json.dumps([{"Type": "host", "HostName": host}]), "ExtendedProperties": "{}"}


def stage(con, table: str, schema: pa.Schema, tenant: str, day: date, rows: list[dict]) -> None:
    names = sorted({k for r in rows for k in r}) or ["TimeGenerated"]
    raw, _ = conform(pa.Table.from_pylist(rows, schema=pa.schema([schema.field(n) for n in names])), table)
    staging.stage_raw(con, table, tenant, day, raw)


def latest(con) -> tuple[list, list, list]:
    return (
        con.execute("SELECT tenant, incident_number, classification, last_modified_time FROM incidents ORDER BY ALL").fetchall(),
        con.execute("SELECT * FROM incident_alerts ORDER BY ALL").fetchall(),
        con.execute("SELECT tenant, system_alert_id, day FROM alerts ORDER BY ALL").fetchall(),
    )


def full_recompute(con) -> tuple[list, list, list]:
    return (
        con.execute("""SELECT tenant, incident_number, classification, last_modified_time FROM incident_history
                       QUALIFY row_number() OVER (PARTITION BY tenant, incident_number
                                                  ORDER BY last_modified_time DESC) = 1 ORDER BY ALL""").fetchall(),
        con.execute("""SELECT DISTINCT tenant, incident_number, unnest(alert_ids) FROM (
                           SELECT * FROM incident_history QUALIFY row_number() OVER (
                               PARTITION BY tenant, incident_number ORDER BY last_modified_time DESC) = 1)
                       ORDER BY ALL""").fetchall(),
        con.execute("""SELECT tenant, system_alert_id, max(day) FROM alerts GROUP BY ALL ORDER BY ALL""").fetchall(),
    )


def test_latest_state_follows_new_versions_and_removed_ones():
    con = staging_db()
    for tenant in ("t1", "t2"):
        stage(con, "security_incident", SECURITY_INCIDENT, tenant, D1,
              [incident(1, D1, 5, "Undetermined", ["a1"]), incident(2, D1, 6, "TruePositive", ["a2"])])
        stage(con, "security_alert", SECURITY_ALERT, tenant, D1, [alert("a1", D1, 4, "pc1"), alert("a2", D1, 5, "pc2")])
    staging.refresh_latest_state(con)
    assert latest(con) == full_recompute(con)

    # night 2, t1 only: incident 1 is closed as benign and gains an alert; a1 is re-emitted on D2
    stage(con, "security_incident", SECURITY_INCIDENT, "t1", D2, [incident(1, D2, 9, "BenignPositive", ["a1", "a3"])])
    stage(con, "security_alert", SECURITY_ALERT, "t1", D2, [alert("a1", D2, 8, "pc1"), alert("a3", D2, 8, "pc3")])
    staging.refresh_latest_state(con)
    incidents, bridge, alerts = latest(con)
    assert ("t1", 1, "benign_positive", at(D2, 9)) in incidents
    assert ("t1", 1, "a3") in bridge
    assert ("t1", "a1", D2) in alerts and ("t1", "a1", D1) not in alerts  # one row per alert
    assert con.execute("SELECT count(*) FROM alert_entities WHERE tenant = 't1' AND system_alert_id = 'a1'"
                       ).fetchall() == [(1,)]
    assert (incidents, bridge, alerts) == full_recompute(con)

    # night 3: D2 of t1 is re-pulled and the incident's D2 version is gone: back to its D1 version
    stage(con, "security_incident", SECURITY_INCIDENT, "t1", D2, [])
    staging.refresh_latest_state(con)
    incidents, bridge, _ = latest(con)
    assert ("t1", 1, "undetermined", at(D1, 5)) in incidents
    assert ("t1", 1, "a3") not in bridge
    assert latest(con) == full_recompute(con)


def test_a_run_without_staged_partitions_changes_nothing():
    con = staging_db()
    stage(con, "security_incident", SECURITY_INCIDENT, "t1", D3, [incident(7, D3, 1, "FalsePositive", ["a7"])])
    staging.refresh_latest_state(con)
    before = latest(con)
    con.execute("DELETE FROM incident_history")  # not staged through a partition: must not be noticed
    staging.refresh_latest_state(con)
    assert latest(con) == before
