"""One warehouse run of one tenant's shard, as named phases on one build file:

    start → sync → check("staging") → models("firewall") → check("firewall") → models("tuning")
    → check("tuning") → publish → check_published → reports → check_reports

- `start` discards earlier runs' build files and starts this run's (standby, copy or resume:
  pipelines/warehouse/generations.py); `sync` loads the changed lake partitions into the staging
  tables; `models(group)` builds a model group; `publish` renames the build file over the shard.
- `check(group)` is the quality gate (quality/gate.py) of a group's tables: results go into the
  build file's quality_results and <home>/quality/<tenant>/latest.json, which `hunthouse status` reads.
- The Dagster assets call one phase per asset and their checks one check phase each; blocking asset
  checks stop what follows. `run_all` runs every phase in order in one process (bench, tests) and
  raises QualityGateBlocked at the first check with a failed ERROR expectation, so nothing after it
  runs and the published shard stays byte-for-byte as it was.

Each phase that needs the build file opens it, unless it runs inside `with run.writer():`, which holds
one connection for all of them (`publish` needs it closed). `timings` receives the seconds of each
kind of phase (start_s, sync_s, checks_s, models_s, publish_s, reports_s, the repeated kinds summed)
and `build_from`, for the benchmarks.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

from models import registry
from models.runner import ModelContext, table_counts
from pipelines.config import Settings
from pipelines.reports.firewall import write_firewall_reports
from pipelines.reports.index import write_index
from pipelines.reports.owners import write_owner_reports
from pipelines.warehouse import build
from pipelines.warehouse.connect import open_writer
from pipelines.warehouse.load_log import has_table
from pipelines.warehouse.readonly import connect_readonly
from pipelines.warehouse_run.gate import QualityGateBlocked, blocking
from quality import artifacts, gate, latest_run
from quality.engine import Outcome
from quality.results import write_results

Progress = Callable[[str], None]

# table -> description, per group, of the tables the build file's assets hold (from the model headers)
TABLES: dict[str, dict[str, str]] = {
    group: {m.name: m.description for m in registry.default().tables(group)}
    for group in ("staging", *build.MODEL_GROUPS)
}
REPORT_WRITERS = {"firewall_report": write_firewall_reports, "owner_reports": write_owner_reports}

__all__ = ["TABLES", "BuildFileMissing", "QualityGateBlocked", "Synced", "WarehouseRun"]


class BuildFileMissing(RuntimeError):
    """A phase after `start` found no build file: its run's start phase did not run or failed."""


@dataclass(frozen=True)
class Synced:
    changed: list[tuple[str, str, date]]  # (table, tenant, day) partitions loaded into staging
    rows: dict[str, int]  # staging table -> rows


