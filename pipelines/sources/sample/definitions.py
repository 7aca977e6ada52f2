"""The simulated tenant's analytic rule definitions, as Sentinel's alertRules API describes them.

One Scheduled rule per simulated rule (rules.py), with the id, name, severity, tactics, techniques
and query its alerts carry, and entity mappings for exactly the entity types its alerts carry
(entities.py: the layout of the rule's kind), named after the columns its query's table projects:
SecurityEvent rules map accounts by FullName to TargetAccount and hosts to Computer, Defender
tables by Name/NTDomain to AccountName/AccountDomain and hosts to DeviceName, and so on. Static:
every snapshot of a world is the same.
"""

from __future__ import annotations

import json
import re

import pyarrow as pa

from pipelines.sources.rule_definitions import SENTINEL
from pipelines.sources.schemas import ANALYTIC_RULES

from .alerts import AlertSimulator
from .incidents import _rule_ref
from .rules import C2, LOGON, MAIL, PROCESS, SCAN, Rule
from .world import World


def _map(entity_type: str, **columns: str) -> dict:
    return {"entityType": entity_type,
            "fieldMappings": [{"identifier": k, "columnName": v} for k, v in columns.items()]}


# (data source, entity layout) -> the mappings; the layout decides the entity types, the table the names
_DEFENDER_PROCESS = [
    _map("Host", FullName="DeviceName"),
    _map("Account", Name="AccountName", NTDomain="AccountDomain"),
    _map("Process", CommandLine="ProcessCommandLine"),
    _map("File", Name="FileName", Directory="FolderPath"),
]
MAPPINGS: dict[tuple[str, str], list[dict]] = {
    ("SecurityEvent", LOGON): [
        _map("Host", FullName="Computer"), _map("Account", FullName="TargetAccount"), _map("IP", Address="IpAddress"),
    ],
    ("SecurityEvent", PROCESS): [
        _map("Host", FullName="Computer"), _map("Account", FullName="SubjectAccount"),
        _map("Process", CommandLine="CommandLine"),
    ],
    ("DeviceNetworkEvents", SCAN): [_map("IP", Address="LocalIP"), _map("Host", FullName="DeviceName")],
    ("DeviceProcessEvents", PROCESS): _DEFENDER_PROCESS,
    ("DeviceEvents", PROCESS): _DEFENDER_PROCESS,
    ("CommonSecurityLog", C2): [_map("Host", HostName="SourceHostName"), _map("IP", Address="DestinationIP")],
    ("OfficeActivity", MAIL): [_map("Account", FullName="UserId"), _map("IP", Address="ClientIP")],
}

_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d\d):(\d\d):(\d\d)$")


def iso_duration(timespan: str) -> str:
    """`d.hh:mm:ss` (the alerts' "Query Period") as the ISO 8601 duration the API returns."""
    m = _TIMESPAN.match(timespan)
    if not m:
        raise ValueError(f"not a timespan: {timespan!r}")
    days, hours, minutes, seconds = (int(g or 0) for g in m.groups())
    time = "".join(f"{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M"), (seconds, "S")) if n)
    return "P" + (f"{days}D" if days else "") + (f"T{time}" if time else "") if days or time else "PT0S"


def rule_mappings(rule: Rule) -> list[dict]:
    return MAPPINGS[(rule.data_source, rule.kind)]


def definitions_table(world: World, snapshot_us: int) -> pa.Table:
    """The world's rule definitions as one analytic_rules snapshot taken at `snapshot_us`."""
    rows = []
    for rule, rule_id in zip(world.rules, world.rule_ids, strict=True):
        rows.append({
            "SnapshotTime": snapshot_us,
            "RuleId": rule_id,
            "ResourceId": _rule_ref(world, rule_id, arm=True),
            "Source": SENTINEL,
            "Kind": "Scheduled",
            "DisplayName": rule.name,
            "Description": AlertSimulator.description(rule),
            "Enabled": True,
            "Severity": rule.severity,
            "Query": rule.query.replace("CONTOSO", world.netbios),
            "QueryFrequency": iso_duration(rule.frequency),
            "QueryPeriod": iso_duration(rule.query_period),
            "Tactics": json.dumps(rule.tactics.split(",")),
            "Techniques": json.dumps(list(rule.techniques)),
            "EntityMappings": json.dumps(rule_mappings(rule), separators=(",", ":")),
            "AlertRuleTemplateName": None,
            "LastModifiedTime": world.day_us(0),
        })
    return pa.Table.from_pylist(rows, schema=ANALYTIC_RULES)
