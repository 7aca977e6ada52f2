"""Arrow schemas of the raw lake tables: the contract between every source and the warehouse.

Raw tables keep Microsoft's own column names and types (Defender advanced hunting and the Sentinel
Log Analytics tables), so an analyst can compare a lake row with the portal. `dynamic` columns stay
JSON text, as both APIs return them. Tenant and day are not columns: they are the lake partition
(`tenant=<t>/day=<YYYY-MM-DD>`).
"""

from __future__ import annotations

import pyarrow as pa

import vocab

TS = pa.timestamp("us", tz="UTC")
S = pa.string()
I64 = pa.int64()
I32 = pa.int32()

# Defender XDR DeviceEvents, documented order (64 columns), plus Sentinel's TimeGenerated
# (ingestion time; null from Defender's hunting API, which has none).
DEVICE_EVENTS = pa.schema(
    [
        ("Timestamp", TS),
        ("DeviceId", S),
        ("DeviceName", S),
        ("ActionType", S),
        ("FileName", S),
        ("FolderPath", S),
        ("SHA1", S),
        ("SHA256", S),
        ("MD5", S),
        ("FileSize", I64),
        ("AccountDomain", S),
        ("AccountName", S),
        ("AccountSid", S),
        ("RemoteUrl", S),
        ("RemoteDeviceName", S),
        ("ProcessId", I64),
        ("ProcessCommandLine", S),
        ("ProcessCreationTime", TS),
        ("ProcessTokenElevation", S),
        ("LogonId", I64),
        ("RegistryKey", S),
        ("RegistryValueName", S),
        ("RegistryValueData", S),
        ("RemoteIP", S),
        ("RemotePort", I32),
        ("LocalIP", S),
        ("LocalPort", I32),
        ("FileOriginUrl", S),
        ("FileOriginIP", S),
        ("InitiatingProcessSHA1", S),
        ("InitiatingProcessSHA256", S),
        ("InitiatingProcessMD5", S),
        ("InitiatingProcessFileName", S),
        ("InitiatingProcessFileSize", I64),
        ("InitiatingProcessFolderPath", S),
        ("InitiatingProcessId", I64),
        ("InitiatingProcessCommandLine", S),
        ("InitiatingProcessCreationTime", TS),
        ("InitiatingProcessAccountDomain", S),
        ("InitiatingProcessAccountName", S),
        ("InitiatingProcessAccountSid", S),
        ("InitiatingProcessAccountUpn", S),
        ("InitiatingProcessAccountObjectId", S),
        ("InitiatingProcessVersionInfoCompanyName", S),
        ("InitiatingProcessVersionInfoProductName", S),
        ("InitiatingProcessVersionInfoProductVersion", S),
        ("InitiatingProcessVersionInfoInternalFileName", S),
        ("InitiatingProcessVersionInfoOriginalFileName", S),
        ("InitiatingProcessVersionInfoFileDescription", S),
        ("InitiatingProcessParentId", I64),
        ("InitiatingProcessParentFileName", S),
        ("InitiatingProcessParentCreationTime", TS),
        ("InitiatingProcessLogonId", I64),
        ("ReportId", I64),
        ("AppGuardContainerId", S),
        ("AdditionalFields", S),
        ("InitiatingProcessSessionId", I64),
        ("IsInitiatingProcessRemoteSession", pa.bool_()),
        ("InitiatingProcessRemoteSessionDeviceName", S),
        ("InitiatingProcessRemoteSessionIP", S),
        ("CreatedProcessSessionId", I64),
        ("IsProcessRemoteSession", pa.bool_()),
        ("ProcessRemoteSessionDeviceName", S),
        ("ProcessRemoteSessionIP", S),
        ("TimeGenerated", TS),
    ]
)

# Sentinel SecurityAlert (Log Analytics). Defender alerts from Graph are mapped onto it.
SECURITY_ALERT = pa.schema(
    [
        ("TimeGenerated", TS),
        ("TenantId", S),
        ("SystemAlertId", S),
        ("VendorOriginalId", S),
        ("AlertName", S),
        ("DisplayName", S),
        ("AlertSeverity", S),
        ("AlertType", S),
        ("Description", S),
        ("ProviderName", S),
        ("VendorName", S),
        ("ProductName", S),
        ("ProductComponentName", S),
        ("Status", S),
        ("ConfidenceLevel", S),
        ("ConfidenceScore", pa.float64()),
        ("CompromisedEntity", S),
        ("StartTime", TS),
        ("EndTime", TS),
        ("ProcessingEndTime", TS),
        ("Tactics", S),
        ("Techniques", S),
        ("SubTechniques", S),
        ("Entities", S),
        ("ExtendedProperties", S),
        ("ExtendedLinks", S),
        ("RemediationSteps", S),
        ("ResourceId", S),
        ("AlertLink", S),
        ("SourceSystem", S),
        ("Type", S),
    ]
)

# Sentinel SecurityIncident: one row per create or update. Defender incidents from Graph are mapped
# onto it (IncidentName = Graph id, Determination only from Graph).
SECURITY_INCIDENT = pa.schema(
    [
        ("TimeGenerated", TS),
        ("TenantId", S),
        ("IncidentNumber", I64),
        ("IncidentName", S),
        ("Title", S),
        ("Description", S),
        ("Severity", S),
        ("Status", S),
        ("Classification", S),
        ("ClassificationReason", S),
        ("ClassificationComment", S),
        ("Determination", S),
        ("Owner", S),
        ("ModifiedBy", S),
        ("CreatedTime", TS),
        ("FirstModifiedTime", TS),
        ("LastModifiedTime", TS),
        ("ClosedTime", TS),
        ("FirstActivityTime", TS),
        ("LastActivityTime", TS),
        ("AlertIds", S),
        ("RelatedAnalyticRuleIds", S),
        ("Labels", S),
        ("ProviderName", S),
        ("ProviderIncidentId", S),
        ("IncidentUrl", S),
        ("AdditionalData", S),
        ("Type", S),
    ]
)

