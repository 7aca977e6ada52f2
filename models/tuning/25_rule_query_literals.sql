-- model: tuning_rule_queries
-- kind: scratch
-- phase: fit
-- grain: tenant × analytic rule × query source
-- key: tenant, rule_id, query_source
-- depends_on: alerts
-- params: fit_end_day, fit_days
-- description: Each analytic rule's query text (today from its alerts' ExtendedProperties).
-- model: tuning_analytic_rules
-- kind: scratch
-- phase: fit
-- grain: tenant × analytic rule named by its alerts' "Analytic Rule Ids"
-- key: tenant, rule_id
-- depends_on: alerts
-- description: The rules with a query a KQL clause can be pasted into (not product alerts).
-- model: tuning_rule_query_literals
-- kind: scratch
-- phase: fit
-- grain: tenant × analytic rule × string literal of its query
-- key: tenant, rule_id, literal
-- depends_on: tuning_rule_queries
-- description: The lower-case string literals of each rule's query: the rule's subjects.
-- model: tuning_tier0_hosts_seen
-- kind: scratch
-- phase: fit
-- grain: tenant × host seen as a domain controller
-- key: tenant, entity_key
-- depends_on: alert_entities
-- description: Hosts of alerts that carry krbtgt or touch the AD database: tier-0, never excluded alone.
--
-- tuning_rule_query_literals: the string literals of each analytic rule's query text, lower-case.
-- Grain: (tenant, rule_id, literal). TEMP, scratch of the fit.
-- Why: a value the query names ('vssadmin.exe', 'powershell.exe') is the rule's subject; excluding
-- it alone switches the detection off (the subject guard in 30_exclusion_candidates.sql).
-- Query text source: today the "Query" of the alerts' ExtendedProperties (Sentinel scheduled and
-- NRT rules write it; product alerts have none), the latest alert of the fit window per rule.
-- When rule definitions are fetched (the analytic_rules table), their query text is one more row
-- per rule in tuning_rule_queries (query_source 'analytic rule definition'); nothing below changes.
-- Literals: single- or double-quoted KQL strings with backslash escapes undone.
CREATE OR REPLACE TEMP TABLE tuning_rule_queries AS
SELECT
    tenant,
    rule_id,
    arg_max(extended_properties ->> 'Query', time_generated) AS query_text,
    'alert extended properties' AS query_source
FROM alerts
WHERE rule_id IS NOT NULL
  AND day < getvariable('fit_end_day') AND day >= getvariable('fit_end_day') - getvariable('fit_days')
  AND extended_properties ->> 'Query' IS NOT NULL
GROUP BY tenant, rule_id;

-- tuning_analytic_rules: the rules whose alerts name an analytic rule (Sentinel scheduled / NRT
-- rules, ExtendedProperties "Analytic Rule Ids"); the other rule ids are product alerts (Defender,
-- Entra ID Protection, …), which have no query a KQL clause could be pasted into.
CREATE OR REPLACE TEMP TABLE tuning_analytic_rules AS
SELECT DISTINCT tenant, rule_id
FROM alerts
WHERE rule_id IS NOT NULL AND len(rule_ids) > 0
  AND day < getvariable('fit_end_day') AND day >= getvariable('fit_end_day') - getvariable('fit_days');

CREATE OR REPLACE TEMP TABLE tuning_rule_query_literals AS
WITH quoted AS (
    SELECT tenant, rule_id, unnest(regexp_extract_all(query_text, $$'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"$$)) AS token
    FROM tuning_rule_queries
)
SELECT DISTINCT
    tenant, rule_id,
    lower(regexp_replace(substr(token, 2, length(token) - 2), '\\(.)', '\1', 'g')) AS literal
FROM quoted
WHERE length(token) > 2;

-- tuning_tier0_hosts_seen: hosts the data shows to be domain controllers: the host of an alert that
-- also carries the krbtgt account (its tickets are issued and logged on DCs) or touches the AD
-- database (ntdsutil.exe, ntds.dit). Grain: (tenant, entity_key). TEMP. Why: tier-0 hosts are never
-- an exclusion alone, and a tier0_hosts glob list is never complete.
CREATE OR REPLACE TEMP TABLE tuning_tier0_hosts_seen AS
WITH dc_alerts AS (
    SELECT DISTINCT tenant, system_alert_id
    FROM alert_entities
    WHERE day < getvariable('fit_end_day') AND day >= getvariable('fit_end_day') - getvariable('fit_days')
      AND ((entity_type = 'account' AND regexp_matches(entity_key, '(^|[\\])krbtgt(@|$)'))
           OR (entity_type IN ('file', 'process') AND regexp_matches(entity_key, '(^|[\\/ "])(ntdsutil\.exe|ntds\.dit)')))
)
SELECT DISTINCT e.tenant, e.entity_key
FROM alert_entities AS e
SEMI JOIN dc_alerts AS d ON d.tenant = e.tenant AND d.system_alert_id = e.system_alert_id
WHERE e.entity_type = 'host'
  AND e.day < getvariable('fit_end_day') AND e.day >= getvariable('fit_end_day') - getvariable('fit_days');
