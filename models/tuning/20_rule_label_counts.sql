-- model: tuning_rule_label_counts
-- kind: scratch
-- phase: fit
-- grain: tenant × analytic rule
-- key: tenant, rule_id
-- depends_on: alert_labels
-- description: Labelled and benign alert counts per analytic rule: the input of the Beta prior fit.
--
-- tuning_rule_label_counts: labelled and benign alert counts per analytic rule.
-- Grain: (tenant, rule_id). The input of the empirical-Bayes prior fit (models/tuning/prior.py),
-- which needs one (benign, labelled) pair per rule; fit on the same cut-off as alert_labels.
-- TEMP, not published: scratch of the fit, rebuilt for each cut-off; analysts read the live counts
-- in rule_noise (labelled_alerts; benign = benign_positive_alerts + false_positive_alerts).
CREATE OR REPLACE TEMP TABLE tuning_rule_label_counts AS
SELECT
    tenant,
    rule_id,
    count(*) FILTER (WHERE is_labelled) AS labelled_alerts,
    count(*) FILTER (WHERE is_benign) AS benign_alerts
FROM alert_labels
WHERE rule_id IS NOT NULL
GROUP BY tenant, rule_id;
