"""Size and behaviour knobs of the simulated tenant, derived from `TenantConfig.scale`."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

# Planted items need room: ≥ 25 devices hit by the scanner, ≥ 15 devices with the blocked app,
# a handful of attacker hosts and distinct planted devices.
MIN_DEVICES = 30


@dataclass(frozen=True)
class SimulationParams:
    devices: int = 120
    firewall_events_per_day: int = 12_000
    alerts_per_day: int = 110
    rules: int = 12
    # share of device events ingested after their partition day ended (TimeGenerated > day end)
    late_event_share: float = 0.02
    # share of alerts whose TimeGenerated lags their activity by hours (up to ~30 h)
    late_alert_share: float = 0.015
    # weekend activity relative to a weekday, for workstations (servers stay near 0.9)
    weekend_factor: float = 0.5
    # share of incidents that group several alerts of the same rule
    grouped_incident_share: float = 0.15
    # share of incidents whose RelatedAnalyticRuleIds hold full ARM resource ids, not bare GUIDs
    arm_rule_id_share: float = 0.2
    # largest Arrow batch a fetch yields
    max_batch_rows: int = 250_000

    def __post_init__(self) -> None:
        if self.devices < MIN_DEVICES:
            raise ValueError(f"devices must be at least {MIN_DEVICES} (planted items need them), got {self.devices}")
        if self.firewall_events_per_day < 10 * self.devices:
            raise ValueError("firewall_events_per_day must be at least 10 per device")
        if self.alerts_per_day < 20:
            raise ValueError("alerts_per_day must be at least 20 (the planted rules need volume)")
        if not 6 <= self.rules <= 12:
            raise ValueError(f"rules must be between 6 and 12 (the catalogue holds 12), got {self.rules}")
        for name in ("late_event_share", "late_alert_share", "weekend_factor", "grouped_incident_share",
                     "arm_rule_id_share"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        if self.max_batch_rows <= 0:
            raise ValueError("max_batch_rows must be positive")

    @classmethod
    def from_scale(cls, scale: float = 1.0, **overrides) -> SimulationParams:
        """Sizes proportional to `scale` (1.0 = ~120 devices, ~12k events and ~110 alerts a day)."""
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ValueError(f"unknown simulation parameter {unknown[0]!r}")
        devices = max(MIN_DEVICES, round(120 * scale))
        base = cls(
            devices=devices,
            firewall_events_per_day=max(10 * devices, round(12_000 * scale)),
            alerts_per_day=max(20, round(110 * scale)),
        )
        return replace(base, **overrides)
