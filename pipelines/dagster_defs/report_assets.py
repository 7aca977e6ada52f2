"""Report assets: written from the published warehouse through a read-only connection."""

from __future__ import annotations

import dagster as dg

from pipelines.dagster_defs.resources import HunthouseSettings
from pipelines.dagster_defs.warehouse_assets import as_of, shard_settings
from pipelines.reports.firewall import write_firewall_reports
from pipelines.reports.index import write_index
from pipelines.reports.owners import write_owner_reports
from pipelines.warehouse.readonly import connect_readonly


def _write(context, hunthouse: HunthouseSettings, writer) -> dg.MaterializeResult:
    """Run one report writer on a read-only connection to the published warehouse."""
    settings = shard_settings(context, hunthouse)
    with connect_readonly(settings.warehouse_path) as con:
        paths = writer(con, settings, as_of(context))
    # runs the daemon launches get the night's index too (the CLI rewrites it once every tenant is done)
    write_index(settings.reports_dir, as_of(context).isoformat())
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
        return _write(context, hunthouse, write_firewall_reports)

    @dg.asset(
        deps=["warehouse"],
        group_name="reports",
        kinds={"html", "csv"},
        owners=["team:hunthouse"],
        partitions_def=parts,
        description="The tenant's rule-owner tuning reports (HTML, CSV, JSON, watchlist CSV) for the run's day.",
    )
    def owner_reports(context, hunthouse: HunthouseSettings) -> dg.MaterializeResult:
        return _write(context, hunthouse, write_owner_reports)

    return [firewall_report, owner_reports]
