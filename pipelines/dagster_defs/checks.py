"""Data quality gate: one Great Expectations asset check per asset (suites in quality/).

- Raw extract assets: a partitioned check (`@asset_check(partitions_def=...)`). With
  BackfillPolicy.single_run one run may cover a key range; the check then validates every key of
  the run (`partition_keys`) and reports one result listing the partitions that failed. It leaves
  each partition's results beside its lake manifest, where the warehouse run picks them up.
- Staging and model assets: checks read this run's build file (pool duckdb_writer: DuckDB takes a
  file lock) and write every outcome into its quality_results table, so results publish with it.

Every check is blocking. Its result is ERROR when an ERROR expectation failed (downstream models and
the publish do not run; the published warehouse stays as it was), WARN when only WARN ones failed
(annotates), passed otherwise. The staging checks also fail on ERROR outcomes of the raw partitions
they loaded, so a partition that failed its raw check can never be published.
"""

from __future__ import annotations

import dagster as dg
import duckdb

from pipelines.dagster_defs.partitions import split_key
from pipelines.dagster_defs.resources import HunthouseSettings
from pipelines.dagster_defs.warehouse_assets import as_of, run_key
from pipelines.sources.schemas import RAW_TABLES
from pipelines.warehouse import build
from quality import gate
from quality.engine import Outcome
from quality.results import write_results
from quality.suites.staging import MODEL_SUITES, STAGING_SUITES

WRITER_POOL = "duckdb_writer"


def _result(outcomes: list[Outcome], asset_key: str | None = None) -> dg.AssetCheckResult:
    failed = [o for o in outcomes if not o.success]
    errors = [o for o in failed if o.severity == "ERROR"]
    lines = [f"{o.severity} {o.partition} {o.expectation}: {o.observed_value} ({o.why})" for o in failed[:25]]
    return dg.AssetCheckResult(
        asset_key=asset_key,
        passed=not failed,
        severity=dg.AssetCheckSeverity.ERROR if errors else dg.AssetCheckSeverity.WARN,
        description=f"{len(outcomes)} expectations, {len(errors)} errors, {len(failed) - len(errors)} warnings",
        metadata={
            "expectations": len(outcomes),
            "errors": len(errors),
            "warnings": len(failed) - len(errors),
            "partitions": len({o.partition for o in outcomes}),
            "failed": dg.MetadataValue.md("\n".join(f"- {line}" for line in lines) or "none"),
        },
    )


def _raw_check(table: str, parts: dg.PartitionsDefinition) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=f"raw_{table}",
        name="quality",
        partitions_def=parts,
        blocking=True,
        description=f"Great Expectations suite raw_{table} on each partition of the run (quality/suites/raw.py).",
    )
    def _check(context, hunthouse: HunthouseSettings) -> dg.AssetCheckResult:
        settings = hunthouse.load()
        run_id = context.op_execution_context.run_id
        outcomes: list[Outcome] = []
        for key in context.op_execution_context.partition_keys:
            tenant, day = split_key(_as_multi(key))
            outcomes += gate.check_raw_partition(settings, table, tenant, day, run_id)
        return _result(outcomes)

    return _check


def _as_multi(key) -> dg.MultiPartitionKey:
    if isinstance(key, dg.MultiPartitionKey):
        return key
    day, tenant = str(key).split("|")  # dimensions sorted by name: date|tenant
    return dg.MultiPartitionKey({"date": day, "tenant": tenant})


def _build_check(asset: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=asset,
        name="quality",
        blocking=True,
        pool=WRITER_POOL,
        description=f"Great Expectations suite {asset} on what this run changed, in the build file.",
    )
    def _check(context, hunthouse: HunthouseSettings) -> dg.AssetCheckResult:
        settings = hunthouse.load()
        run = context.op_execution_context
        path = build.build_path(settings, run_key(run))
        if not path.exists():
            raise dg.Failure(f"build file {path.name} is missing")
        with duckdb.connect(str(path)) as con:
            changed = build.changed_since_publish(con, settings)
            tenants = [t.name for t in settings.tenants]
            outcomes = gate.check_table(con, asset, changed, as_of(run), tenants)
            if asset == "device_events":
                # The raw partitions this build loaded, re-asserted once per warehouse run.
                raw = gate.raw_results_for_build(con, settings, changed, context.op_execution_context.run_id)
                write_results(con, context.op_execution_context.run_id, raw)
                outcomes += [o for o in raw if o.severity == "ERROR" and not o.success]
            write_results(con, context.op_execution_context.run_id, [o for o in outcomes if o.asset == asset])
        return _result(outcomes)

    return _check


def quality_checks(parts: dg.PartitionsDefinition) -> list[dg.AssetChecksDefinition]:
    return [
        *(_raw_check(table, parts) for table in RAW_TABLES),
        *(_build_check(asset) for asset in STAGING_SUITES),
        *(_build_check(asset) for asset in MODEL_SUITES),
    ]
