"""An in-memory tenant: device events, Sentinel alert/incident rows and Graph alert/incident objects.

Rows straddle the test day on purpose: one exactly at each midnight, one ingested (TimeGenerated)
after the day it belongs to, one non-firewall event, so window and filter mistakes show up.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from pipelines.sources.schemas import DEVICE_EVENTS

DAY = date(2026, 10, 2)
DAY_START = datetime.combine(DAY, time.min, tzinfo=UTC)
DAY_END = DAY_START + timedelta(days=1)
FIREWALL = ["FirewallInboundConnectionBlocked", "FirewallOutboundConnectionBlocked", "FirewallInboundConnectionToAppBlocked"]
TENANT_GUID = "11111111-2222-3333-4444-555555555555"
WORKSPACE_RESOURCE_ID = ("/subscriptions/0d6c9e1a-5b7f-4c2e-9a31-8e4f2b6d7c10/resourceGroups/rg-sec/providers/"
                         "Microsoft.OperationalInsights/workspaces/law-sec")


def ticks(value: datetime) -> str:
    """Kusto/Graph wire format: 7 fractional digits and Z."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


@dataclass
class Dataset:
    device_events: list[dict] = field(default_factory=list)
    sentinel_alerts: list[dict] = field(default_factory=list)
    sentinel_incidents: list[dict] = field(default_factory=list)
    graph_alerts: list[dict] = field(default_factory=list)
    graph_incidents: list[dict] = field(default_factory=list)
    alert_rules: list[dict] = field(default_factory=list)  # Sentinel alertRules resources (ARM)
    detection_rules: list[dict] = field(default_factory=list)  # Graph custom detection rules


def _device_events(rng: random.Random, n: int) -> list[dict]:
    fixed = [DAY_START, DAY_END, DAY_START - timedelta(microseconds=1), DAY_END - timedelta(microseconds=1)]
    stamps = fixed + [DAY_START + timedelta(seconds=rng.uniform(-7200, 86400 + 7200)) for _ in range(n - len(fixed))]
    rows = []
    for i, ts in enumerate(stamps):
        ts = ts.replace(microsecond=ts.microsecond)  # µs precision: what the connector can keep
        action = "AntivirusDetection" if i % 9 == 4 else FIREWALL[i % 3]
        lag = timedelta(hours=3) if i == 3 else timedelta(seconds=rng.randint(5, 900))
        outbound = action == "FirewallOutboundConnectionBlocked"
        rows.append({
            "Timestamp": ts,
            "DeviceId": f"{rng.getrandbits(160):040x}",
            "DeviceName": f"ws-{i % 7:03d}.corp.example",
            "ActionType": action,
            "RemoteIP": f"10.0.{i % 5}.{i}",
            "RemotePort": 443 if outbound else 50000 + i,
            "LocalIP": "192.168.1.10",
            "LocalPort": 50000 + i if outbound else 3389,
            "ProcessId": 1000 + i,
            "InitiatingProcessFileName": "svchost.exe",
            "InitiatingProcessFolderPath": "c:\\windows\\system32\\svchost.exe",
            "ReportId": 10_000 + i,
            "IsProcessRemoteSession": i % 2 == 0,
            "AdditionalFields": json.dumps({"Direction": "Outbound" if outbound else "Inbound", "Profiles": "Domain"}),
            "TimeGenerated": ts + lag,
        })
    return rows


