"""The gate in real Dagster in-process runs: an ERROR check blocks the models and the publish and
leaves the published warehouse byte-for-byte; results land in quality_results when it publishes."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import dagster as dg
import duckdb
import pyarrow as pa

from pipelines.definitions import build_defs
from pipelines.extract import extract_partition
from pipelines.warehouse import build
from quality.engine import bucketed_chunks, validate_tables
from quality.gate import check_table, with_window
from quality.suites.staging import DEVICE_EVENTS
from quality.summary import footer_summary
from tests.conftest import write_config
from tests.quality_fixtures import DAY, T0, FakeSource, event, table


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _publish_staging_only(settings) -> None:
    """A previous warehouse, built without Dagster and without models."""
    path = build.start_build(settings, "previous").path
    with duckdb.connect(str(path)) as con:
        build.sync_lake(con, settings)
    build.publish(settings, path, DAY)


def _run_warehouse(settings):
    job = build_defs(settings).resolve_job_def("warehouse_build")
    with dg.DagsterInstance.ephemeral() as instance:
        return job.execute_in_process(instance=instance, tags={"hunthouse/as_of": DAY.isoformat()},
                                        partition_key="contoso", raise_on_error=False)


def _check_evaluations(result) -> dict[str, tuple[bool, str]]:
    out = {}
    for e in result.all_events:
        if e.event_type_value == "ASSET_CHECK_EVALUATION":
            ev = e.event_specific_data
            out[ev.asset_key.to_user_string()] = (ev.passed, ev.severity.value)
    return out


def test_error_check_blocks_models_and_publish_and_keeps_the_warehouse_byte_for_byte(tmp_path):
    settings = write_config(tmp_path).for_tenant("contoso")
    good = [event(i) for i in range(5)]
    extract_partition(settings, "contoso", "device_events", DAY, source=FakeSource({"device_events": table(good)}))
    _publish_staging_only(settings)
    before = _digest(settings.warehouse_path)

    # Next day: the export lost its RemotePort column. Extract lands the rows; the gate must stop them.
    next_day = DAY + timedelta(days=1)
    broken = [{k: v for k, v in event(i, Timestamp=T0 + timedelta(days=1, minutes=i)).items() if k != "RemotePort"}
              for i in range(5)]
    extract_partition(settings, "contoso", "device_events", next_day, source=FakeSource({"device_events": table(broken)}))
    result = _run_warehouse(settings)

    assert not result.success
    assert _check_evaluations(result)["device_events"] == (False, "ERROR")
    executed = {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}
    assert "firewall_models" not in executed and "warehouse" not in executed
    assert _digest(settings.warehouse_path) == before


def test_passing_checks_publish_with_their_results_and_a_footer(tmp_path):
    settings = write_config(tmp_path).for_tenant("contoso")
    extract_partition(settings, "contoso", "device_events", DAY, source=FakeSource({"device_events": table([event(i) for i in range(5)])}))
    path = build.start_build(settings, "run-ok").path
    with duckdb.connect(str(path)) as con:
        changed = build.sync_lake(con, settings)
        outcomes = check_table(con, "device_events", changed, DAY, ["contoso"])
        assert outcomes and all(o.success for o in outcomes), [o for o in outcomes if not o.success]
        from quality.results import write_results

        write_results(con, "run-ok", outcomes)
        text = footer_summary(con)
    assert f"{len(outcomes)} checks, 0 errors, 0 warnings" in text


def test_duplicate_keys_in_staging_fail_uniqueness_even_across_chunks(tmp_path):
    settings = write_config(tmp_path).for_tenant("contoso")
    extract_partition(settings, "contoso", "device_events", DAY, source=FakeSource({"device_events": table([event(i) for i in range(40)])}))
    path = build.start_build(settings, "dupes").path
    with duckdb.connect(str(path)) as con:
        changed = build.sync_lake(con, settings)
        con.execute("INSERT INTO device_events SELECT * FROM device_events WHERE report_id IN (1003, 1017)")
        chunks = list(bucketed_chunks(con, "SELECT * FROM device_events WHERE tenant = ? AND day = ?", ["contoso", DAY],
                                      ["device_id", "timestamp", "report_id", "action_type"], chunk_rows=10))
        assert len(chunks) >= 4 and sum(c.num_rows for c in chunks) == 42
        outcomes = validate_tables("device_events", "contoso", "device_events", DEVICE_EVENTS,
                                   [with_window(c, DAY) for c in chunks], {"not_after": T0 + timedelta(days=3650)})
        failed = {o.expectation: o.unexpected_count for o in outcomes if not o.success}
        assert failed == {"expect_compound_columns_to_be_unique(tenant,device_id,timestamp,report_id,action_type)": 4}
        assert not [o for o in check_table(con, "device_events", changed, DAY, ["contoso"])
                    if o.expectation.startswith("expect_compound") and o.success]


def test_an_expectation_gx_cannot_compute_counts_as_failed():
    frame = pa.table({"other": pa.array([1, 2], pa.int32())})
    outcomes = validate_tables("t", "p", "missing_column_suite", DEVICE_EVENTS[-2:], [frame])
    assert outcomes and not any(o.success for o in outcomes)
    assert all(o.observed_value.startswith("could not compute") for o in outcomes)
