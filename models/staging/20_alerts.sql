-- model: alerts
-- kind: incremental
-- grain: one row per alert, its latest version
-- key: tenant, system_alert_id
-- depends_on: raw:security_alert, staging_tables
-- stage_from: security_alert
-- params: tenant, day
-- catch_up: alert_versions
-- description: Latest row per SecurityAlert, with the analytic rule id and name parsed from ExtendedProperties.
-- columns:
--   tenant VARCHAR <- (config): tenant name
--   day DATE <- (partition): UTC day of `TimeGenerated` of the kept version
--   system_alert_id VARCHAR <- `SystemAlertId`: alert id; `SecurityIncident.AlertIds` refers to it
--   time_generated TIMESTAMPTZ <- `TimeGenerated`: when the alert row was written
--   alert_name VARCHAR <- `AlertName`: alert name (for scheduled rules, the rule name at the time)
--   display_name VARCHAR <- `DisplayName` / `AlertDisplayName`: display name
--   severity VARCHAR <- `AlertSeverity` / `Severity`: Informational, Low, Medium, High
--   alert_type VARCHAR <- `AlertType`: alert type
--   status VARCHAR <- `Status`: New, InProgress, Resolved, Dismissed
--   rule_id VARCHAR <- `ExtendedProperties."Analytic Rule Ids"`: first analytic rule id, lower-case, last `/`
--     segment (falls back to alert type, then name)
--   rule_ids VARCHAR[] <- same: every analytic rule id of the alert
--   rule_name VARCHAR <- `ExtendedProperties."Analytic Rule Name"`: rule name for display (falls back to
--     `AlertName`)
--   product_name VARCHAR <- `ProductName`: e.g. Azure Sentinel, Microsoft Defender for Endpoint
--   product_component_name VARCHAR <- `ProductComponentName`:
--   provider_name VARCHAR <- `ProviderName`: e.g. ASI Scheduled Alerts
--   vendor_name VARCHAR <- `VendorName`:
--   vendor_original_id VARCHAR <- `VendorOriginalId`: the provider's alert id
--   compromised_entity VARCHAR <- `CompromisedEntity`:
--   confidence_level VARCHAR <- `ConfidenceLevel`:
--   confidence_score DOUBLE <- `ConfidenceScore`: 0–1
--   start_time TIMESTAMPTZ <- `StartTime` / `StartTimeUtc`: first event of the alert
--   end_time TIMESTAMPTZ <- `EndTime` / `EndTimeUtc`: last event of the alert
--   tactics VARCHAR <- `Tactics`: comma-separated MITRE tactics
--   techniques VARCHAR <- `Techniques`: MITRE techniques
--   description VARCHAR <- `Description`:
--   alert_link VARCHAR <- `AlertLink`: portal link
--   entities JSON <- `Entities`: the raw entity array (null when not valid JSON; see `quarantine`)
--   extended_properties JSON <- `ExtendedProperties`: the raw properties object
-- model: alert_entities
-- kind: incremental
-- grain: one row per resolved entity of an alert
-- key: tenant, system_alert_id, day, entity_ordinal
-- depends_on: raw:security_alert, staging_tables
-- stage_from: security_alert
-- params: tenant, day
-- catch_up: alert_versions
-- description: One row per entity of an alert after $ref resolution, with a normalised entity key.
-- columns:
--   tenant VARCHAR <- (config): tenant name
--   day DATE <- (partition): the alert's `day`
--   system_alert_id VARCHAR <- `SystemAlertId`: the alert
--   entity_ordinal INTEGER <- (derived): position among the alert's entities (document order of `$id`)
--   entity_type VARCHAR <- entity `Type`: lower-case: account, host, ip, file, process, url, filehash, dns, …
--   entity_key VARCHAR <- (derived): normalised lower-case key: `domain\name` or `name@upnsuffix` for accounts,
--     short host name, IP address, `directory\name` for files, command line for processes, URL, `algorithm:value` for
--     hashes
--   entity_value VARCHAR <- (derived): the same value with original casing, for display
--   properties JSON <- entity object: the entity's fields; nested entities replaced by `{"Type", "value"}` after
--     resolving `$ref`
--
-- Stage one lake partition of SecurityAlert into alerts and alert_entities.
-- Grain: alerts one row per (tenant, system_alert_id), the latest version in this partition (the
-- cross-day latest is kept by 90_latest_state.sql); alert_entities one row per resolved entity.
-- The rule id comes from ExtendedProperties "Analytic Rule Ids", itself JSON text of an array,
-- normalised to a lower-case last path segment (values may be bare GUIDs or ARM resource ids).
-- Input: views raw_input (the Parquet partition) and raw_entities (flattened in Python, which
-- resolves $ref); variables tenant, day.

