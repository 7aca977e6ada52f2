"""The Dagster definitions load, and the schedule requests exactly the nightly plan."""

from datetime import UTC, date, datetime

import dagster as dg

from pipelines.definitions import build_defs
from tests.conftest import write_config


def test_definitions_validate_and_carry_schedule_sensor_and_checks(tmp_path):
    defs = build_defs(write_config(tmp_path))
    dg.Definitions.validate_loadable(defs)
    assert defs.resolve_schedule_def("nightly").cron_schedule == "0 2 * * *"
    assert defs.resolve_sensor_def("warehouse_after_extracts")
    repo = defs.get_repository_def()
    keys = {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()}
    assert {"raw_device_events", "device_events", "fw_findings", "tuning_recommendations", "warehouse"} <= keys
    assert repo.asset_graph.asset_check_keys, "quality checks are registered"


def test_schedule_tick_requests_yesterday_and_lookback_for_every_tenant(tmp_path):
    defs = build_defs(write_config(tmp_path))
    schedule = defs.resolve_schedule_def("nightly")
    when = datetime(2026, 11, 6, 2, 0, tzinfo=UTC)
    with dg.build_schedule_context(scheduled_execution_time=when, repository_def=defs.get_repository_def()) as ctx:
        requests = list(schedule.evaluate_tick(ctx).run_requests)
    keys = sorted((r.partition_key.keys_by_dimension["tenant"], r.partition_key.keys_by_dimension["date"]) for r in requests)
    expected = sorted((t, f"2026-11-0{d}") for t in ("contoso", "fabrikam") for d in (2, 3, 4, 5))
    assert keys == expected
    assert {r.tags["hunthouse/night"] for r in requests} == {date(2026, 11, 5).isoformat()}
    assert len({r.run_key for r in requests}) == len(requests)