class WarehouseRun:
    def __init__(self, settings: Settings, as_of: date, run_key: str, run_id: str | None = None,
                 progress: Progress | None = None, timings: dict | None = None):
        """`settings` of one tenant's shard (Settings.for_tenant); `run_key` names the build file (a
        retried run passes the same key and resumes it); `run_id` labels the check results (default:
        the key)."""
        self.settings, self.as_of, self.run_key = settings, as_of, run_key
        self.run_id = run_id or run_key
        self.progress = progress or (lambda _: None)
        self.timings = timings if timings is not None else {}
        self.path = build.build_path(settings, run_key)
        self.rows: dict[str, int] = {}  # table -> rows, as this run's phases built them
        self.started: build.BuildStart | None = None  # where `start` took the build file from
        self._con: duckdb.DuckDBPyConnection | None = None

    @property
    def tenants(self) -> list[str]:
        return [t.name for t in self.settings.tenants]

    # -- connection and clock ----------------------------------------------------------------------
    @contextmanager
    def writer(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The build file, read-write; the phases called inside the block share this connection."""
        if self._con is not None:
            yield self._con
            return
        if not self.path.exists():
            raise BuildFileMissing(f"build file {self.path.name} is missing: run the start phase of this run first")
        with open_writer(self.path, self.settings) as con:
            self._con = con
            try:
                yield con
            finally:
                self._con = None

    @contextmanager
    def _timed(self, kind: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[kind] = round(self.timings.get(kind, 0.0) + time.perf_counter() - started, 3)

    def changed(self, con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, date]]:
        """The partitions this build file loaded since the generation it started from was published
        (a resumed run includes what its first attempt loaded)."""
        return build.changed_since_publish(con, self.settings)

    # -- the phases --------------------------------------------------------------------------------
    def start(self) -> build.BuildStart:
        with self._timed("start_s"):
            build.discard_stale_builds(self.settings, keep=self.path)
            self.started = build.start_build(self.settings, self.run_key, self.progress)
        self.timings["build_from"] = self.started.source
        return self.started

    def sync(self) -> Synced:
        with self.writer() as con, self._timed("sync_s"):
            changed = build.sync_lake(con, self.settings, self.progress)
            rows = table_counts(con, list(TABLES["staging"]))
        self.rows.update(rows)
        self.progress(f"{len(changed)} lake partitions changed since the last publish")
        return Synced(changed, rows)

    def models(self, group: str) -> dict[str, int]:
        """Build one model group (incrementally where its models allow); row counts per table."""
        with self.writer() as con, self._timed("models_s"):
            ctx = ModelContext(settings=self.settings, as_of=self.as_of, changed=self.changed(con))
            counts = build.build_models(con, ctx, groups=(group,))
        self.rows.update({t: counts.get(t, 0) for t in TABLES[group]})
        self.progress(f"models {group}: {', '.join(f'{t} {n}' for t, n in counts.items())}")
        return counts

    def check(self, group: str) -> dict[str, list[Outcome]]:
        """The quality gate of a group's tables in the build file, on what this run changed. The
        staging check also carries the ERROR outcomes of the raw partitions it loaded, so a partition
        that failed its raw check can never be published."""
        results: dict[str, list[Outcome]] = {}
        with self.writer() as con, self._timed("checks_s"):
            changed = self.changed(con)
            for asset in TABLES[group]:
                outcomes = gate.check_table(con, asset, changed, self.as_of, self.tenants)
                if asset == "device_events":
                    # The raw partitions this build loaded, re-asserted once per warehouse run.
                    raw = gate.raw_results_for_build(con, self.settings, changed, self.run_id)
                    write_results(con, self.run_id, raw)
                    for raw_asset in sorted({o.asset for o in raw}):
                        self.record(raw_asset, [o for o in raw if o.asset == raw_asset])
                    outcomes += [o for o in raw if o.severity == "ERROR" and not o.success]
                write_results(con, self.run_id, [o for o in outcomes if o.asset == asset])
                self.record(asset, outcomes)
                results[asset] = outcomes
        self._say_checked(group, results)
        return results

    def publish(self) -> Path:
        if self._con is not None:
            raise RuntimeError("publish closes the build file: call it outside `with run.writer()`")
        if not self.path.exists():
            raise BuildFileMissing(f"build file {self.path.name} is missing: nothing to publish")
        with self._timed("publish_s"):
            target = build.publish(self.settings, self.path, self.as_of)
        self.progress(f"published {target}")
        return target

    def expected_rows(self) -> dict[str, int | None]:
        """Every table asset of the build, with the rows this run built (None: not built here)."""
        rows: dict[str, int | None] = {t: None for tables in TABLES.values() for t in tables}
        rows.update({t: n for t, n in self.rows.items() if t in rows})
        return rows

    def check_published(self, rows: Mapping[str, int | None] | None = None) -> list[Outcome]:
        """The published shard opens read-only, is this run's build and holds every table with the
        rows the run built (`rows`, default: those this object recorded)."""
        with self._timed("checks_s"):
            outcomes = artifacts.check_published(
                self.settings.warehouse_path, self.path.name, self.expected_rows() if rows is None else rows)
        self.record("warehouse", outcomes)
        self._say_checked("warehouse", {"warehouse": outcomes})
        return outcomes

    def reports(self, assets: tuple[str, ...] = tuple(REPORT_WRITERS)) -> dict[str, list[Path]]:
        """Write the reports of the published shard (read-only), then the night's index."""
        written: dict[str, list[Path]] = {}
        with self._timed("reports_s"):
            with connect_readonly(self.settings.warehouse_path) as con:
                for asset in assets:
                    written[asset] = REPORT_WRITERS[asset](con, self.settings, self.as_of)
            # runs the daemon launches get the night's index too (the CLI rewrites it once every tenant is done)
            write_index(self.settings.reports_dir, self.as_of.isoformat())
        return written

    def check_reports(self) -> dict[str, list[Outcome]]:
        """Every report file the shard should have exists, is non-empty and carries no script."""
        day = self.settings.reports_dir / self.as_of.isoformat()
        tenant = self.settings.shard_name
        expected = {
            "firewall_report": (day / "firewall", artifacts.expected_firewall_files(tenant)),
            "owner_reports": (day / "owners" / tenant, artifacts.expected_owner_files(self._owners())),
        }
        results = {}
        with self._timed("checks_s"):
            for asset, (directory, names) in expected.items():
                results[asset] = artifacts.check_report_files(asset, directory, names, partition=day.name)
                self.record(asset, results[asset])
        self._say_checked("reports", results)
        return results

    def build_and_check(self) -> dict[str, int]:
        """Every phase before the publish, in order; the model groups' row counts. Raises
        QualityGateBlocked at the first check with a failed ERROR expectation."""
        self.start()
        counts: dict[str, int] = {}
        with self.writer():
            self.sync()
            self._gate("staging", self.check("staging"))
            for group in build.MODEL_GROUPS:
                counts.update(self.models(group))
                self._gate(group, self.check(group))
        return counts

    def run_all(self) -> dict[str, int]:
        """Every phase in order; the model groups' row counts. Raises QualityGateBlocked at the first
        check with a failed ERROR expectation: the phases after it do not run (before the publish:
        the published shard stays byte-for-byte as it was)."""
        counts = self.build_and_check()
        self.publish()
        self._gate("warehouse", {"warehouse": self.check_published()}, published=True)
        self.reports()
        self._gate("reports", self.check_reports(), published=True)
        return counts

    # -- helpers -----------------------------------------------------------------------------------
    def record(self, asset: str, outcomes: list[Outcome]) -> None:
        """Keep an asset's check result beside the shard too: a blocked run's build file, and with
        it its quality_results, is discarded, but `hunthouse status` must still show what blocked it."""
        latest_run.record_check(self.settings.quality_dir, self.run_id, self.path.name, self.as_of, asset, outcomes)

    def _gate(self, phase: str, results: dict[str, list[Outcome]], published: bool = False) -> None:
        failed = blocking(results)
        if failed:
            raise QualityGateBlocked(phase, failed, published)

    def _say_checked(self, what: str, results: dict[str, list[Outcome]]) -> None:
        outcomes = [o for found in results.values() for o in found]
        errors = len(blocking(results))
        warnings = sum(1 for o in outcomes if not o.success) - errors
        self.progress(f"checks {what}: {len(outcomes)} expectations, {errors} errors, {warnings} warnings")

    def _owners(self) -> list[str]:
        """The owners write_owner_reports writes files for: the default owner and every rule's
        owner, or none when the shard has no rule_noise."""
        with connect_readonly(self.settings.warehouse_path) as con:
            if not has_table(con, "rule_noise"):
                return []
            owners = [r[0] for r in con.execute("SELECT DISTINCT owner FROM rule_noise").fetchall()]
        return [self.settings.default_owner, *owners]
