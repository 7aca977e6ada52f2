"""`hunthouse run` against fake Microsoft services that fail at random (429, 5xx, resets, malformed
bodies, PartialError) converges to exactly the fault-free warehouse; with DEBUG logging on, no secret,
token or Authorization header reaches the logs, the Dagster event log, the warehouse or the reports."""

from __future__ import annotations

import logging
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster._serdes import serialize_value

from bench.torture import fingerprint
from pipelines import cli, extract
from pipelines.sources.defender import DefenderSource
from pipelines.sources.sentinel import SentinelSource
from tests.fakes.dataset import DAY
from tests.fakes.fixtures import SECRET, Sleeps
from tests.test_connector_end_to_end import write_config

SHARDS = ("contoso-sentinel.duckdb", "contoso-defender.duckdb")

pytest_plugins = ["tests.fakes.fixtures"]  # the `fake_service` fixture
pytestmark = pytest.mark.xdist_group("reliability_services")  # its module fixture is built once
FAULT_RATE = 0.3
# What the extract did differs by design when it had to retry or split; the rows may not. A split
# window is written as more row groups, so the Parquet file's sha256 differs for the same rows.
EFFORT_COLUMNS = {"load_log": {"query_windows", "splits", "retries", "sha256"}}


def _run(directory: Path) -> tuple[int, Path]:
    directory.mkdir()
    config_path = write_config(directory, _run.url)
    code = cli.main(["run", "--config", str(config_path), "--date", DAY.isoformat()])
    return code, directory / "home"


@pytest.fixture(scope="module")
def runs(fake_service, tmp_path_factory):
    """A fault-free run, then a run with random faults on FAULT_RATE of data calls and DEBUG logs on."""
    tmp = tmp_path_factory.mktemp("services")
    sleeps = Sleeps()
    sources = {"sentinel": SentinelSource, "defender": DefenderSource}
    log_file = tmp / "debug.log"
    handler = logging.FileHandler(log_file)  # forked extract workers inherit it and write here too
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("HUNTHOUSE_HOME", raising=False)
        mp.delenv("HUNTHOUSE_CONFIG", raising=False)
        mp.setenv("DAGSTER_HOME", str(tmp / "unused"))
        # Retry waits are recorded, not slept: the source's injectable sleep, set in the factory.
        mp.setattr(extract, "make_source", lambda tenant, as_of=None: sources[tenant.kind](tenant, sleep=sleeps))
        _run.url = fake_service.url
        fake_service.reset()
        clean_code, clean_home = _run(tmp / "clean")
        clean_requests = len(fake_service.requests)
        # One day takes a dozen data requests, so a seed is picked (deterministically) whose faults
        # on those requests' first attempts include every kind; retries and splits then draw anew.
        keys = [r["key"] for r in fake_service.requests if r["route"] in fake_service.RANDOM_KINDS]
        seed = fake_service.seed_meeting(keys, FAULT_RATE, {"429", "500", "reset", "malformed", "partial"})
        fake_service.reset()
        fake_service.random_faults(FAULT_RATE, seed=seed)
        old_level = root.level
        root.setLevel(logging.DEBUG)
        root.addHandler(handler)
        try:
            faulty_code, faulty_home = _run(tmp / "faulty")
        finally:
            root.removeHandler(handler)
            root.setLevel(old_level)
            handler.close()
        data_requests = [r for r in fake_service.requests if r["route"] in fake_service.RANDOM_KINDS]
        yield {"clean": (clean_code, clean_home, clean_requests), "faulty": (faulty_code, faulty_home),
               "injected": list(fake_service.injected), "data_requests": len(data_requests),
               "tokens": set(fake_service.tokens), "log": log_file}
        fake_service.random_faults(0.0)


def test_random_faults_on_a_fifth_of_calls_converge_to_the_fault_free_warehouse(runs):
    clean_code, clean_home, _ = runs["clean"]
    faulty_code, faulty_home = runs["faulty"]
    assert clean_code == 0 and faulty_code == 0
    kinds = {kind for _, kind in runs["injected"]}
    assert len(runs["injected"]) >= 0.2 * runs["data_requests"], (len(runs["injected"]), runs["data_requests"])
    assert {"429", "reset", "partial"} <= kinds and kinds & {"500", "503"}, runs["injected"]
    retries = splits = 0
    for shard in SHARDS:
        clean = fingerprint(clean_home / "warehouse" / shard, ignore=EFFORT_COLUMNS)
        faulty = fingerprint(faulty_home / "warehouse" / shard, ignore=EFFORT_COLUMNS)
        assert faulty == clean, shard
        assert clean["device_events"][0] > 0 and clean["alerts"][0] > 0
        with duckdb.connect(str(faulty_home / "warehouse" / shard), read_only=True) as con:
            r, s = con.execute("select sum(retries), sum(splits) from load_log").fetchone()
        retries, splits = retries + r, splits + s
    assert retries > 0 and splits > 0  # the faults really went through the retry and split paths


def _secrets(runs) -> list[str]:
    tokens = runs["tokens"]
    assert tokens, "the fake issued no token: nothing was tested"
    return [SECRET, "Bearer ey", *tokens]


def test_debug_logs_and_the_dagster_event_log_hold_no_secret_or_token(runs):
    _, home = runs["faulty"]
    text = runs["log"].read_text(encoding="utf-8", errors="replace")
    sdk_debug = [line for line in text.splitlines() if line.split(" ", 1)[0].split(".")[0] in ("azure", "msal", "urllib3")
                 and " DEBUG " in line]
    assert sdk_debug, "no SDK DEBUG record was captured: the check would pass vacuously"
    events = []
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        for run in instance.get_runs():
            events += [serialize_value(e) for e in instance.all_logs(run.run_id)]
    assert len(events) > 50
    everything = text + "\n".join(events)
    for needle in _secrets(runs):
        assert needle not in everything, needle[:12]


def test_warehouse_and_reports_hold_no_secret_or_token(runs):
    _, home = runs["faulty"]
    for shard in SHARDS:
        with duckdb.connect(str(home / "warehouse" / shard), read_only=True) as con:
            tables = [r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()]
            for table in tables:
                for needle in _secrets(runs):
                    hits = con.execute(f'select count(*) from "{table}" t where contains(t::VARCHAR, ?)', [needle]).fetchone()[0]  # noqa: S608
                    assert hits == 0, (shard, table, needle[:12])
    files = [p for p in (home / "reports").rglob("*") if p.is_file()]
    assert files
    for path in files:
        body = path.read_text(encoding="utf-8", errors="replace")
        for needle in _secrets(runs):
            assert needle not in body, (path, needle[:12])
