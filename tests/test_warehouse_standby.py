"""The standby generation (pipelines/warehouse/build.py): publish keeps the generation it replaces as
build/standby.duckdb; the next run takes it over and catches it up with the published file instead
of copying the whole warehouse.

- caught up, the standby equals the published file table by table, logs included;
- nights built from the standby equal nights built from a copy, and keep every log row;
- a standby an analyst still reads (another process, or this one), that is not an ancestor, or whose
  tables the catch-up does not know, is not used: the run copies, the reader is unaffected;
- a crash between any two steps of the publish leaves a whole warehouse, and the next nights match;
- through Dagster: the staging asset records build_from, and the checks pass on a standby build.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import types
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from bench.torture import fingerprint
from pipelines.warehouse import build, catchup, generations
from pipelines.warehouse.readonly import connect_readonly
from pipelines.warehouse_run import WarehouseRun
from tests.reliability_support import NIGHT, tiny_config

pytestmark = pytest.mark.xdist_group("standby")  # its module fixture is built once
REPO = Path(__file__).resolve().parents[1]
TENANTS = (("contoso", 7), ("fabrikam", 11))
N1, N2, N3 = NIGHT - timedelta(days=2), NIGHT - timedelta(days=1), NIGHT
# Columns that say when a run did something: two equally correct runs differ only there.
RUN_TIMES = {"load_log": {"loaded_at"}, "quarantine": {"loaded_at"}, "publish_log": {"published_at"},
             "quality_results": {"checked_at"}}
LOGS = ("load_log", "publish_log", "quality_results")


# -- helpers -------------------------------------------------------------------------------------
def table_hashes(path: Path, ignore: dict[str, set[str]] | None = None) -> dict[str, tuple[int, int]]:
    """{table: (rows, order-independent hash of every column but `ignore`'s)} of every table, logs included."""
    out = {}
    with connect_readonly(path) as con:
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' ORDER BY 1").fetchall()]
        for table in tables:
            columns = [r[0] for r in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE schema_name = 'main' AND table_name = ? "
                "ORDER BY column_index", [table]).fetchall()]
            kept = ", ".join(f'"{c}"' for c in columns if c not in (ignore or {}).get(table, set()))
            out[table] = con.execute(
                f'SELECT count(*), coalesce(sum(hash(t::VARCHAR)::HUGEINT), 0) FROM (SELECT {kept} FROM "{table}") t'  # noqa: S608
            ).fetchone()
    return out


def log_rows_missing(older: Path, newer: Path) -> dict[str, int]:
    """Per log table, how many rows of `older` (a multiset, every column) `newer` lacks."""
    missing = {}
    with duckdb.connect() as con:
        con.execute(f"ATTACH '{older}' AS a (READ_ONLY)")
        con.execute(f"ATTACH '{newer}' AS b (READ_ONLY)")
        present = {r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = 'a'").fetchall()}
        for table in LOGS:
            if table in present:
                missing[table] = con.execute(
                    f"SELECT count(*) FROM (SELECT * FROM a.{table} EXCEPT ALL SELECT * FROM b.{table})"  # noqa: S608
                ).fetchone()[0]
    return missing


def land(settings, night: date, first: date | None = None) -> None:
    """The night's partitions (the day and its lookback, or every day from `first`) into the lake,
    as the extract runs do."""
    from pipelines.extract import extract_partition
    from pipelines.plan import days_between, nightly_days, partitions
    from pipelines.sources.schemas import RAW_TABLES

    days = days_between(first, night) if first else nightly_days(settings, night)
    for tenant, day in partitions(settings, days):
        for table in RAW_TABLES:
            extract_partition(settings, tenant, table, day)


def night_build(settings, as_of: date, run_key: str) -> build.BuildStart:
    """Every phase of the night's warehouse run, as the Dagster assets run them (the quality gate
    included); returns where the build file came from."""
    run = WarehouseRun(settings, as_of, run_key)
    run.run_all()
    build.discard_stale_builds(settings)
    return run.started


def save(home: Path, to: Path) -> None:
    shutil.rmtree(to, ignore_errors=True)
    shutil.copytree(home, to, symlinks=True)


def restore(snapshot: Path, home: Path) -> None:
    """Back to a saved home, at the same path: lake manifests hold absolute file paths."""
    shutil.rmtree(home, ignore_errors=True)
    shutil.copytree(snapshot, home, symlinks=True)


def build_dir_names(settings) -> list[str]:
    return sorted(p.name for p in settings.build_dir.iterdir())


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A home after two publishes (so a standby exists) with night N2's partitions landed, saved,
    and the copy-built reference fingerprints of N1 (published), N2 and N3."""
    root = tmp_path_factory.mktemp("standby")
    first = N1 - timedelta(days=2)
    settings = tiny_config(root, tenants=TENANTS, scale=0.02, start=first).for_tenant("contoso")  # one shard
    land(settings, N1 - timedelta(days=1), first=first)
    assert night_build(settings, N1 - timedelta(days=1), "base").source == "copy"  # nothing published yet
    land(settings, N1)
    assert night_build(settings, N1, "n1").source == "copy"  # no standby before the 2nd publish
    assert build_dir_names(settings) == [build.STANDBY]
    land(settings, N2)
    saved = root / "saved"
    save(settings.home, saved)
    refs = {"N1": fingerprint(settings.warehouse_path)}
    generations._drop_standby(settings)
    assert night_build(settings, N2, "n2").source == "copy"
    refs["N2"] = fingerprint(settings.warehouse_path)
    land(settings, N3)
    night_build(settings, N3, "n3")
    refs["N3"] = fingerprint(settings.warehouse_path)
    restore(saved, settings.home)
    return types.SimpleNamespace(settings=settings, saved=saved, refs=refs)


@pytest.fixture()
def home(world):
    restore(world.saved, world.settings.home)
    return world.settings


# -- catch-up and equality -------------------------------------------------------------------
def test_caught_up_standby_equals_the_published_file_table_by_table(home):
    published = table_hashes(home.warehouse_path)
    start = build.start_build(home, "next")
    assert start.source == "standby", start
    # exact: every column of every table, the run logs included
    assert table_hashes(start.path) == published
    assert build_dir_names(home) == ["next.duckdb"]  # taken over by rename, no WAL beside it
    # idempotent: nothing is missing any more
    with duckdb.connect(str(start.path)) as con:
        assert build.catch_up(con, home.warehouse_path).startswith("0 missed publish(es), 0 partition")


def copy_then_standby(settings, night: date, saved: Path) -> None:
    """Build `night` from a copy, then, from the same saved home, from the standby: the tables must
    be equal (run times aside), and the standby night must keep every log row of the generation it
    replaced. The home is left at the standby result."""
    save(settings.home, saved)
    generations._drop_standby(settings)
    assert night_build(settings, night, f"night-{night}").source == "copy"
    from_copy = table_hashes(settings.warehouse_path, RUN_TIMES)
    restore(saved, settings.home)
    assert night_build(settings, night, f"night-{night}").source == "standby"
    assert table_hashes(settings.warehouse_path, RUN_TIMES) == from_copy, night
    assert log_rows_missing(saved / "warehouse" / "contoso.duckdb", settings.warehouse_path) == {
        "load_log": 0, "publish_log": 0, "quality_results": 0}
    assert build_dir_names(settings) == [build.STANDBY]


def test_nights_from_the_standby_equal_nights_from_a_copy_and_keep_every_log_row(home, tmp_path):
    copy_then_standby(home, N2, tmp_path / "before")
    land(home, N3)
    copy_then_standby(home, N3, tmp_path / "before")


def test_a_re_emitted_alert_is_caught_up_exactly(home, tmp_path):
    """90_latest_state.sql deletes the older version (and its entities) of an alert re-emitted on a
    later day; the catch-up must delete it too, while reading only the key columns of the history."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipelines.lake import partition_dir, read_manifest, write_partition

    tenant = TENANTS[0][0]
    earlier = pq.read_table(read_manifest(partition_dir(home.lake_root, "security_alert", tenant, N1)).file)
    later = pq.read_table(read_manifest(partition_dir(home.lake_root, "security_alert", tenant, N2)).file)
    with_entities = [i for i, e in enumerate(earlier.column("Entities").to_pylist()) if e and len(e) > 10]
    again = earlier.slice(with_entities[0], 1)
    column = again.schema.get_field_index("TimeGenerated")
    noon = pa.array([datetime.combine(N2, datetime.min.time(), UTC) + timedelta(hours=12)],
                    again.schema.field(column).type)
    again = again.set_column(column, again.schema.field(column), noon)
    write_partition(home.lake_root, "security_alert", tenant, N2, [pa.concat_tables([later, again])])
    alert = again.column("SystemAlertId")[0].as_py()
    query = ("SELECT (SELECT list(day ORDER BY day) FROM alerts WHERE tenant = ? AND system_alert_id = ?), "
             "(SELECT list(DISTINCT day) FROM alert_entities WHERE tenant = ? AND system_alert_id = ?)")
    with connect_readonly(home.warehouse_path) as con:
        assert con.execute(query, [tenant, alert] * 2).fetchone() == ([N1], [N1])
    copy_then_standby(home, N2, tmp_path / "before")
    with connect_readonly(home.warehouse_path) as con:
        assert con.execute(query, [tenant, alert] * 2).fetchone() == ([N2], [N2])  # the N1 version is gone
    # the next night starts from N1's file, which still holds that version: the catch-up must drop it
    with connect_readonly(build.standby_path(home)) as con:
        assert con.execute(query, [tenant, alert] * 2).fetchone() == ([N1], [N1])
    land(home, N3)
    copy_then_standby(home, N3, tmp_path / "before")


def test_publish_keeps_the_replaced_generation_as_standby_without_wal(home):
    published_inode = home.warehouse_path.stat().st_ino
    start = build.start_build(home, "n2")
    with duckdb.connect(str(start.path)) as con:
        build.sync_lake(con, home)
    build.publish(home, start.path, N2)
    standby = build.standby_path(home)
    assert standby.stat().st_ino == published_inode  # the same file the old readers hold: no copy
    assert not start.path.exists()
    assert sorted(p.name for p in home.warehouse_dir.glob("*.wal")) == []
    assert build_dir_names(home) == [build.STANDBY]


def test_discard_stale_builds_keeps_the_standby_and_this_runs_wal(home):
    folder = home.build_dir
    for name in ("old-run.duckdb", "old-run.duckdb.wal", "x.copying", "standby.duckdb.tmp", "standby.duckdb.wal",
                 "mine.duckdb", "mine.duckdb.wal"):
        (folder / name).write_bytes(b"")
    build.discard_stale_builds(home, keep=folder / "mine.duckdb")
    assert build_dir_names(home) == ["mine.duckdb", "mine.duckdb.wal", build.STANDBY]
    build.discard_stale_builds(home)
    assert build_dir_names(home) == [build.STANDBY]


def _foreign_wal(tmp_path: Path) -> Path:
    """A real WAL of another database (checkpoint on shutdown disabled, so it stays behind)."""
    other = tmp_path / "other.duckdb"
    with duckdb.connect(str(other)) as con:
        con.execute("PRAGMA disable_checkpoint_on_shutdown")
        con.execute("SET wal_autocheckpoint = '1TB'")
        con.execute("CREATE TABLE publish_log AS SELECT 1 AS x")
        con.execute("CREATE TABLE device_events AS SELECT range AS n FROM range(1000)")
    wal = tmp_path / "other.duckdb.wal"
    assert wal.exists()
    return wal


def test_a_wal_left_beside_the_standby_means_copy(home, tmp_path):
    shutil.copyfile(_foreign_wal(tmp_path), build.standby_path(home).with_name("standby.duckdb.wal"))
    start = build.start_build(home, "n2")
    assert start.source == "copy" and "WAL" in start.reason, start
    assert table_hashes(start.path) == table_hashes(home.warehouse_path)
    assert build_dir_names(home) == ["n2.duckdb"]


def test_a_stale_wal_of_a_discarded_build_file_is_never_replayed_onto_a_new_one(home, tmp_path):
    shutil.copyfile(_foreign_wal(tmp_path), home.build_dir / "n2.duckdb.wal")
    start = build.start_build(home, "n2")
    assert start.source == "standby"
    assert table_hashes(start.path) == table_hashes(home.warehouse_path)


def test_a_run_key_named_standby_gets_its_own_file(home):
    assert build.build_path(home, "standby") != build.standby_path(home)


# -- when the standby is not used ------------------------------------------------------------
def test_standby_held_by_an_analyst_process_falls_back_to_copy_and_the_analyst_is_unaffected(home, tmp_path):
    out = tmp_path / "reader.json"
    # the analyst opens N1 (published now) and keeps the connection through the next two publishes
    reader = subprocess.Popen([sys.executable, "-m", "tests.reliability_support", "hold",
                               str(home.warehouse_path), "25", str(out)], cwd=REPO, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while not out.with_suffix(".ready").exists():
            assert reader.poll() is None and time.monotonic() < deadline, reader.stderr.read() if reader.poll() else "slow"
            time.sleep(0.05)
        assert night_build(home, N2, "n2").source == "standby"  # N0 is the standby, nobody reads it
        # now the standby is N1, still open in the reader: the run must copy
        land(home, N3)
        start = night_build(home, N3, "n3")
        assert start.source == "copy", start
        assert "lock" in start.reason, start.reason
    finally:
        _, err = reader.communicate(timeout=60)
    assert reader.returncode == 0, err
    result = json.loads(out.read_text())
    assert result["errors"] == []
    assert len(result["answers"]) == 1  # one consistent version (N1) for the whole session
    assert build_dir_names(home) == [build.STANDBY]  # the new standby is N2


def test_standby_open_in_this_process_falls_back_to_copy(home):
    # POSIX locks never conflict within one process: the fd check must catch it
    reader = duckdb.connect(str(build.standby_path(home)), read_only=True)
    try:
        seen = reader.execute("SELECT count(*), max(published_at) FROM publish_log").fetchone()
        start = build.start_build(home, "n2")
        assert start.source == "copy" and "this process" in start.reason, start
        assert reader.execute("SELECT count(*), max(published_at) FROM publish_log").fetchone() == seen
    finally:
        reader.close()


def test_standby_of_another_lineage_is_not_used(home):
    # the warehouse was rebuilt from scratch: the standby is not one of its generations
    home.warehouse_path.unlink()
    start = night_build(home, N2, "fresh")
    assert start.source == "copy" and "no published warehouse" in start.reason  # an empty build
    assert build_dir_names(home) == []  # the old standby was dropped with the warehouse it belonged to
    other = home.home / "other.duckdb"
    shutil.copyfile(home.warehouse_path, other)
    with duckdb.connect(str(other)) as con:
        con.execute("UPDATE publish_log SET build_file = 'elsewhere'")
    os.replace(other, build.standby_path(home))
    start = build.start_build(home, "n2b")
    assert start.source == "copy" and "not an earlier generation" in start.reason, start


def test_table_the_catch_up_does_not_know_means_copy(home):
    with duckdb.connect(str(home.warehouse_path)) as con:  # a run added a table no CATCH_UP rule covers
        con.execute("CREATE TABLE fw_something_new AS SELECT 1 AS x")
    start = build.start_build(home, "n2")
    assert start.source == "copy", start
    assert "fw_something_new" in start.reason
    assert build_dir_names(home) == ["n2.duckdb"]  # the unusable standby was dropped, not kept beside the copy


def test_every_table_of_a_real_build_has_a_catch_up_rule(home):
    with connect_readonly(home.warehouse_path) as con:
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert tables - set(build.CATCH_UP) == set()


# -- crashes between the publish steps -------------------------------------------------------
class Killed(BaseException):
    """A crash: not an Exception, so no handler of the code under test runs for it."""


CRASH_POINTS = [("link", "before"), ("link", "after"), ("replace", "after-1"), ("replace", "after-2")]


@pytest.mark.parametrize(("call", "when"), CRASH_POINTS, ids=[f"{c}-{w}" for c, w in CRASH_POINTS])
def test_crash_between_publish_steps_leaves_a_whole_warehouse_and_the_next_nights_match(world, home, call, when,
                                                                                       monkeypatch):
    run = WarehouseRun(home, N2, "crashing")
    run.build_and_check()
    calls = {"link": 0, "replace": 0}

    def wrapped(name):
        real = getattr(os, name)

        def op(*args, **kwargs):
            calls[name] += 1
            if name == call and when == "before":
                raise Killed
            real(*args, **kwargs)
            if name == call and when in ("after", f"after-{calls[name]}"):
                raise Killed

        return op

    fake_os = types.SimpleNamespace(**{k: getattr(os, k) for k in dir(os) if not k.startswith("__")})
    fake_os.link, fake_os.replace = wrapped("link"), wrapped("replace")
    with monkeypatch.context() as patch:
        patch.setattr(generations, "os", fake_os)  # publish lives there
        with pytest.raises(Killed):
            run.publish()
    published = fingerprint(home.warehouse_path)
    assert published in (world.refs["N1"], world.refs["N2"])
    # the night again (a new run: Dagster's rerun has a new run id), then the next night
    night_build(home, N2, "rerun")
    assert fingerprint(home.warehouse_path) == world.refs["N2"]
    land(home, N3)
    night_build(home, N3, "n3")
    assert fingerprint(home.warehouse_path) == world.refs["N3"]
    assert build_dir_names(home) == [build.STANDBY]


def test_a_failed_catch_up_leaves_the_published_file_alone_and_copies(home, monkeypatch):
    before = home.warehouse_path.read_bytes()

    def broken(con, table, rule):
        raise duckdb.IOException("disk trouble while catching up")

    monkeypatch.setattr(catchup, "_replay_table", broken)
    start = build.start_build(home, "n2")
    assert start.source == "copy" and "disk trouble" in start.reason
    assert home.warehouse_path.read_bytes() == before


# -- through Dagster ---------------------------------------------------------------------------
def _build_from(settings) -> str:
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey("device_events"))
    return event.asset_materialization.metadata["build_from"].value


def test_dagster_nights_build_from_the_standby_pass_their_checks_and_equal_a_copy(tmp_path, monkeypatch):
    from pipelines.orchestrate import run_pipeline
    from pipelines.plan import days_between, nightly_days, partitions

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "unused"))  # restored after the test
    first = N1 - timedelta(days=2)
    settings = tiny_config(tmp_path, tenants=(("contoso", 7),), scale=0.05, start=first)
    tags = {"hunthouse/trigger": "test"}

    def night(day: date, parts=None) -> str:
        outcome = run_pipeline(settings, parts or partitions(settings, nightly_days(settings, day)), day, tags,
                               lambda _: None)
        assert outcome.published, outcome.failed
        return _build_from(settings)

    assert night(N1, partitions(settings, days_between(first, N1))) == "copy"
    assert night(N2) == "copy"  # the first publish had nothing to keep
    before = tmp_path / "before"
    save(settings.home, before)
    assert night(N3) == "standby"
    ignore = {**RUN_TIMES, "load_log": {"loaded_at", "written_at", "file", "duration_s"},
              "publish_log": {"published_at", "build_file"}, "quality_results": {"checked_at", "run_id"}}
    from_standby = table_hashes(settings.warehouse_path, ignore)
    assert log_rows_missing(before / "warehouse" / "contoso.duckdb", settings.warehouse_path) == {
        "load_log": 0, "publish_log": 0, "quality_results": 0}
    with connect_readonly(settings.warehouse_path) as con:
        runs = con.execute("SELECT count(DISTINCT run_id) FROM quality_results").fetchone()[0]
    assert runs == 3  # every night's check results, the two missed by the standby included
    restore(before, settings.home)
    generations._drop_standby(settings)
    assert night(N3) == "copy"
    assert table_hashes(settings.warehouse_path, ignore) == from_standby
