-- model: incidents
-- kind: incremental
-- grain: one row per incident, its latest version
-- key: tenant, incident_number
-- depends_on: incident_history, alerts, alert_entities
-- catch_up: tenants
-- description: Latest state per incident, classification normalised to true/benign/false positive.
-- columns:
--   tenant VARCHAR <- (config): tenant name
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
-- model: incident_alerts
-- kind: incremental
-- grain: one row per incident × alert of the latest incident state
-- key: tenant, incident_number, system_alert_id
-- depends_on: incidents
-- catch_up: tenants
-- description: Incident → alert bridge of the latest incident state.
-- columns:
--   tenant VARCHAR: tenant name
--   incident_number BIGINT: the incident
--   system_alert_id VARCHAR: one of its alerts
--
-- Latest state across partitions, re-derived only for the alerts and incidents the run's staged
-- partitions touched (temp tables restaged_alerts / restaged_incidents, created by
-- pipelines/warehouse/staging.py and filled by 20_alerts.sql and 30_incident_history.sql), so a nightly run costs the new day's alerts, not the tenant's history.
-- alerts: one row per (tenant, system_alert_id) — a re-emitted alert may land on a later day, so
--   older versions (and their entities) are removed.
-- incidents: one row per (tenant, incident_number), the latest version by LastModifiedTime, the
--   DuckDB equivalent of `SecurityIncident | summarize arg_max(LastModifiedTime, *) by IncidentNumber`.
-- incident_alerts: the incident -> alert bridge of that latest state.
-- An incident is re-derived when a staged partition held a version of it before or holds one now,
-- so a version removed by a re-pull is noticed too.

DELETE FROM alerts AS a
USING (
    SELECT x.tenant, x.system_alert_id, x.day
    FROM alerts AS x
    SEMI JOIN restaged_alerts AS t ON t.tenant = x.tenant AND t.system_alert_id = x.system_alert_id
    QUALIFY row_number() OVER (PARTITION BY x.tenant, x.system_alert_id ORDER BY x.time_generated DESC, x.day DESC) > 1
) AS stale
WHERE a.tenant = stale.tenant AND a.system_alert_id = stale.system_alert_id AND a.day = stale.day;

DELETE FROM alert_entities AS e
WHERE EXISTS (SELECT 1 FROM restaged_alerts AS t WHERE t.tenant = e.tenant AND t.system_alert_id = e.system_alert_id)
  AND NOT EXISTS (
      SELECT 1 FROM alerts AS a
      WHERE a.tenant = e.tenant AND a.system_alert_id = e.system_alert_id AND a.day = e.day
  );

CREATE TABLE IF NOT EXISTS incidents AS SELECT * EXCLUDE (day) FROM incident_history LIMIT 0;
DELETE FROM incidents AS i
WHERE EXISTS (SELECT 1 FROM restaged_incidents AS t WHERE t.tenant = i.tenant AND t.incident_number = i.incident_number);
INSERT INTO incidents
SELECT h.* EXCLUDE (day)
FROM incident_history AS h
SEMI JOIN restaged_incidents AS t ON t.tenant = h.tenant AND t.incident_number = h.incident_number
QUALIFY row_number() OVER (
    PARTITION BY h.tenant, h.incident_number ORDER BY h.last_modified_time DESC, h.time_generated DESC NULLS LAST
) = 1;

CREATE TABLE IF NOT EXISTS incident_alerts (
    tenant VARCHAR NOT NULL,
    incident_number BIGINT NOT NULL,
    system_alert_id VARCHAR NOT NULL
);
DELETE FROM incident_alerts AS b
WHERE EXISTS (SELECT 1 FROM restaged_incidents AS t WHERE t.tenant = b.tenant AND t.incident_number = b.incident_number);
INSERT INTO incident_alerts
SELECT DISTINCT i.tenant, i.incident_number, unnest(i.alert_ids) AS system_alert_id
FROM incidents AS i
SEMI JOIN restaged_incidents AS t ON t.tenant = i.tenant AND t.incident_number = i.incident_number;

DELETE FROM restaged_alerts;
DELETE FROM restaged_incidents;
