"""Tiny hand-made raw rows and a fake source for the quality tests."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa

DAY = date(2026, 10, 5)
T0 = datetime(2026, 10, 5, 8, 0, tzinfo=UTC)


class FakeSource:
    kind = "sample"

    def __init__(self, tables: dict[str, pa.Table]):
        self.tables = tables

    def fetch(self, table, window, stats):
        stats.query_windows += 1
        if table in self.tables:
            yield self.tables[table]


def event(i: int, **overrides) -> dict:
    row = {
        "Timestamp": T0 + timedelta(minutes=i),
        "DeviceId": f"dev{i % 3}",
        "DeviceName": f"host{i % 3}.contoso.com",
        "ActionType": "FirewallInboundConnectionBlocked",
        "RemoteIP": "203.0.113.9",
        "RemotePort": 50000 + i,
        "LocalIP": "10.0.0.5",
        "LocalPort": 3389,
        "InitiatingProcessFileName": "svchost.exe",
        "InitiatingProcessFolderPath": "c:\\windows\\system32\\svchost.exe",
        "ReportId": 1000 + i,
        "AdditionalFields": json.dumps({"Direction": "Inbound", "Profile": "Public"}),
    }
    row.update(overrides)
    return row


def alert(i: int, **overrides) -> dict:
    row = {
        "TimeGenerated": T0 + timedelta(minutes=i),
        "SystemAlertId": f"a{i}",
        "AlertName": "Suspicious logon",
        "AlertSeverity": "Medium",
        "Entities": json.dumps([{"$id": "1", "Type": "account", "Name": f"user{i}", "NTDomain": "CONTOSO"}]),
        "ExtendedProperties": json.dumps({"Analytic Rule Ids": '["rule-1"]', "Analytic Rule Name": "Logons"}),
    }
    row.update(overrides)
    return row


def incident(i: int, **overrides) -> dict:
    row = {
        "TimeGenerated": T0 + timedelta(minutes=i),
        "IncidentNumber": i,
        "Status": "Closed",
        "Classification": "BenignPositive",
        "CreatedTime": T0,
        "LastModifiedTime": T0 + timedelta(minutes=i),
        "AlertIds": json.dumps([f"a{i}"]),
    }
    row.update(overrides)
    return row


def table(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows)


def rule(i: int, **overrides) -> dict:
    """An analytic_rules row (a Sentinel scheduled rule) of the snapshot of DAY."""
    row = {
        "SnapshotTime": datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC),
        "RuleId": f"5e0c1a2b-0000-4000-8000-{i:012d}",
        "Kind": "Scheduled",
        "DisplayName": f"Rule {i}",
        "Enabled": True,
        "Severity": "Medium",
        "Query": "SecurityEvent | where EventID == 4625",
        "Tactics": json.dumps(["CredentialAccess"]),
        "Techniques": json.dumps(["T1110"]),
        "EntityMappings": json.dumps([{"entityType": "Host", "fieldMappings": [
            {"identifier": "FullName", "columnName": "Computer"}]}]),
        "LastModifiedTime": T0 - timedelta(days=3),
    }
    row.update(overrides)
    return row
