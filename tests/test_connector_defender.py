"""DefenderSource against the loopback Graph fake: hunting splits, incident/alert paging and mapping."""

from __future__ import annotations

import email.utils
import json
from datetime import UTC, datetime, timedelta

import pytest

from pipelines.sources.arrow_rows import parse_datetime
from pipelines.sources.base import Window
from pipelines.sources.defender import DefenderSource, hunting_table
from pipelines.sources.errors import AccessDenied, IncompleteWindow, SourceError, SourceUnavailable
from pipelines.sources.schemas import RAW_TABLES
from tests.fakes.dataset import DAY_END, DAY_START, REAL_DIR, expected_device_events, in_window
from tests.fakes.fixtures import Sleeps, fetch_all, sorted_rows, tenant

pytest_plugins = ["tests.fakes.fixtures"]  # the `fake` fixture

DAY = Window(DAY_START, DAY_END)


def source(fake, sleep=None, **kw):
    return DefenderSource(tenant(fake, "defender", **kw.pop("config", {})),
                          sleep=Sleeps() if sleep is None else sleep, **kw)


def event_rows(tbl):
    return [(r["Timestamp"], r["DeviceId"], r["ReportId"], r["ActionType"]) for r in
            sorted_rows(tbl, "Timestamp", "DeviceId", "ReportId")]


def expected_events(fake):
    rows = expected_device_events(fake.data, DAY_START, DAY_END)
    return sorted(((r["Timestamp"], r["DeviceId"], r["ReportId"], r["ActionType"]) for r in rows),
                  key=lambda t: (str(t[0]), t[1], str(t[2])))


def in_day(objects, column):
    return sorted(o["id"] for o in objects if in_window(parse_datetime(o[column]), DAY_START, DAY_END))


def test_hunting_returns_the_exact_firewall_day(fake):
    tbl, stats = fetch_all(source(fake), "device_events", DAY)
    assert event_rows(tbl) == expected_events(fake)
    assert tbl.column("TimeGenerated").null_count == tbl.num_rows  # the hunting API has no ingestion time
    assert stats.watermark == max(tbl.column("Timestamp").to_pylist()) and stats.query_windows == 1
    body = json.loads(fake.routes("hunting")[0]["body"])
    assert body["Query"].startswith("DeviceEvents\n| where Timestamp >= datetime(2026-10-02T00:00:00.000000Z)")
    assert body["Query"].endswith('| where ActionType startswith "Firewall"')
    assert [parse_datetime(p) for p in body["Timespan"].split("/")] == [DAY_START, DAY_END]


def test_hunting_row_cap_splits_until_every_window_is_under_it(fake):
    fake.hunting_row_cap = 4  # the service returns at most 4 rows, silently
    tbl, stats = fetch_all(source(fake, row_cap=4), "device_events", DAY)
    assert event_rows(tbl) == expected_events(fake) and stats.splits >= 3


def test_hunting_timeout_splits_and_a_hopeless_window_fails_loudly(fake):
    fake.fault("hunting", status=504)
    tbl, stats = fetch_all(source(fake), "device_events", DAY)
    assert event_rows(tbl) == expected_events(fake) and stats.splits == 1
    fake.hunting_row_cap = 0
    with pytest.raises(IncompleteWindow, match="hunting cap"):
        fetch_all(source(fake, row_cap=0, config={"min_split_seconds": 43200}), "device_events", DAY)


def test_hunting_schema_drift_and_capitalised_schema_keys(fake):
    fake.hunting_schema_keys = ("Name", "Type")
    fake.hunting_extra_columns = {"NewDefenderColumn": "String"}
    fake.omit_columns = {"AdditionalFields", "ProcessId"}
    tbl, stats = fetch_all(source(fake), "device_events", DAY)
    assert event_rows(tbl) == expected_events(fake)
    assert stats.dropped_columns == ["NewDefenderColumn"]
    assert tbl.column("AdditionalFields").null_count == tbl.column("ProcessId").null_count == tbl.num_rows
    assert tbl.schema == RAW_TABLES["device_events"]


@pytest.mark.parametrize("name", ["runHuntingQuery_example1_response.json",
                                  "runHuntingQuery_example3_capitalized_schema_response.json"])
def test_recorded_real_hunting_bodies_parse_unchanged(fake, name):
    recorded = json.loads((REAL_DIR / "msgraph_docs" / name).read_text())
    fake.overrides["hunting"].append(recorded)
    tbl, _ = fetch_all(source(fake), "device_events", DAY)
    assert tbl.column("FileName").to_pylist() == [r["FileName"] for r in recorded["results"]]
    assert tbl.column("Timestamp").to_pylist() == [parse_datetime(r["Timestamp"]) for r in recorded["results"]]
    assert hunting_table(recorded).num_rows == len(recorded["results"])


