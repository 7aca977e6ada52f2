"""Microsoft Graph security incidents and alerts_v2 mapped onto the Sentinel raw tables.

The mapping (documented in docs/connectors.md) keeps Graph's own values (enum casing included:
the staging layer compares case-insensitively and maps `informationalExpectedActivity` to
benign_positive), so a lake row can be compared with the portal. Alert evidence becomes a
Sentinel-style `Entities` array: every entity at top level with its `$id`, nested references as
`{"$ref": id}` pointing to an entity earlier in the array.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import pyarrow as pa

from pipelines.sources.arrow_rows import datetime_array, parse_datetime
from pipelines.sources.schemas import SECURITY_ALERT, SECURITY_INCIDENT, TS


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _unique(values: Iterable) -> list:
    seen: list = []
    for v in values:
        if v is not None and v != "" and v not in seen:
            seen.append(v)
    return seen


def _evidence_kind(evidence: dict) -> str:
    return str(evidence.get("@odata.type", "")).rsplit(".", 1)[-1].lower()


class _Entities:
    """Sentinel-style entity array builder: one entity per key, later mentions become $ref."""

    def __init__(self) -> None:
        self.items: list[dict] = []
        self._ids: dict[tuple, str] = {}

    def add(self, key: tuple | None, entity: dict) -> dict:
        if key is not None and key in self._ids:
            return {"$ref": self._ids[key]}
        entity_id = str(len(self.items) + 1)
        self.items.append({"$id": entity_id, **{k: v for k, v in entity.items() if v is not None}})
        if key is not None:
            self._ids[key] = entity_id
        return {"$ref": entity_id}

    def ref(self, key: tuple) -> dict | None:
        return {"$ref": self._ids[key]} if key in self._ids else None


def _host(entities: _Entities, ev: dict) -> None:
    dns = ev.get("deviceDnsName") or ""
    host_name, _, dns_domain = dns.partition(".")
    platform = ev.get("osPlatform") or None
    entities.add(
        ("host", (ev.get("mdeDeviceId") or dns).lower()),
        {
            "Type": "host",
            "HostName": host_name or None,
            "DnsDomain": dns_domain or None,
            "OSFamily": "Windows" if platform and platform.lower().startswith("windows") else platform,
            "OSVersion": None if ev.get("osBuild") is None else str(ev.get("osBuild")),
            "AzureID": (ev.get("vmMetadata") or {}).get("resourceId"),
            "MdatpDeviceId": ev.get("mdeDeviceId"),
            "AadDeviceId": ev.get("azureAdDeviceId"),
        },
    )


def _account(entities: _Entities, account: dict | None) -> dict | None:
    if not account:
        return None
    upn = account.get("userPrincipalName") or ""
    name = account.get("accountName") or (upn.split("@", 1)[0] if upn else None)
    if not name and not account.get("userSid"):
        return None
    domain = account.get("domainName")
    key = ("account", (account.get("userSid") or upn or f"{domain}\\{name}").lower())
    return entities.add(
        key,
        {
            "Type": "account",
            "Name": name,
            "NTDomain": domain,
            "UPNSuffix": upn.split("@", 1)[1] if "@" in upn else None,
            "Sid": account.get("userSid"),
            "AadUserId": account.get("azureAdUserId"),
        },
    )


def _file(entities: _Entities, details: dict | None, host: dict | None) -> dict | None:
    if not details or not details.get("fileName"):
        return None
    hashes = [
        entities.add(("filehash", algo, value.lower()), {"Type": "filehash", "Algorithm": algo, "Value": value})
        for algo, value in (("SHA1", details.get("sha1")), ("SHA256", details.get("sha256")), ("MD5", details.get("md5")))
        if value
    ]
    key = ("file", (details.get("filePath") or "").lower(), details["fileName"].lower(), (details.get("sha256") or "").lower())
    return entities.add(
        key,
        {
            "Type": "file",
            "Name": details["fileName"],
            "Directory": details.get("filePath"),
            "SizeInBytes": details.get("fileSize"),
            "FileHashes": hashes or None,
            "Host": host,
        },
    )


def evidence_entities(evidence: list[dict] | None) -> list[dict]:
    entities = _Entities()
    evidence = [e for e in (evidence or []) if isinstance(e, dict)]
    # Hosts first, so process and file entities can reference them.
    for ev in evidence:
        if _evidence_kind(ev) == "deviceevidence":
            _host(entities, ev)
    for ev in evidence:
        kind = _evidence_kind(ev)
        device = ev.get("mdeDeviceId")
        host = entities.ref(("host", device.lower())) if device else None
        if kind == "userevidence":
            _account(entities, ev.get("userAccount"))
        elif kind == "ipevidence" and ev.get("ipAddress"):
            entities.add(("ip", ev["ipAddress"].lower()), {"Type": "ip", "Address": ev["ipAddress"]})
        elif kind == "urlevidence" and ev.get("url"):
            entities.add(("url", ev["url"]), {"Type": "url", "Url": ev["url"]})
        elif kind == "fileevidence":
            _file(entities, ev.get("fileDetails"), host)
        elif kind == "processevidence":
            image = _file(entities, ev.get("imageFile"), host)
            account = _account(entities, ev.get("userAccount"))
            pid = ev.get("processId")
            entities.add(
                None,
                {
                    "Type": "process",
                    "ProcessId": None if pid is None else str(pid),
                    "CommandLine": ev.get("processCommandLine"),
                    "CreationTimeUtc": ev.get("processCreationDateTime"),
                    "ImageFile": image,
                    "Account": account,
                    "Host": host,
                },
            )
        elif kind == "registrykeyevidence" and ev.get("registryKey"):
            entities.add(None, {"Type": "registry-key", "Hive": ev.get("registryHive"), "Key": ev["registryKey"]})
    return entities.items


def _compromised_host(evidence: list[dict] | None) -> str | None:
    for ev in evidence or []:
        if isinstance(ev, dict) and _evidence_kind(ev) == "deviceevidence" and "compromised" in (ev.get("roles") or []):
            return ev.get("deviceDnsName")
    return None


def alert_row(alert: dict) -> dict:
    detector = alert.get("detectorId")
    title = alert.get("title")
    extended = {
        "Analytic Rule Ids": _dumps([detector] if detector else []),
        "Analytic Rule Name": title,
        "IncidentId": alert.get("incidentId"),
        "Classification": alert.get("classification"),
        "Determination": alert.get("determination"),
        "ServiceSource": alert.get("serviceSource"),
        "DetectionSource": alert.get("detectionSource"),
    }
    techniques = alert.get("mitreTechniques") or []
    return {
        "TimeGenerated": alert.get("createdDateTime"),
        "TenantId": alert.get("tenantId"),
        "SystemAlertId": alert.get("id"),
        "VendorOriginalId": alert.get("providerAlertId"),
        "AlertName": title,
        "DisplayName": title,
        "AlertSeverity": alert.get("severity"),
        "AlertType": detector,
        "Description": alert.get("description"),
        "ProviderName": alert.get("detectionSource"),
        "VendorName": "Microsoft",
        "ProductName": alert.get("serviceSource"),
        "Status": alert.get("status"),
        "CompromisedEntity": _compromised_host(alert.get("evidence")),
        "StartTime": alert.get("firstActivityDateTime"),
        "EndTime": alert.get("lastActivityDateTime"),
        "Tactics": alert.get("category"),
        "Techniques": _dumps(techniques) if techniques else None,
        "Entities": _dumps(evidence_entities(alert.get("evidence"))),
        "ExtendedProperties": _dumps({k: v for k, v in extended.items() if v is not None}),
        "RemediationSteps": alert.get("recommendedActions"),
        "AlertLink": alert.get("alertWebUrl"),
        "SourceSystem": "Microsoft Graph security API",
        "Type": "SecurityAlert",
    }


def _closed_time(incident: dict, alerts: list[dict]) -> object:
    if incident.get("resolvedDateTime"):
        return incident["resolvedDateTime"]
    if str(incident.get("status") or "").lower() != "resolved":
        return None
    resolved = [parse_datetime(a.get("resolvedDateTime")) for a in alerts if a.get("resolvedDateTime")]
    return max(resolved) if resolved else incident.get("lastUpdateDateTime")


def incident_row(incident: dict) -> dict:
    alerts = [a for a in (incident.get("alerts") or []) if isinstance(a, dict)]
    graph_id = str(incident.get("id") or "")
    first_activity = [parse_datetime(a.get("firstActivityDateTime")) for a in alerts if a.get("firstActivityDateTime")]
    last_activity = [parse_datetime(a.get("lastActivityDateTime")) for a in alerts if a.get("lastActivityDateTime")]
    labels = [{"labelName": t, "labelType": "User"} for t in incident.get("customTags") or []]
    labels += [{"labelName": t, "labelType": "System"} for t in incident.get("systemTags") or []]
    additional = {
        "alertsCount": len(alerts),
        "commentsCount": len(incident.get("comments") or []),
        "alertProductNames": _unique(a.get("serviceSource") for a in alerts),
        "tactics": _unique(a.get("category") for a in alerts),
        "redirectIncidentId": incident.get("redirectIncidentId"),
    }
    return {
        "TimeGenerated": incident.get("lastUpdateDateTime"),
        "TenantId": incident.get("tenantId"),
        "IncidentNumber": int(graph_id) if graph_id.isdigit() else None,
        "IncidentName": graph_id or None,
        "Title": incident.get("displayName"),
        "Description": incident.get("description") or incident.get("summary"),
        "Severity": incident.get("severity"),
        "Status": incident.get("status"),
        "Classification": incident.get("classification"),
        "ClassificationComment": incident.get("resolvingComment"),
        "Determination": incident.get("determination"),
        "Owner": incident.get("assignedTo"),
        "ModifiedBy": incident.get("lastModifiedBy"),
        "CreatedTime": incident.get("createdDateTime"),
        "LastModifiedTime": incident.get("lastUpdateDateTime"),
        "ClosedTime": _closed_time(incident, alerts),
        "FirstActivityTime": min(first_activity) if first_activity else None,
        "LastActivityTime": max(last_activity) if last_activity else None,
        "AlertIds": _dumps(_unique(a.get("id") for a in alerts)),
        "RelatedAnalyticRuleIds": _dumps(_unique(a.get("detectorId") for a in alerts)),
        "Labels": _dumps(labels),
        "ProviderName": "Microsoft XDR",
        "ProviderIncidentId": graph_id or None,
        "IncidentUrl": incident.get("incidentWebUrl"),
        "AdditionalData": _dumps(additional),
        "Type": "SecurityIncident",
    }


def rows_to_table(rows: list[dict], schema: pa.Schema) -> pa.Table:
    """The mapped rows on the raw schema; a datetime column with a value `parse_datetime` cannot
    read stays text, for the extract row rules to quarantine just that row (the row contract)."""
    arrays = []
    for field in schema:
        values = [row.get(field.name) for row in rows]
        if field.type == TS:
            arrays.append(datetime_array(values))
        else:
            arrays.append(pa.array(values, type=field.type))
    return pa.Table.from_arrays(arrays, names=schema.names)


def alerts_table(alerts: list[dict]) -> pa.Table:
    return rows_to_table([alert_row(a) for a in alerts], SECURITY_ALERT)


def incidents_table(incidents: list[dict]) -> pa.Table:
    return rows_to_table([incident_row(i) for i in incidents], SECURITY_INCIDENT)
