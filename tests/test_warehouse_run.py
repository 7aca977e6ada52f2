"""The warehouse run outside Dagster (WarehouseRun.run_all, used by the bench and the reliability
tests) passes the same quality gate as the Dagster assets: a failed ERROR check stops the phases
after it, so the published shard stays byte-for-byte; passing checks publish with their results."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest

from pipelines.extract import extract_partition
from pipelines.warehouse import build
from pipelines.warehouse.readonly import connect_readonly
from pipelines.warehouse_run import QualityGateBlocked, WarehouseRun
from quality.latest_run import load_latest
from tests.conftest import write_config
from tests.quality_fixtures import DAY, T0, FakeSource, event, table

NEXT_DAY = DAY + timedelta(days=1)


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _extract_events(settings, day, rows) -> None:
    extract_partition(settings, "contoso", "device_events", day, source=FakeSource({"device_events": table(rows)}))


def _published_staging_only(tmp_path):
    """A shard whose previous generation holds one good day of staging, published without models."""
    settings = write_config(tmp_path).for_tenant("contoso")
    _extract_events(settings, DAY, [event(i) for i in range(5)])
    previous = WarehouseRun(settings, DAY, "previous")
    previous.start()
    previous.sync()
    previous.publish()
    return settings


def test_a_failed_staging_check_stops_run_all_before_models_and_publish_and_keeps_the_shard_byte_for_byte(tmp_path):
    settings = _published_staging_only(tmp_path)
    before = _digest(settings.warehouse_path)
    # the next day's export lost its RemotePort column: extract lands the rows, the gate must stop them
    broken = [{k: v for k, v in event(i, Timestamp=T0 + timedelta(days=1, minutes=i)).items() if k != "RemotePort"}
              for i in range(5)]
    _extract_events(settings, NEXT_DAY, broken)
    timings: dict = {}
    run = WarehouseRun(settings, NEXT_DAY, "blocked", timings=timings)

    with pytest.raises(QualityGateBlocked, match="check device_events failed: ERROR .*not published") as blocked:
        run.run_all()

    assert blocked.value.phase == "staging" and not blocked.value.published
    assert "models_s" not in timings and "publish_s" not in timings  # no model ran, nothing was published
    assert _digest(settings.warehouse_path) == before
    latest = load_latest(settings.quality_dir)
    assert latest["run_id"] == "blocked" and latest["checks"]["device_events"]["errors"]
    assert "fw_daily" not in latest["checks"]


def test_a_failed_model_check_stops_run_all_before_the_publish(tmp_path, monkeypatch):
    settings = _published_staging_only(tmp_path)
    before = _digest(settings.warehouse_path)
    _extract_events(settings, NEXT_DAY, [event(i, Timestamp=T0 + timedelta(days=1, minutes=i)) for i in range(5)])
    original = build.build_models

    def corrupting(con, ctx, groups=build.MODEL_GROUPS, **kwargs):
        counts = original(con, ctx, groups, **kwargs)
        if "firewall" in groups:  # a broken model: a rollup row without events
            con.execute("UPDATE fw_daily SET events = 0")
        return counts

    monkeypatch.setattr(build, "build_models", corrupting)
    with pytest.raises(QualityGateBlocked, match="check fw_daily failed: ERROR") as blocked:
        WarehouseRun(settings, NEXT_DAY, "bad-model").run_all()

    assert blocked.value.phase == "firewall"
    assert _digest(settings.warehouse_path) == before
    checks = load_latest(settings.quality_dir)["checks"]
    assert checks["fw_daily"]["errors"] and not checks["device_events"]["errors"]
    assert "rule_noise" not in checks  # the tuning models after the failed check never ran


def test_run_all_publishes_with_its_check_results_reports_and_phase_timings(tmp_path):
    settings = write_config(tmp_path).for_tenant("contoso")
    _extract_events(settings, DAY, [event(i) for i in range(5)])
    said: list[str] = []
    timings: dict = {}
    run = WarehouseRun(settings, DAY, "good", progress=said.append, timings=timings)

    counts = run.run_all()

    assert counts["fw_daily"] > 0
    with connect_readonly(settings.warehouse_path) as con:
        assert con.execute("SELECT build_file FROM publish_log").fetchall() == [(run.path.name,)]
        assets = {r[0] for r in con.execute("SELECT DISTINCT asset FROM quality_results WHERE run_id = 'good'").fetchall()}
    assert {"device_events", "fw_daily", "rule_noise"} <= assets
    assert set(load_latest(settings.quality_dir)["checks"]) >= {"warehouse", "firewall_report", "owner_reports"}
    assert (settings.reports_dir / DAY.isoformat() / "firewall" / "contoso.html").stat().st_size > 0
    assert {"start_s", "sync_s", "checks_s", "models_s", "publish_s", "reports_s"} <= set(timings)
    assert timings["build_from"] == "copy"
    assert any(line.startswith("checks staging: ") and ", 0 errors" in line for line in said), said
