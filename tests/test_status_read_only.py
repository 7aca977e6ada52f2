"""`hunthouse status` only reads: it opens the existing Dagster instance without rewriting its
dagster.yaml and without leaving DAGSTER_HOME pointing at it."""

from __future__ import annotations

import hashlib
import os

import pytest

from pipelines import status
from pipelines.cli import main
from pipelines.extract import extract_partition
from pipelines.orchestrate import prepare_instance
from pipelines.warehouse_run import WarehouseRun
from tests.conftest import write_config
from tests.quality_fixtures import DAY, FakeSource, event, table

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


def _tree(root) -> dict[str, tuple[int, int, str]]:
    """Every file under root (size, mtime in ns, sha256 of its bytes) and folder. A folder's own
    mtime is left out: SQLite creates and removes the -wal/-shm files of the Dagster instance's
    databases around every read, which leaves no file behind but touches the folder."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_dir():
            out[str(path.relative_to(root))] = (0, 0, "dir")
        else:
            st = path.stat()
            out[str(path.relative_to(root))] = (st.st_size, st.st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest())
    return out


def test_every_form_of_the_status_command_leaves_the_home_and_the_environment_as_they_were(tmp_path, monkeypatch, capsys):
    settings = write_config(tmp_path)
    shard = settings.for_tenant("contoso")
    extract_partition(shard, "contoso", "device_events", DAY,
                      source=FakeSource({"device_events": table([event(i) for i in range(5)])}))
    run = WarehouseRun(shard, DAY, "published")  # a published shard, without the (slow) checks
    run.start()
    run.sync()
    run.publish()
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "before"))
    prepare_instance(settings)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "elsewhere"))
    before = _tree(settings.home)

    for argv in (["status"], ["status", "--json"], ["status", "--check"]):
        code = main([*argv, "--config", settings.source_path])
        assert code in (0, 1, 2), argv
        assert _tree(settings.home) == before, argv
        assert os.environ["DAGSTER_HOME"] == str(tmp_path / "elsewhere"), argv
    assert "contoso" in capsys.readouterr().out
