"""Detection thresholds of the firewall findings, with the reasons for their defaults.

They reach SQL as DuckDB variables of the same name. `baseline_days` comes from Settings.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class FirewallThresholds:
    recent_days: int = 7  # "recent window": the 7 days ending as_of
    exposure_min_days: int = 2  # public_inbound_exposure: persistent (≥ 2 days) …
    exposure_min_sources: int = 3  # … or from several public sources; else it is a one-off sweep
    scanner_min_devices: int = 10  # one remote address blocked on this many devices in a day
    app_min_devices: int = 5  # app_blocked_inbound needs at least this many devices …
    app_min_share: float = 0.10  # … and this share of the tenant's reporting devices
    new_min_events: int = 3  # a new pattern with fewer events is noise, not a change
    spike_min_z: float = 6.0  # robust z of the as_of-day count against the baseline
    spike_min_events: int = 50  # a spike must be big in absolute terms …
    spike_min_ratio: float = 3.0  # … and relative to the median
    spike_mad_floor: float = 1.0  # MAD floor: a flat baseline (MAD 0) must not make every wobble a spike
    outbound_min_events: int = 10  # "repeatedly blocked" outbound
    outbound_min_ratio: float = 3.0  # daily rate now vs before: steady denials are baseline, not news
    # a finding is resolved when none of its events was seen for this many days; 3 so that a
    # workstation's situation quiet over a weekend (Friday → Monday) is not resolved and reopened
    resolve_after_days: int = 3
    # where administrators connect from: exposure drafts allow these before blocking the Internet.
    # Block rules override allow rules, so these must be ranges the Internet keyword excludes
    # (private ranges); RFC 1918 by default: set your jump hosts' or VPN pool's ranges here.
    management_ranges: tuple[str, ...] = field(default=("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))

    def params(self) -> dict[str, object]:
        values = asdict(self)
        values["management_ranges"] = list(self.management_ranges)  # a DuckDB list variable
        return values
