"""A run that a blocking check stopped is visible in `hunthouse status`: its build file (and the
quality_results in it) is discarded, so status reads <home>/quality/<tenant>/latest.json and must say the
run was blocked, by which check, and that the published warehouse is an earlier run's."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg
import duckdb

from pipelines.cli import main
from pipelines.definitions import build_defs
from pipelines.extract import extract_partition
from pipelines.warehouse import build
from quality.latest_run import load_latest
from tests.conftest import write_config
from tests.quality_fixtures import DAY, T0, FakeSource, event, table


def _run_warehouse(settings):
    job = build_defs(settings).resolve_job_def("warehouse_build")
    with dg.DagsterInstance.ephemeral() as instance:
        return job.execute_in_process(instance=instance, tags={"hunthouse/as_of": DAY.isoformat()},
                                        partition_key="contoso", raise_on_error=False)


def test_blocked_run_shows_in_status_as_blocked_with_the_failing_check(tmp_path, capsys):
    settings = write_config(tmp_path).for_tenant("contoso")
    extract_partition(settings, "contoso", "device_events", DAY,
                      source=FakeSource({"device_events": table([event(i) for i in range(5)])}))
    # An earlier, good publish whose quality_results say nothing failed.
    path = build.start_build(settings, "previous").path
    with duckdb.connect(str(path)) as con:
        build.sync_lake(con, settings)
    build.publish(settings, path, DAY)

    # Next day the export lost its RemotePort column: the staging check must block the run.
    broken = [{k: v for k, v in event(i, Timestamp=T0 + timedelta(days=1, minutes=i)).items() if k != "RemotePort"}
              for i in range(5)]
    extract_partition(settings, "contoso", "device_events", DAY + timedelta(days=1),
                      source=FakeSource({"device_events": table(broken)}))
    result = _run_warehouse(settings)
    assert not result.success

    doc = load_latest(settings.quality_dir)
    assert doc["run_id"] == result.run_id
    assert doc["checks"]["device_events"]["errors"] > 0
    assert "warehouse" not in doc["checks"]  # the publish and its check never ran

    assert main(["status", "--config", str(settings.source_path)]) == 0
    out = capsys.readouterr().out
    latest = next(line for line in out.splitlines() if line.startswith("[contoso] Latest warehouse run"))
    assert result.run_id[:8] in latest and "BLOCKED" in latest and "not published" in latest
    assert "Blocked by ERROR checks: device_events" in out
    assert out.count("expect_column_to_exist(RemotePort)") == 1  # raw and staging list it once
    assert "expect_column_to_exist(RemotePort)" in out  # the failing expectation is named
    assert "raw partitions it loaded:" in out and "Blocked by ERROR checks: device_events (" in out


def test_a_later_run_that_publishes_is_shown_as_published(tmp_path, capsys):
    settings = write_config(tmp_path).for_tenant("contoso")
    extract_partition(settings, "contoso", "device_events", DAY,
                      source=FakeSource({"device_events": table([event(i) for i in range(5)])}))
    result = _run_warehouse(settings)
    assert result.success, [e.message for e in result.all_events if e.is_failure]

    doc = load_latest(settings.quality_dir)
    assert doc["run_id"] == result.run_id
    assert {"device_events", "fw_daily", "alert_labels", "warehouse", "firewall_report", "owner_reports"} <= set(doc["checks"])
    assert all(not c["errors"] for c in doc["checks"].values()), doc["checks"]
    assert doc["checks"]["warehouse"]["passed"], doc["checks"]["warehouse"]  # bookkeeping tables do not warn

    assert main(["status", "--config", str(settings.source_path)]) == 0
    latest = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("[contoso] Latest warehouse run"))
    assert result.run_id[:8] in latest and latest.endswith("PUBLISHED")
