-- model: backtest_alerts
-- kind: scratch
-- phase: report
-- grain: one row per alert of an analytic rule in the held-out windows, with its origin
-- key: tenant, system_alert_id
-- depends_on: alert_labels
-- params: as_of, backtest_start, backtest_days, triage_minutes_per_incident
-- description: The held-out alerts with their latest labels and the origin whose window holds them.
-- model: backtest_entities
-- kind: scratch
-- phase: report
-- grain: held-out alert × entity
-- depends_on: alert_entities, backtest_alerts
-- description: The entities of the held-out alerts, with their properties.
-- model: backtest_alert_rows
-- kind: scratch
-- phase: report
-- grain: one row per held-out alert
-- key: tenant, system_alert_id
-- depends_on: backtest_entities
-- description: Each held-out alert's entities as one JSON list, the input of the clause evaluation.
-- model: backtest_matches
-- kind: scratch
-- phase: report
-- grain: held-out alert × fitted exclusion that removes it
-- depends_on: backtest_alert_rows, backtest_entities, tuning_backtest_fitted, analytic_rules
-- description: Which fitted exclusion removes which held-out alert (its clause, else its entities).
-- model: backtest_removed
-- kind: scratch
-- phase: report
-- grain: origin × removed held-out alert
-- key: tenant, backtest_origin, system_alert_id
-- depends_on: backtest_matches
-- description: The held-out alerts some exclusion of their origin removes.
-- model: backtest_incidents_removed
-- kind: scratch
-- phase: report
-- grain: origin × incident all of whose alerts are removed
-- key: tenant, backtest_origin, incident_number
-- depends_on: incident_alerts, backtest_removed
-- description: Incidents nobody would have triaged: every alert removed by the origin's exclusions.
-- model: tuning_backtest_exclusions
-- kind: window
-- phase: report
-- grain: one row per exclusion a held-out fit recommended, per rolling origin
-- key: backtest_origin, tenant, rule_id, exclusion_kind, entity_type_1, entity_key_1, entity_type_2, entity_key_2,
--   entity_type_3, entity_key_3
-- depends_on: tuning_backtest_fitted, backtest_matches, backtest_alerts
-- catch_up: whole
-- description: Effect of each backtested exclusion on the held-out days.
-- columns:
--   backtest_origin INTEGER: the rolling origin, 1 = the latest held-out window
--   tenant VARCHAR: tenant name
--   rule_id VARCHAR: analytic rule id
--   exclusion_kind VARCHAR: `single`, `pair` or `triple`
--   entity_type_1 VARCHAR: as in `tuning_exclusion_candidates`
--   entity_key_1 VARCHAR: as in `tuning_exclusion_candidates`
--   entity_value_1 VARCHAR: as in `tuning_exclusion_candidates`
--   entity_type_2 VARCHAR: NULL for `single`
--   entity_key_2 VARCHAR: NULL for `single`
--   entity_value_2 VARCHAR: NULL for `single`
--   entity_type_3 VARCHAR: a triple's third part; NULL unless `triple`
--   entity_key_3 VARCHAR: NULL unless `triple`
--   entity_value_3 VARCHAR: NULL unless `triple`
--   fitted_labelled_alerts BIGINT: labelled alerts carrying it in the held-out fit
--   fitted_benign_alerts BIGINT: of those, benign
--   fitted_decisions BIGINT: its `decisions` in the held-out fit
--   fitted_benign_decisions BIGINT: its `benign_decisions` in the held-out fit
--   fitted_confidence DOUBLE: its `confidence` in the held-out fit
--   deployed_clause VARCHAR: the KQL clause the owner would paste (as `tuning_recommendations.kql_exclusion`); the
--     backtest evaluates it on the held-out alerts' query rows; NULL when there is none, and the exclusion is then
--     applied as its watchlist row (entity equality)
--   fit_end_day DATE: first day the held-out fit did not see (= `test_start_day`)
--   test_start_day DATE: first held-out day of its origin (= `fit_end_day`)
--   test_end_day DATE: last held-out day of its origin
--   alerts_removed BIGINT: held-out alerts of the rule it removes
--   benign_alerts_removed BIGINT: of those, benign (latest labels)
--   true_positive_alerts_removed BIGINT: of those, true positives: the cost of the exclusion, should be 0
--   unlabelled_alerts_removed BIGINT: of those, unlabelled
--   accepted BOOLEAN: an owner accepted the exclusion (`tuning_decisions`, not expired): it is applied as deployed at
--     every origin, chosen by the held-out fit or not (then its `fitted_*` columns are NULL); its `alerts_removed`
--     is the workload it removes. `tuning_backtest` counts it with the fitted ones
-- model: tuning_backtest
-- kind: window
-- phase: report
-- grain: tenant × analytic rule (or * for all) × rolling origin (or 0 for all)
-- key: tenant, rule_id, backtest_origin
-- depends_on: backtest_alerts, backtest_removed, backtest_incidents_removed, tuning_backtest_fitted
-- catch_up: whole
-- description: Recommendations fitted without the last N days, replayed on them.
-- columns:
--   tenant VARCHAR: tenant name
--   rule_id VARCHAR: analytic rule id; `*` for the tenant's total
--   rule_name VARCHAR: the rule's name on its latest held-out alert; `all rules` for `*`
--   backtest_origin INTEGER: 1 = the latest window, 2, 3 … earlier ones; 0 = all origins together
--   test_start_day DATE: first held-out day of the origin (origin 0: of the earliest origin with alerts)
--   test_end_day DATE: last held-out day of the origin (origin 0: of the latest)
--   exclusions_applied BIGINT: exclusions of the origin's held-out fit for the rule, plus the accepted ones (applied
--     as deployed; `tuning_backtest_exclusions.accepted`) (`*`: for the tenant; origin 0: summed over origins)
--   alerts BIGINT: held-out alerts of the rule (`*`: of all rules)
--   true_positive_alerts BIGINT: of those, true positives (latest labels): what the window could have hidden
--   alerts_removed BIGINT: of those, removed by at least one exclusion
--   benign_alerts_removed BIGINT: removed and benign (latest labels)
--   true_positive_alerts_removed BIGINT: removed and true positive: should be 0
--   unlabelled_alerts_removed BIGINT: removed and unlabelled
--   incidents_removed BIGINT: incidents with a held-out alert of the rule all of whose alerts are removed by the
--     origin's exclusions (an incident with an alert outside the window, or one without a rule, never counts):
--     incidents nobody would have triaged; the `*` row counts each incident once per origin
--   analyst_hours_saved DOUBLE: `incidents_removed` × `triage_minutes_per_incident` / 60, hours (assumed cost per
--     incident, not measured)
--
-- tuning_backtest_exclusions: what each exclusion fitted at a backtest origin would have removed
-- in that origin's held-out window. Grain: one row per tuning_backtest_fitted exclusion.
-- tuning_backtest: the same effect per rule and origin, plus one '*' row per tenant and origin for
-- all rules together, and backtest_origin 0 rows for all origins together.
-- Grain: (tenant, rule_id, backtest_origin). Why: an exclusion is only trustworthy if, chosen on the
-- past, it removes benign alerts and no true positives in days it has not seen; several origins
-- show whether that holds over time, not in one lucky window.
-- Rolling origins: origin k (1 = the latest) holds out [as_of - k * backtest_days + 1,
-- as_of - (k - 1) * backtest_days], fitted on everything before it; the windows do not overlap, so
-- each held-out alert belongs to one origin. Alerts are scored with their latest labels
-- (alert_labels of the live fit, which runs before this file).
-- Hours saved: incidents whose every alert is removed are incidents nobody triages; each is
-- assumed to cost triage_minutes_per_incident, the same assumption as rule_noise.
CREATE OR REPLACE TEMP TABLE backtest_alerts AS
SELECT *, 1 + date_diff('day', day, getvariable('as_of')::DATE) // getvariable('backtest_days') AS backtest_origin
FROM alert_labels
WHERE rule_id IS NOT NULL AND day >= getvariable('backtest_start') AND day <= getvariable('as_of');

