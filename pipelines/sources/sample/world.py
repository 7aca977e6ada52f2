"""The static world of one sample tenant: fleet, accounts, address pools, rules and planted actors.

Built once per (tenant, params) from the tenant seed alone, so every day generator and the planted
truth agree on names and ids without generating any day.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cached_property

import numpy as np
import pyarrow as pa

from pipelines.config import TenantConfig

from . import catalog
from .params import SimulationParams
from .rules import RULES, Rule
from .seeding import rng_for, stable_guid, stable_hex, stable_int

DEFAULT_START = date(2026, 10, 1)
DEFAULT_DAYS = 42
MIN_DAYS = 21
US_PER_DAY = 86_400_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# The planted vulnerability scanner of the tuning story (alert ip entity, never a firewall peer).
SCANNER_IP = "10.20.30.40"


def to_us(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


def day_start_us(day: date) -> int:
    return to_us(datetime(day.year, day.month, day.day, tzinfo=UTC))


def world_span(tenant: TenantConfig) -> tuple[date, date]:
    """Inclusive first and last day of the simulated world (42 days from 2026-10-01 by default)."""
    start, end = tenant.start, tenant.end
    if start is None and end is None:
        start = DEFAULT_START
    if start is None:
        start = end - timedelta(days=DEFAULT_DAYS - 1)
    if end is None:
        end = start + timedelta(days=DEFAULT_DAYS - 1)
    if (end - start).days + 1 < MIN_DAYS:
        raise ValueError(f"tenant '{tenant.name}': the sample world must span at least {MIN_DAYS} days "
                         f"(planted stories need them), got {start}..{end}")
    return start, end


def netbios_domain(tenant_name: str) -> str:
    name = re.sub(r"[^A-Za-z0-9]", "", tenant_name).upper()[:15]
    return name or "CORP"


def _ipv4(value: int) -> str:
    return f"{value >> 24 & 255}.{value >> 16 & 255}.{value >> 8 & 255}.{value & 255}"


@dataclass
class World:
    tenant: TenantConfig
    params: SimulationParams
    start: date = field(init=False)
    end: date = field(init=False)

    def __post_init__(self) -> None:
        self.start, self.end = world_span(self.tenant)
        self.n_days = (self.end - self.start).days + 1
        self.seed, self.name = self.tenant.seed, self.tenant.name
        self.netbios = netbios_domain(self.name)
        low = self.netbios.lower()
        self.dns_domain, self.upn_suffix = f"{low}.local", f"{low}.com"
        self.workspace_id = stable_guid(self.seed, self.name, "workspace")
        self.subscription_id = stable_guid(self.seed, self.name, "subscription")
        self.resource_group = f"rg-{low}-sentinel"
        self.workspace_name = f"law-{low}-sec"
        self.domain_sid = "S-1-5-21-{}-{}-{}".format(*(stable_int(self.seed, self.name, "sid", i) % 4_000_000_000
                                                      for i in range(3)))
        self._rng = rng_for(self.seed, self.name, "world")
        self._build_fleet()
        self._build_processes()
        self._build_addresses()
        self._plant()
        self._build_alert_pools()

    # ---- calendar -------------------------------------------------------------------------------
    def day(self, index: int) -> date:
        return self.start + timedelta(days=index)

    def day_us(self, index: int) -> int:
        return day_start_us(self.day(index))

    @property
    def end_us(self) -> int:
        """Exclusive end of the world (midnight after the last day)."""
        return self.day_us(self.n_days)

    def is_weekend(self, index: int) -> bool:
        return self.day(index).weekday() >= 5

    # ---- fleet ----------------------------------------------------------------------------------
    def _build_fleet(self) -> None:
        n = self.params.devices
        n_servers = max(len(catalog.SERVER_NAMES), round(0.08 * n))
        servers = list(catalog.SERVER_NAMES) + [f"srv-app{i:02d}" for i in range(2, n_servers - 11)]
        workstations = [f"ws-{i:04d}" for i in range(1, n - len(servers) + 1)]
        self.device_names = servers + workstations
        self.is_server = np.array([name.startswith("srv-") for name in self.device_names])
        self.device_ids = [stable_hex(40, self.seed, self.name, "device", d) for d in self.device_names]
        self.fqdn = [f"{d}.{self.dns_domain}" for d in self.device_names]
        # heavy-tailed activity: a Zipf-like share mixed with a flat floor, randomly assigned to devices
        ranks = self._rng.permutation(n) + 1
        zipf = 1.0 / ranks**1.1
        weight = 0.55 * zipf / zipf.mean() + 0.45
        self.device_weight = weight / weight.mean()
        # primary user of each device (servers: an admin)
        combos = [f"{f}.{last}" for last in catalog.LAST_NAMES for f in catalog.FIRST_NAMES]
        order = self._rng.permutation(len(combos))
        pool = [combos[i] for i in order]
        n_users = max(40, n // 2)
        users = [pool[i % len(pool)] + ("" if i < len(pool) else str(i // len(pool))) for i in range(n_users)]
        self.users = users
        self.device_user = np.array([self._rng.integers(0, n_users) for _ in range(n)], dtype=np.int64)
        self.user_sid = [f"{self.domain_sid}-{1100 + i}" for i in range(n_users)]
        self.user_object_id = [stable_guid(self.seed, self.name, "user", u) for u in users]

    def device_index(self, short_name: str) -> int:
        return self.device_names.index(short_name)

    # ---- processes ------------------------------------------------------------------------------
    def _build_processes(self) -> None:
        self.processes: list[catalog.Process] = list(catalog.BASE_PROCESSES) + catalog.background_processes()
        self.proc_index = {p.key: i for i, p in enumerate(self.processes)}

    def add_process(self, process: catalog.Process) -> int:
        self.proc_index[process.key] = len(self.processes)
        self.processes.append(process)
        return len(self.processes) - 1

    @cached_property
    def process_columns(self) -> dict[str, pa.Array]:
        """Arrow arrays of process attributes, indexed by process number (for vectorised take)."""
        procs = self.processes

        def col(values, typ=None):
            return pa.array(values, type=typ or pa.string())

        def h(n, p, kind):
            return stable_hex(n, self.seed, "hash", kind, p.folder, p.file_name, p.version)

        return {
            "file": col([p.file_name for p in procs]),
            "folder": col([p.folder for p in procs]),
            "command": col([p.command_line or None for p in procs]),
            "sha1": col([h(40, p, "sha1") for p in procs]),
            "sha256": col([h(64, p, "sha256") for p in procs]),
            "md5": col([h(32, p, "md5") for p in procs]),
            "size": col([p.size for p in procs], pa.int64()),
            "company": col([p.company or None for p in procs]),
            "product": col([p.product or None for p in procs]),
            "version": col([p.version or None for p in procs]),
            "internal": col([p.file_name if p.company else None for p in procs]),
            "original": col([p.file_name if p.company else None for p in procs]),
            "description": col([p.description or None for p in procs]),
            "parent": col([p.parent or None for p in procs]),
            "account_name": col([p.context if p.context != catalog.USER else None for p in procs]),
            "account_sid": col([catalog.CONTEXT_SID.get(p.context) for p in procs]),
        }

    @cached_property
    def process_meta(self) -> dict[str, np.ndarray]:
        procs = self.processes
        return {
            "is_user": np.array([p.context == catalog.USER for p in procs]),
            "logon_id": np.array([catalog.CONTEXT_LOGON_ID.get(p.context, 0) for p in procs], dtype=np.int64),
            "has_parent": np.array([bool(p.parent) for p in procs]),
        }

    @cached_property
    def user_columns(self) -> dict[str, pa.Array]:
        """Per-device arrays of the primary user's identity (for user-context process rows)."""
        u = self.device_user
        return {
            "domain": pa.array([self.netbios.lower()] * len(u)),
            "name": pa.array([self.users[i] for i in u]),
            "sid": pa.array([self.user_sid[i] for i in u]),
            "upn": pa.array([f"{self.users[i]}@{self.upn_suffix}" for i in u]),
            "object_id": pa.array([self.user_object_id[i] for i in u]),
        }

    # ---- addresses ------------------------------------------------------------------------------
    def _build_addresses(self) -> None:
        """One string pool of every address the generators use; segments are index ranges."""
        n = self.params.devices
        v4 = []
        for i in range(n):
            if self.is_server[i]:
                v4.append(_ipv4(10 << 24 | 10 << 8 | (10 + i)))
            else:
                j = i - int(self.is_server.sum())
                v4.append(_ipv4(10 << 24 | (16 + j // 200) << 8 | (10 + j % 200)))
        link_local = [f"fe80::{stable_hex(4, self.seed, 'll', i)}:{stable_hex(4, 'b', i)}:"
                      f"{stable_hex(4, 'c', i)}:{stable_hex(4, 'd', i)}" for i in range(n)]
        ula = [f"fd12:3456:789a:1::{i + 0x100:x}" for i in range(n)]
        # private peers outside the fleet (printers, IoT, VPN pool) and multicast groups
        other_private = ([f"192.168.{10 + k // 200}.{20 + k % 200}" for k in range(60)]
                         + [f"172.16.{40 + k // 200}.{12 + k % 200}" for k in range(30)])
        multicast = ["224.0.0.252", "ff02::1:3", "239.255.255.250", "224.0.0.251", "ff02::fb"]
        # public sources: documentation ranges (RFC 5737 / RFC 3849), treated as public by the models
        public_v4 = ([f"198.51.100.{k}" for k in range(1, 255)] + [f"203.0.113.{k}" for k in range(1, 200)]
                     + [f"192.0.2.{k}" for k in range(1, 255)])
        public_v6 = [f"2001:db8:{0x4000 + k:x}::{stable_hex(4, self.seed, 'v6', k)}" for k in range(80)]
        segments: dict[str, tuple[int, int]] = {}
        values: list[str] = []
        for seg_name, seg in (("v4", v4), ("ll", link_local), ("ula", ula), ("private", other_private),
                              ("multicast", multicast), ("public_v4", public_v4), ("public_v6", public_v6)):
            segments[seg_name] = (len(values), len(values) + len(seg))
            values.extend(seg)
        self.ip_values = values
        self.ip_seg = segments
        self.device_ipv4 = v4

    @cached_property
    def ip_pool(self) -> pa.Array:
        return pa.array(self.ip_values, type=pa.string())

    def ip(self, segment: str, offset: int = 0) -> int:
        lo, hi = self.ip_seg[segment]
        if not 0 <= offset < hi - lo:
            raise IndexError(f"{segment}[{offset}] out of range")
        return lo + offset

    # ---- planted actors -------------------------------------------------------------------------
    def _plant(self) -> None:
        rng, n = self._rng, self.params.devices
        self.rdp_device = self.device_index("srv-jump01")
        self.ssh_device = self.device_index("srv-sftp01")
        self.backup_server = self.device_index("srv-backup01")
        ws = np.flatnonzero(~self.is_server)
        # workstations ordered by activity: planted single-device stories use mid-activity devices so
        # that their volume is ordinary until the planted change
        mid = ws[np.argsort(self.device_weight[ws])][len(ws) // 4 : 3 * len(ws) // 4]
        picks = rng.choice(mid, size=4, replace=False)
        self.spike_device, self.stopped_device, self.gap_device, self.jdoe_device = (int(x) for x in picks)
        rest = np.setdiff1d(ws, picks)
        self.attacker_hosts = [int(x) for x in rng.choice(rest, size=max(4, min(8, n // 30)), replace=False)]
        n_new = 3 + int(rng.integers(0, 3))
        self.new_pattern_devices = self.attacker_hosts[:n_new]
        self.new_pattern_procs = {}
        for d in self.new_pattern_devices:
            user = self.users[self.device_user[d]]
            self.new_pattern_procs[d] = self.add_process(catalog.new_pattern_process(user))
        # the listening application blocked on a large part of the fleet
        k_app = min(n, max(20, int(np.ceil(0.42 * n))))
        self.syncagent_devices = np.sort(rng.choice(n, size=k_app, replace=False))
        # background listening apps, each on a small subset of workstations
        self.to_app_devices = {}
        for key in catalog.BACKGROUND_TO_APP:
            share = float(rng.uniform(0.02, 0.10))
            k = max(1, min(len(ws) // 10, int(round(share * len(ws)))))
            self.to_app_devices[key] = np.sort(rng.choice(ws, size=k, replace=False))
        # calendar of planted firewall stories (day indexes)
        last = self.n_days - 1
        self.new_pattern_first = last - 6
        self.scanner_day = last - 2
        self.spike_day = last
        self.stopped_day = last - 4
        self.gap_last_day = last - 10
        self.remote_scanner_ip = self.ip("public_v4", 76)  # 198.51.100.77
        self.c2_ips = [self.ip("public_v4", 254 + 65 + k) for k in range(3)]  # 203.0.113.66..68
        # public sources probing the exposed services: a Zipf-popular subset of the public pool,
        # excluding the scanner and C2 addresses
        pub_lo, pub_hi = self.ip_seg["public_v4"]
        reserved = {self.remote_scanner_ip, *self.c2_ips}
        candidates = [i for i in range(pub_lo, pub_hi) if i not in reserved]
        self.exposure_sources = np.array(rng.choice(candidates, size=240, replace=False), dtype=np.int64)
        v6_lo, v6_hi = self.ip_seg["public_v6"]
        self.exposure_sources_v6 = np.arange(v6_lo, v6_hi, dtype=np.int64)
        # scanner victims: ≥ 25 distinct devices, never the device whose auditing is off by then
        eligible = np.setdiff1d(np.arange(n), [self.gap_device])
        k_scan = min(len(eligible), max(28, int(round(0.3 * n))))
        self.scanner_victims = np.sort(rng.choice(eligible, size=k_scan, replace=False))
        # the noisy private peer behind the volume spike
        self.spike_peer = self.ip("private", 63)
        self._plant_situations()

    def _plant_situations(self) -> None:
        """Stories of the situation lifecycle and of the rule drafts, drawn from their own generator
        so that the actors planted before them keep their devices and addresses."""
        rng, n, last = rng_for(self.seed, self.name, "world-situations"), self.params.devices, self.n_days - 1
        # an agent listening on a quarter of the fleet; its ToApp rows name only its folder
        self.edgeagent_devices = np.sort(rng.choice(n, size=min(n, max(12, int(np.ceil(0.25 * n)))), replace=False))
        self.add_process(catalog.EDGE_AGENT)
        self.add_process(catalog.EDGE_AGENT_DIR_ONLY)
        # SNMP (UDP 161) reachable from the Internet on the print server from last − 12 to last − 3:
        # found, then resolved resolve_after_days (3) nights after its last event
        self.snmp_device = self.device_index("srv-print01")
        self.snmp_first_day, self.snmp_last_day = last - 12, last - 3
        self.add_process(catalog.SNMP_AGENT)

    # ---- tuning pools ---------------------------------------------------------------------------
    def _build_alert_pools(self) -> None:
        rng = self._rng
        self.rules: list[Rule] = list(RULES[: self.params.rules])
        self.rule_ids = [stable_guid(self.seed, self.name, "rule", r.name) for r in self.rules]
        planted_hosts = {self.backup_server, *self.attacker_hosts}
        bg_hosts = np.array([i for i in range(self.params.devices) if i not in planted_hosts])
        self.bg_hosts = rng.permutation(bg_hosts)  # Zipf rank order
        self.bg_accounts = rng.permutation(np.array(self.users + list(catalog.SERVICE_ACCOUNTS), dtype=object))
        self.attacker_accounts = list(catalog.ATTACKER_ACCOUNTS)
        self.attacker_ips = [f"203.0.113.{k}" for k in range(200, 216)] + [f"198.51.100.{k}" for k in range(
            200, 216)]
        self.benign_public_ips = [f"192.0.2.{k}" for k in range(100, 140)]
        self.jdoe, self.svc_inventory, self.svc_backup = "jdoe", "svc_inventory", "svc_backup"
        self.inventory_server = self.device_index("srv-sccm01")
        self.analysts = list(catalog.ANALYSTS)
        last = self.n_days - 1
        third = self.n_days // 3
        # living off the land: attackers run the rules' subject binaries from System32, first inside
        # the backtest window (closed TruePositive before the end), then on the last day (still open)
        self.lotl_closed = [(last - 11, "C"), (last - 10, "D"), (last - 9, "F"), (last - 8, "L")]
        self.lotl_fresh = ["C", "K", "L"]
        # a hybrid user whose cloud identity is compromised (mailbox forwarding, recorded under the
        # UPN only): the most active domain user of the background pool, so its domain\name form is
        # a tempting exclusion elsewhere; only merging account forms (the SID the cloud entity carries)
        # keeps it from being recommended
        users = set(self.users)
        self.hybrid_victim = next(str(a) for a in self.bg_accounts if a in users)
        # planted true positives: (day index, rule key, scenario); from the first third onwards
        self.planted_tps = sorted(
            [(d, "C", "backup_host_tp") for d in (third, self.n_days // 2, last - 9, last - 5)]
            + [(d, "C", "svc_backup_tp") for d in (third + 2, last - 7)]
            + [(d, "D", "jdoe_tp") for d in (third + 1, (2 * self.n_days) // 3, last - 6)]
            + [(d, key, "lotl_tp") for d, key in self.lotl_closed]
            + [(last, key, "lotl_fresh_tp") for key in self.lotl_fresh]
            + [(d, "I", "upn_tp") for d in (third + 3, last - 4)]
        )

    def rule_index(self, key: str) -> int | None:
        for i, r in enumerate(self.rules):
            if r.key == key:
                return i
        return None
