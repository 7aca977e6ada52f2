-- model: incident_history
-- kind: incremental
-- grain: one row per incident version
-- key: tenant, incident_number, last_modified_time
-- depends_on: raw:security_incident, staging_tables
-- stage_from: security_incident
-- params: tenant, day
-- catch_up: incident_days
-- description: Every version of every SecurityIncident (one row per update).
-- columns:
--   tenant VARCHAR <- (config): tenant name
--   day DATE <- (partition): UTC day of `LastModifiedTime`
--   incident_number BIGINT <- `IncidentNumber`: sequential number per workspace (Graph: the numeric incident id)
--   incident_name VARCHAR <- `IncidentName`: ARM resource name (Graph: the incident id)
--   title VARCHAR <- `Title`:
--   description VARCHAR <- `Description`:
--   severity VARCHAR <- `Severity`:
--   status VARCHAR <- `Status`: New, Active, Closed (Graph: active, inProgress, resolved, …)
--   classification VARCHAR <- `Classification`: normalised: `true_positive`, `benign_positive` (also Graph
--     `informationalExpectedActivity`), `false_positive`, `undetermined`; NULL while unclassified
--   classification_raw VARCHAR <- `Classification`: the value as received
--   classification_reason VARCHAR <- `ClassificationReason`: SuspiciousActivity, SuspiciousButExpected,
--     IncorrectAlertLogic, InaccurateData
--   classification_comment VARCHAR <- `ClassificationComment`:
--   determination VARCHAR <- Graph `determination`: free text (the Graph enum is inconsistent across docs)
--   owner VARCHAR <- `Owner.assignedTo`: assignee
--   modified_by VARCHAR <- `ModifiedBy`: who made this change
--   created_time TIMESTAMPTZ <- `CreatedTime`:
--   first_modified_time TIMESTAMPTZ <- `FirstModifiedTime`: first change after creation (start of triage)
--   last_modified_time TIMESTAMPTZ <- `LastModifiedTime`: the change this row describes
--   closed_time TIMESTAMPTZ <- `ClosedTime`:
--   first_activity_time TIMESTAMPTZ <- `FirstActivityTime`:
--   last_activity_time TIMESTAMPTZ <- `LastActivityTime`:
--   alert_ids VARCHAR[] <- `AlertIds`: the incident's alerts (`alerts.system_alert_id`)
--   related_analytic_rule_ids VARCHAR[] <- `RelatedAnalyticRuleIds`: rule ids, lower-case last `/` segment
--   labels JSON <- `Labels`: tags
--   provider_name VARCHAR <- `ProviderName`:
--   provider_incident_id VARCHAR <- `ProviderIncidentId`:
--   incident_url VARCHAR <- `IncidentUrl`: portal link
--   time_generated TIMESTAMPTZ <- `TimeGenerated`: when the row was written
--
-- Stage one lake partition of SecurityIncident into incident_history.
-- Grain: one row per incident version, key (tenant, incident_number, last_modified_time).
-- SecurityIncident appends a row on every create and update, so history is kept whole and the
-- latest state is derived in 90_latest_state.sql. Classification is normalised case-insensitively
-- (Sentinel PascalCase, Graph camelCase, informationalExpectedActivity = benign positive); the raw
-- value stays in classification_raw. Input: view raw_input; variables tenant, day.

-- The incidents this partition held before and holds now: 90_latest_state.sql re-derives only these.
INSERT INTO restaged_incidents
SELECT DISTINCT tenant, incident_number FROM incident_history
WHERE tenant = getvariable('tenant') AND day = getvariable('day');

DELETE FROM incident_history WHERE tenant = getvariable('tenant') AND day = getvariable('day');

INSERT INTO incident_history
WITH source AS (
    SELECT
        *,
        regexp_replace(lower(coalesce("Classification", '')), '[^a-z]', '', 'g') AS class_token
    FROM raw_input
    QUALIFY row_number() OVER (
        PARTITION BY "IncidentNumber", "LastModifiedTime" ORDER BY "TimeGenerated" DESC NULLS LAST
    ) = 1
)

SELECT
    getvariable('tenant') AS tenant,
    getvariable('day') AS day,
    "IncidentNumber" AS incident_number,
    "IncidentName" AS incident_name,
    "Title" AS title,
    "Description" AS description,
    "Severity" AS severity,
    "Status" AS status,
    CASE class_token
        WHEN 'truepositive' THEN 'true_positive'
        WHEN 'benignpositive' THEN 'benign_positive'
        WHEN 'informationalexpectedactivity' THEN 'benign_positive'
        WHEN 'falsepositive' THEN 'false_positive'
        WHEN '' THEN NULL
        ELSE 'undetermined'
    END AS classification,
    "Classification" AS classification_raw,
    nullif("ClassificationReason", '') AS classification_reason,
    nullif("ClassificationComment", '') AS classification_comment,
    nullif("Determination", '') AS determination,
    CASE
        WHEN json_valid("Owner") THEN coalesce(
            json_extract_string("Owner", '$.assignedTo'), json_extract_string("Owner", '$.email')
        )
        ELSE "Owner"
    END AS owner,
    "ModifiedBy" AS modified_by,
    "CreatedTime" AS created_time,
    "FirstModifiedTime" AS first_modified_time,
    "LastModifiedTime" AS last_modified_time,
    "ClosedTime" AS closed_time,
    "FirstActivityTime" AS first_activity_time,
    "LastActivityTime" AS last_activity_time,
    CASE WHEN json_valid("AlertIds") THEN from_json("AlertIds", '["VARCHAR"]') ELSE [] END AS alert_ids,
    CASE
        WHEN json_valid("RelatedAnalyticRuleIds")
            THEN list_transform(
                from_json("RelatedAnalyticRuleIds", '["VARCHAR"]'), lambda x: lower(regexp_extract(trim(x), '[^/]+$'))
            )
        ELSE []
    END AS related_analytic_rule_ids,
    CASE WHEN json_valid("Labels") THEN "Labels"::JSON END AS labels,
    "ProviderName" AS provider_name,
    "ProviderIncidentId" AS provider_incident_id,
    "IncidentUrl" AS incident_url,
    "TimeGenerated" AS time_generated
FROM source;

INSERT INTO restaged_incidents
SELECT DISTINCT tenant, incident_number FROM incident_history
WHERE tenant = getvariable('tenant') AND day = getvariable('day');
