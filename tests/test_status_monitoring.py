"""`hunthouse status --json` and `status --check`: a machine-readable freshness answer per tenant, and a
Nagios-style exit code (0 ok, 1 stale, 2 error) with one summary line, on tiny published shards."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime, timedelta

import duckdb
import pytest

from pipelines import cli, health, monitor
from quality.engine import Outcome
from quality.latest_run import record_check
from tests.reliability_support import quick_load, tiny_config

DAYS = [date(2026, 10, 1), date(2026, 10, 2)]


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """Two tenants published by the real build; each night recorded OK in the health ledger."""
    settings = tiny_config(tmp_path_factory.mktemp("monitor"), tenants=(("contoso", 7), ("fabrikam", 8)))
    quick_load(settings, DAYS, DAYS[-1], "night-1")
    for tenant in ("contoso", "fabrikam"):
        health.record(settings.home, health.TenantOutcome(tenant, DAYS[-1].isoformat(), ok=True, trigger="test"))
    return settings


def status(capsys, settings, *args) -> tuple[int, str]:
    code = cli.main(["status", "--config", settings.source_path, *args])
    return code, capsys.readouterr().out


def test_fresh_tenants_check_ok_with_one_line(home, capsys):
    code, out = status(capsys, home, "--check", "--max-age-hours", "30")
    assert code == 0
    assert out.count("\n") == 1 and out.startswith("HUNTHOUSE OK - 2 tenant(s) fresh")
    assert "contoso through 2026-10-02" in out


def test_json_names_last_good_day_quarantine_and_last_run(home, capsys):
    code, out = status(capsys, home, "--json")
    doc = json.loads(out)
    assert code == 0 and doc["state"] == "OK" and doc["exit_code"] == 0
    by_tenant = {t["tenant"]: t for t in doc["tenants"]}
    assert set(by_tenant) == {"contoso", "fabrikam"}
    for tenant, facts in by_tenant.items():
        with duckdb.connect(str(home.shard_path(tenant)), read_only=True) as con:
            quarantined = con.execute("SELECT sum(quarantined) FROM load_log").fetchone()[0]
            as_of = con.execute("SELECT max(as_of) FROM publish_log").fetchone()[0]
        assert facts["quarantined_rows"] == quarantined
        assert facts["last_good_day"] == as_of.isoformat() == "2026-10-02"
        assert facts["days_loaded"] == ["2026-10-01", "2026-10-02"]
        assert facts["last_run"]["ok"] is True and facts["stale_since"] is None


def test_a_shard_older_than_max_age_is_stale(home):
    later = datetime.now(UTC) + timedelta(hours=31)
    doc = monitor.report(home, max_age_hours=30, now=later)
    assert doc["exit_code"] == monitor.STALE
    assert "more than 30 h" in monitor.summary_line(doc)
    assert monitor.report(home, max_age_hours=48, now=later)["exit_code"] == monitor.OK


def test_a_failed_night_is_stale_and_names_step_and_reason(tmp_path, capsys):
    settings = tiny_config(tmp_path, tenants=(("contoso", 7), ("fabrikam", 8)))
    quick_load(settings, DAYS[:1], DAYS[0], "night-1")
    for tenant in ("contoso", "fabrikam"):
        health.record(settings.home, health.TenantOutcome(tenant, DAYS[0].isoformat(), ok=True))
    health.record(settings.home, health.TenantOutcome(
        "fabrikam", DAYS[1].isoformat(), ok=False, step="extract", reason="403: ThreatHunting.Read.All missing"))
    record_check(settings.for_tenant("fabrikam").quality_dir, "run-2", "build-2.duckdb", DAYS[1], "stg_alerts",
                 [Outcome("stg_alerts", "", "rows have an alert id", "ERROR", False, "3 null", 3)])
    code, out = status(capsys, settings, "--check")
    assert code == 1
    assert out.strip() == ("HUNTHOUSE STALE - fabrikam STALE: stale since night 2026-10-02: extract failed: "
                           "403: ThreatHunting.Read.All missing")
    doc = json.loads(status(capsys, settings, "--json")[1])
    fabrikam = next(t for t in doc["tenants"] if t["tenant"] == "fabrikam")
    assert fabrikam["stale_since"] == "2026-10-02" and fabrikam["last_good_day"] == "2026-10-01"
    assert fabrikam["last_run"] == {**fabrikam["last_run"], "ok": False, "step": "extract"}
    checks = fabrikam["latest_checks"]
    assert checks["published"] is False
    assert [(c["asset"], c["severity"], c["failed"][0]["observed"]) for c in checks["failed_checks"]] == [
        ("stg_alerts", "ERROR", "3 null")]


def test_a_tenant_without_a_shard_is_an_error(home, tmp_path, capsys):
    settings = tiny_config(tmp_path, tenants=(("contoso", 7), ("fabrikam", 8)))
    shutil.copytree(home.home, settings.home)  # the module's published home, in a place of its own
    settings.shard_path("fabrikam").unlink()
    code, out = status(capsys, settings, "--check")
    assert code == 2 and out.startswith("HUNTHOUSE ERROR - fabrikam ERROR: no published warehouse at")
    assert status(capsys, settings, "--json")[0] == 0  # --json alone reports; only --check sets the code
