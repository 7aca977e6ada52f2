"""The scale-out configuration files validate against the installed Dagster and dagster-celery schemas,
and HUNTHOUSE_EXECUTOR selects the Celery executor for the extract and tenant-shard jobs only."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def test_scale_instance_config_is_postgres_with_a_per_tenant_run_limit(tmp_path, monkeypatch):
    from dagster._core.instance.config import dagster_instance_config

    shutil.copy(REPO / "deploy/scale/dagster.yaml", tmp_path / "dagster.yaml")
    monkeypatch.setenv("HUNTHOUSE_PG_URL", "postgresql+psycopg2://dagster@127.0.0.1:5432/dagster")
    config, _ = dagster_instance_config(str(tmp_path))
    assert config["storage"]["postgres"]["postgres_url"] == {"env": "HUNTHOUSE_PG_URL"}
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    limits = config["concurrency"]["runs"]["tag_concurrency_limits"]
    assert limits == [{"key": "hunthouse/tenant", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}]
    assert "default_limit" not in config["concurrency"]["pools"]  # per-pool limits are set in the database


def test_worker_config_validates_and_hands_lost_steps_on(monkeypatch):
    from dagster_celery.cli import get_validated_config

    monkeypatch.setenv("HUNTHOUSE_BROKER_URL", "redis://127.0.0.1:6379/0")
    config = get_validated_config(str(REPO / "deploy/scale/celery.yaml"))
    assert config["broker"] == config["backend"] == "redis://127.0.0.1:6379/0"
    source = config["config_source"]
    assert source["task_acks_late"] and source["task_reject_on_worker_lost"]


def test_celery_executor_only_when_asked(monkeypatch):
    from pipelines import config
    from pipelines.definitions import build_defs

    settings = config.load(config.EXAMPLE_CONFIG)
    monkeypatch.delenv("HUNTHOUSE_EXECUTOR", raising=False)
    defs = build_defs(settings)
    assert defs.resolve_job_def("extract").executor_def.name != "celery"
    monkeypatch.setenv("HUNTHOUSE_EXECUTOR", "celery")
    monkeypatch.setenv("HUNTHOUSE_BROKER_URL", "redis://127.0.0.1:6379/0")
    defs = build_defs(settings)
    assert defs.resolve_job_def("extract").executor_def.name == "celery"
    assert defs.resolve_job_def("tenant_shard").executor_def.name == "celery"
    assert defs.resolve_job_def("warehouse_build").executor_def.name == "in_process"  # one build file, one host
    monkeypatch.delenv("HUNTHOUSE_BROKER_URL")
    with pytest.raises(ValueError, match="HUNTHOUSE_EXECUTOR=celery needs HUNTHOUSE_BROKER_URL"):
        build_defs(settings)
