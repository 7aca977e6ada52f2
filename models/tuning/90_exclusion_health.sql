-- model: tuning_accepted_parts
-- kind: scratch
-- phase: report
-- grain: accepted exclusion × part (entity type and key; accounts keyed by identity for the guard)
-- key: tenant, recommendation_id, part
-- depends_on: tuning_decided, tuning_account_identity
-- description: The parts of every accepted (or expired) exclusion, each with the guard key it is compared on.
-- model: tuning_since_accepted
-- kind: scratch
-- phase: report
-- grain: alert raised since the tenant's earliest acceptance × entity
-- depends_on: tuning_accepted_parts, alerts, alert_entities, tuning_account_identity
-- params: as_of
-- description: The entities of the alerts raised since the tenant's earliest acceptance, keyed for the guard.
-- model: tuning_accepted_removed
-- kind: scratch
-- phase: report
-- grain: accepted exclusion × alert of its rule carrying every part since acceptance
-- key: tenant, recommendation_id, system_alert_id
-- depends_on: tuning_accepted_parts, tuning_decided, tuning_since_accepted
-- description: The alerts each accepted exclusion removed since its acceptance.
-- model: tuning_accepted_true_positives
-- kind: scratch
-- phase: report
-- grain: accepted exclusion × true-positive incident carrying every part since acceptance
-- key: tenant, recommendation_id, incident_number
-- depends_on: tuning_accepted_parts, tuning_since_accepted, incident_alerts, incidents
-- description: The true-positive incidents, of any rule, that carry an accepted exclusion since its acceptance.
-- model: exclusion_health
-- kind: window
-- phase: report
-- grain: tenant × accepted exclusion (latest decision accepted, deployed or expired)
-- key: tenant, recommendation_id
-- depends_on: tuning_decided, tuning_accepted_removed, tuning_accepted_true_positives, alerts, analytic_rules,
--   tuning_recommendations
-- params: as_of
-- catch_up: whole
-- description: Per accepted exclusion: alerts it removed in the last 7/30 days, true positives since
--   acceptance on its entity in any rule (severity high), days to expiry (warn at 14), the rule's state.
-- columns:
--   tenant VARCHAR: tenant name
--   recommendation_id VARCHAR: the accepted recommendation
--   rule_id VARCHAR: analytic rule id
--   rule_name VARCHAR: the rule's name when accepted
--   exclusion_kind VARCHAR: `single`, `pair` or `triple`
--   entity_type VARCHAR: the excluded entity's type (`account+host` for a pair)
--   entity_key VARCHAR: its normalised keys
--   entity_value VARCHAR: its display values
--   accepted_at TIMESTAMPTZ: when the acceptance was recorded
--   accepted_by VARCHAR: who accepted
--   reason VARCHAR: the reason given, if any
--   expires_on DATE: the accepted expiry
--   days_to_expiry BIGINT: `expires_on` − `as_of`, days; negative once expired
--   expired BOOLEAN: past `expires_on`: the automation rule no longer closes its incidents
--   alerts_removed_7d BIGINT: alerts of the rule carrying the exclusion, raised since acceptance, on the 7 days up to
--     `as_of`
--   alerts_removed_30d BIGINT: the same on the 30 days up to `as_of`
--   true_positive_incidents_since_acceptance BIGINT: true-positive incidents with an alert (of any rule) raised since
--     acceptance that carries the excluded entity: more than 0 is severity `high`
--   true_positive_incident_numbers BIGINT[]: those incidents' numbers
--   rule_exists BOOLEAN: the rule is among the tenant's rule definitions (`analytic_rules`); NULL when the warehouse
--     has none for the tenant (see `rule_state_note`)
--   rule_enabled BOOLEAN: the rule is enabled, from the same definitions; NULL as above
--   rule_alerts_30d BIGINT: the rule's alerts (any entity) on the 30 days up to `as_of`: without rule definitions,
--     the only sign the rule still runs (0 is a warning)
--   rule_state_note VARCHAR: why `rule_exists` / `rule_enabled` are NULL, when they are
--   severity VARCHAR: `high` (a true positive since acceptance carries the entity), `warn` (expires within 14 days
--     or expired, rule gone or disabled, or no alert of the rule in 30 days without definitions), else `ok`
--   finding VARCHAR: the findings in words, `; `-separated; empty when `ok`
--   as_of DATE: the run day
--
-- Why: an accepted exception is a blind spot the owner chose. It must be watched: the day an attack
-- carries the excluded entity, in this rule or any other, the exception hides it.
-- Removed: alerts of the exclusion's rule raised since its acceptance, in the last 7 / 30 days up to
-- as_of, that carry every part of the exclusion (entity type and key, within one alert: what the
-- watchlist row and the automation rule match on).
-- True positive since acceptance: an incident classified true positive (latest state) with an alert
-- raised since the acceptance, of any rule, carrying every part of the exclusion among the alerts
-- raised since then (accounts by identity, like the guard of 29_true_positive_guard.sql).
-- Rule state: from the rule definitions (analytic_rules, the tenant's latest snapshot) when the
-- tenant has any; else (no snapshot, or one empty on purpose) rule_exists / rule_enabled are NULL,
-- rule_state_note says so, and rule_alerts_30d (the rule's alerts in the last 30 days, any entity)
-- is the only sign of a rule that still runs: 0 is a warning.
-- Runs after tuning_recommendations (depends_on): the health of the exclusions is read beside the
-- night's recommendations, so it is the last model of the report phase.
CREATE OR REPLACE TEMP TABLE tuning_accepted_parts AS
WITH accepted AS (
    SELECT * FROM tuning_decided WHERE status IN ('accepted', 'expired')
),
parts AS (
    SELECT tenant, recommendation_id, decided_at, 1 AS part, entity_type_1 AS entity_type, entity_key_1 AS entity_key
    FROM accepted
    UNION ALL
    SELECT tenant, recommendation_id, decided_at, 2, entity_type_2, entity_key_2 FROM accepted WHERE entity_type_2 IS NOT NULL
    UNION ALL
    SELECT tenant, recommendation_id, decided_at, 3, entity_type_3, entity_key_3 FROM accepted WHERE entity_type_3 IS NOT NULL
)
SELECT
    p.*,
    guard_key(p.entity_type, p.entity_key, i.identity) AS guard_key,
    count(*) OVER (PARTITION BY p.tenant, p.recommendation_id) AS parts
FROM parts AS p
LEFT JOIN tuning_account_identity AS i
    ON i.tenant = p.tenant AND i.form = p.entity_key AND p.entity_type = 'account';

-- entities of the alerts raised since the earliest acceptance of the tenant (the day range keeps
-- the scan to those days)
CREATE OR REPLACE TEMP TABLE tuning_since_accepted AS
WITH since AS (
    SELECT tenant, min(decided_at) AS first_accepted_at FROM tuning_accepted_parts GROUP BY tenant
)
SELECT
    e.tenant, e.system_alert_id, a.rule_id, a.day, a.time_generated, e.entity_type, e.entity_key,
    guard_key(e.entity_type, e.entity_key, i.identity) AS guard_key
FROM alert_entities AS e
JOIN since AS s ON s.tenant = e.tenant
JOIN alerts AS a ON a.tenant = e.tenant AND a.system_alert_id = e.system_alert_id AND a.day = e.day
LEFT JOIN tuning_account_identity AS i ON i.tenant = e.tenant AND i.form = e.entity_key AND e.entity_type = 'account'
WHERE e.day >= (s.first_accepted_at AT TIME ZONE 'UTC')::DATE
  AND a.time_generated >= s.first_accepted_at
  AND e.day <= getvariable('as_of');

CREATE OR REPLACE TEMP TABLE tuning_accepted_removed AS
SELECT p.tenant, p.recommendation_id, s.system_alert_id, any_value(s.day) AS day
FROM tuning_accepted_parts AS p
JOIN tuning_decided AS d USING (tenant, recommendation_id)
JOIN tuning_since_accepted AS s
    ON s.tenant = p.tenant AND s.rule_id = d.rule_id AND s.entity_type = p.entity_type
    AND s.entity_key = p.entity_key AND s.time_generated >= p.decided_at
GROUP BY p.tenant, p.recommendation_id, s.system_alert_id
HAVING count(DISTINCT p.part) = any_value(p.parts);

CREATE OR REPLACE TEMP TABLE tuning_accepted_true_positives AS
SELECT p.tenant, p.recommendation_id, ia.incident_number
FROM tuning_accepted_parts AS p
JOIN tuning_since_accepted AS s
    ON s.tenant = p.tenant AND s.entity_type = p.entity_type AND s.guard_key = p.guard_key
    AND s.time_generated >= p.decided_at
JOIN incident_alerts AS ia ON ia.tenant = s.tenant AND ia.system_alert_id = s.system_alert_id
JOIN incidents AS n
    ON n.tenant = ia.tenant AND n.incident_number = ia.incident_number AND n.classification = 'true_positive'
GROUP BY p.tenant, p.recommendation_id, ia.incident_number
HAVING count(DISTINCT p.part) = any_value(p.parts);

CREATE OR REPLACE TABLE exclusion_health AS
WITH removed AS (
    SELECT
        tenant, recommendation_id,
        count(*) FILTER (WHERE day > getvariable('as_of') - 7) AS alerts_removed_7d,
        count(*) FILTER (WHERE day > getvariable('as_of') - 30) AS alerts_removed_30d
    FROM tuning_accepted_removed
    GROUP BY ALL
),
true_positives AS (
    SELECT tenant, recommendation_id, count(*) AS true_positive_incidents,
           list(incident_number ORDER BY incident_number) AS true_positive_incident_numbers
    FROM tuning_accepted_true_positives
    GROUP BY ALL
),
rule_alerts AS (
    SELECT a.tenant, a.rule_id, count(*) AS rule_alerts_30d
    FROM alerts AS a
    SEMI JOIN tuning_decided AS d ON d.tenant = a.tenant AND d.rule_id = a.rule_id
    WHERE a.day > getvariable('as_of') - 30 AND a.day <= getvariable('as_of')
    GROUP BY ALL
),
definitions AS (
    SELECT DISTINCT tenant FROM analytic_rules
),
judged AS (
    SELECT
        d.tenant, d.recommendation_id, d.rule_id, d.rule_name, d.exclusion_kind, d.entity_type, d.entity_key,
        d.entity_value, d.decided_at AS accepted_at, d.decided_by AS accepted_by, d.reason, d.expires_on,
        date_diff('day', getvariable('as_of')::DATE, d.expires_on) AS days_to_expiry,
        d.status = 'expired' AS expired,
        coalesce(r.alerts_removed_7d, 0) AS alerts_removed_7d,
        coalesce(r.alerts_removed_30d, 0) AS alerts_removed_30d,
        coalesce(t.true_positive_incidents, 0) AS true_positive_incidents_since_acceptance,
        coalesce(t.true_positive_incident_numbers, []) AS true_positive_incident_numbers,
        CASE WHEN f.tenant IS NOT NULL THEN rd.rule_id IS NOT NULL END AS rule_exists,
        CASE WHEN f.tenant IS NOT NULL THEN rd.enabled END AS rule_enabled,
        coalesce(ra.rule_alerts_30d, 0) AS rule_alerts_30d,
        CASE WHEN f.tenant IS NULL
            THEN 'no rule definitions (analytic_rules) for this tenant: rule state judged from its alerts in the '
                 'last 30 days (rule_alerts_30d)'
        END AS rule_state_note
    FROM tuning_decided AS d
    LEFT JOIN removed AS r USING (tenant, recommendation_id)
    LEFT JOIN true_positives AS t USING (tenant, recommendation_id)
    LEFT JOIN rule_alerts AS ra ON ra.tenant = d.tenant AND ra.rule_id = d.rule_id
    LEFT JOIN definitions AS f ON f.tenant = d.tenant
    LEFT JOIN analytic_rules AS rd ON rd.tenant = d.tenant AND rd.rule_id = d.rule_id
    WHERE d.status IN ('accepted', 'expired')
)
SELECT
    *,
    CASE
        WHEN true_positive_incidents_since_acceptance > 0 THEN 'high'
        WHEN days_to_expiry <= 14 OR NOT rule_exists OR NOT rule_enabled
             OR (rule_exists IS NULL AND rule_alerts_30d = 0) THEN 'warn'
        ELSE 'ok'
    END AS severity,
    concat_ws('; ',
        CASE WHEN true_positive_incidents_since_acceptance > 0
            THEN format('{} true-positive incident(s) since acceptance carry the excluded entity: the exception '
                        'now hides an attack; revoke it', true_positive_incidents_since_acceptance) END,
        CASE WHEN expired THEN format('expired {} day(s) ago', -days_to_expiry)
            WHEN days_to_expiry <= 14 THEN format('expires in {} day(s)', days_to_expiry) END,
        CASE WHEN NOT rule_exists THEN 'the rule no longer exists'
            WHEN NOT rule_enabled THEN 'the rule is disabled'
            WHEN rule_exists IS NULL AND rule_alerts_30d = 0 THEN 'the rule raised no alert in 30 days' END
    ) AS finding,
    getvariable('as_of') AS as_of
FROM judged
ORDER BY tenant, CASE severity WHEN 'high' THEN 0 WHEN 'warn' THEN 1 ELSE 2 END, rule_id, recommendation_id;
