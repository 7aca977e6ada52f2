-- model: alert_labels
-- kind: window
-- phase: fit
-- grain: one row per alert of the fit window, with the label of its incident as of the cut-off
-- key: tenant, system_alert_id
-- depends_on: alerts, incident_alerts, incident_history
-- params: fit_end_day, fit_days, automation_labels
-- catch_up: whole
-- description: Each alert with the label of its latest incident.
-- columns:
--   tenant VARCHAR: tenant name
--   system_alert_id VARCHAR: the alert (`alerts.system_alert_id`)
--   day DATE: `alerts.day` (UTC day of the alert's `time_generated`)
--   time_generated TIMESTAMPTZ: `alerts.time_generated`
--   rule_id VARCHAR: `alerts.rule_id`, the analytic rule; NULL when the alert has none
--   rule_name VARCHAR: `alerts.rule_name`, else `alerts.alert_name`
--   incident_number BIGINT: the alert's incident in the latest bridge (`incident_alerts`); in several incidents
--     (merges), a true-positive one if any, else the most recently modified one; NULL when in none
--   incident_created_time TIMESTAMPTZ: that incident's `created_time`
--   incident_closed_time TIMESTAMPTZ: that incident's `closed_time`; NULL while open
--   label VARCHAR: `true_positive`, `benign_positive`, `false_positive` (the incident's classification); NULL when
--     unlabelled
--   is_labelled BOOLEAN: `label` is not NULL
--   is_benign BOOLEAN: `label` is `benign_positive` or `false_positive`
--   is_true_positive BOOLEAN: `label` is `true_positive`
--   label_source VARCHAR: who closed the incident (`modified_by` of its first `Closed` version before the cut-off):
--     `automation` for an automation rule, playbook / Logic App or service principal (`Automation rule - …`, `Playbook
--     - …`, `Logic App …`, `Application - …`, or a bare GUID: the portal's texts, not documented by Microsoft), else
--     `analyst`; NULL when unlabelled
--   is_undetermined BOOLEAN: the incident was closed `undetermined` (unlabelled, shown in rationales)
--   is_evidence BOOLEAN: the label counts as a decision for exclusions: labelled and (`label_source` = `analyst`, or
--     a true positive, or `[tuning] automation_labels` = true)
--
-- alert_labels: one row per (tenant, alert) raised before the fit cut-off, with the label its
-- incident carried as of that cut-off.
-- Grain: (tenant, system_alert_id). Every tuning model counts alerts by label, so the label is
-- decided once, here. Parametrised by getvariable('fit_end_day') (exclusive, a UTC day): the live
-- build passes as_of + 1, the backtest passes the start of its held-out window, so a backtest never
-- sees alerts or classifications from the days it is scored on.
-- Label: the incident's classification in its last version modified before the cut-off
-- (true_positive | benign_positive | false_positive), read from incident_history (every version;
-- `day` is the UTC day of LastModifiedTime), so with the live cut-off this is the latest state.
-- Open or undetermined incidents, and alerts with no incident, are unlabelled (label NULL). Membership comes from the latest alert bridge
-- (incident_alerts); an alert in several incidents (merges) is a true positive if any of them is,
-- else it takes the most recently modified one.
-- Alerts without an analytic rule id are kept: their true positives still guard exclusions.
-- Fit window: the fit_days days before the cut-off ([tuning] fit_days, 90). Rules and environments
-- drift, so older labels say little about next month's alerts, and a window keeps the nightly cost
-- bounded by the window instead of growing with the tenant's whole alert history.
-- Label source: who closed the incident, the modified_by of its first Closed version before the
-- cut-off. Automation rules, playbooks (Logic Apps) and service principals (an application name or
-- a bare GUID) are 'automation', anyone else 'analyst'. Sentinel does not document the ModifiedBy
-- texts; the patterns below are the ones the portal shows ("Automation rule - <name>",
-- "Playbook - <name>", "Application - <name>", an app id). A benign label by automation is a
-- separate source: it is evidence only with [tuning] automation_labels = true (is_evidence); a
-- true positive stays evidence whoever closed it, so the guard never loses one.
CREATE OR REPLACE TEMP MACRO is_automation_writer(who) AS
    regexp_matches(lower(coalesce(who, '')), '^\s*(automation rule|playbook|logic app|application)\b')
    OR regexp_full_match(trim(coalesce(who, '')), '[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}');

CREATE OR REPLACE TABLE alert_labels AS
WITH window_alerts AS (
    SELECT tenant, system_alert_id
    FROM alerts
    WHERE day < getvariable('fit_end_day') AND day >= getvariable('fit_end_day') - getvariable('fit_days')
),
-- the incidents of the window's alerts only: the versions of every other incident cannot label them
window_bridge AS (
    SELECT ia.tenant, ia.system_alert_id, ia.incident_number
    FROM incident_alerts AS ia
    SEMI JOIN window_alerts AS w ON w.tenant = ia.tenant AND w.system_alert_id = ia.system_alert_id
),
incident_closer AS (
    SELECT h.tenant, h.incident_number, arg_min(h.modified_by, h.last_modified_time) AS closed_by
    FROM incident_history AS h
    SEMI JOIN window_bridge AS b ON b.tenant = h.tenant AND b.incident_number = h.incident_number
    WHERE h.day < getvariable('fit_end_day') AND h.status = 'Closed'
    GROUP BY ALL
),
incident_as_of AS (
    SELECT h.tenant, h.incident_number, h.last_modified_time, h.classification, h.created_time, h.closed_time
    FROM incident_history AS h
    SEMI JOIN window_bridge AS b ON b.tenant = h.tenant AND b.incident_number = h.incident_number
    WHERE h.day < getvariable('fit_end_day')
    QUALIFY row_number() OVER (
        PARTITION BY h.tenant, h.incident_number ORDER BY h.last_modified_time DESC NULLS LAST
    ) = 1
),
alert_incident AS (
    SELECT ia.tenant, ia.system_alert_id, i.incident_number, i.classification, i.created_time, i.closed_time,
           c.closed_by
    FROM window_bridge AS ia
    JOIN incident_as_of AS i USING (tenant, incident_number)
    LEFT JOIN incident_closer AS c USING (tenant, incident_number)
    -- a true positive wins: an alert merged into a benign incident stays the attack it was
    QUALIFY row_number() OVER (
        PARTITION BY ia.tenant, ia.system_alert_id
        ORDER BY coalesce(i.classification = 'true_positive', false) DESC, i.last_modified_time DESC NULLS LAST,
                 i.incident_number DESC
    ) = 1
),
labelled AS (
    SELECT
        a.tenant,
        a.system_alert_id,
        a.day,
        a.time_generated,
        a.rule_id,
        coalesce(a.rule_name, a.alert_name) AS rule_name,
        ai.incident_number,
        ai.created_time AS incident_created_time,
        ai.closed_time AS incident_closed_time,
        CASE
            WHEN ai.classification IN ('true_positive', 'benign_positive', 'false_positive')
                THEN ai.classification
        END AS label,
        CASE
            WHEN ai.classification IN ('true_positive', 'benign_positive', 'false_positive')
                THEN CASE WHEN is_automation_writer(ai.closed_by) THEN 'automation' ELSE 'analyst' END
        END AS label_source,
        coalesce(ai.classification = 'undetermined', false) AS is_undetermined
    FROM alerts AS a
    LEFT JOIN alert_incident AS ai USING (tenant, system_alert_id)
    WHERE a.day < getvariable('fit_end_day')
      AND a.day >= getvariable('fit_end_day') - getvariable('fit_days')
)
SELECT
    *,
    label IS NOT NULL AS is_labelled,
    coalesce(label IN ('benign_positive', 'false_positive'), false) AS is_benign,
    coalesce(label = 'true_positive', false) AS is_true_positive,
    coalesce(label = 'true_positive' OR label_source = 'analyst' OR getvariable('automation_labels'), false)
        AND label IS NOT NULL AS is_evidence
FROM labelled;
