"""Firewall event streams of one simulated day, as numpy column arrays (no Python loop per event).

Each stream has its own random generator (seeded by day and stream name), so the rows of one
stream never depend on another stream or on what was generated before.

Codes: action = index into schemas.FIREWALL_ACTION_TYPES (0 inbound blocked, 1 inbound to app
blocked, 2 outbound blocked, 3 service stopped); proto 0 TCP / 1 UDP / 2 not reported (no
AdditionalFields.Protocol); profile 0 Domain / 1 Private /
2 Public; address columns are indexes into World.ip_pool, -1 = empty.
"""

from __future__ import annotations

import numpy as np

from .seeding import rng_for, zipf_weights
from .world import US_PER_DAY, World

INBOUND, TO_APP, OUTBOUND, STOPPED = 0, 1, 2, 3
TCP, UDP, NO_PROTOCOL = 0, 1, 2
DOMAIN, PRIVATE, PUBLIC = 0, 1, 2
FIELDS = ("dev", "tod", "action", "proc", "rip", "rport", "lip", "lport", "proto", "profile", "mapped")

# Share of the daily volume carried by each fleet-wide stream (the planted stories come on top).
SHARES = {"netbios": 0.30, "llmnr": 0.20, "svchost_out": 0.15, "bg_inbound": 0.18, "bg_outbound": 0.14}
BG_INBOUND_PORTS = np.array([135, 445, 139, 5985, 3389, 161, 8080])
EPHEMERAL = (49152, 65535)


def _diurnal_cdfs() -> np.ndarray:
    """Cumulative time-of-day distributions over 96 quarter hours: [workstation, server]."""
    hours = (np.arange(96) + 0.5) / 4
    office = 0.12 + np.exp(-(((hours - 10.5) / 2.6) ** 2)) + 0.8 * np.exp(-(((hours - 14.5) / 2.4) ** 2))
    server = 0.7 + 0.3 * np.exp(-(((hours - 13) / 5) ** 2))
    curves = np.stack([office, server])
    return np.cumsum(curves / curves.sum(axis=1, keepdims=True), axis=1)


DIURNAL = _diurnal_cdfs()


