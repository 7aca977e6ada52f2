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
-- (incident_alerts); an alert in several incidents (merges) takes the most recently modified one.
-- Alerts without an analytic rule id are kept: their true positives still guard exclusions.
-- Fit window: the fit_days days before the cut-off ([tuning] fit_days, 90). Rules and environments
-- drift, so older labels say little about next month's alerts, and a window keeps the nightly cost
-- bounded by the window instead of growing with the tenant's whole alert history.
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
    SELECT ia.tenant, ia.system_alert_id, i.incident_number, i.classification, i.created_time, i.closed_time
    FROM window_bridge AS ia
    JOIN incident_as_of AS i USING (tenant, incident_number)
    QUALIFY row_number() OVER (
        PARTITION BY ia.tenant, ia.system_alert_id
        ORDER BY i.last_modified_time DESC NULLS LAST, i.incident_number DESC
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
        END AS label
    FROM alerts AS a
    LEFT JOIN alert_incident AS ai USING (tenant, system_alert_id)
    WHERE a.day < getvariable('fit_end_day')
      AND a.day >= getvariable('fit_end_day') - getvariable('fit_days')
)
SELECT
    *,
    label IS NOT NULL AS is_labelled,
    coalesce(label IN ('benign_positive', 'false_positive'), false) AS is_benign,
    coalesce(label = 'true_positive', false) AS is_true_positive
FROM labelled;
