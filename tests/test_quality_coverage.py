"""Every asset the definitions build has a quality check, every table asset has a suite, and every
check that guards the publish is blocking (and a failing model-table check does stop it); the
published-file and report checks catch what they exist for (a foreign build file, a missing table,
a missing or empty report, a <script tag)."""

from __future__ import annotations

import hashlib

import dagster as dg
import duckdb

from pipelines.definitions import build_defs
from pipelines.extract import extract_partition
from pipelines.warehouse import build
from quality.artifacts import check_published, check_report_files, expected_owner_files
from quality.gate import TABLE_SUITES
from quality.latest_run import load_latest
from tests.conftest import write_config
from tests.quality_fixtures import DAY, FakeSource, event, table


def _failed(outcomes) -> dict[str, str]:
    return {o.expectation: o.observed_value for o in outcomes if not o.success}


def test_every_asset_of_build_defs_has_a_check_and_every_table_a_suite(tmp_path):
    graph = build_defs(write_config(tmp_path)).get_repository_def().asset_graph
    assets = {k.to_user_string() for k in graph.get_all_asset_keys()}
    checked = {k.asset_key.to_user_string() for k in graph.asset_check_keys}
    assert assets - checked == set()
    tables = {a for a in assets if not a.startswith("raw_")} - {"warehouse", "firewall_report", "owner_reports"}
    assert tables - set(TABLE_SUITES) == set()


def test_every_check_upstream_of_the_publish_is_blocking(tmp_path):
    graph = build_defs(write_config(tmp_path)).get_repository_def().asset_graph
    warehouse = next(k for k in graph.get_all_asset_keys() if k.to_user_string() == "warehouse")
    upstream = graph.get(warehouse).parent_keys | {warehouse}
    for key in graph.asset_check_keys:
        if key.asset_key in upstream:
            assert graph.get_check_spec(key).blocking, key


def test_published_file_check_fails_for_another_build_or_a_missing_table(tmp_path):
    settings = write_config(tmp_path).for_tenant("contoso")
    path = build.start_build(settings, "run-a").path
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE fw_daily AS SELECT 1 AS x")
        built = {r[0]: None for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    build.publish(settings, path, DAY)

    ok = check_published(settings.warehouse_path, "run-a.duckdb", {**built, "fw_daily": 1, "load_log": 0})
    assert _failed(ok) == {}
    failed = _failed(check_published(settings.warehouse_path, "run-b.duckdb", {"fw_daily": 2, "fw_baseline": None}))
    assert set(failed) == {"is this run's build file", "table list matches the build", "row counts match the build",
                           "no table outside the build's assets"}
    assert "fw_baseline" in failed["table list matches the build"]
    assert failed["row counts match the build"] == "fw_daily 1 != 2"
    missing = _failed(check_published(tmp_path / "nowhere.duckdb", "run-a.duckdb", {}))
    assert set(missing) == {"opens read-only"}


def test_report_check_finds_missing_empty_and_scripted_files(tmp_path):
    names = expected_owner_files(["secops", "identity-team"])
    assert len(names) == 14 and "watchlist-secops.csv" in names and "automation-rules-secops.json" in names
    for name in names:
        (tmp_path / name).write_text("<p>&lt;script&gt;alert(1)&lt;/script&gt; is escaped</p>\n")
    assert _failed(check_report_files("owner_reports", tmp_path, names)) == {}

    (tmp_path / "secops.html").write_text("<td><ScRiPt >alert(1)</script></td>")
    (tmp_path / "secops.json").write_text("")
    (tmp_path / "identity-team.csv").unlink()
    failed = _failed(check_report_files("owner_reports", tmp_path, names))
    assert failed == {"every expected file exists": "identity-team.csv", "no file is empty": "secops.json",
                      "no <script in HTML": "secops.html"}


def test_a_failing_error_check_on_a_model_table_stops_the_publish(tmp_path, monkeypatch):
    settings = write_config(tmp_path).for_tenant("contoso")
    previous = build.start_build(settings, "previous").path
    build.publish(settings, previous, DAY)
    before = hashlib.sha256(settings.warehouse_path.read_bytes()).hexdigest()
    extract_partition(settings, "contoso", "device_events", DAY,
                      source=FakeSource({"device_events": table([event(i) for i in range(5)])}))

    original = build.build_models

    def corrupting(con, ctx, groups=build.MODEL_GROUPS):
        counts = original(con, ctx, groups)
        if "firewall" in groups:  # a broken model: a rollup row without events
            con.execute("UPDATE fw_daily SET events = 0")
        return counts

    monkeypatch.setattr(build, "build_models", corrupting)
    job = build_defs(settings).resolve_job_def("warehouse_build")
    with dg.DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(instance=instance, tags={"hunthouse/as_of": DAY.isoformat()},
                                        partition_key="contoso", raise_on_error=False)

    assert not result.success
    executed = {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}
    assert "firewall_quality" in executed and "warehouse" not in executed
    assert hashlib.sha256(settings.warehouse_path.read_bytes()).hexdigest() == before
    checks = load_latest(settings.quality_dir)["checks"]
    assert checks["fw_daily"]["errors"] and not checks["device_events"]["errors"]
