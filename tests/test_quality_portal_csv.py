"""Portal CSV exports (BOM, 'Name [UTC]' headers, US-locale timestamps) read onto the raw schema."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from pipelines.extract import extract_partition
from quality import gate
from tests.conftest import write_config
from tests.portal_csv import header_name, parse_locale_timestamp, read_portal_csv
from tests.quality_fixtures import FakeSource

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "msticnb"


def test_portal_headers_and_locale_timestamps_map_onto_the_raw_schema():
    assert header_name("\ufeffTimeGenerated [UTC]", "device_events") == "TimeGenerated"
    assert header_name("Computer", "device_events") == "DeviceName"
    assert parse_locale_timestamp("4/19/2022, 9:57:02.487 PM") == datetime(2022, 4, 19, 21, 57, 2, 487000, tzinfo=UTC)
    assert parse_locale_timestamp("4/19/2022, 12:09:39.088 AM").hour == 0
    info = read_portal_csv(REAL / "mde_device_info.csv", "device_events")
    assert info.column_names[0] == "DeviceId"
    assert info.column("Timestamp")[0].as_py() == datetime(2022, 4, 19, 21, 57, 2, 487000, tzinfo=UTC)


def test_a_network_events_export_is_not_device_events_and_the_gate_says_why(tmp_path):
    """The real DeviceNetworkEvents summary export has no DeviceId, Timestamp or ports: its rows are
    quarantined for the missing key, and the source schema check names every missing column."""
    settings = write_config(tmp_path, extra="\n[quality]\nquarantine_threshold = 1.0\n")
    tbl = read_portal_csv(REAL / "mde_device_network_events.csv", "device_events")
    day = datetime(2022, 4, 19, tzinfo=UTC).date()
    m = extract_partition(settings, "contoso", "device_events", day, source=FakeSource({"device_events": tbl}))
    assert m.rows == 0 and m.quarantined == tbl.num_rows == 8
    assert "FirstOperation" in m.stats["dropped_columns"]
    outcomes = gate.check_raw_partition(settings, "device_events", "contoso", day, "r")
    missing = {o.expectation for o in outcomes if not o.success and o.expectation.startswith("expect_column_to_exist")}
    assert missing == {f"expect_column_to_exist({c}) at the source" for c in
                       ("Timestamp", "DeviceId", "InitiatingProcessFileName", "RemotePort", "LocalPort", "ReportId", "AdditionalFields")}
    assert any(not o.success and o.severity == "WARN" and "no rows quarantined" in o.expectation for o in outcomes)
