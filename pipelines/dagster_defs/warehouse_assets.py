"""Warehouse assets: staging, firewall and tuning models, the atomic publish, and the reports.

Partitioned by tenant: each run builds one tenant's shard (`<home>/warehouse/<tenant>.duckdb`), so
one tenant's failure never stops another's publish. All of them work on this run's build file
(`<home>/build/<tenant>/<root run id>.duckdb`) in pool "duckdb_writer"; nothing touches the
published shard until `warehouse` renames the build file over it. `staging` starts the build file from the standby generation when it can (metadata
`build_from`: standby | copy | resume; pipelines/warehouse/build.py). Each body is thin: it calls pipelines.warehouse and the model groups, and records metadata.
"""

from __future__ import annotations

from datetime import date

import dagster as dg

from models import registry
from models.runner import ModelContext, table_counts
from pipelines.config import Settings
from pipelines.dagster_defs.resources import HunthouseSettings
from pipelines.plan import yesterday
from pipelines.sources.schemas import RAW_TABLES
from pipelines.warehouse import build
from pipelines.warehouse.connect import open_writer

AS_OF_TAG = "hunthouse/as_of"
PARTITION_TAG = "dagster/partition"


def _described(group: str) -> dict[str, str]:
    """table -> description of a model group's published tables, from their headers (models/registry.py)."""
    return {m.name: m.description for m in registry.default().tables(group)}


STAGING_TABLES = _described("staging")
FIREWALL_TABLES = _described("firewall")
TUNING_TABLES = _described("tuning")
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
        settings = shard_settings(context, hunthouse)
        path = build.build_path(settings, run_key(context))
        build.discard_stale_builds(settings, keep=path)
        # "standby" (the previous generation caught up), "copy" (of the published file) or "resume"
        start = build.start_build(settings, run_key(context), progress=context.log.info)
        with open_writer(start.path, settings) as con:
            changed = build.sync_lake(con, settings, progress=context.log.info)
            counts = table_counts(con, list(STAGING_TABLES))
        context.log.info(f"{len(changed)} lake partitions changed since the last publish")
        for name in STAGING_TABLES:
            yield dg.MaterializeResult(
                asset_key=name,
                metadata={
                    "dagster/row_count": counts[name], "changed_partitions": len(changed),
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
        settings = shard_settings(context, hunthouse)
        path = build.build_path(settings, run_key(context))
        if not path.exists():
            raise dg.Failure(f"build file {path.name} is missing: run the staging step of this run first")
        with open_writer(path, settings) as con:
            ctx = ModelContext(settings=settings, as_of=as_of(context), changed=build.changed_since_publish(con, settings))
            counts = build.build_models(con, ctx, groups=(group,))
            extra = summary(con, ctx)
        for name in tables:
            meta = {"dagster/row_count": counts.get(name, 0)}
            meta.update(extra.get(name, {}))
            yield dg.MaterializeResult(asset_key=name, metadata=meta)

    return _models


def _firewall_summary(con, ctx: ModelContext) -> dict:
    from pipelines.reports.firewall import findings_summary

    parts = [f"**{t}**\n\n" + findings_summary(con, t, ctx.as_of)["markdown"] for t in ctx.tenants]
    return {"fw_findings": {"findings": dg.MetadataValue.md("\n\n".join(parts))}}


def _tuning_summary(con, ctx: ModelContext) -> dict:
    from pipelines.reports.owners import noise_summary

    parts = [f"**{t}**\n\n" + noise_summary(con, t)["top_rules_markdown"] for t in ctx.tenants]
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
        settings = shard_settings(context, hunthouse)
        path = build.build_path(settings, run_key(context))
        if not path.exists():
            raise dg.Failure(f"build file {path.name} is missing: nothing to publish")
        target = build.publish(settings, path, as_of(context))
        return dg.MaterializeResult(
            metadata={"path": dg.MetadataValue.path(str(target)), "bytes": target.stat().st_size,
                      "as_of": str(as_of(context))}
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