-- What the paste would do: each fitted exclusion's deployed clause (40_backtest_exclusions.sql) is
-- evaluated by models/tuning/kql_eval.py on the query rows of the held-out alerts of its rule,
-- built from their own entities (their day range lets the scan skip older row groups; an alert's
-- entity rows carry its day). An exclusion without a clause (no query, no stable column) is applied
-- as its watchlist row would be: entity equality. The cost follows the held-out days times the
-- rule's exclusions, not the history.
CREATE OR REPLACE TEMP TABLE backtest_entities AS
SELECT DISTINCT e.tenant, e.system_alert_id, b.rule_id, b.backtest_origin, e.entity_type, e.entity_key, e.entity_value,
       e.properties::VARCHAR AS properties
FROM alert_entities AS e
JOIN backtest_alerts AS b ON b.tenant = e.tenant AND b.system_alert_id = e.system_alert_id
WHERE e.day >= getvariable('backtest_start') AND e.day <= getvariable('as_of');

CREATE OR REPLACE TEMP TABLE backtest_alert_rows AS
SELECT
    tenant, system_alert_id, rule_id, backtest_origin,
    to_json(list({'entity_type': entity_type, 'entity_key': entity_key, 'entity_value': entity_value,
                  'properties': properties} ORDER BY entity_type, entity_key))::VARCHAR AS entities
