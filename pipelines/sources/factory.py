"""Builds the source for a configured tenant: the one place that knows every source kind."""

from __future__ import annotations

from datetime import datetime

from pipelines.config import TenantConfig
from pipelines.sources.base import Source


def make_source(tenant: TenantConfig, as_of: datetime | None = None) -> Source:
    """`as_of` only matters to the simulator: rows ingested later than it are not there yet."""
    if tenant.kind == "sample":
        from pipelines.sources.sample.source import SampleSource

        return SampleSource(tenant, as_of=as_of)
    if tenant.kind == "sentinel":
        from pipelines.sources.sentinel import SentinelSource

        return SentinelSource(tenant)
    if tenant.kind == "defender":
        from pipelines.sources.defender import DefenderSource

        return DefenderSource(tenant)
    raise ValueError(f"tenant '{tenant.name}': unknown source kind {tenant.kind!r}")
