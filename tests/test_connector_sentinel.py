"""SentinelSource against the loopback Log Analytics fake: exact windows, splits, retries, failures."""

from __future__ import annotations

import email.utils
import json
from datetime import UTC, datetime, timedelta

import pytest

from pipelines.sources.arrow_rows import parse_datetime
from pipelines.sources.base import Window
from pipelines.sources.errors import AccessDenied, IncompleteWindow, SourceUnavailable
from pipelines.sources.schemas import RAW_TABLES
from pipelines.sources.sentinel import SentinelSource
from tests.fakes.dataset import DAY_END, DAY_START, REAL_DIR, expected_device_events, in_window
from tests.fakes.fixtures import Sleeps, fetch_all, sorted_rows, tenant

pytest_plugins = ["tests.fakes.fixtures"]  # the `fake` fixture

DAY = Window(DAY_START, DAY_END)
EVENT_KEY = ("Timestamp", "DeviceId", "ReportId")


def source(fake, sleep=None, **kw):
    return SentinelSource(tenant(fake, "sentinel", **kw.pop("config", {})), sleep=Sleeps() if sleep is None else sleep, **kw)


def event_rows(tbl):
    return [(r["Timestamp"], r["DeviceId"], r["ReportId"], r["ActionType"], r["RemotePort"]) for r in sorted_rows(tbl, *EVENT_KEY)]


def expected_events(fake, **kw):
    rows = expected_device_events(fake.data, DAY_START, DAY_END, **kw)
    return sorted(((r["Timestamp"], r["DeviceId"], r["ReportId"], r["ActionType"], r["RemotePort"]) for r in rows),
                  key=lambda t: (str(t[0]), t[1], str(t[2])))


def test_device_events_day_is_exact_half_open_and_firewall_only(fake):
    tbl, stats = fetch_all(source(fake), "device_events", DAY)
    assert event_rows(tbl) == expected_events(fake)
    assert DAY_START in tbl.column("Timestamp").to_pylist()
    assert DAY_END not in tbl.column("Timestamp").to_pylist()
    assert set(tbl.column("ActionType").to_pylist()) <= {
        "FirewallInboundConnectionBlocked", "FirewallOutboundConnectionBlocked", "FirewallInboundConnectionToAppBlocked"}
    # a row ingested 3 h after its Timestamp (across midnight) is still in its Timestamp day
    late = [r for r in fake.data.device_events if r["TimeGenerated"] >= DAY_END > r["Timestamp"] >= DAY_START]
    assert late and all(r["ReportId"] in tbl.column("ReportId").to_pylist() for r in late)
    assert stats.query_windows == 1 and stats.splits == 0 and stats.retries == 0
    assert stats.watermark == max(tbl.column("TimeGenerated").to_pylist())
    assert {"MachineGroup", "SourceSystem", "TenantId", "_BilledSize"} <= set(stats.dropped_columns)


def test_all_device_events_setting_drops_the_firewall_filter(fake):
    tbl, _ = fetch_all(source(fake, config={"all_device_events": True}), "device_events", DAY)
    assert event_rows(tbl) == expected_events(fake, firewall_only=False)
    assert "AntivirusDetection" in tbl.column("ActionType").to_pylist()


def test_query_is_bounded_by_timespan_and_an_in_query_filter(fake):
    fetch_all(source(fake), "security_alert", DAY)
    body = json.loads(fake.routes("la")[0]["body"])
    assert body["query"] == ("SecurityAlert\n| where TimeGenerated >= datetime(2026-10-02T00:00:00.000000Z) "
                             "and TimeGenerated < datetime(2026-10-03T00:00:00.000000Z)")
    start, end = (parse_datetime(p) for p in body["timespan"].split("/"))
    assert (start, end) == (DAY_START, DAY_END)
    assert "wait=600" in fake.routes("la")[0]["prefer"]


def test_incidents_return_every_version_modified_in_the_window(fake):
    tbl, stats = fetch_all(source(fake), "security_incident", DAY)
    want = sorted((r["IncidentNumber"], r["LastModifiedTime"]) for r in fake.data.sentinel_incidents
                  if in_window(r["LastModifiedTime"], DAY_START, DAY_END))
    got = sorted(zip(tbl.column("IncidentNumber").to_pylist(), tbl.column("LastModifiedTime").to_pylist(), strict=True))
    assert got == want and len({n for n, _ in got}) < len(got)  # several versions of one incident
    assert stats.watermark == max(tbl.column("TimeGenerated").to_pylist())


def test_alerts_keep_json_text_columns_and_real_types(fake):
    tbl, _ = fetch_all(source(fake), "security_alert", DAY)
    want = {r["SystemAlertId"]: r for r in fake.data.sentinel_alerts if in_window(r["TimeGenerated"], DAY_START, DAY_END)}
    assert sorted(tbl.column("SystemAlertId").to_pylist()) == sorted(want)
    for row in tbl.to_pylist():
        assert json.loads(row["Entities"]) == json.loads(want[row["SystemAlertId"]]["Entities"])
        assert row["ConfidenceScore"] == want[row["SystemAlertId"]]["ConfidenceScore"]


