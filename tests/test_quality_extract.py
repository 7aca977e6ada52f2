"""Bad raw rows are quarantined at extract with a reason, good rows land, and the raw suite says so."""

from __future__ import annotations

from datetime import timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.extract import QuarantineThresholdExceeded, extract_partition
from pipelines.sources.row_rules import screen_rows
from quality import gate
from tests.conftest import write_config
from tests.quality_fixtures import DAY, T0, FakeSource, alert, event, incident, table


def _settings(tmp_path, threshold=0.5):
    return write_config(tmp_path, extra=f"\n[quality]\nquarantine_threshold = {threshold}\n")


def _quarantine(manifest) -> list[dict]:
    return pq.read_table(manifest.quarantine_file).to_pylist() if manifest.quarantine_file else []


def _failed(outcomes, severity=None) -> set[str]:
    return {o.expectation for o in outcomes if not o.success and (severity is None or o.severity == severity)}


def test_out_of_range_port_and_malformed_additional_fields_are_quarantined_and_good_rows_land(tmp_path):
    settings = _settings(tmp_path)
    rows = [event(i) for i in range(6)] + [event(6, RemotePort=70000), event(7, AdditionalFields="{not json")]
    m = extract_partition(settings, "contoso", "device_events", DAY, source=FakeSource({"device_events": table(rows)}))
    reasons = sorted(r["reason"] for r in _quarantine(m))
    assert m.rows == 6 and m.quarantined == 2
    assert reasons == ["AdditionalFields is not valid JSON", "RemotePort outside 0-65535"]
    outcomes = gate.check_raw_partition(settings, "device_events", "contoso", DAY, "run-1")
    assert _failed(outcomes, "ERROR") == set()
    assert _failed(outcomes, "WARN") == {"expect_column_values_to_be_between(quarantined) no rows quarantined"}


def test_wrong_type_quarantines_the_row_instead_of_crashing_the_load(tmp_path):
    settings = _settings(tmp_path)
    rows = [{**event(i), "RemotePort": str(50000 + i)} for i in range(5)] + [{**event(5), "RemotePort": "http"}]
    m = extract_partition(settings, "contoso", "device_events", DAY, source=FakeSource({"device_events": table(rows)}))
    assert m.rows == 5
    assert [r["reason"] for r in _quarantine(m)] == ["RemotePort value 'http' is not int32"]
    landed = pq.read_table(m.file)
    assert landed.schema.field("RemotePort").type == pa.int32()


def test_null_key_is_quarantined_and_a_bad_share_over_the_threshold_fails_the_load(tmp_path):
    settings = _settings(tmp_path, threshold=0.2)
    rows = [event(i) for i in range(3)] + [event(i, DeviceId=None) for i in range(3, 5)]
    with pytest.raises(QuarantineThresholdExceeded):
        extract_partition(settings, "contoso", "device_events", DAY, source=FakeSource({"device_events": table(rows)}))


def test_future_timestamps_are_quarantined_with_the_reason():
    from pipelines.extract import split_bad_rows  # noqa: F401 (same module path as extract uses)
    from pipelines.sources.schemas import conform

    now = T0 + timedelta(hours=1)
    tbl, _ = conform(table([event(0), event(1, Timestamp=T0 + timedelta(hours=3))]), "device_events")
    good, bad = screen_rows(tbl, "device_events", now=now)
    assert good.num_rows == 1
    assert bad.column("reason").to_pylist()[0].startswith("Timestamp in the future")


def test_raw_suite_fails_a_future_timestamp_that_bypassed_quarantine(tmp_path):
    """The ERROR expectation re-asserts the row rule on what was committed."""
    from pipelines.lake import write_partition
    from pipelines.sources.schemas import conform

    settings = _settings(tmp_path)
    future_day = (T0 + timedelta(days=400)).date()
    ts = T0 + timedelta(days=400)
    tbl, _ = conform(table([event(0, Timestamp=ts)]), "device_events")
    write_partition(settings.lake_root, "device_events", "contoso", future_day, [tbl])
    outcomes = gate.check_raw_partition(settings, "device_events", "contoso", future_day, "run-1")
    assert "expect_column_values_to_be_between(Timestamp) not in the future" in _failed(outcomes, "ERROR")


def test_missing_required_column_fails_the_source_schema_check(tmp_path):
    settings = _settings(tmp_path)
    rows = [{k: v for k, v in event(i).items() if k != "RemotePort"} for i in range(4)]
    m = extract_partition(settings, "contoso", "device_events", DAY, source=FakeSource({"device_events": table(rows)}))
    assert m.rows == 4 and "RemotePort" not in m.stats["source_columns"]
    outcomes = gate.check_raw_partition(settings, "device_events", "contoso", DAY, "run-1")
    assert _failed(outcomes, "ERROR") == {"expect_column_to_exist(RemotePort) at the source"}


def test_malformed_entities_warns_and_keeps_the_alert(tmp_path):
    settings = _settings(tmp_path)
    rows = [alert(i) for i in range(4)] + [alert(4, Entities="[{broken")]
    m = extract_partition(settings, "contoso", "security_alert", DAY, source=FakeSource({"security_alert": table(rows)}))
    assert m.rows == 5 and m.quarantined == 0
    outcomes = gate.check_raw_partition(settings, "security_alert", "contoso", DAY, "run-1")
    assert _failed(outcomes) == {"expect_column_values_to_be_json_parseable(Entities)"}
    assert _failed(outcomes, "ERROR") == set()


def test_classification_is_compared_case_insensitively_at_the_source(tmp_path):
    settings = _settings(tmp_path)
    casings = ["TruePositive", "truepositive", "BENIGNPOSITIVE", "falsePositive", "informationalExpectedActivity", None]
    rows = [incident(i, Classification=c) for i, c in enumerate(casings)]
    extract_partition(settings, "contoso", "security_incident", DAY, source=FakeSource({"security_incident": table(rows)}))
    assert _failed(gate.check_raw_partition(settings, "security_incident", "contoso", DAY, "r")) == set()
    rows.append(incident(9, Classification="TruePos"))
    extract_partition(settings, "contoso", "security_incident", DAY, source=FakeSource({"security_incident": table(rows)}))
    outcomes = gate.check_raw_partition(settings, "security_incident", "contoso", DAY, "r")
    assert _failed(outcomes, "WARN") == {"expect_column_values_to_match_regex(Classification)"}


def test_row_count_far_below_the_trailing_median_warns_and_an_empty_busy_day_errors(tmp_path):
    settings = _settings(tmp_path)
    for back in range(1, 6):
        day = DAY - timedelta(days=back)
        rows = [event(i, Timestamp=T0 - timedelta(days=back) + timedelta(seconds=i)) for i in range(40)]
        extract_partition(settings, "contoso", "device_events", day, source=FakeSource({"device_events": table(rows)}))
    extract_partition(settings, "contoso", "device_events", DAY, source=FakeSource({"device_events": table([event(0)])}))
    assert "expect_column_values_to_be_between(ratio_to_median) row count vs trailing median" in _failed(
        gate.check_raw_partition(settings, "device_events", "contoso", DAY, "r"), "WARN"
    )
    extract_partition(settings, "contoso", "device_events", DAY, source=FakeSource({}))
    assert "expect_column_values_to_be_in_set(busy_but_empty) not empty while the trailing median is busy" in _failed(
        gate.check_raw_partition(settings, "device_events", "contoso", DAY, "r"), "ERROR"
    )
