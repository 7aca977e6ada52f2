"""Shared fixtures: a small sample-tenant warehouse built through the real Dagster jobs, once."""

from __future__ import annotations

import os
from datetime import date

import pytest

from pipelines import config
from pipelines.plan import days_between, partitions
from pipelines.sources.sample.toml import sample_config

WORLD_START = date(2026, 10, 1)
WORLD_END = date(2026, 11, 8)  # 39 days: a 28-day baseline, a 7-day recent window, a 14-day backtest


OWNERS = """
[owners]
default = "secops"
[[owners.rule]]
match = "*logon*"
owner = "identity-team"
"""


def sample_config_text(home: str, scale: float = 0.3, extra: str = "") -> str:
    return sample_config(home, scale=scale, world_start=WORLD_START, world_end=WORLD_END, extra=OWNERS + extra)


def write_config(directory, **kwargs) -> config.Settings:
    path = directory / "hunthouse.toml"
    path.write_text(sample_config_text(str(directory / "home"), **kwargs))
    return config.load(path)


# The progress lines the sample warehouse's run printed (as under systemd: plain, timestamped).
SAMPLE_PROGRESS: list[str] = []


@pytest.fixture(scope="session")
def sample_warehouse(tmp_path_factory):
    """Settings of a home whose warehouse was built by `run_pipeline` (Dagster, in-process)."""
    from pipelines.orchestrate import run_pipeline
    from pipelines.progress import PlainReporter

    saved = {k: os.environ.get(k) for k in ("DAGSTER_HOME", "HUNTHOUSE_CONFIG", "HUNTHOUSE_HOME")}
    settings = write_config(tmp_path_factory.mktemp("sample"))
    parts = partitions(settings, days_between(WORLD_START, WORLD_END))
    outcome = run_pipeline(settings, parts, WORLD_END, {"hunthouse/trigger": "test"}, PlainReporter(SAMPLE_PROGRESS.append))
    assert outcome.published, outcome.failed
    yield settings
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


# `make test-fast` (pytest -m fast): the tier a developer runs on every change, under 60 s on two
# cores: pure functions, SQL models on tiny fixtures, config. Modules listed here (or carrying
# `pytestmark = pytest.mark.fast`) are in it; the end-to-end fixtures below never are.
FAST_MODULES = {
    "test_bench_reference", "test_config", "test_connector_parsing", "test_definitions",
    "test_firewall_derived_fields", "test_firewall_finding_rules", "test_firewall_incremental",
    "test_firewall_oracle", "test_firewall_real_rows", "test_firewall_situations", "test_lake", "test_quality_portal_csv",
    "test_reliability_sql_and_storage", "test_staging_latest_state", "test_staging_real_alerts",
    "test_tuning_beta", "test_tuning_kql", "test_tuning_recommendations",
}
SLOW_FIXTURES = {"sample_warehouse"}
# `make test-reliability` (pytest -m slow): the fault suite that replays many nights in subprocesses
# (SIGKILLs mid-night, analysts reading during publishes, random service faults, crashes between the
# publish steps; tests elsewhere marked `slow`: reruns and faulty nights replayed through the CLI or
# Dagster). CI runs it after `make test`; `make test` leaves it out to stay under 5 minutes.
SLOW_MODULES = {
    "test_reliability_crash", "test_reliability_concurrent_readers", "test_reliability_services",
    "test_warehouse_standby",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1]
        if module in FAST_MODULES:
            item.add_marker(pytest.mark.fast)
        if module in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)
        if item.get_closest_marker("fast") and SLOW_FIXTURES & set(item.fixturenames):
            raise pytest.UsageError(f"{item.nodeid} is in the fast tier but uses {SLOW_FIXTURES & set(item.fixturenames)}")
