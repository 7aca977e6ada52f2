"""Suites of the raw lake tables, run on each committed Parquet partition (Microsoft column names).

Extract already quarantines rows with null keys, values that do not fit their type, ports outside
0-65535, timestamps outside the window or in the future and malformed AdditionalFields /
ExtendedProperties. The ERROR expectations here re-assert those guarantees on what was actually
committed: if one fails, a row bypassed quarantine and the partition must not reach the warehouse.
"""

from __future__ import annotations

from pipelines.sources.schemas import DEVICE_EVENTS, FIREWALL_ACTION_TYPES, SECURITY_ALERT, SECURITY_INCIDENT
from quality.checks import Check, warn
from quality.suites.common import E, in_window, json_parses, not_future, not_null, ports, typed_columns

NULL_KEY = "rows without their natural key cannot be de-duplicated or joined; extract quarantines them"

# Source columns without which a table is not what the warehouse expects: the natural keys and the
# columns the models read. `conform` would fill a missing one with nulls, so it is checked against
# the source's own column list (recorded by extract) before conform hides it.
REQUIRED_SOURCE_COLUMNS = {
    "device_events": ["Timestamp", "DeviceId", "DeviceName", "ActionType", "RemoteIP", "RemotePort", "LocalIP",
                      "LocalPort", "InitiatingProcessFileName", "InitiatingProcessFolderPath", "ReportId",
                      "AdditionalFields"],
    "security_alert": ["TimeGenerated", "SystemAlertId", "AlertName", "Entities", "ExtendedProperties"],
    "security_incident": ["TimeGenerated", "IncidentNumber", "Status", "Classification", "CreatedTime",
                          "LastModifiedTime", "AlertIds"],
}

RAW_CLASSIFICATION = r"(?i)^(true ?positive|benign ?positive|false ?positive|undetermined|informational ?expected ?activity|unknown)?$"

DEVICE_EVENTS_SUITE: list[Check] = [
    *typed_columns(DEVICE_EVENTS, ["Timestamp", "DeviceId", "ActionType", "RemotePort", "LocalPort", "ReportId"]),
    *not_null(["Timestamp", "DeviceId", "ActionType"], NULL_KEY),
    in_window("Timestamp"),
    not_future("Timestamp"),
    not_future("TimeGenerated"),
    *ports(["RemotePort", "LocalPort"]),
    json_parses("AdditionalFields", "ERROR", "the firewall models read Direction and Profile from it; extract quarantines rows where it is not JSON"),
    warn(
        E.ExpectColumnValuesToBeInSet(column="ActionType", value_set=list(FIREWALL_ACTION_TYPES)),
        "the firewall models only read Firewall* ActionTypes (exact casing); others are kept but ignored "
        "unless all_device_events is set, so they annotate rather than block",
    ),
]

SECURITY_ALERT_SUITE: list[Check] = [
    *typed_columns(SECURITY_ALERT, ["TimeGenerated", "SystemAlertId", "AlertName", "Entities", "ConfidenceScore"]),
    *not_null(["SystemAlertId", "TimeGenerated"], NULL_KEY),
    in_window("TimeGenerated"),
    not_future("TimeGenerated"),
    json_parses("ExtendedProperties", "ERROR", "the rule id comes from ExtendedProperties; extract quarantines rows where it is not JSON"),
    json_parses("Entities", "WARN", "an alert with broken Entities keeps its row and label (staging quarantines the entities), so the tuning models lose only its entities"),
    warn(
        E.ExpectColumnValuesToBeInSet(column="AlertSeverity", value_set=["Informational", "Low", "Medium", "High"]),
        "unexpected severities are displayed as-is; nothing downstream filters on them",
    ),
]

SECURITY_INCIDENT_SUITE: list[Check] = [
    *typed_columns(SECURITY_INCIDENT, ["TimeGenerated", "IncidentNumber", "Classification", "LastModifiedTime"]),
    *not_null(["IncidentNumber", "LastModifiedTime"], NULL_KEY),
    in_window("LastModifiedTime"),
    not_future("LastModifiedTime"),
    json_parses("AlertIds", "WARN", "staging reads the incident's alerts from it; a broken list loses the incident's labels for tuning, not the incident"),
    warn(
        E.ExpectColumnValuesToMatchRegex(column="Classification", regex=RAW_CLASSIFICATION),
        "compared case-insensitively: Sentinel sends PascalCase, Graph camelCase; an unknown value is "
        "normalised to 'undetermined' and so never counts as benign or true positive",
    ),
]

RAW_SUITES: dict[str, list[Check]] = {
    "device_events": DEVICE_EVENTS_SUITE,
    "security_alert": SECURITY_ALERT_SUITE,
    "security_incident": SECURITY_INCIDENT_SUITE,
}
# Key columns that bucket large partitions into chunks (rows of one key share a chunk).
RAW_KEYS = {
    "device_events": ["DeviceId", "Timestamp", "ReportId", "ActionType"],
    "security_alert": ["SystemAlertId"],
    "security_incident": ["IncidentNumber"],
}