def _graph_alert(i: int, created: datetime) -> dict:
    device = f"{i:040x}"
    return {
        "@odata.type": "#microsoft.graph.security.alert",
        "id": f"da63755122767756{i:04d}_-96144481{i}",
        "providerAlertId": f"da63755122767756{i:04d}_-96144481{i}",
        "incidentId": str(3000 + i // 2),
        "status": "resolved" if i % 3 == 0 else "new",
        "severity": ["low", "medium", "high"][i % 3],
        "classification": ["truePositive", "informationalExpectedActivity", "falsePositive", None][i % 4],
        "determination": ["malware", "securityTesting", "notMalicious", None][i % 4],
        "serviceSource": "microsoftDefenderForEndpoint",
        "detectionSource": "customDetection",
        "detectorId": f"a0b1c2d3-0000-4000-8000-{i % 4:012d}",
        "tenantId": TENANT_GUID,
        "title": f"Blocked inbound RDP burst {i % 4}",
        "description": "Many inbound connections were blocked.",
        "category": "LateralMovement",
        "alertWebUrl": f"https://security.microsoft.com/alerts/{i}",
        "mitreTechniques": ["T1021.001"],
        "createdDateTime": ticks(created),
        "lastUpdateDateTime": ticks(created + timedelta(hours=1)),
        "resolvedDateTime": ticks(created + timedelta(hours=2)) if i % 3 == 0 else None,
        "firstActivityDateTime": ticks(created - timedelta(minutes=10)),
        "lastActivityDateTime": ticks(created - timedelta(minutes=1)),
        "evidence": [
            {"@odata.type": "#microsoft.graph.security.deviceEvidence", "mdeDeviceId": device,
             "deviceDnsName": f"ws-{i:03d}.corp.example", "osPlatform": "Windows11", "osBuild": 22631,
             "roles": ["compromised"]},
            {"@odata.type": "#microsoft.graph.security.userEvidence",
             "userAccount": {"accountName": f"user{i}", "domainName": "CORP", "userSid": f"S-1-5-21-1-2-3-{1100 + i}",
                             "userPrincipalName": f"user{i}@corp.example"}},
            {"@odata.type": "#microsoft.graph.security.ipEvidence", "ipAddress": f"203.0.113.{i}"},
            {"@odata.type": "#microsoft.graph.security.processEvidence", "mdeDeviceId": device, "processId": 4000 + i,
             "processCommandLine": "mstsc.exe /v:10.0.0.5",
             "imageFile": {"fileName": "mstsc.exe", "filePath": "C:\\Windows\\System32", "sha1": f"{i:040x}"},
             "userAccount": {"accountName": f"user{i}", "domainName": "CORP", "userSid": f"S-1-5-21-1-2-3-{1100 + i}"}},
            {"@odata.type": "#microsoft.graph.security.urlEvidence", "url": f"https://evil{i}.example/x"},
        ],
    }


def _alert_rule(i: int) -> dict:
    """An alertRules resource as the 2024-09-01 API returns it; kinds vary, names are GUIDs (one upper-case)."""
    name = f"5E0C1A2B-0000-4000-8000-{i:012d}" if i == 0 else f"5e0c1a2b-0000-4000-8000-{i:012d}"
    kind = ["Scheduled", "NRT", "Scheduled", "Fusion", "MicrosoftSecurityIncidentCreation", "Scheduled", "Scheduled"][i % 7]
    props: dict = {"displayName": f"Rule {i}", "description": f"Rule {i} description", "enabled": i != 2,
                   "alertRuleTemplateName": None, "lastModifiedUtc": "2026-09-30T12:00:00.1234567Z"}
    if kind in ("Scheduled", "NRT"):
        props |= {"severity": ["Medium", "High", "Low"][i % 3], "tactics": ["CredentialAccess"],
                  "techniques": ["T1110"], "query": f"SecurityEvent | where EventID == 4625 | extend Rule = '{i}'",
                  "queryFrequency": "PT5H" if kind == "Scheduled" else None,
                  "queryPeriod": "P1D" if kind == "Scheduled" else None,
                  "entityMappings": [{"entityType": "Account", "fieldMappings": [
                      {"identifier": "FullName", "columnName": "TargetAccount"}]},
                      {"entityType": "Host", "fieldMappings": [{"identifier": "FullName", "columnName": "Computer"}]}]}
        if kind == "NRT":
            props.pop("queryFrequency")
            props.pop("queryPeriod")
    elif kind == "Fusion":
        props |= {"severity": "High", "tactics": ["Persistence", "LateralMovement"]}
    else:
        props |= {"productFilter": "Microsoft Defender Advanced Threat Protection"}
    return {"id": f"{WORKSPACE_RESOURCE_ID}/providers/Microsoft.SecurityInsights/alertRules/{name}", "name": name,
            "type": "Microsoft.SecurityInsights/alertRules", "kind": kind, "etag": f'"{i:08x}-0000-0000-0000-000000000000"',
            "properties": props}


def _detection_rule(i: int) -> dict:
    """A Graph custom detection rule; its detectorId is the one its alerts carry (_graph_alert)."""
    return {
        "@odata.type": "#microsoft.graph.security.detectionRule", "id": str(7500 + i),
        "displayName": f"Blocked inbound RDP burst {i}", "isEnabled": i != 1,
        "createdBy": "admin@corp.example", "createdDateTime": "2026-09-01T08:00:00.1234567Z",
        "lastModifiedDateTime": "2026-09-20T08:00:00.1234567Z", "lastModifiedBy": "admin@corp.example",
        "detectorId": f"a0b1c2d3-0000-4000-8000-{i:012d}",
        "queryCondition": {"queryText": "DeviceEvents\r\n| where ActionType startswith 'Firewall'",
                           "lastModifiedDateTime": None},
        "schedule": {"period": "1H", "nextRunDateTime": "2026-10-02T09:00:00Z"},
        "lastRunDetails": {"lastRunDateTime": "2026-10-02T08:00:00Z", "status": None, "failureReason": None,
                           "errorCode": None},
        "detectionAction": {
            "alertTemplate": {
                "title": f"Blocked inbound RDP burst {i}", "description": "Many inbound connections were blocked.",
                "severity": "medium", "category": "LateralMovement", "recommendedActions": None,
                "mitreTechniques": ["T1021.001"],
                "impactedAssets": [
                    {"@odata.type": "#microsoft.graph.security.impactedDeviceAsset", "identifier": "deviceName"},
                    {"@odata.type": "#microsoft.graph.security.impactedUserAsset", "identifier": "accountSid"},
                ],
            },
            "organizationalScope": None, "responseActions": [],
        },
    }


def build(seed: int = 7, n_events: int = 40) -> Dataset:
    rng = random.Random(seed)
    data = Dataset(device_events=_device_events(rng, n_events), alert_rules=[_alert_rule(i) for i in range(7)],
                   detection_rules=[_detection_rule(i) for i in range(4)])
    starts = [DAY_START, DAY_END] + [DAY_START + timedelta(seconds=rng.uniform(-3600, 86400 + 3600)) for _ in range(10)]
    for i, when in enumerate(starts):
        data.sentinel_alerts.append({
            "TimeGenerated": when, "TenantId": TENANT_GUID, "SystemAlertId": f"alert-{i:03d}",
            "AlertName": f"Rule {i % 3}", "DisplayName": f"Rule {i % 3}", "AlertSeverity": "Medium",
            "ProviderName": "ASI Scheduled Alerts", "ProductName": "Azure Sentinel", "Status": "New",
            "ConfidenceScore": 0.5 if i % 2 else None,
            "Entities": json.dumps([{"$id": "2", "HostName": f"ws-{i:03d}", "Type": "host"},
                                    {"$id": "3", "Address": f"10.1.0.{i}", "Type": "ip"}]),
            "ExtendedProperties": json.dumps({"Analytic Rule Ids": json.dumps([f"rule-{i % 3}"]),
                                              "Analytic Rule Name": f"Rule {i % 3}"}),
            "Type": "SecurityAlert",
        })
        data.graph_alerts.append(_graph_alert(i, when))
    for number in range(1, 9):
        for version in range(3):
            modified = DAY_START + timedelta(seconds=rng.uniform(-20000, 86400 + 20000))
            data.sentinel_incidents.append({
                "TimeGenerated": modified + timedelta(seconds=40), "TenantId": TENANT_GUID,
                "IncidentNumber": number, "IncidentName": f"00000000-0000-4000-8000-{number:012d}",
                "Title": f"Incident {number}", "Severity": "High", "Status": ["New", "Active", "Closed"][version],
                "Classification": "TruePositive" if version == 2 else None,
                "ClassificationReason": "SuspiciousActivity" if version == 2 else None,
                "CreatedTime": DAY_START - timedelta(days=1), "LastModifiedTime": modified,
                "ClosedTime": modified if version == 2 else None,
                "AlertIds": json.dumps([f"alert-{number:03d}"]), "RelatedAnalyticRuleIds": json.dumps([f"rule-{number % 3}"]),
                "Owner": json.dumps({"assignedTo": "analyst@corp.example"}), "ProviderName": "Azure Sentinel",
                "Type": "SecurityIncident",
            })
        updated = DAY_START + timedelta(seconds=rng.uniform(-20000, 86400 + 20000))
        alerts = [a for a in data.graph_alerts if a["incidentId"] == str(3000 + number)]
        data.graph_incidents.append({
            "@odata.type": "#microsoft.graph.security.incident", "id": str(3000 + number),
            "incidentWebUrl": f"https://security.microsoft.com/incidents/{3000 + number}", "tenantId": TENANT_GUID,
            "displayName": f"Incident {number} on multiple endpoints", "createdDateTime": ticks(updated - timedelta(days=1)),
            "lastUpdateDateTime": ticks(updated), "assignedTo": "analyst@corp.example",
            "classification": ["truePositive", "informationalExpectedActivity", "falsePositive", "unknown"][number % 4],
            "determination": "securityTesting", "status": "resolved" if number % 2 else "active", "severity": "medium",
            "customTags": ["fw"], "systemTags": [], "comments": [], "description": "demo", "alerts": alerts,
        })
    # One incident updated exactly at the day's start, one exactly at its end (belongs to the next day).
    data.graph_incidents[0]["lastUpdateDateTime"] = ticks(DAY_START)
    data.graph_incidents[1]["lastUpdateDateTime"] = ticks(DAY_END)
    return data


def in_window(value: datetime | None, start: datetime, end: datetime) -> bool:
    return value is not None and start <= value < end


def expected_device_events(data: Dataset, start: datetime, end: datetime, *, firewall_only: bool = True) -> list[dict]:
    return [r for r in data.device_events if in_window(r["Timestamp"], start, end)
            and (not firewall_only or r["ActionType"].startswith("Firewall"))]


REAL_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "real"
DEVICE_EVENT_TYPES = {f.name: f.type for f in DEVICE_EVENTS}
