-- model: tuning_tp_alerts
-- kind: scratch
-- phase: fit
-- grain: tenant × true-positive incident × alert, before the cut-off
-- key: tenant, incident_number, system_alert_id
-- depends_on: incident_alerts, incident_history
-- params: fit_end_day, fit_days
-- description: The alerts of every incident classified true positive before the cut-off.
-- model: tuning_account_forms
-- kind: scratch
-- phase: fit
-- grain: tenant × account entity key × form it is written in
-- key: tenant, entity_key, form
-- depends_on: alert_entities, tuning_tp_alerts
-- description: Every form (domain\name, UPN, SID, object id) each account entity carries.
-- model: tuning_account_edges
-- kind: scratch
-- phase: fit
-- grain: tenant × pair of linked account forms, both ways
-- key: tenant, form_a, form_b
-- depends_on: tuning_account_forms
-- description: Account forms one account entity links together.
-- model: tuning_account_identity
-- kind: scratch
-- phase: fit
-- grain: tenant × account form
-- key: tenant, form
-- depends_on: tuning_account_forms
-- description: Each account form's identity (the connected component of its forms, merged by 28).
--
-- tuning_account_identity: every form an account is written in (domain\name, name@upn-suffix, SID,
-- Entra object id, or the bare key), mapped to one identity per tenant.
-- Grain: (tenant, form). TEMP, scratch of the fit. Why: alerts fill an account in whatever form
-- their source knows, so a true positive recorded as jdoe@contoso.com must guard contoso\jdoe and
-- S-1-5-21-…-1107 too. Forms are linked when one account entity carries both (its own properties:
-- NTDomain, Name, UPNSuffix, Sid, AadUserId); the identity is the connected component, computed by
-- repeating 28_account_identity_step.sql until nothing changes (models/tuning/__init__.py).
-- Input: the account entities of the fit window and of every true-positive incident before the cut-off
-- (tuning_tp_alerts), so the cost follows the window and the true positives, not the whole history.
CREATE OR REPLACE TEMP TABLE tuning_tp_alerts AS
SELECT DISTINCT ia.tenant, ia.incident_number, ia.system_alert_id
FROM incident_alerts AS ia
SEMI JOIN (
    SELECT DISTINCT tenant, incident_number
    FROM incident_history
    WHERE day < getvariable('fit_end_day') AND classification = 'true_positive'
) AS tp ON tp.tenant = ia.tenant AND tp.incident_number = ia.incident_number;

CREATE OR REPLACE TEMP TABLE tuning_account_forms AS
WITH accounts AS (
    SELECT e.tenant, e.entity_key, e.properties
    FROM alert_entities AS e
    WHERE e.entity_type = 'account' AND e.entity_key IS NOT NULL AND e.entity_key <> ''
      AND e.day >= getvariable('fit_end_day') - getvariable('fit_days') AND e.day < getvariable('fit_end_day')
    UNION ALL
    SELECT e.tenant, e.entity_key, e.properties
    FROM alert_entities AS e
    SEMI JOIN tuning_tp_alerts AS t ON t.tenant = e.tenant AND t.system_alert_id = e.system_alert_id
    WHERE e.entity_type = 'account' AND e.entity_key IS NOT NULL AND e.entity_key <> ''
      AND e.day < getvariable('fit_end_day')
),
props AS (
    SELECT DISTINCT
        tenant, entity_key,
        nullif(trim(properties ->> 'Name'), '') AS name,
        nullif(trim(properties ->> 'NTDomain'), '') AS domain,
        nullif(trim(properties ->> 'UPNSuffix'), '') AS upn_suffix,
        nullif(trim(properties ->> 'Sid'), '') AS sid,
        nullif(trim(properties ->> 'AadUserId'), '') AS object_id
    FROM accounts
)
SELECT DISTINCT tenant, entity_key, lower(form) AS form
FROM props,
LATERAL (
    SELECT unnest([
        entity_key,
        CASE WHEN name IS NOT NULL AND domain IS NOT NULL THEN domain || '\' || name END,
        CASE WHEN name IS NOT NULL AND upn_suffix IS NOT NULL THEN name || '@' || upn_suffix END,
        sid,
        object_id
    ]) AS form
)
WHERE form IS NOT NULL;

CREATE OR REPLACE TEMP TABLE tuning_account_edges AS
SELECT DISTINCT tenant, entity_key AS form_a, form AS form_b FROM tuning_account_forms WHERE form <> entity_key
UNION
SELECT DISTINCT tenant, form, entity_key FROM tuning_account_forms WHERE form <> entity_key;

CREATE OR REPLACE TEMP TABLE tuning_account_identity AS
SELECT DISTINCT tenant, form, form AS identity FROM tuning_account_forms
UNION
SELECT DISTINCT tenant, entity_key, entity_key FROM tuning_account_forms;
