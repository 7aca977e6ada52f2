-- model: rule_noise
-- kind: window
-- phase: report
-- grain: tenant × analytic rule with at least one alert in the live fit window
-- key: tenant, rule_id
-- depends_on: alert_labels, incident_history, incidents, tuning_rule_priors
-- params: as_of, triage_minutes_per_incident
-- catch_up: whole
-- description: Per analytic rule: volume, label mix, shrunk benign rate with 90% interval, hours wasted, rank.
-- columns:
--   noise_rank BIGINT: 1 = the rule wasting the most analyst time in its tenant (order: `analyst_hours_benign` desc,
--     `benign_rate` desc, `rule_id`)
--   tenant VARCHAR: tenant name
--   rule_id VARCHAR: analytic rule id
--   rule_name VARCHAR: the rule's name on its latest alert
--   owner VARCHAR: rule owner from `[owners]` (see above)
--   alerts BIGINT: the rule's alerts up to `as_of`
--   incidents BIGINT: distinct incidents holding an alert of the rule
--   alerts_per_incident DOUBLE: alerts in incidents / `incidents`; NULL without incidents
--   labelled_share DOUBLE: `labelled_alerts` / `alerts`, 0–1
--   labelled_alerts BIGINT: alerts with a label
--   true_positive_alerts BIGINT: alerts labelled `true_positive`
--   benign_positive_alerts BIGINT: alerts labelled `benign_positive`
--   false_positive_alerts BIGINT: alerts labelled `false_positive`
--   unlabelled_alerts BIGINT: alerts without a label
--   benign_rate_raw DOUBLE: (benign positive + false positive) / labelled alerts, 0–1, unshrunk; NULL without labels
--   benign_rate DOUBLE: posterior mean of the benign rate, 0–1: Beta(`prior_alpha` + benign, `prior_beta` + true
--     positives)
--   benign_rate_low DOUBLE: 5% quantile of that posterior (lower end of the 90% equal-tailed credible interval)
--   benign_rate_high DOUBLE: 95% quantile (upper end of the interval)
--   prior_alpha DOUBLE: the tenant's prior (`tuning_rule_priors.alpha`)
--   prior_beta DOUBLE: the tenant's prior (`tuning_rule_priors.beta`)
--   median_minutes_to_triage DOUBLE: median over the rule's incidents of minutes from creation to the first version
--     that is `Active` or modified by a person (`modified_by` not an alert, automation rule, playbook or
--     Microsoft/Sentinel writer); NULL when none was triaged
--   median_hours_to_close DOUBLE: median over the rule's closed incidents of hours from creation to `closed_time`
--   benign_incidents BIGINT: the rule's incidents classified `benign_positive` or `false_positive`
--   analyst_hours_benign DOUBLE: `benign_incidents` × `triage_minutes_per_incident` / 60, hours: an assumed flat
--     cost per incident, not measured time; an incident shared by several rules counts for each
--   alerts_last_7d BIGINT: alerts on days `as_of` − 6 … `as_of`
--   alerts_prev_7d BIGINT: alerts on days `as_of` − 13 … `as_of` − 7
--   alerts_wow_change DOUBLE: (`alerts_last_7d` − `alerts_prev_7d`) / `alerts_prev_7d` (0.5 = +50%); NULL when the
--     earlier week had none
--   first_day DATE: day of the rule's first alert
--   last_day DATE: day of its latest alert
--
-- rule_noise: how much analyst time each analytic rule wastes, ranked within its tenant.
-- Grain: (tenant, rule_id). Why: Sentinel shows tuning insights one rule at a time over a fixed
-- 14 days; rule owners need every rule ranked by wasted triage time, with a benign rate they can
-- trust even for rules with few labels.
-- Benign rate: (benign positive + false positive) / labelled alerts, shrunk by empirical Bayes:
-- posterior Beta(alpha + benign, beta + true positives) with (alpha, beta) fitted across the
-- tenant's rules (tuning_rule_priors, method of moments; see models/tuning/prior.py). Reported as
-- the posterior mean and a 90% equal-tailed credible interval (5% and 95% quantiles).
-- Triage time: created -> the first version that is Active or modified by a person (ModifiedBy not
-- one of the system writers in the pattern below); close time: created -> closed. Medians over the
-- rule's incidents. Trend: alerts on days (as_of-6 .. as_of) vs (as_of-13 .. as_of-7).
-- Runs on the live fit (alert_labels cut at as_of + 1).
CREATE OR REPLACE TABLE rule_noise AS
WITH rule_alerts AS (
    SELECT * FROM alert_labels WHERE rule_id IS NOT NULL
),
incident_triage AS (
    SELECT
        tenant, incident_number,
        min(last_modified_time) FILTER (
            WHERE status = 'Active'
                OR (modified_by IS NOT NULL AND NOT regexp_matches(
                    lower(modified_by),
                    '^(alert|incident created|automation rule|playbook|microsoft|system|defender|azure)|sentinel'
                ))
        ) AS first_triage_time
    FROM incident_history
    GROUP BY tenant, incident_number
),
incident_times AS (
    SELECT
        i.tenant, i.incident_number, i.classification,
        date_diff('second', i.created_time, t.first_triage_time) / 60.0 AS triage_minutes,
        CASE WHEN i.closed_time IS NOT NULL
            THEN date_diff('second', i.created_time, i.closed_time) / 3600.0 END AS close_hours
    FROM incidents AS i
    LEFT JOIN incident_triage AS t USING (tenant, incident_number)
),
rule_incidents AS (
    SELECT DISTINCT a.tenant, a.rule_id, it.*
    EXCLUDE (tenant)
    FROM rule_alerts AS a
    JOIN incident_times AS it ON it.tenant = a.tenant AND it.incident_number = a.incident_number
),
incident_stats AS (
    SELECT
        tenant, rule_id,
        count(*) AS incidents,
        count(*) FILTER (WHERE classification IN ('benign_positive', 'false_positive')) AS benign_incidents,
        median(triage_minutes) FILTER (WHERE triage_minutes >= 0) AS median_minutes_to_triage,
        median(close_hours) FILTER (WHERE close_hours >= 0) AS median_hours_to_close
    FROM rule_incidents
    GROUP BY tenant, rule_id
),
alert_stats AS (
    SELECT
        tenant, rule_id,
        arg_max(rule_name, time_generated) AS rule_name,
        count(*) AS alerts,
        count(*) FILTER (WHERE incident_number IS NOT NULL) AS alerts_in_incidents,
        count(*) FILTER (WHERE is_labelled) AS labelled_alerts,
        count(*) FILTER (WHERE label = 'true_positive') AS true_positive_alerts,
        count(*) FILTER (WHERE label = 'benign_positive') AS benign_positive_alerts,
        count(*) FILTER (WHERE label = 'false_positive') AS false_positive_alerts,
        count(*) FILTER (WHERE NOT is_labelled) AS unlabelled_alerts,
        count(*) FILTER (WHERE day > getvariable('as_of') - 7) AS alerts_last_7d,
        count(*) FILTER (
            WHERE day <= getvariable('as_of') - 7 AND day > getvariable('as_of') - 14
        ) AS alerts_prev_7d,
        min(day) AS first_day,
        max(day) AS last_day
    FROM rule_alerts
    GROUP BY tenant, rule_id
),
posterior AS (
    SELECT
        s.*,
        coalesce(i.incidents, 0) AS incidents,
        coalesce(i.benign_incidents, 0) AS benign_incidents,
        i.median_minutes_to_triage,
        i.median_hours_to_close,
        p.alpha + s.benign_positive_alerts + s.false_positive_alerts AS post_a,
        p.beta + s.true_positive_alerts AS post_b,
        p.alpha AS prior_alpha,
        p.beta AS prior_beta
    FROM alert_stats AS s
    JOIN tuning_rule_priors AS p USING (tenant)
    LEFT JOIN incident_stats AS i USING (tenant, rule_id)
),
measured AS (
    SELECT
        tenant, rule_id, rule_name, rule_owner(rule_id, rule_name) AS owner,
        alerts, incidents,
        alerts_in_incidents / nullif(incidents, 0) AS alerts_per_incident,
        labelled_alerts / alerts AS labelled_share,
        labelled_alerts, true_positive_alerts, benign_positive_alerts, false_positive_alerts, unlabelled_alerts,
        (benign_positive_alerts + false_positive_alerts) / nullif(labelled_alerts, 0) AS benign_rate_raw,
        post_a / (post_a + post_b) AS benign_rate,
        beta_quantile(0.05, post_a, post_b) AS benign_rate_low,
        beta_quantile(0.95, post_a, post_b) AS benign_rate_high,
        prior_alpha, prior_beta,
        median_minutes_to_triage, median_hours_to_close,
        benign_incidents,
        benign_incidents * getvariable('triage_minutes_per_incident') / 60.0 AS analyst_hours_benign,
        alerts_last_7d, alerts_prev_7d,
        (alerts_last_7d - alerts_prev_7d) / nullif(alerts_prev_7d, 0) AS alerts_wow_change,
        first_day, last_day
    FROM posterior
)
SELECT
    row_number() OVER (
        PARTITION BY tenant ORDER BY analyst_hours_benign DESC, benign_rate DESC, rule_id
    ) AS noise_rank,
    *
FROM measured;

COMMENT ON COLUMN rule_noise.analyst_hours_benign IS
    'Benign-positive and false-positive incidents with an alert of this rule, times triage_minutes_per_incident / 60: an assumed flat triage cost per incident (setting), not measured time; an incident shared by several rules counts for each.';
COMMENT ON COLUMN rule_noise.benign_rate IS
    'Posterior mean of the benign rate, Beta(prior_alpha + benign + false positive, prior_beta + true positive), prior fitted across the tenant''s rules.';
COMMENT ON COLUMN rule_noise.benign_rate_low IS '5% quantile of the benign-rate posterior (lower end of the 90% equal-tailed credible interval).';
COMMENT ON COLUMN rule_noise.benign_rate_high IS '95% quantile of the benign-rate posterior (upper end of the 90% equal-tailed credible interval).';
COMMENT ON COLUMN rule_noise.alerts_wow_change IS 'Relative change of alerts in the last 7 days to as_of versus the 7 days before; NULL when the earlier week had none.';
COMMENT ON COLUMN rule_noise.median_minutes_to_triage IS 'Median minutes from incident creation to the first Active status or first change by a person.';
