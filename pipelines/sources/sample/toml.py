"""A hunthouse.toml for sample tenants: one writer for tests, the torture script and demo variants."""

from __future__ import annotations

from datetime import date
from pathlib import Path

DEFAULT_TENANTS = (("contoso", 7), ("fabrikam", 11))


def sample_config(
    home: str | Path,
    *,
    tenants: tuple[tuple[str, int], ...] = DEFAULT_TENANTS,
    scale: float = 0.3,
    world_start: date = date(2026, 10, 1),
    world_end: date = date(2026, 11, 8),
    start_date: date | None = None,
    lookback_days: int = 3,
    extra: str = "",
) -> str:
    """TOML text: [hunthouse] with `home`, then one sample [[tenant]] per (name, seed), then `extra`."""
    lines = [
        "[hunthouse]",
        f'home = "{home}"',
        f"start_date = {(start_date or world_start).isoformat()}",
        f"lookback_days = {lookback_days}",
        "",
    ]
    for name, seed in tenants:
        lines += [
            "[[tenant]]",
            f'name = "{name}"',
            'kind = "sample"',
            f"seed = {seed}",
            f"scale = {scale}",
            f"start = {world_start.isoformat()}",
            f"end = {world_end.isoformat()}",
            "",
        ]
    return "\n".join(lines) + extra