def test_incidents_follow_next_link_and_map_onto_security_incident(fake):
    fake.page_size = 2
    tbl, stats = fetch_all(source(fake), "security_incident", DAY)
    want = in_day(fake.data.graph_incidents, "lastUpdateDateTime")
    assert sorted(tbl.column("IncidentName").to_pylist()) == want and len(want) > 2
    assert len(fake.routes("incidents")) == -(-len(want) // 2)  # every page, once
    assert all(r["query"].get("$expand") == ["alerts"] for r in fake.routes("incidents"))
    by_id = {i["id"]: i for i in fake.data.graph_incidents}
    for row in tbl.to_pylist():
        graph = by_id[row["IncidentName"]]
        assert row["IncidentNumber"] == int(graph["id"]) and row["Classification"] == graph["classification"]
        assert row["Owner"] == graph["assignedTo"] and row["Status"] == graph["status"]
        assert json.loads(row["AlertIds"]) == [a["id"] for a in graph["alerts"]]
        assert json.loads(row["RelatedAnalyticRuleIds"]) == list(dict.fromkeys(a["detectorId"] for a in graph["alerts"]))
        assert row["LastModifiedTime"] == parse_datetime(graph["lastUpdateDateTime"])
        assert (row["ClosedTime"] is not None) == (graph["status"] == "resolved")
    assert stats.watermark == max(tbl.column("LastModifiedTime").to_pylist())
    assert DAY_START in tbl.column("LastModifiedTime").to_pylist()
    assert DAY_END not in tbl.column("LastModifiedTime").to_pylist()


def test_alerts_come_from_alerts_v2_by_created_time_with_entities_and_rule_ids(fake):
    tbl, stats = fetch_all(source(fake), "security_alert", DAY)
    assert sorted(tbl.column("SystemAlertId").to_pylist()) == in_day(fake.data.graph_alerts, "createdDateTime")
    assert fake.routes("alerts")[0]["query"]["$filter"][0].startswith("createdDateTime ge 2026-10-02T00:00:00")
    by_id = {a["id"]: a for a in fake.data.graph_alerts}
    for row in tbl.to_pylist():
        alert = by_id[row["SystemAlertId"]]
        props = json.loads(row["ExtendedProperties"])
        assert json.loads(props["Analytic Rule Ids"]) == [alert["detectorId"]]
        assert props["Analytic Rule Name"] == row["AlertName"] == alert["title"]
        entities = json.loads(row["Entities"])
        kinds = {e["Type"] for e in entities}
        assert {"host", "account", "ip", "process", "file", "url"} <= kinds
        ids = {e["$id"]: e for e in entities}
        process = next(e for e in entities if e["Type"] == "process")
        assert ids[process["Host"]["$ref"]]["HostName"] == alert["evidence"][0]["deviceDnsName"].split(".")[0]
        assert ids[process["ImageFile"]["$ref"]]["Name"] == "mstsc.exe"
        account = next(e for e in entities if e["Type"] == "account")
        assert (account["Name"], account["NTDomain"], account["UPNSuffix"]) == (
            alert["evidence"][1]["userAccount"]["accountName"], "CORP", "corp.example")
    assert stats.watermark == max(tbl.column("TimeGenerated").to_pylist())


def test_recorded_real_alerts_v2_page_maps_unchanged(fake):
    recorded = json.loads((REAL_DIR / "stix_shifter" / "azure_sentinel_tests_alert_v2.json").read_text())
    fake.overrides["alerts"].append(recorded)
    tbl, _ = fetch_all(source(fake), "security_alert", DAY)
    row = tbl.to_pylist()[0]
    alert = recorded["value"][0]
    assert row["SystemAlertId"] == alert["id"] and row["TimeGenerated"] == parse_datetime(alert["createdDateTime"])
    entities = json.loads(row["Entities"])
    process = next(e for e in entities if e["Type"] == "process")
    assert process["CommandLine"] == '"MsSense.exe"' and process["ProcessId"] == "4780"


@pytest.mark.parametrize("retry_after", ["3", "date"])
def test_throttled_page_waits_for_retry_after_and_loses_nothing(fake, retry_after):
    fake.page_size = 2
    baseline, _ = fetch_all(source(fake), "security_incident", DAY)
    header = retry_after if retry_after != "date" else email.utils.format_datetime(
        datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    fake.fault("incidents", status=429, headers={"Retry-After": header})
    sleeps = Sleeps()
    tbl, stats = fetch_all(source(fake, sleep=sleeps), "security_incident", DAY)
    assert sorted_rows(tbl, "IncidentName") == sorted_rows(baseline, "IncidentName") and stats.retries == 1
    assert sleeps == [3.0] if retry_after == "3" else 15 <= sleeps[0] <= 20


@pytest.mark.parametrize("route,table", [("alerts", "security_alert"), ("hunting", "device_events")])
@pytest.mark.parametrize("fault", [{"status": 500}, {"status": 503}, {"reset": True}, {"malformed": True}])
def test_transient_graph_faults_are_retried_and_lose_nothing(fake, route, table, fault):
    baseline, _ = fetch_all(source(fake), table, DAY)
    fake.fault(route, **fault)
    sleeps = Sleeps()
    tbl, stats = fetch_all(source(fake, sleep=sleeps), table, DAY)
    assert tbl.equals(baseline) and stats.retries == 1 and len(sleeps) == 1


def test_persistent_malformed_json_fails_after_max_attempts(fake):
    for _ in range(4):
        fake.fault("alerts", malformed=True)
    with pytest.raises(SourceUnavailable, match="gave up after 4 attempts; last error: malformed JSON"):
        fetch_all(source(fake), "security_alert", DAY)


@pytest.mark.parametrize("route,table,permission", [
    ("hunting", "device_events", "ThreatHunting.Read.All"),
    ("incidents", "security_incident", "SecurityIncident.Read.All"),
    ("alerts", "security_alert", "SecurityAlert.Read.All"),
])
@pytest.mark.parametrize("status", [401, 403])
def test_unauthorised_fails_at_once_naming_the_graph_permission(fake, route, table, permission, status):
    fake.fault(route, status=status)
    sleeps = Sleeps()
    with pytest.raises(AccessDenied, match=f"HTTP {status} .*needs the application permission {permission}"):
        fetch_all(source(fake, sleep=sleeps), table, DAY)
    assert not sleeps and len(fake.routes(route)) == 1


def test_next_link_to_another_host_is_refused(fake):
    fake.overrides["alerts"].append({"value": [], "@odata.nextLink": "https://attacker.example/v1.0/security/alerts_v2"})
    with pytest.raises(SourceError, match="refusing @odata.nextLink to another host attacker.example"):
        fetch_all(source(fake), "security_alert", DAY)
