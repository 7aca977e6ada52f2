"""`hunthouse status` only reads: it opens the existing Dagster instance without rewriting its
dagster.yaml and without leaving DAGSTER_HOME pointing at it."""

from __future__ import annotations

import os

import pytest

from pipelines import status
from pipelines.orchestrate import prepare_instance
from tests.conftest import write_config

pytestmark = pytest.mark.fast


def test_status_reads_the_dagster_instance_without_writing_its_config_or_environment(tmp_path, monkeypatch):
    settings = write_config(tmp_path)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "before"))  # restored after the test
    prepare_instance(settings)
    yaml = settings.dagster_home / "dagster.yaml"
    edited = yaml.read_text(encoding="utf-8") + "# an operator's local edit\n"
    yaml.write_text(edited, encoding="utf-8")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "somewhere-else"))

    assert status._last_runs(settings, "contoso") == []

    assert yaml.read_text(encoding="utf-8") == edited
    assert os.environ["DAGSTER_HOME"] == str(tmp_path / "somewhere-else")


def test_status_without_a_dagster_instance_creates_none(tmp_path, monkeypatch):
    settings = write_config(tmp_path)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    assert status._last_runs(settings, "contoso") == []
    assert not settings.dagster_home.exists()
    assert "DAGSTER_HOME" not in os.environ