FROM backtest_entities
GROUP BY ALL;

CREATE OR REPLACE TEMP TABLE backtest_matches AS
SELECT r.tenant, r.system_alert_id, r.rule_id, x.backtest_origin, x.exclusion_kind,
       x.entity_type_1, x.entity_key_1, x.entity_type_2, x.entity_key_2, x.entity_type_3, x.entity_key_3
FROM backtest_alert_rows AS r
JOIN tuning_backtest_fitted AS x
    ON x.tenant = r.tenant AND x.rule_id = r.rule_id AND x.backtest_origin = r.backtest_origin
WHERE x.deployed_clause IS NOT NULL
  -- the alert's query rows in the rule's own mapped columns too: the clause may name them
  AND kql_clause_removes(x.deployed_clause, r.entities,
                         (SELECT d.entity_mappings::VARCHAR FROM analytic_rules AS d
                          WHERE d.tenant = r.tenant AND d.rule_id = r.rule_id))
UNION ALL
SELECT e1.tenant, e1.system_alert_id, e1.rule_id, x.backtest_origin, x.exclusion_kind,
       x.entity_type_1, x.entity_key_1, x.entity_type_2, x.entity_key_2, x.entity_type_3, x.entity_key_3
FROM backtest_entities AS e1
JOIN tuning_backtest_fitted AS x
    ON x.tenant = e1.tenant AND x.rule_id = e1.rule_id AND x.backtest_origin = e1.backtest_origin
    AND x.entity_type_1 = e1.entity_type AND x.entity_key_1 = e1.entity_key
LEFT JOIN backtest_entities AS e2
    ON e2.tenant = e1.tenant AND e2.system_alert_id = e1.system_alert_id
    AND e2.entity_type = x.entity_type_2 AND e2.entity_key = x.entity_key_2
LEFT JOIN backtest_entities AS e3
    ON e3.tenant = e1.tenant AND e3.system_alert_id = e1.system_alert_id
    AND e3.entity_type = x.entity_type_3 AND e3.entity_key = x.entity_key_3
WHERE x.deployed_clause IS NULL AND (x.entity_type_2 IS NULL OR e2.system_alert_id IS NOT NULL)
  AND (x.entity_type_3 IS NULL OR e3.system_alert_id IS NOT NULL);

CREATE OR REPLACE TEMP TABLE backtest_removed AS
SELECT DISTINCT tenant, backtest_origin, system_alert_id
FROM backtest_matches;

-- per origin, incidents all of whose alerts were removed by that origin's exclusions (the whole
-- incident, not only its held-out part); only an incident with a removed alert can qualify
CREATE OR REPLACE TEMP TABLE backtest_incidents_removed AS
WITH touched AS (
    SELECT DISTINCT i.tenant, r.backtest_origin, i.incident_number
    FROM incident_alerts AS i
    JOIN backtest_removed AS r USING (tenant, system_alert_id)
)
SELECT t.tenant, t.backtest_origin, t.incident_number
FROM touched AS t
JOIN incident_alerts AS ia ON ia.tenant = t.tenant AND ia.incident_number = t.incident_number
LEFT JOIN backtest_removed AS r
    ON r.tenant = ia.tenant AND r.system_alert_id = ia.system_alert_id AND r.backtest_origin = t.backtest_origin
GROUP BY t.tenant, t.backtest_origin, t.incident_number
HAVING count(*) = count(r.system_alert_id);

CREATE OR REPLACE TABLE tuning_backtest_exclusions AS
SELECT
    x.* EXCLUDE (test_end_day),
    x.fit_end_day AS test_start_day,
    x.test_end_day,
    count(DISTINCT m.system_alert_id) AS alerts_removed,
    count(DISTINCT m.system_alert_id) FILTER (WHERE b.is_benign) AS benign_alerts_removed,
    count(DISTINCT m.system_alert_id) FILTER (WHERE b.is_true_positive) AS true_positive_alerts_removed,
    count(DISTINCT m.system_alert_id) FILTER (WHERE NOT b.is_labelled) AS unlabelled_alerts_removed
