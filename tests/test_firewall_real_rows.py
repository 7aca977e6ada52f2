"""The six real firewall rows of the plaso advanced-hunting export survive every step: raw schema,
device_events, fw_events and fw_daily (ToApp rows with empty IP/port included)."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from pipelines.sources.schemas import FIREWALL_ACTION_TYPES, conform
from tests.fw_testlib import build_firewall, changed, stage_raw, staging_db
from tests.realdata import real

CSV = "plaso/advanced_hunting_test.csv"


@pytest.fixture(scope="module")
def loaded():
    reader = duckdb.connect()
    # The export splits ReportId into ReportId_long / ReportId_string; the long one is the real id.
    raw = reader.sql(
        "select * exclude (ReportId_string) rename (ReportId_long as ReportId) "
        "from read_csv(?) where ActionType in ?",
        params=[str(real(CSV)), list(FIREWALL_ACTION_TYPES)],
    ).to_arrow_table()
    con = staging_db()
    changed(con, stage_raw(con, "plaso", raw))
    build_firewall(con, ["plaso"], date(2023, 12, 21))
    yield raw, con
    con.close()


def count_by_type(con, sql: str) -> dict[str, int]:
    return dict(con.execute(sql).fetchall())


def test_six_rows_reach_fw_daily_without_loss(loaded):
    raw, con = loaded
    expected = {
        "FirewallInboundConnectionBlocked": 2,
        "FirewallOutboundConnectionBlocked": 2,
        "FirewallInboundConnectionToAppBlocked": 2,
    }
    conformed, _ = conform(raw, "device_events")
    assert conformed.num_rows == 6
    assert count_by_type(con, "select action_type, count(*) from device_events group by 1") == expected
    assert count_by_type(con, "select action_type, count(*) from fw_events group by 1") == expected
    assert count_by_type(con, "select action_type, sum(events)::INT from fw_daily group by 1") == expected


def test_to_app_rows_keep_profile_and_empty_address(loaded):
    _, con = loaded
    rows = con.execute(
        """select process, profile, remote_class, service_port, peer_ports, sample_report_id
           from fw_daily where action_type = 'FirewallInboundConnectionToAppBlocked' order by process"""
    ).fetchall()
    assert rows == [
        (r"%windir%\ccm\remctrl", "Public", "unspecified", None, 0, 45),
        (r"%windir%\system32\driverstore\filerepository\lms.inf_amd64_41ce6847bba3daa2", "Public",
         "unspecified", None, 0, 53283),
    ]


def test_real_addresses_are_classified(loaded):
    _, con = loaded
    got = sorted(con.execute("select distinct remote_ip, remote_class from fw_events").fetchall())
    assert got == [
        ("", "unspecified"),
        ("10.70.48.100", "private"),
        ("192.168.0.182", "private"),
        ("95.166.126.160", "public"),
        ("95.166.126.90", "public"),
    ]


def test_outbound_rows_carry_service_and_direction(loaded):
    _, con = loaded
    rows = con.execute(
        "select direction, service_port, service, process, events, remote_ips from fw_daily "
        "where action_type = 'FirewallOutboundConnectionBlocked'"
    ).fetchall()
    assert {(r[0], r[1], r[2], r[3]) for r in rows} == {
        ("outbound", 80, "http", r"%windir%\system32\svchost.exe")
    }
    assert sum(r[4] for r in rows) == 2
