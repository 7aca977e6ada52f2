"""The analyst shell refuses writes and file or network access; a storage fault at publish leaves
the published warehouse byte-identical and reports one clear error line."""

from __future__ import annotations

import errno
import os
import types

import duckdb
import pytest

from pipelines import cli
from pipelines.warehouse import build, generations
from tests.conftest import write_config


@pytest.fixture()
def published(tmp_path):
    settings = write_config(tmp_path).for_tenant("contoso")
    settings.warehouse_dir.mkdir(parents=True)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("create table incidents as select 1 as incident_number")
    return tmp_path / "hunthouse.toml", settings


@pytest.mark.parametrize(
    "statement",
    [
        "create table x (a int)",
        "insert into incidents values (2)",
        "drop table incidents",
        "copy incidents to '/tmp/hunthouse-exfil.csv'",
        "attach '/tmp/other.duckdb' as other",
        "select * from read_csv('/etc/passwd')",
        "select * from read_parquet('https://example.invalid/x.parquet')",
        "install httpfs",
        "load httpfs",
        "set enable_external_access = true",
    ],
)
def test_sql_shell_refuses_writes_and_external_access(published, capsys, statement):
    config_path, settings = published
    before = settings.warehouse_path.read_bytes()
    assert cli.main(["sql", "--config", str(config_path), statement]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("hunthouse: query failed:")
    assert settings.warehouse_path.read_bytes() == before
    assert not os.path.exists("/tmp/hunthouse-exfil.csv")


def test_sql_shell_answers_reads(published, capsys):
    config_path, _ = published
    assert cli.main(["sql", "--config", str(config_path), "select count(*) as n from incidents"]) == 0
    assert "(1 row)" in capsys.readouterr().out


def test_disk_full_at_publish_keeps_the_previous_warehouse(published, monkeypatch):
    _, settings = published
    before = settings.warehouse_path.read_bytes()
    path = build.start_build(settings, "disk-full").path
    with duckdb.connect(str(path)) as con:
        con.execute("insert into incidents values (2)")

    def no_space(src, dst):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))

    fake_os = types.SimpleNamespace(**{k: getattr(os, k) for k in dir(os) if not k.startswith("__")})
    fake_os.replace = no_space
    monkeypatch.setattr(generations, "os", fake_os)  # publish lives there
    with pytest.raises(OSError, match="No space left"):
        build.publish(settings, path, settings.start_date)
    assert settings.warehouse_path.read_bytes() == before


def test_missing_warehouse_is_one_clear_line(tmp_path, capsys):
    write_config(tmp_path)
    assert cli.main(["sql", "--config", str(tmp_path / "hunthouse.toml"), "select 1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no published warehouse" in err[0]