DELETE FROM alert_entities WHERE tenant = getvariable('tenant') AND day = getvariable('day');
DELETE FROM alerts WHERE tenant = getvariable('tenant') AND day = getvariable('day');

INSERT INTO alerts
WITH source AS (
    SELECT
        *,
        CASE WHEN json_valid("ExtendedProperties") THEN "ExtendedProperties" END AS ep
    FROM raw_input
    QUALIFY row_number() OVER (PARTITION BY "SystemAlertId" ORDER BY "TimeGenerated" DESC) = 1
),

rule_ids AS (
    SELECT
        *,
        CASE
            WHEN json_valid(json_extract_string(ep, '$."Analytic Rule Ids"'))
                THEN list_transform(
                    from_json(json_extract_string(ep, '$."Analytic Rule Ids"'), '["VARCHAR"]'),
                    lambda x: lower(regexp_extract(trim(x), '[^/]+$'))
                )
        END AS parsed_rule_ids
    FROM source
)

SELECT
    getvariable('tenant') AS tenant,
    getvariable('day') AS day,
    "SystemAlertId" AS system_alert_id,
    "TimeGenerated" AS time_generated,
    "AlertName" AS alert_name,
    coalesce("DisplayName", "AlertName") AS display_name,
    "AlertSeverity" AS severity,
    "AlertType" AS alert_type,
    "Status" AS status,
    coalesce(parsed_rule_ids[1], lower("AlertType"), lower("AlertName")) AS rule_id,
    coalesce(parsed_rule_ids, []) AS rule_ids,
    coalesce(json_extract_string(ep, '$."Analytic Rule Name"'), "AlertName") AS rule_name,
    "ProductName" AS product_name,
    "ProductComponentName" AS product_component_name,
    "ProviderName" AS provider_name,
    "VendorName" AS vendor_name,
    "VendorOriginalId" AS vendor_original_id,
    "CompromisedEntity" AS compromised_entity,
    "ConfidenceLevel" AS confidence_level,
    "ConfidenceScore" AS confidence_score,
    "StartTime" AS start_time,
    "EndTime" AS end_time,
    "Tactics" AS tactics,
    "Techniques" AS techniques,
    "Description" AS description,
    "AlertLink" AS alert_link,
    CASE WHEN json_valid("Entities") THEN "Entities"::JSON END AS entities,
    ep::JSON AS extended_properties
FROM rule_ids;

INSERT INTO alert_entities
SELECT
    getvariable('tenant') AS tenant,
    getvariable('day') AS day,
    e.system_alert_id,
    e.entity_ordinal,
    e.entity_type,
    e.entity_key,
    e.entity_value,
    e.properties::JSON AS properties
FROM raw_entities AS e
SEMI JOIN alerts AS a
    ON a.tenant = getvariable('tenant') AND a.day = getvariable('day') AND a.system_alert_id = e.system_alert_id;

-- The alerts this partition holds now: only these can have a second version on another day, so
-- 90_latest_state.sql looks for stale versions among them alone.
INSERT INTO restaged_alerts
SELECT DISTINCT tenant, system_alert_id FROM alerts
WHERE tenant = getvariable('tenant') AND day = getvariable('day');
