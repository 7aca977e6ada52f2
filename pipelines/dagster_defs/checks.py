"""Data quality gate: one Great Expectations asset check per asset (suites in quality/).

- Warehouse checks run in a tenant's warehouse run (partition key = tenant) and read that tenant's
  build file and published shard only.
- Raw extract assets: a partitioned check (`@asset_check(partitions_def=...)`). With
  BackfillPolicy.single_run one run may cover a key range; the check then validates every key of
  the run (`partition_keys`) and reports one result listing the partitions that failed. It leaves
  each partition's results beside its lake manifest, where the warehouse run picks them up.
- Staging and model tables: one check op per producing step (staging, firewall, tuning) reads
  this run's build file (pool duckdb_writer: DuckDB takes a file lock) and writes every outcome
  into its quality_results table, so results publish with it.
- `warehouse`: the published file opens read-only, is this run's build and holds every table with
  the row counts the run recorded. Reports: every expected file exists, is non-empty, no <script.
- Every check of a warehouse run also records its result in <home>/quality/latest.json
  (quality/latest_run.py): a blocked run's build file is discarded with its quality_results, and
  `hunthouse status` reads that file to say which checks blocked it.

Every check is blocking. Its result is ERROR when an ERROR expectation failed (downstream models and
the publish do not run; the published warehouse stays as it was), WARN when only WARN ones failed
(annotates), passed otherwise. The staging checks also fail on ERROR outcomes of the raw partitions
they loaded, so a partition that failed its raw check can never be published.
"""

from __future__ import annotations

import dagster as dg

from pipelines.dagster_defs.partitions import split_key
from pipelines.dagster_defs.resources import HunthouseSettings
from pipelines.dagster_defs.warehouse_assets import (
    FIREWALL_TABLES,
    STAGING_TABLES,
    TUNING_TABLES,
    warehouse_run,
)
from pipelines.sources.schemas import RAW_TABLES
from quality import gate
from quality.engine import Outcome

WRITER_POOL = "duckdb_writer"
TABLE_ASSETS = [*STAGING_TABLES, *FIREWALL_TABLES, *TUNING_TABLES]


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
        keys = [split_key(_as_multi(key)) for key in context.op_execution_context.partition_keys]
        return _result(gate.check_raw_partitions(settings, table, keys, run_id))

    return _check


def _as_multi(key) -> dg.MultiPartitionKey:
    if isinstance(key, dg.MultiPartitionKey):
        return key
    day, tenant = str(key).split("|")  # dimensions sorted by name: date|tenant
    return dg.MultiPartitionKey({"date": day, "tenant": tenant})


def _table_checks(group: str, assets: list[str]) -> dg.AssetChecksDefinition:
    """One op validating every table a model step produced: the build file is opened once and the
    GX context is warm, instead of one step (and one connection) per table."""

    @dg.multi_asset_check(
        name=f"{group}_quality",
        specs=[
            dg.AssetCheckSpec(
                "quality", asset=asset, blocking=True,
                description=f"Great Expectations suite {asset} on what this run changed, in the build file "
                            "(quality/suites/).",
            )
            for asset in assets
        ],
        pool=WRITER_POOL,
        description=f"Quality gate of the {group} tables in this run's build file.",
    )
    def _check(context, hunthouse: HunthouseSettings):
        for asset, outcomes in warehouse_run(context.op_execution_context, hunthouse).check(group).items():
            yield _result(outcomes, asset)

    return _check


def _materialized_rows(context) -> dict[str, int | None]:
    """Every table asset of the build, with the row count this run recorded when it materialised it
    (None when it did not, e.g. a re-execution that skipped the step)."""
    rows: dict[str, int | None] = dict.fromkeys(TABLE_ASSETS)
    records = context.instance.get_records_for_run(
        context.op_execution_context.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    ).records
    for record in records:
        mat = record.event_log_entry.asset_materialization
        name = mat.asset_key.to_user_string() if mat else ""
        count = mat.metadata.get("dagster/row_count") if mat else None
        if name in rows and count is not None:
            rows[name] = int(count.value)
    return rows


@dg.asset_check(
    asset="warehouse",
    name="quality",
    blocking=True,
    description="The published file opens read-only, is this run's build, and holds every table of the build "
                "with the row counts the run recorded (quality/artifacts.py).",
)
def warehouse_check(context, hunthouse: HunthouseSettings) -> dg.AssetCheckResult:
    run = warehouse_run(context.op_execution_context, hunthouse)
    return _result(run.check_published(_materialized_rows(context)))


@dg.multi_asset_check(
    name="reports_quality",
    specs=[
        dg.AssetCheckSpec("quality", asset=asset, blocking=True, description=text)
        for asset, text in [
            ("firewall_report", "One non-empty HTML report per tenant with its netsh and PowerShell rule-draft "
                                "scripts, HTML without a <script tag (quality/artifacts.py)."),
            ("owner_reports", "HTML, CSV, JSON and watchlist CSV per owner, non-empty, HTML without a <script tag "
                              "(quality/artifacts.py)."),
        ]
    ],
    description="Every expected report file exists, is non-empty and carries no script.",
)
def reports_check(context, hunthouse: HunthouseSettings):
    for asset, outcomes in warehouse_run(context.op_execution_context, hunthouse).check_reports().items():
        yield _result(outcomes, asset)


def quality_checks(parts: dg.PartitionsDefinition) -> list[dg.AssetChecksDefinition]:
    return [
        *(_raw_check(table, parts) for table in RAW_TABLES),
        _table_checks("staging", list(STAGING_TABLES)),
        _table_checks("firewall", list(FIREWALL_TABLES)),
        _table_checks("tuning", list(TUNING_TABLES)),
        warehouse_check,
        reports_check,
    ]
