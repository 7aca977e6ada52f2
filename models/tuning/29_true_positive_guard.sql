-- model: tuning_tp_incident_entities
-- kind: scratch
-- phase: fit
-- grain: tenant × true-positive incident × alert × entity (accounts by identity)
-- key: tenant, incident_number, system_alert_id, entity_type, guard_key
-- depends_on: tuning_tp_alerts, alert_entities, tuning_account_identity
-- params: fit_end_day
-- description: The entities of every true-positive incident before the cut-off, keyed for the guard.
-- model: tuning_tp_guard_entities
-- kind: scratch
-- phase: fit
-- grain: tenant × entity type × guard key
-- key: tenant, entity_type, guard_key
-- depends_on: tuning_tp_incident_entities
-- description: True-positive incidents and alerts per entity: an entity in any of them is never excluded.
-- model: tuning_tp_guard_pairs
-- kind: scratch
-- phase: fit
-- grain: tenant × pair of entities of two types in one true-positive incident
-- key: tenant, entity_type_1, guard_key_1, entity_type_2, guard_key_2
-- depends_on: tuning_tp_incident_entities
-- description: True-positive incidents (and alerts) per pair of entities: a guarded pair is never excluded.
--
-- tuning_tp_guard_entities / tuning_tp_guard_pairs: what every true positive the tenant ever had
-- carries, at the incident level, keyed for the guard.
-- Grain: (tenant, entity_type, guard_key) and (tenant, type_1, key_1, type_2, key_2). TEMP.
-- Why: an exclusion must not hide anything an attacker was ever seen with. The guard reads all of
-- incident_history before the cut-off (not the fit window): an incident counts when any of its
-- versions was classified true positive; its entities are those of all its alerts (incident_alerts),
-- so a pair is guarded when its two parts appear in the same true-positive incident, even in
-- different alerts. guard_key is the account identity (27/28) for accounts, the entity key otherwise.
CREATE OR REPLACE TEMP MACRO guard_key(etype, ekey, identity) AS
    CASE WHEN etype = 'account' THEN coalesce(identity, ekey) ELSE ekey END;

CREATE OR REPLACE TEMP TABLE tuning_tp_incident_entities AS
SELECT DISTINCT
    t.tenant, t.incident_number, t.system_alert_id, e.entity_type,
    guard_key(e.entity_type, e.entity_key, i.identity) AS guard_key
FROM tuning_tp_alerts AS t
JOIN alert_entities AS e ON e.tenant = t.tenant AND e.system_alert_id = t.system_alert_id
LEFT JOIN tuning_account_identity AS i ON i.tenant = e.tenant AND i.form = e.entity_key AND e.entity_type = 'account'
WHERE e.entity_key IS NOT NULL AND e.entity_key <> '' AND e.day < getvariable('fit_end_day');

CREATE OR REPLACE TEMP TABLE tuning_tp_guard_entities AS
SELECT
    tenant, entity_type, guard_key,
    count(DISTINCT incident_number) AS true_positive_incidents,
    count(DISTINCT system_alert_id) AS true_positive_alerts
FROM tuning_tp_incident_entities
GROUP BY ALL;

CREATE OR REPLACE TEMP TABLE tuning_tp_guard_pairs AS
WITH incident_keys AS (
    SELECT DISTINCT tenant, incident_number, entity_type, guard_key FROM tuning_tp_incident_entities
),
by_incident AS (
    SELECT
        a.tenant, a.entity_type AS entity_type_1, a.guard_key AS guard_key_1,
        b.entity_type AS entity_type_2, b.guard_key AS guard_key_2,
        count(*) AS true_positive_incidents
    FROM incident_keys AS a
    JOIN incident_keys AS b
        ON b.tenant = a.tenant AND b.incident_number = a.incident_number AND b.entity_type > a.entity_type
    GROUP BY ALL
),
-- the same pair inside one alert (a subset of the incident pairs)
by_alert AS (
    SELECT
        a.tenant, a.entity_type AS entity_type_1, a.guard_key AS guard_key_1,
        b.entity_type AS entity_type_2, b.guard_key AS guard_key_2,
        count(DISTINCT a.system_alert_id) AS true_positive_alerts
    FROM tuning_tp_incident_entities AS a
    JOIN tuning_tp_incident_entities AS b
        ON b.tenant = a.tenant AND b.system_alert_id = a.system_alert_id AND b.entity_type > a.entity_type
    GROUP BY ALL
)
SELECT i.*, coalesce(a.true_positive_alerts, 0) AS true_positive_alerts
FROM by_incident AS i
LEFT JOIN by_alert AS a USING (tenant, entity_type_1, guard_key_1, entity_type_2, guard_key_2);
