-- tuning_rule_logic_findings: broad entities (a file, an account or a host alone) that carry more
-- than max_removed_share of a rule's alerts with benign evidence that would pass the confidence bar.
-- Grain: (tenant, rule_id, entity_type, entity_key). Why: excluding such an entity would switch
-- most of the rule off; the rule's logic is noisy for it and the owner should fix the query (for
-- example narrow the command line it matches) instead of pasting an exclusion.
-- Source: the live fit's tuning_exclusion_candidates (is_rule_logic_finding), with the rule's
-- name and owner from rule_noise.
CREATE OR REPLACE TABLE tuning_rule_logic_findings AS
SELECT
    c.tenant, c.rule_id, r.rule_name, r.owner,
    c.entity_type_1 AS entity_type, c.entity_key_1 AS entity_key, c.entity_value_1 AS entity_value,
    c.alerts, c.labelled_alerts, c.benign_alerts, c.rule_true_positive_alerts, c.true_positive_alerts,
    c.true_positive_incidents, c.decisions, c.benign_decisions,
    c.rule_alerts, c.alerts_removed_share, c.confidence, c.subject_reason,
    format(
        'The rule''s logic is noisy for {} {}: it is in {}% of the rule''s alerts ({} of {}), {} of {} decisions '
        '({} of {} labelled alerts) with it were benign{}. Excluding it would switch most of the rule off; fix the query '
        'instead (narrow what it matches for this {}).',
        c.entity_type_1, c.entity_value_1, round(100 * c.alerts_removed_share)::BIGINT, c.alerts, c.rule_alerts,
        c.benign_decisions, c.decisions, c.benign_alerts, c.labelled_alerts,
        CASE WHEN c.true_positive_incidents > 0
            THEN format(', and {} true-positive incidents of the tenant hold it', c.true_positive_incidents)
            ELSE '' END,
        c.entity_type_1
    ) AS finding,
    getvariable('as_of') AS as_of
FROM tuning_exclusion_candidates AS c
JOIN rule_noise AS r USING (tenant, rule_id)
WHERE c.is_rule_logic_finding;
