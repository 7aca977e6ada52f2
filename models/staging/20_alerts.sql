-- model: alerts
-- kind: incremental
-- grain: one row per alert, its latest version
-- key: tenant, system_alert_id
-- depends_on: raw:security_alert, staging_tables
-- stage_from: security_alert
-- params: tenant, day
-- catch_up: alert_versions
-- description: Latest row per SecurityAlert, with the analytic rule id and name parsed from ExtendedProperties.
-- model: alert_entities
-- kind: incremental
-- grain: one row per resolved entity of an alert
-- key: tenant, system_alert_id, day, entity_ordinal
-- depends_on: raw:security_alert, staging_tables
-- stage_from: security_alert
-- params: tenant, day
-- catch_up: alert_versions
-- description: One row per entity of an alert after $ref resolution, with a normalised entity key.
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