class DayStreams:
    """Generates the firewall streams of day `index` of `world`."""

    def __init__(self, world: World, index: int):
        self.w, self.k = world, index
        p = world.params
        n = p.devices
        weekend = world.is_weekend(index)
        factor = np.where(world.is_server, 0.9, p.weekend_factor) if weekend else np.ones(n)
        # a gentle day-to-day drift shared by the fleet, so days are not identical
        drift = 1.0 + 0.06 * np.sin(2 * np.pi * index / 17.0)
        self.active = np.ones(n, dtype=bool)
        if index > world.gap_last_day:
            self.active[world.gap_device] = False  # auditing switched off: no events at all
        self.rate = p.firewall_events_per_day / n * world.device_weight * factor * drift * self.active
        peers = np.arange(n)
        self.peer_order = rng_for(world.seed, world.name, "peer-order").permutation(peers)
        self.peer_cdf = np.cumsum(zipf_weights(n, 1.0))

    # -- helpers ------------------------------------------------------------------------------
    def rng(self, stream: str) -> np.random.Generator:
        return rng_for(self.w.seed, self.w.name, f"fw:{stream}", self.k)

    def tod(self, rng: np.random.Generator, dev: np.ndarray) -> np.ndarray:
        """Microseconds since midnight, following the office or server curve of each row's device."""
        u = rng.random(len(dev))
        curve = self.w.is_server[dev].astype(np.int64)
        bucket = np.empty(len(dev), dtype=np.int64)
        for c in (0, 1):
            sel = curve == c
            bucket[sel] = np.searchsorted(DIURNAL[c], u[sel], side="right")
        bucket = np.minimum(bucket, 95)
        return bucket * (US_PER_DAY // 96) + rng.integers(0, US_PER_DAY // 96, len(dev))

    def peers(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Zipf-popular fleet devices (as indexes) to act as internal peers."""
        pos = np.minimum(np.searchsorted(self.peer_cdf, rng.random(size), side="right"), len(self.peer_cdf) - 1)
        return self.peer_order[pos]

    def per_device(self, rng: np.random.Generator, share: float) -> np.ndarray:
        return np.repeat(np.arange(len(self.rate)), rng.poisson(self.rate * share))

    @staticmethod
    def make(dev, tod, action, proc, rip, rport, lip, lport, proto, profile, mapped=None) -> dict:
        m = len(dev)

        def arr(v, dtype=np.int64):
            return np.full(m, v, dtype=dtype) if np.isscalar(v) else np.asarray(v, dtype=dtype)

        return {"dev": arr(dev), "tod": arr(tod), "action": arr(action, np.int8), "proc": arr(proc),
                "rip": arr(rip), "rport": arr(rport), "lip": arr(lip), "lport": arr(lport),
                "proto": arr(proto, np.int8), "profile": arr(profile, np.int8),
                "mapped": arr(False if mapped is None else mapped, bool)}

    def profile_of(self, rng: np.random.Generator, dev: np.ndarray) -> np.ndarray:
        """Domain profile mostly; laptops off the corporate network report Private or Public."""
        u = rng.random(len(dev))
        prof = np.where(u < 0.8, DOMAIN, np.where(u < 0.93, PRIVATE, PUBLIC))
        return np.where(self.w.is_server[dev], DOMAIN, prof)

    # -- benign, fleet-wide streams ------------------------------------------------------------
    def netbios(self) -> dict:
        """SYSTEM (ntoskrnl.exe) blocking NetBIOS name/datagram traffic from internal peers."""
        rng = self.rng("netbios")
        dev = self.per_device(rng, SHARES["netbios"])
        port = np.where(rng.random(len(dev)) < 0.7, 137, 138)
        peer = self.peers(rng, len(dev))
        rport = np.where(port == 138, 138, rng.integers(*EPHEMERAL, len(dev)))
        return self.make(dev, self.tod(rng, dev), INBOUND, self.w.proc_index["kernel"], peer, rport, dev, port,
                         UDP, self.profile_of(rng, dev))

    def llmnr(self) -> dict:
        """Dnscache blocking LLMNR (5355) queries sent by link-local peers to the multicast group."""
        rng = self.rng("llmnr")
        dev = self.per_device(rng, SHARES["llmnr"])
        peer = self.peers(rng, len(dev))
        v6 = rng.random(len(dev)) < 0.6
        ll_lo = self.w.ip_seg["ll"][0]
        rip = np.where(v6, ll_lo + peer, peer)  # fe80:: address or private IPv4 of the peer
        lip = np.where(v6, self.w.ip("multicast", 1), self.w.ip("multicast", 0))
        return self.make(dev, self.tod(rng, dev), INBOUND, self.w.proc_index["dnscache"], rip,
                         rng.integers(*EPHEMERAL, len(dev)), lip, 5355, UDP, self.profile_of(rng, dev))

    def svchost_out(self) -> dict:
        """Function discovery (fdPHost) blocked outbound to internal peers (WSD 5357, 3702 multicast)."""
        rng = self.rng("svchost_out")
        dev = self.per_device(rng, SHARES["svchost_out"])
        peer = self.peers(rng, len(dev))
        wsd = rng.random(len(dev)) < 0.75
        rip = np.where(wsd, peer, self.w.ip("multicast", 2))
        rport = np.where(wsd, 5357, 3702)
        return self.make(dev, self.tod(rng, dev), OUTBOUND, self.w.proc_index["fdphost"], rip, rport, dev,
                         rng.integers(*EPHEMERAL, len(dev)), np.where(wsd, TCP, UDP), self.profile_of(rng, dev))

    def bg_inbound(self) -> dict:
        """Inbound blocks from internal peers (RPC, SMB, WinRM, RDP…), Zipf over ports and peers."""
        rng = self.rng("bg_inbound")
        dev = self.per_device(rng, SHARES["bg_inbound"])
        pw = zipf_weights(len(BG_INBOUND_PORTS), 1.3)
        port = BG_INBOUND_PORTS[rng.choice(len(pw), size=len(dev), p=pw)]
        from_other = rng.random(len(dev)) < 0.15
        other_lo, other_hi = self.w.ip_seg["private"]
        rip = np.where(from_other, rng.integers(other_lo, other_hi - 1, len(dev)), self.peers(rng, len(dev)))
        proc = np.where(np.isin(port, (135, 5985, 3389)), self.w.proc_index["termsvc"], self.w.proc_index["kernel"])
        proc = np.where(port == 135, self.w.proc_index["dnscache"], proc)
        return self.make(dev, self.tod(rng, dev), INBOUND, proc, rip, rng.integers(*EPHEMERAL, len(dev)), dev,
                         port, np.where(port == 161, UDP, TCP), self.profile_of(rng, dev))

    def bg_outbound(self) -> dict:
        """Ordinary software blocked outbound to internal destinations; Zipf over applications."""
        from .catalog import BACKGROUND_OUTBOUND

        rng = self.rng("bg_outbound")
        dev = self.per_device(rng, SHARES["bg_outbound"])
        aw = zipf_weights(len(BACKGROUND_OUTBOUND), 1.2)
        app = rng.choice(len(aw), size=len(dev), p=aw)
        procs = np.array([self.w.proc_index[a[0]] for a in BACKGROUND_OUTBOUND])
        port_table = [a[7] for a in BACKGROUND_OUTBOUND]
        width = max(len(t) for t in port_table)
        ports = np.array([list(t) + [t[0]] * (width - len(t)) for t in port_table])
        counts = np.array([len(t) for t in port_table])
        port = ports[app, (rng.random(len(dev)) * counts[app]).astype(np.int64)]
        server_peer = rng.integers(0, int(self.w.is_server.sum()), len(dev))  # file/app servers
        other_lo, other_hi = self.w.ip_seg["private"]
        rip = np.where(rng.random(len(dev)) < 0.7, server_peer, rng.integers(other_lo, other_hi - 1, len(dev)))
        return self.make(dev, self.tod(rng, dev), OUTBOUND, procs[app], rip, port, dev,
                         rng.integers(*EPHEMERAL, len(dev)), np.where(port == 3478, UDP, TCP),
                         self.profile_of(rng, dev))

    def to_app(self) -> dict:
        """Inbound-to-application blocks: a few listening apps on small device subsets, plus the
        planted SyncAgent on a large share of the fleet. IP and port columns stay empty."""
        rng = self.rng("to_app")
        parts = []
        for key, devices, p_day, max_events in (
            [("syncagent", self.w.syncagent_devices, 0.9, 5)]
            + [(k, d, 0.3, 3) for k, d in self.w.to_app_devices.items()]
        ):
            devices = devices[self.active[devices]]
            firing = devices[rng.random(len(devices)) < p_day]
            dev = np.repeat(firing, rng.integers(1, max_events + 1, len(firing)))
            u = rng.random(len(dev))
            profile = np.where(u < 0.6, DOMAIN, np.where(u < 0.85, PRIVATE, PUBLIC))
            parts.append(self.make(dev, self.tod(rng, dev), TO_APP, self.w.proc_index[key], -1, -1, -1, -1, TCP,
                                   profile))
        return concat(parts)

    # -- planted stories -----------------------------------------------------------------------
    def exposure(self) -> dict:
        """Public sources probing RDP (3389) on one server and SSH (22) on another, every day."""
        rng = self.rng("exposure")
        parts = []
        for dev_i, port, proc in ((self.w.rdp_device, 3389, "termsvc"), (self.w.ssh_device, 22, "sshd")):
            m = int(rng.integers(20, 61))
            dev = np.full(m, dev_i)
            kind = rng.random(m)
            srcs = self.w.exposure_sources
            src = srcs[np.minimum(np.searchsorted(np.cumsum(zipf_weights(len(srcs), 0.8)), rng.random(m)),
                                  len(srcs) - 1)]
            v6 = kind > 0.85
            rip = np.where(v6, rng.choice(self.w.exposure_sources_v6, m), src)
            mapped = (kind < 0.3) & ~v6  # dual-stack listener: ::ffff:a.b.c.d
            lip = np.where(v6, self.w.ip_seg["ula"][0] + dev_i, dev_i)
            parts.append(self.make(dev, rng.integers(0, US_PER_DAY, m), INBOUND, self.w.proc_index[proc], rip,
                                   rng.integers(*EPHEMERAL, m), lip, port, TCP, PUBLIC, mapped))
        return concat(parts)

    def new_pattern(self) -> dict:
        """From world end − 6: upd4te.exe on a few attacker hosts blocked outbound to public 8443."""
        if self.k < self.w.new_pattern_first:
            return empty()
        rng = self.rng("new_pattern")
        parts = []
        for d in self.w.new_pattern_devices:
            m = int(rng.integers(24, 73))
            parts.append(self.make(np.full(m, d), self.tod(rng, np.full(m, d)), OUTBOUND,
                                   self.w.new_pattern_procs[d], rng.choice(self.w.c2_ips, m), 8443, d,
                                   rng.integers(*EPHEMERAL, m), TCP, self.profile_of(rng, np.full(m, d))))
        return concat(parts)

    def remote_scanner(self) -> dict:
        """On world end − 2, one public address probes SMB (445) across a large part of the fleet."""
        if self.k != self.w.scanner_day:
            return empty()
        rng = self.rng("remote_scanner")
        victims = self.w.scanner_victims
        dev = np.repeat(victims, rng.integers(1, 4, len(victims)))
        start = rng.integers(2, 20) * 3_600_000_000
        tod = start + np.sort(rng.integers(0, 40 * 60_000_000, len(dev)))  # a 40-minute sweep
        return self.make(dev, tod, INBOUND, self.w.proc_index["kernel"], self.w.remote_scanner_ip,
                         rng.integers(*EPHEMERAL, len(dev)), dev, 445, TCP, PUBLIC)

    def volume_spike(self) -> dict:
        """On the last world day a private peer floods one workstation: ≥ 10× its usual inbound blocks."""
        if self.k != self.w.spike_day:
            return empty()
        rng = self.rng("volume_spike")
        d = self.w.spike_device
        weekday_rate = self.w.params.firewall_events_per_day / self.w.params.devices * self.w.device_weight[d]
        usual_inbound = weekday_rate * (SHARES["netbios"] + SHARES["llmnr"] + SHARES["bg_inbound"])
        m = int(np.ceil(15 * usual_inbound)) + 40
        dev = np.full(m, d)
        tod = 9 * 3_600_000_000 + np.sort(rng.integers(0, 5 * 3_600_000_000, m))
        return self.make(dev, tod, INBOUND, self.w.proc_index["dnscache"], self.w.spike_peer,
                         rng.integers(*EPHEMERAL, m), d, 135, TCP, DOMAIN)

    def service_stopped(self) -> dict:
        if self.k != self.w.stopped_day:
            return empty()
        rng = self.rng("service_stopped")
        d = self.w.stopped_device
        return self.make(np.array([d]), rng.integers(8, 18, 1) * 3_600_000_000, STOPPED,
                         self.w.proc_index["mpssvc"], -1, -1, -1, -1, TCP, DOMAIN)

    def edge_agent(self) -> dict:
        """Fabrikam EdgeAgent on a quarter of the fleet, every day: inbound to the app blocked (rows that
        carry only its folder) and outbound MQTT (8883) to internal servers blocked (rows that name
        edgeagent.exe): the draft must take the executable from the outbound rows."""
        rng = self.rng("edgeagent")
        devices = self.w.edgeagent_devices[self.active[self.w.edgeagent_devices]]
        firing = devices[rng.random(len(devices)) < 0.9]
        dev_in = np.repeat(firing, rng.integers(1, 4, len(firing)))
        u = rng.random(len(dev_in))
        profile = np.where(u < 0.6, DOMAIN, np.where(u < 0.85, PRIVATE, PUBLIC))
        to_app = self.make(dev_in, self.tod(rng, dev_in), TO_APP, self.w.proc_index["edgeagent:folder"], -1, -1, -1,
                           -1, TCP, profile)
        talking = devices[rng.random(len(devices)) < 0.9]
        dev_out = np.repeat(talking, rng.integers(1, 3, len(talking)))
        server = rng.integers(0, int(self.w.is_server.sum()), len(dev_out))
        outbound = self.make(dev_out, self.tod(rng, dev_out), OUTBOUND, self.w.proc_index["edgeagent"], server, 8883,
                             dev_out, rng.integers(*EPHEMERAL, len(dev_out)), TCP, self.profile_of(rng, dev_out))
        return concat([to_app, outbound])

    def snmp_exposure(self) -> dict:
        """Public sources reaching SNMP (UDP 161) on the print server from last − 12 to last − 3; the
        rows carry no AdditionalFields.Protocol, so only the port registry knows it is UDP."""
        if not self.w.snmp_first_day <= self.k <= self.w.snmp_last_day:
            return empty()
        rng = self.rng("snmp")
        m = int(rng.integers(10, 31))
        d = self.w.snmp_device
        src = rng.choice(self.w.exposure_sources, m)
        return self.make(np.full(m, d), rng.integers(0, US_PER_DAY, m), INBOUND, self.w.proc_index["snmp"], src,
                         rng.integers(*EPHEMERAL, m), d, 161, NO_PROTOCOL, PUBLIC)

    def all(self) -> dict:
        return concat([self.netbios(), self.llmnr(), self.svchost_out(), self.bg_inbound(), self.bg_outbound(),
                       self.to_app(), self.exposure(), self.new_pattern(), self.remote_scanner(),
                       self.volume_spike(), self.service_stopped(), self.edge_agent(), self.snmp_exposure()])


def empty() -> dict:
    return DayStreams.make(np.zeros(0), 0, 0, 0, 0, 0, 0, 0, 0, 0)


def concat(parts: list[dict]) -> dict:
    parts = [p for p in parts if len(p["dev"])] or [empty()]
    return {f: np.concatenate([p[f] for p in parts]) for f in FIELDS}
