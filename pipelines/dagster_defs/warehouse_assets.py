"""Warehouse assets: staging, firewall and tuning models and the atomic publish of one tenant's shard.

Partitioned by tenant: each run builds one tenant's shard (`<home>/warehouse/<tenant>.duckdb`), so
one tenant's failure never stops another's publish. All of them work on this run's build file
(`<home>/build/<tenant>/<root run id>.duckdb`) in pool "duckdb_writer"; nothing touches the
published shard until `warehouse` renames the build file over it. Each asset is one phase of a
WarehouseRun (pipelines/warehouse_run/run.py), the same phases `run_all` runs outside Dagster; the
bodies only turn what a phase returns into metadata.
"""

from __future__ import annotations

from datetime import date

import dagster as dg

from models import registry
from pipelines.config import Settings
from pipelines.dagster_defs.resources import HunthouseSettings
from pipelines.plan import yesterday
from pipelines.sources.schemas import RAW_TABLES
from pipelines.warehouse_run import TABLES, WarehouseRun

AS_OF_TAG = "hunthouse/as_of"
PARTITION_TAG = "dagster/partition"


STAGING_TABLES = TABLES["staging"]
FIREWALL_TABLES = TABLES["firewall"]
TUNING_TABLES = TABLES["tuning"]
WRITER = {"pool": "duckdb_writer", "owners": ["team:hunthouse"]}


def as_of(context) -> date:
    tag = context.run.tags.get(AS_OF_TAG)
    return date.fromisoformat(tag) if tag else yesterday()


def run_key(context) -> str:
    return context.run.root_run_id or context.run.run_id


def tenant_of(context) -> str:
    """The tenant (partition key) of this warehouse run; checks read it from the run's tags."""
    key = context.run.tags.get(PARTITION_TAG)
    if not key:
        raise dg.Failure("a warehouse run builds one tenant's shard: launch it with a tenant partition key")
    return key


def shard_settings(context, hunthouse: HunthouseSettings) -> Settings:
    return hunthouse.load().for_tenant(tenant_of(context))


def warehouse_run(context, hunthouse: HunthouseSettings) -> WarehouseRun:
    """This Dagster run's WarehouseRun: its build file is named after the root run (a retried run
    resumes it), its check results after this run. `context`: an asset's or a check's op context."""
    return WarehouseRun(shard_settings(context, hunthouse), as_of(context), run_key(context),
                        run_id=context.run.run_id, progress=context.log.info)


def _specs(tables: dict[str, str], group: str, deps: list, kinds: set[str], parts) -> list[dg.AssetSpec]:
    return [
        dg.AssetSpec(name, description=desc, group_name=group, deps=deps, kinds=kinds, owners=WRITER["owners"],
                     partitions_def=parts)
        for name, desc in tables.items()
    ]


def _raw_deps() -> list[dg.AssetDep]:
    """A tenant's shard reads every day of that tenant's raw partitions."""
    by_tenant = dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="tenant")
    return [dg.AssetDep(f"raw_{t}", partition_mapping=by_tenant) for t in RAW_TABLES]


def _staging_asset(parts) -> dg.AssetsDefinition:
    @dg.multi_asset(
        specs=_specs(STAGING_TABLES, "staging", _raw_deps(), {"duckdb", "sql"}, parts),
        pool=WRITER["pool"],
        name="staging",
        description="Loads the tenant's changed lake partitions into the staging tables of this run's build file.",
    )
    def staging(context, hunthouse: HunthouseSettings):
        run = warehouse_run(context, hunthouse)
        # "standby" (the previous generation caught up), "copy" (of the published file) or "resume"
        start = run.start()
        synced = run.sync()
        for name in STAGING_TABLES:
            yield dg.MaterializeResult(
                asset_key=name,
                metadata={
                    "dagster/row_count": synced.rows[name], "changed_partitions": len(synced.changed),
                    "build_from": start.source, "build_from_reason": start.reason,
                },
            )

    return staging


def _model_asset(group: str, tables: dict[str, str], deps: list[str], summary, parts):
    @dg.multi_asset(
        name=f"{group}_models",
        specs=_specs(tables, group, deps, {"duckdb", "sql"}, parts),
        pool=WRITER["pool"],
        description=f"Builds the {group} models in this run's build file, incrementally where the model allows.",
    )
    def _models(context, hunthouse: HunthouseSettings):
        run = warehouse_run(context, hunthouse)
        with run.writer() as con:
            counts = run.models(group)
            extra = summary(con, run)
        for name in tables:
            meta = {"dagster/row_count": counts.get(name, 0)}
            meta.update(extra.get(name, {}))
            yield dg.MaterializeResult(asset_key=name, metadata=meta)

    return _models


def _firewall_summary(con, run: WarehouseRun) -> dict:
    from pipelines.reports.firewall import findings_summary

    parts = [f"**{t}**\n\n" + findings_summary(con, t, run.as_of)["markdown"] for t in run.tenants]
    return {"fw_findings": {"findings": dg.MetadataValue.md("\n\n".join(parts))}}


def _tuning_summary(con, run: WarehouseRun) -> dict:
    from pipelines.reports.owners import noise_summary

    parts = [f"**{t}**\n\n" + noise_summary(con, t)["top_rules_markdown"] for t in run.tenants]
    return {"rule_noise": {"noise_ranking": dg.MetadataValue.md("\n\n".join(parts))}}


def _publish_asset(parts) -> dg.AssetsDefinition:
    @dg.asset(
        deps=list(FIREWALL_TABLES) + list(TUNING_TABLES) + list(STAGING_TABLES),
        group_name="publish",
        kinds={"duckdb"},
        pool=WRITER["pool"],
        owners=WRITER["owners"],
        partitions_def=parts,
        description="The tenant's published shard: this run's build file, checkpointed and atomically renamed "
                    "over warehouse/<tenant>.duckdb.",
    )
    def warehouse(context, hunthouse: HunthouseSettings) -> dg.MaterializeResult:
        run = warehouse_run(context, hunthouse)
        target = run.publish()
        return dg.MaterializeResult(
            metadata={"path": dg.MetadataValue.path(str(target)), "bytes": target.stat().st_size,
                      "as_of": str(run.as_of)}
        )

    return warehouse


def warehouse_assets(parts: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    """Staging, the model groups and the publish of one tenant's shard, partitioned by tenant."""
    return [
        _staging_asset(parts),
        _model_asset("firewall", FIREWALL_TABLES, registry.default().external_deps("firewall"), _firewall_summary,
                     parts),
        _model_asset("tuning", TUNING_TABLES, registry.default().external_deps("tuning"), _tuning_summary, parts),
        _publish_asset(parts),
    ]