# Analytic rule definitions, one row per rule, a daily snapshot (the services keep no history of
# them). Sentinel: the workspace's Microsoft.SecurityInsights alertRules (ARM property names);
# Defender XDR: Graph custom detection rules, mapped onto the same columns. RuleId is the id alerts
# carry (SecurityAlert "Analytic Rule Ids", Graph alerts' detectorId), lower-case; ResourceId the
# service's own id (ARM id, Graph rule id). Tactics, Techniques and EntityMappings are JSON text.
ANALYTIC_RULES = pa.schema(
    [
        ("SnapshotTime", TS),
        ("RuleId", S),
        ("ResourceId", S),
        ("Source", S),
        ("Kind", S),
        ("DisplayName", S),
        ("Description", S),
        ("Enabled", pa.bool_()),
        ("Severity", S),
        ("Query", S),
        ("QueryFrequency", S),
        ("QueryPeriod", S),
        ("Tactics", S),
        ("Techniques", S),
        ("EntityMappings", S),
        ("AlertRuleTemplateName", S),
        ("LastModifiedTime", TS),
    ]
)

# Lake table name -> schema. The lake table name is also the Dagster extract asset's suffix.
RAW_TABLES: dict[str, pa.Schema] = {
    "device_events": DEVICE_EVENTS,
    "security_alert": SECURITY_ALERT,
    "security_incident": SECURITY_INCIDENT,
    "analytic_rules": ANALYTIC_RULES,
}

# Which column places a raw row in its partition day (half-open UTC window [day, day + 1)).
# Incidents go by modification time so a classification made weeks later is exported on its own day.
WINDOW_COLUMN: dict[str, str] = {
    "device_events": "Timestamp",
    "security_alert": "TimeGenerated",
    "security_incident": "LastModifiedTime",
    # a snapshot of the definitions when the day was extracted, stamped with the day's start
    "analytic_rules": "SnapshotTime",
}

# written once, in vocab (the firewall models read the same tuple)
FIREWALL_ACTION_TYPES = vocab.FIREWALL_ACTION_TYPES


# Older SecurityAlert exports (the msticpy samples, legacy workspaces) use these names.
LEGACY_ALIASES: dict[str, dict[str, str]] = {
    "security_alert": {
        "StartTime": "StartTimeUtc",
        "EndTime": "EndTimeUtc",
        "DisplayName": "AlertDisplayName",
        "AlertSeverity": "Severity",
    },
}


def present_columns(names: list[str], table: str) -> list[str]:
    """The raw columns a source's own column names hold, under their contract names (legacy aliases
    resolved, case-insensitive): what the service sent before `conform` fills the rest with nulls."""
    lower = {n.lower() for n in names}
    out = []
    for field in RAW_TABLES[table]:
        alias = LEGACY_ALIASES.get(table, {}).get(field.name, "")
        if field.name.lower() in lower or (alias and alias.lower() in lower):
            out.append(field.name)
    return out


def empty_table(table: str) -> pa.Table:
    return RAW_TABLES[table].empty_table()


def conform(batch: pa.Table | pa.RecordBatch, table: str) -> tuple[pa.Table, list[str]]:
    """Cast a source batch onto the raw schema.

    Missing optional columns become nulls; columns the contract does not know are dropped and
    reported (schema drift is shown in load metadata, never silently absorbed). Casting is strict:
    a value that does not fit its type raises, so the caller can quarantine the batch's bad rows.
    """
    schema = RAW_TABLES[table]
    tbl = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
    by_lower = {name.lower(): name for name in tbl.column_names}
    aliases = LEGACY_ALIASES.get(table, {})

    def source_of(name: str) -> str | None:
        found = by_lower.get(name.lower())
        if found is None and name in aliases:
            found = by_lower.get(aliases[name].lower())
        return found

    extra = sorted(set(tbl.column_names) - {source_of(f.name) for f in schema})
    columns = []
    for field in schema:
        src = source_of(field.name)
        if src is None:
            columns.append(pa.nulls(tbl.num_rows, type=field.type))
        else:
            columns.append(cast_column(tbl.column(src), field.type))
    return pa.Table.from_arrays(columns, schema=schema), extra


def cast_column(values: pa.Array | pa.ChunkedArray, arrow_type: pa.DataType) -> pa.Array | pa.ChunkedArray:
    """Strict cast onto a raw type; raises pa.ArrowInvalid for a value that does not fit.

    Text into a timestamp is read as the sources read service datetimes (`arrow_rows`): ISO 8601,
    the fraction truncated to microseconds (Kusto writes 7 digits), no zone meaning UTC, '' as null.
    Arrow's own cast would refuse a zone-less or 7-digit value that both services send.
    """
    if pa.types.is_timestamp(arrow_type) and (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        from pipelines.sources.arrow_rows import timestamps_from_text  # arrow_rows imports this module

        text = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
        try:
            return timestamps_from_text(text.cast(pa.string())).cast(arrow_type)
        except (ValueError, OverflowError) as exc:
            raise pa.ArrowInvalid(str(exc)) from exc
    return values.cast(arrow_type)
