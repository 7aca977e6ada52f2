"""The bench tenant: one simulated tenant at a chosen size, landed day by day into a lake.

Extraction goes through the real pipelines.extract.extract_partition (quality rules, quarantine,
write_partition) with a SampleSource sized by SimulationParams overrides, so the lake is exactly
what the nightly pipeline would land.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from pipelines.config import Settings, TenantConfig
from pipelines.extract import extract_partition
from pipelines.sources.sample import SampleSource, SimulationParams

TENANT = "bench"
TABLES = ("device_events", "security_alert", "security_incident")


@dataclass(frozen=True)
class Scale:
    devices: int
    events_per_day: int
    alerts_per_day: int
    history_days: int
    # the day a nightly run adds, ISO text so the scale passes through JSON to child processes;
    # in the past, because extract quarantines rows timestamped in the future
    new_day_iso: str

    def params(self) -> SimulationParams:
        return SimulationParams.from_scale(
            1.0, devices=self.devices, firewall_events_per_day=self.events_per_day, alerts_per_day=self.alerts_per_day
        )

    @property
    def new_day(self) -> date:
        return date.fromisoformat(self.new_day_iso)

    @property
    def start(self) -> date:
        return self.new_day - timedelta(days=self.history_days)

    @property
    def last_history_day(self) -> date:
        return self.new_day - timedelta(days=1)


def settings(home: Path, scale: Scale) -> Settings:
    # the simulated world spans the history plus the one new day, nothing after
    tenant = TenantConfig(name=TENANT, kind="sample", start=scale.start, end=scale.new_day)
    return Settings(
        home=home, lake_root=str(home / "lake"), start_date=scale.start, lookback_days=0,
        schedule_cron="0 2 * * *", tenants=(tenant,),
    )


def extract_days(home: Path, scale: Scale, first: date, last: date) -> int:
    """Land every table for first..last (inclusive); one source instance so its day caches are reused."""
    s = settings(home, scale)
    source = SampleSource(s.tenant(TENANT), None, scale.params())
    rows = 0
    day = first
    while day <= last:
        for table in TABLES:
            rows += extract_partition(s, TENANT, table, day, source=source).rows
        day += timedelta(days=1)
    return rows
