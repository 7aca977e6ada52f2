"""Which partitions a nightly run or a backfill processes: one place, used by the CLI and the schedule."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from pipelines.config import Settings


def yesterday() -> date:
    return datetime.now(UTC).date() - timedelta(days=1)


def days_between(start: date, end: date) -> list[date]:
    if end < start:
        raise ValueError(f"--end {end} is before --start {start}")
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def nightly_days(settings: Settings, night: date) -> list[date]:
    """The night's day plus the lookback window, never before the configured start date."""
    first = max(settings.start_date, night - timedelta(days=settings.lookback_days))
    return days_between(first, night)


def partitions(settings: Settings, days: list[date], tenants: list[str] | None = None) -> list[tuple[str, date]]:
    names = tenants or [t.name for t in settings.tenants]
    for name in names:
        settings.tenant(name)
    return [(name, day) for day in days for name in names]