def test_partial_error_truncation_splits_until_complete(fake):
    baseline, _ = fetch_all(source(fake), "device_events", DAY)
    fake.la_row_cap = 5  # the fake truncates above 5 rows and answers HTTP 200 + recorded PartialError
    tbl, stats = fetch_all(source(fake), "device_events", DAY)
    assert event_rows(tbl) == event_rows(baseline)
    assert stats.splits > 0 and stats.query_windows == 2 * stats.splits + 1


def test_result_exactly_at_row_cap_is_treated_as_truncated(fake):
    baseline, _ = fetch_all(source(fake), "device_events", DAY)
    fake.la_row_cap, fake.la_cap_mode = 4, "silent"  # exactly 4 rows, no error: may be truncated
    tbl, stats = fetch_all(source(fake, row_cap=4), "device_events", DAY)
    assert event_rows(tbl) == event_rows(baseline) and stats.splits > 0


def test_truncation_that_survives_the_smallest_split_fails_loudly(fake):
    fake.la_row_cap = 0
    with pytest.raises(IncompleteWindow, match="min_split_seconds=3600"):
        fetch_all(source(fake, config={"min_split_seconds": 3600}), "device_events", DAY)


def test_gateway_timeout_splits_the_window(fake):
    baseline, _ = fetch_all(source(fake), "device_events", DAY)
    fake.fault("la", status=504)
    tbl, stats = fetch_all(source(fake), "device_events", DAY)
    assert event_rows(tbl) == event_rows(baseline) and stats.splits == 1 and stats.retries == 0


@pytest.mark.parametrize("retry_after", ["7", "date"])
def test_429_waits_as_long_as_retry_after_says(fake, retry_after):
    baseline, _ = fetch_all(source(fake), "device_events", DAY)
    header = retry_after if retry_after != "date" else email.utils.format_datetime(
        datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    fake.fault("la", status=429, headers={"Retry-After": header})
    sleeps = Sleeps()
    tbl, stats = fetch_all(source(fake, sleep=sleeps), "device_events", DAY)
    assert event_rows(tbl) == event_rows(baseline) and stats.retries == 1
    assert (sleeps == [7.0]) if retry_after == "7" else (25 <= sleeps[0] <= 30)


@pytest.mark.parametrize("fault", [{"status": 500}, {"status": 503}, {"reset": True}, {"malformed": True}])
def test_transient_faults_are_retried_with_backoff_and_lose_nothing(fake, fault):
    baseline, _ = fetch_all(source(fake), "device_events", DAY)
    fake.fault("la", **fault)
    fake.fault("la", **fault)
    sleeps = Sleeps()
    tbl, stats = fetch_all(source(fake, sleep=sleeps), "device_events", DAY)
    assert event_rows(tbl) == event_rows(baseline)
    assert stats.retries == 2 and len(sleeps) == 2
    assert 0.5 <= sleeps[0] <= 1.0 and 1.0 <= sleeps[1] <= 2.0  # exponential, jittered


def test_persistent_5xx_gives_up_after_max_attempts(fake):
    for _ in range(4):
        fake.fault("la", status=503)
    sleeps = Sleeps()
    with pytest.raises(SourceUnavailable, match="gave up after 4 attempts.*HTTP 503"):
        fetch_all(source(fake, sleep=sleeps), "device_events", DAY)
    assert len(sleeps) == 3 and len(fake.routes("la")) == 4


@pytest.mark.parametrize("status", [401, 403])
def test_unauthorised_fails_at_once_naming_the_role(fake, status):
    fake.fault("la", status=status)
    sleeps = Sleeps()
    with pytest.raises(AccessDenied) as err:
        fetch_all(source(fake, sleep=sleeps), "security_incident", DAY)
    message = str(err.value)
    assert f"HTTP {status}" in message and "Log Analytics Reader on workspace c8c99641-985d-4e4e-8e91-fb3466cd0e5b" in message
    assert "\n" not in message and not sleeps and len(fake.routes("la")) == 1


def test_schema_drift_extra_column_reported_missing_optional_column_null(fake):
    fake.omit_columns = {"AdditionalFields"}
    tbl, stats = fetch_all(source(fake), "device_events", DAY)
    assert tbl.column("AdditionalFields").null_count == tbl.num_rows
    assert "MachineGroup" in stats.dropped_columns and "AdditionalFields" not in stats.dropped_columns
    assert tbl.schema == RAW_TABLES["device_events"]


def test_recorded_real_log_analytics_body_parses_unchanged(fake):
    recorded = json.loads((REAL_DIR / "msticpy" / "az_mon_raw_query.json").read_text())
    fake.overrides["la"].append(recorded)
    tbl, stats = fetch_all(source(fake), "security_alert", DAY)
    rows = recorded["tables"][0]["rows"]
    names = [c["name"] for c in recorded["tables"][0]["columns"]]
    assert tbl.column("SystemAlertId").to_pylist() == [r[names.index("SystemAlertId")] for r in rows]
    assert tbl.column("ExtendedProperties").to_pylist() == [r[names.index("ExtendedProperties")] for r in rows]
    assert {"IsIncident", "SourceComputerId", "WorkspaceSubscriptionId"} <= set(stats.dropped_columns)
    assert all(isinstance(t, datetime) for t in tbl.column("TimeGenerated").to_pylist())
