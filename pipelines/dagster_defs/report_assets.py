"""Report assets: the reports phase of the warehouse run (pipelines/warehouse_run/run.py), written
from the published shard through a read-only connection."""

from __future__ import annotations

import dagster as dg

from pipelines.dagster_defs.resources import HunthouseSettings
from pipelines.dagster_defs.warehouse_assets import warehouse_run


def _write(context, hunthouse: HunthouseSettings, asset: str) -> dg.MaterializeResult:
    """The reports phase of this run for one report asset (read-only on the published shard)."""
    paths = warehouse_run(context, hunthouse).reports((asset,))[asset]
    return dg.MaterializeResult(
        metadata={"files": dg.MetadataValue.md("\n".join(f"- {p}" for p in paths)), "count": len(paths)}
    )


def report_assets(parts: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    """The tenant's firewall report and its rule owners' reports, partitioned by tenant."""

    @dg.asset(
        deps=["warehouse"],
        group_name="reports",
        kinds={"html"},
        owners=["team:hunthouse"],
        partitions_def=parts,
        description="The tenant's firewall hardening report (self-contained HTML) for the run's day.",
    )
    def firewall_report(context, hunthouse: HunthouseSettings) -> dg.MaterializeResult:
        return _write(context, hunthouse, "firewall_report")

    @dg.asset(
        deps=["warehouse"],
        group_name="reports",
        kinds={"html", "csv"},
        owners=["team:hunthouse"],
        partitions_def=parts,
        description="The tenant's rule-owner tuning reports (HTML, CSV, JSON, watchlist CSV) for the run's day.",
    )
    def owner_reports(context, hunthouse: HunthouseSettings) -> dg.MaterializeResult:
        return _write(context, hunthouse, "owner_reports")

    return [firewall_report, owner_reports]
