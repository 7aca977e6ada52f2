-- model: analytic_rule_snapshots
-- kind: incremental
-- grain: one row per analytic_rules lake partition (tenant × snapshot day)
-- key: tenant, day
-- depends_on: raw:analytic_rules, staging_tables
-- stage_from: analytic_rules
-- params: tenant, day, absence
-- catch_up: whole
-- description: Per tenant and day, the rule definitions' snapshot: rule counts, and why it is empty when it is on
--   purpose (no workspace_resource_id, a Defender permission not granted).
-- columns:
--   tenant VARCHAR: tenant name
--   day DATE: partition day the snapshot stands for
--   rules BIGINT: distinct rules in the snapshot
--   enabled_rules BIGINT: of those, enabled
--   sources VARCHAR[]: `Microsoft Sentinel` and/or `Microsoft Defender XDR`
--   absence VARCHAR: NULL when the source was read; else why the snapshot is empty on purpose, e.g. `no
--     workspace_resource_id configured: …` or the Graph 403 naming CustomDetection.Read.All
-- model: analytic_rules
-- kind: incremental
-- grain: one row per analytic rule of the tenant's latest snapshot
-- key: tenant, rule_id
-- depends_on: raw:analytic_rules, staging_tables
-- stage_from: analytic_rules
-- params: tenant, day
-- catch_up: whole
-- description: The analytic rule definitions (Sentinel alertRules, Defender custom detections) of each tenant's
--   latest snapshot: kind, enabled, severity, query, schedule, tactics and entity mappings.
-- columns:
--   tenant VARCHAR <- (config): tenant name
--   day DATE <- (partition): day of the snapshot the row comes from
--   rule_id VARCHAR <- `RuleId`: the rule's id as alerts carry it, lower-case: Sentinel's rule GUID (`name`),
--     Defender's `detectorId`
--   resource_id VARCHAR <- `ResourceId`: Sentinel: the rule's ARM id (what automation rules'
--     `IncidentRelatedAnalyticRuleIds` names); Defender: the Graph rule id
--   source VARCHAR <- `Source`: `Microsoft Sentinel` or `Microsoft Defender XDR`
--   kind VARCHAR <- `Kind`: Scheduled, NRT, Fusion, MicrosoftSecurityIncidentCreation, MLBehaviorAnalytics,
--     ThreatIntelligence; CustomDetection (Defender)
--   display_name VARCHAR <- `DisplayName`: the rule's name
--   description VARCHAR <- `Description`: the rule's description (Defender: the alert template's)
--   enabled BOOLEAN <- `Enabled`: whether the rule runs
--   severity VARCHAR <- `Severity`: severity of its alerts (as sent: Sentinel PascalCase, Graph lower-case)
--   query VARCHAR <- `Query`: the KQL query (Scheduled, NRT, custom detections); NULL for kinds without one
--   query_frequency VARCHAR <- `QueryFrequency`: how often it runs: ISO 8601 duration (`PT1H`); Defender
--     schedule period (`1H`, `0` = continuous); NULL for NRT
--   query_period VARCHAR <- `QueryPeriod`: the lookback of each run, ISO 8601 (`P1D`); NULL for NRT and Defender
--   tactics JSON <- `Tactics`: MITRE tactics (array)
--   techniques JSON <- `Techniques`: MITRE techniques (array)
--   entity_mappings JSON <- `EntityMappings`: `[{entityType, fieldMappings: [{identifier, columnName}]}]`: which
--     column of the query's results fills which entity identifier; NULL when the rule has none or it is not JSON
--   entity_columns STRUCT(entity_type VARCHAR, identifier VARCHAR, column_name VARCHAR)[] <- `EntityMappings`: the
--     same flattened, entity type lower-case as in `alert_entities` (`account`, `host`, `ip`, …): what
--     `tuning_recommendations.kql_exclusion` matches on
--   alert_rule_template_name VARCHAR <- `AlertRuleTemplateName`: the content-hub template the rule was created
--     from, if any
--   last_modified_time TIMESTAMPTZ <- `LastModifiedTime`: when the rule was last changed
--
-- Stage one lake partition of analytic_rules. Both tables are small (rules per tenant, days), so the
-- catch-up copies them whole. The snapshot row is written first; the tenant's rules are replaced
-- only when this partition is its latest snapshot (re-pulling an older day changes nothing), and
-- an empty latest snapshot empties them: the snapshot row then says why (absence).
-- rule_id: lower-case, as staging writes alerts.rule_id. entity_columns: entity_mappings flattened
-- to (entity type, identifier, column) triples, entity type lower-case as alert_entities has it.
-- Input: view raw_input; variables tenant, day, absence (from the partition's manifest).

DELETE FROM analytic_rule_snapshots WHERE tenant = getvariable('tenant') AND day = getvariable('day');

INSERT INTO analytic_rule_snapshots
SELECT
    getvariable('tenant') AS tenant,
    getvariable('day') AS day,
    count(DISTINCT lower("RuleId")) AS rules,
    count(DISTINCT lower("RuleId")) FILTER (WHERE "Enabled") AS enabled_rules,
    coalesce(list(DISTINCT "Source" ORDER BY "Source") FILTER (WHERE "Source" IS NOT NULL), []) AS sources,
    getvariable('absence') AS absence
FROM raw_input;

DELETE FROM analytic_rules
WHERE tenant = getvariable('tenant')
  AND getvariable('day') >= (SELECT max(day) FROM analytic_rule_snapshots WHERE tenant = getvariable('tenant'));

INSERT INTO analytic_rules
WITH latest AS (
    SELECT
        *,
        CASE WHEN json_valid("EntityMappings") THEN "EntityMappings" END AS mappings
    FROM raw_input
    WHERE getvariable('day') >= (SELECT max(day) FROM analytic_rule_snapshots WHERE tenant = getvariable('tenant'))
    QUALIFY row_number() OVER (PARTITION BY lower("RuleId") ORDER BY "LastModifiedTime" DESC NULLS LAST, "ResourceId") = 1
),

flat AS (
    SELECT
        lower(l."RuleId") AS rule_id,
        list({
            'entity_type': lower(m ->> 'entityType'),
            'identifier': f ->> 'identifier',
            'column_name': f ->> 'columnName'
        }) FILTER (WHERE f ->> 'columnName' IS NOT NULL) AS entity_columns
    FROM latest AS l,
        unnest(CASE WHEN json_type(l.mappings) = 'ARRAY' THEN l.mappings::JSON[] ELSE [] END) AS e(m),
        unnest(CASE WHEN json_type(m -> 'fieldMappings') = 'ARRAY' THEN (m -> 'fieldMappings')::JSON[] ELSE [] END)
            AS x(f)
    GROUP BY ALL
)

SELECT
    getvariable('tenant') AS tenant,
    getvariable('day') AS day,
    lower(l."RuleId") AS rule_id,
    l."ResourceId" AS resource_id,
    l."Source" AS source,
    l."Kind" AS kind,
    l."DisplayName" AS display_name,
    l."Description" AS description,
    l."Enabled" AS enabled,
    l."Severity" AS severity,
    l."Query" AS query,
    l."QueryFrequency" AS query_frequency,
    l."QueryPeriod" AS query_period,
    CASE WHEN json_valid(l."Tactics") THEN l."Tactics"::JSON END AS tactics,
    CASE WHEN json_valid(l."Techniques") THEN l."Techniques"::JSON END AS techniques,
    l.mappings::JSON AS entity_mappings,
    coalesce(f.entity_columns, []) AS entity_columns,
    l."AlertRuleTemplateName" AS alert_rule_template_name,
    l."LastModifiedTime" AS last_modified_time
FROM latest AS l
LEFT JOIN flat AS f ON f.rule_id = lower(l."RuleId");
