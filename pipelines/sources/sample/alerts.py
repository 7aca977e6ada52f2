"""SecurityAlert rows and incident plans of one simulated day (the day of the incidents' first alert).

Incidents are planned together with their alerts so that every later update (assignment, closure)
is derived from the creation day alone: fetching any later day regenerates the few creation days
that can still update on it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from pipelines.sources.schemas import SECURITY_ALERT

from .entities import EntityWriter, Picks
from .firewall_streams import DIURNAL
from .rules import LABELS, LOGON, MAIL, PROCESS, SCAN, Rule
from .seeding import rng_for, stable_guid, stable_int, zipf_weights
from .world import SCANNER_IP, US_PER_DAY, World

MINUTE = 60_000_000
HOUR = 60 * MINUTE
ALERT_WEEKEND_FACTOR = 0.6


@dataclass
class IncidentPlan:
    rule: int
    scenario: str
    label: str
    picks: Picks
    alert_ids: list[str] = field(default_factory=list)
    alert_tg: list[int] = field(default_factory=list)
    alert_start: list[int] = field(default_factory=list)
    alert_end: list[int] = field(default_factory=list)
    number: int = 0
    created: int = 0
    assign_delay: int = 0
    close_delay: int = 0
    analyst: int = 0
    arm_ids: bool = False


class AlertSimulator:
    """Alert and incident generation for one world; caches nothing but the incident-number prefix."""

    def __init__(self, world: World):
        self.w = world
        self.entities = EntityWriter(world)
        self._cdfs: dict[tuple[int, float], np.ndarray] = {}
        rules = world.rules
        weights = np.array([r.weight for r in rules], dtype=np.float64)
        per_incident = 1 + 2 * world.params.grouped_incident_share
        weekly_mean = (5 + 2 * ALERT_WEEKEND_FACTOR) / 7
        self.weekday_rates = world.params.alerts_per_day * weights / weights.sum() / per_incident / weekly_mean
        self.first_number = 100 + stable_int(world.seed, world.name, "incident-start") % 900
        counts = np.array([self.counts(k).sum() + len(self.planted_on(k)) for k in range(world.n_days)])
        self.number_base = self.first_number + np.concatenate([[0], np.cumsum(counts)[:-1]])

    def counts(self, k: int) -> np.ndarray:
        """Incidents per rule created from day k's alerts (a tiny stream of its own, so incident
        numbers can be derived for any day without generating earlier days)."""
        factor = ALERT_WEEKEND_FACTOR if self.w.is_weekend(k) else 1.0
        return rng_for(self.w.seed, self.w.name, "alerts:counts", k).poisson(self.weekday_rates * factor)

    def planted_on(self, k: int) -> list[tuple[int, str]]:
        out = []
        for day, rule_key, scenario in self.w.planted_tps:
            r = self.w.rule_index(rule_key)
            if day == k and r is not None:
                out.append((r, scenario))
        return out

    # -- entity picks ------------------------------------------------------------------------------
    def _zipf(self, rng: np.random.Generator, items, exponent: float = 1.0):
        """A heavy-tailed draw: the first items of the (pre-shuffled) pool are the popular ones."""
        key = (len(items), exponent)
        if key not in self._cdfs:
            self._cdfs[key] = np.cumsum(zipf_weights(len(items), exponent))
        return items[min(int(np.searchsorted(self._cdfs[key], rng.random(), side="right")), len(items) - 1)]

    def picks(self, rng: np.random.Generator, rule: Rule, scenario: str) -> Picks:
        w = self.w
        bg_host = int(self._zipf(rng, w.bg_hosts))
        attacker_host = int(rng.choice(w.attacker_hosts))
        attacker_account = str(rng.choice(w.attacker_accounts))
        attacker_ip = str(rng.choice(w.attacker_ips))
        if scenario == "background":
            account = str(self._zipf(rng, w.bg_accounts))
            peer = int(self._zipf(rng, w.bg_hosts, 1.2))
            ip = str(self._zipf(rng, w.benign_public_ips)) if rule.kind not in (LOGON, SCAN) else w.device_ipv4[peer]
            cmd = rule.benign_commands[int(rng.integers(len(rule.benign_commands)))] if rule.benign_commands else None
            if cmd is not None:
                cmd = (cmd[0].replace("CONTOSO", w.netbios), cmd[1])
            return Picks(bg_host, account, ip, cmd)
        if scenario == "upn_tp":
            return Picks(attacker_host, w.hybrid_victim, attacker_ip, None)
        if scenario in ("lotl_tp", "lotl_fresh_tp"):
            return Picks(attacker_host, attacker_account, attacker_ip, rule.living_off_the_land())
        if scenario in ("attacker", "backup_host_tp", "svc_backup_tp", "jdoe_tp"):
            cmd = rule.attacker_commands[int(rng.integers(len(rule.attacker_commands)))] if rule.attacker_commands \
                else None
            host = {"backup_host_tp": w.backup_server}.get(scenario, attacker_host)
            account = {"svc_backup_tp": w.svc_backup, "jdoe_tp": w.jdoe}.get(scenario, attacker_account)
            return Picks(host, account, attacker_ip, cmd)
        if scenario == "svc_inventory":
            return Picks(bg_host, w.svc_inventory, w.device_ipv4[w.inventory_server], None)
        if scenario == "jdoe_benign":
            return Picks(w.jdoe_device, w.jdoe, w.device_ipv4[w.jdoe_device], None)
        if scenario == "scanner":
            return Picks(bg_host, None, SCANNER_IP, None)
        if scenario == "backup_pair":
            return Picks(w.backup_server, w.svc_backup, w.device_ipv4[w.backup_server], rule.benign_commands[-1])
        raise ValueError(f"unknown scenario {scenario!r}")

    @staticmethod
    def label(rng: np.random.Generator, scenario: str) -> str:
        table = LABELS["planted_tp" if scenario.endswith("_tp") else scenario]
        names = [name for name, _ in table]
        return names[int(rng.choice(len(table), p=[p for _, p in table]))]

    # -- one day ---------------------------------------------------------------------------------
    def plan_day(self, k: int) -> list[IncidentPlan]:
        """Every incident whose first alert's activity lies on world day k, numbered in creation order."""
        w, p = self.w, self.w.params
        rng = rng_for(w.seed, w.name, "alerts:plans", k)
        day_us = w.day_us(k)
        specs = [(r, str(rng.choice([s for s, _ in w.rules[r].scenarios], p=[x for _, x in w.rules[r].scenarios])))
                 for r, n in enumerate(self.counts(k)) for _ in range(int(n))]
        specs += self.planted_on(k)
        plans = []
        for serial, (r, scenario) in enumerate(specs):
            rule = w.rules[r]
            planted = scenario.endswith("_tp")
            plan = IncidentPlan(r, scenario, self.label(rng, scenario), self.picks(rng, rule, scenario))
            grouped = not planted and rng.random() < p.grouped_incident_share
            n_alerts = int(rng.integers(2, 5)) if grouped else 1
            curve = DIURNAL[1 if rule.kind in (SCAN,) else 0]
            bucket = min(int(np.searchsorted(curve, rng.random(), side="right")), 95)
            t = day_us + bucket * (US_PER_DAY // 96) + int(rng.integers(0, US_PER_DAY // 96))
            late = 0 if planted or rng.random() >= p.late_alert_share else int(rng.integers(6 * HOUR, 28 * HOUR))
            for i in range(n_alerts):
                end = t + (int(rng.integers(5, 90)) * MINUTE * i)
                plan.alert_end.append(end)
                plan.alert_start.append(end - int(rng.integers(1, 60)) * MINUTE)
                tg = end + int(rng.integers(2, 15)) * MINUTE + int(rng.integers(0, 60_000_000)) + late
                plan.alert_tg.append(max(tg, plan.alert_tg[-1] + MINUTE) if plan.alert_tg else tg)
                plan.alert_ids.append(stable_guid(w.seed, w.name, "alert", k, serial, i))
            plan.created = plan.alert_tg[0] + int(rng.integers(1, 5)) * MINUTE + int(rng.integers(0, 60_000_000))
            plan.assign_delay = int(rng.integers(10 * MINUTE, 6 * HOUR))
            if scenario == "lotl_fresh_tp":
                plan.close_delay = 5 * US_PER_DAY  # still under investigation when the world ends
            elif plan.label == "TruePositive":
                plan.close_delay = int(rng.uniform(0.5, 3.0) * US_PER_DAY)
            else:
                plan.close_delay = int((0.5 + 6.5 * rng.beta(1.3, 2.5)) * US_PER_DAY)
            plan.analyst = int(rng.integers(len(w.analysts)))
            plan.arm_ids = bool(rng.random() < p.arm_rule_id_share)
            plans.append(plan)
        plans.sort(key=lambda pl: (pl.created, pl.alert_ids[0]))
        for rank, plan in enumerate(plans):
            plan.number = int(self.number_base[k]) + rank
        return plans

    def alert_table(self, k: int, plans: list[IncidentPlan]) -> pa.Table:
        """SecurityAlert rows of the plans (activity on day k), sorted by TimeGenerated."""
        w = self.w
        rows: dict[str, list] = {f.name: [] for f in SECURITY_ALERT}
        for plan in plans:
            rule, rule_id = w.rules[plan.rule], w.rule_ids[plan.rule]
            for i, alert_id in enumerate(plan.alert_ids):
                pid = 1000 + stable_int(alert_id) % 30000 if rule.kind == PROCESS else 0
                tg, start, end = plan.alert_tg[i], plan.alert_start[i], plan.alert_end[i]
                values = {
                    "TimeGenerated": tg, "TenantId": w.workspace_id, "SystemAlertId": alert_id,
                    "VendorOriginalId": stable_guid(alert_id, "vendor"), "AlertName": rule.name,
                    "DisplayName": rule.name, "AlertSeverity": rule.severity,
                    "AlertType": f"{w.workspace_id}_{rule_id}", "Description": self.description(rule),
                    "ProviderName": "ASI Scheduled Alerts", "VendorName": "Microsoft",
                    "ProductName": "Azure Sentinel", "ProductComponentName": "Scheduled Alerts", "Status": "New",
                    "ConfidenceLevel": "Unknown", "ConfidenceScore": None,
                    "CompromisedEntity": self.entities.compromised_entity(rule.kind, plan.picks),
                    "StartTime": start, "EndTime": end, "ProcessingEndTime": tg + 20_000_000,
                    "Tactics": rule.tactics, "Techniques": json.dumps(list(rule.techniques)), "SubTechniques": "[]",
                    "Entities": self.entities.write(rule.kind, plan.picks, pid),
                    "ExtendedProperties": self.extended_properties(rule, rule_id, start, end, len(plan.alert_ids)),
                    "ExtendedLinks": None, "RemediationSteps": None, "ResourceId": None, "AlertLink": None,
                    "SourceSystem": "Detection", "Type": "SecurityAlert",
                }
                for name, value in values.items():
                    rows[name].append(value)
        table = pa.table(rows, schema=SECURITY_ALERT)
        return table.sort_by([("TimeGenerated", "ascending"), ("SystemAlertId", "ascending")])

    @staticmethod
    def description(rule: Rule) -> str:
        return f"{rule.name}. Tactic: {rule.tactics}. Review the entities and the query results."

    def extended_properties(self, rule: Rule, rule_id: str, start: int, end: int, grouped: int) -> str:
        def iso(us: int) -> str:
            return np.datetime64(us, "us").astype(str) + "Z"

        return json.dumps({
            "Query Period": rule.query_period,
            "Trigger Operator": "GreaterThan",
            "Trigger Threshold": "0",
            "Correlation Id": stable_guid(rule_id, start),
            "Search Query Results Overall Count": str(1 + stable_int(rule_id, start) % 40),
            "Data Sources": json.dumps([rule.data_source]),
            "Query": rule.query.replace("CONTOSO", self.w.netbios),
            "Query Start Time UTC": iso(start),
            "Query End Time UTC": iso(end),
            "Analytic Rule Ids": json.dumps([rule_id]),
            "Event Grouping": "AlertPerResult" if grouped > 1 or rule.kind == MAIL else "SingleAlert",
            "Analytic Rule Name": rule.name,
            "ProcessedBySentinel": "True",
            "Alert generation status": "Full alert created",
        })
