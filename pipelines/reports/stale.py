"""Reports of a tenant whose night failed: its last good shard, under that night's folder, with a
banner that says how old the data is and why the night did not publish."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from pipelines.config import Settings
from pipelines.reports.firewall import write_firewall_reports
from pipelines.reports.owners import write_owner_reports
from pipelines.warehouse.readonly import WarehouseUnavailable, connect_readonly


def stale_banner(data_through: date, night: date, step: str, reason: str) -> str:
    return f"Data through {data_through}: the night of {night} failed ({step}): {reason}"


def write_stale_reports(settings: Settings, night: date, step: str, reason: str) -> list[Path]:
    """Write the shard's reports (settings of one tenant) into `night`'s folder; none without a shard."""
    try:
        con = connect_readonly(settings.warehouse_path)
    except WarehouseUnavailable:
        return []
    with con:
        through = con.execute("SELECT max(as_of) FROM publish_log").fetchone()[0]
        if through is None:
            return []
        banner = stale_banner(through, night, step, reason)
        return (write_firewall_reports(con, settings, through, night=night, banner=banner)
                + write_owner_reports(con, settings, through, night=night, banner=banner))