FROM tuning_backtest_fitted AS x
LEFT JOIN backtest_matches AS m
    ON m.tenant = x.tenant AND m.rule_id = x.rule_id AND m.backtest_origin = x.backtest_origin
    AND m.exclusion_kind = x.exclusion_kind
    AND m.entity_type_1 = x.entity_type_1 AND m.entity_key_1 = x.entity_key_1
    AND m.entity_type_2 IS NOT DISTINCT FROM x.entity_type_2 AND m.entity_key_2 IS NOT DISTINCT FROM x.entity_key_2
    AND m.entity_type_3 IS NOT DISTINCT FROM x.entity_type_3 AND m.entity_key_3 IS NOT DISTINCT FROM x.entity_key_3
LEFT JOIN backtest_alerts AS b ON b.tenant = m.tenant AND b.system_alert_id = m.system_alert_id
GROUP BY ALL;

CREATE OR REPLACE TABLE tuning_backtest AS
WITH per_alert AS (
    SELECT
        b.tenant, b.rule_id, b.rule_name, b.time_generated, b.backtest_origin, b.system_alert_id,
        b.incident_number, b.is_benign, b.is_true_positive, b.is_labelled,
        r.system_alert_id IS NOT NULL AS is_removed,
        i.incident_number IS NOT NULL AS incident_removed
    FROM backtest_alerts AS b
    LEFT JOIN backtest_removed AS r
        ON r.tenant = b.tenant AND r.system_alert_id = b.system_alert_id AND r.backtest_origin = b.backtest_origin
    LEFT JOIN backtest_incidents_removed AS i
        ON i.tenant = b.tenant AND i.incident_number = b.incident_number AND i.backtest_origin = b.backtest_origin
),
rolled AS (
    SELECT
        tenant,
        coalesce(rule_id, '*') AS rule_id,
        coalesce(backtest_origin, 0) AS backtest_origin,
        CASE WHEN rule_id IS NULL THEN 'all rules' ELSE arg_max(rule_name, time_generated) END AS rule_name,
        min(backtest_origin) AS first_origin,
        max(backtest_origin) AS last_origin,
        count(*) AS alerts,
        count(*) FILTER (WHERE is_true_positive) AS true_positive_alerts,
        count(*) FILTER (WHERE is_removed) AS alerts_removed,
        count(*) FILTER (WHERE is_removed AND is_benign) AS benign_alerts_removed,
        count(*) FILTER (WHERE is_removed AND is_true_positive) AS true_positive_alerts_removed,
        count(*) FILTER (WHERE is_removed AND NOT is_labelled) AS unlabelled_alerts_removed,
        -- an incident can be removed in two origins (alerts on both sides of a window edge)
        count(DISTINCT (backtest_origin, incident_number)) FILTER (WHERE incident_removed) AS incidents_removed
    FROM per_alert
    GROUP BY GROUPING SETS ((tenant, rule_id, backtest_origin), (tenant, backtest_origin), (tenant, rule_id), (tenant))
),
exclusions AS (
    SELECT tenant, coalesce(rule_id, '*') AS rule_id, coalesce(backtest_origin, 0) AS backtest_origin,
           count(*) AS exclusions_applied
    FROM tuning_backtest_fitted
    GROUP BY GROUPING SETS ((tenant, rule_id, backtest_origin), (tenant, backtest_origin), (tenant, rule_id), (tenant))
)
SELECT
    r.tenant, r.rule_id, r.rule_name, r.backtest_origin::INTEGER AS backtest_origin,
    (getvariable('as_of') - to_days(r.last_origin * getvariable('backtest_days') - 1))::DATE AS test_start_day,
    (getvariable('as_of') - to_days((r.first_origin - 1) * getvariable('backtest_days')))::DATE AS test_end_day,
    coalesce(e.exclusions_applied, 0) AS exclusions_applied,
    r.alerts, r.true_positive_alerts, r.alerts_removed, r.benign_alerts_removed, r.true_positive_alerts_removed,
    r.unlabelled_alerts_removed, r.incidents_removed,
    r.incidents_removed * getvariable('triage_minutes_per_incident') / 60.0 AS analyst_hours_saved
FROM rolled AS r
LEFT JOIN exclusions AS e USING (tenant, rule_id, backtest_origin);

COMMENT ON COLUMN tuning_backtest.analyst_hours_saved IS
    'Incidents whose every alert the fitted exclusions remove, times triage_minutes_per_incident / 60 (assumed triage cost per incident, not measured).';
