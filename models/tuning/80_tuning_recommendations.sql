-- tuning_recommendations: the exclusions the live fit recommends, ready for a rule owner: the
-- evidence, a KQL clause, a Sentinel watchlist row, an expiry and one sentence of rationale.
-- Grain: (tenant, rule_id, exclusion_kind, entity_type_1, entity_key_1, entity_type_2, entity_key_2).
-- Why: Sentinel's suggestions come without counts, confidence or expiry; these carry all three.
-- entity_type / entity_key / entity_value name the whole exclusion ('account+host',
-- 'contoso\svc_backup + srv-backup01'); the _1 / _2 columns hold the parts (_2 NULL for a single).
-- kql_exclusion comes from models/tuning/kql.py (literal escaping and the entity-to-column map
-- live there, once); NULL when the entity type has no stable column, a value cannot be written
-- as a KQL literal, or the rule is a product alert with no query (has_rule_query false), in which
-- case the watchlist row (or, later, the product's own tuning) is the way to apply it.
-- Owner decisions (45_tuning_decided.sql): a dismissed exclusion is left out until its evidence
-- changes materially; an accepted one stays (owner_decision 'accepted', its deployable forms and
-- the expiry the owner chose); recommendation_id is the id `hunthouse tuning accept` takes.
CREATE OR REPLACE TABLE tuning_recommendations AS
WITH rules AS (
    SELECT tenant, rule_id, rule_name, owner FROM rule_noise
),
described AS (
    SELECT
        c.*,
        r.rule_name,
        r.owner,
        concat_ws('+', c.entity_type_1, c.entity_type_2, c.entity_type_3) AS entity_type,
        concat_ws(' + ', c.entity_key_1, c.entity_key_2, c.entity_key_3) AS entity_key,
        concat_ws(' + ', c.entity_value_1, c.entity_value_2, c.entity_value_3) AS entity_value,
        concat_ws(' and ', c.entity_type_1 || ' ' || c.entity_value_1, c.entity_type_2 || ' ' || c.entity_value_2,
                  c.entity_type_3 || ' ' || c.entity_value_3) AS evidence_subject,
        -- an accepted exclusion keeps the expiry its owner chose (45_tuning_decided.sql)
        CASE WHEN d.deployed THEN d.expires_on
            ELSE getvariable('as_of') + to_days(getvariable('exclusion_ttl_days')) END AS expires_on,
        q.rule_id IS NOT NULL AS has_rule_query,
        d.status AS owner_decision
    FROM tuning_exclusion_candidates AS c
    JOIN rules AS r USING (tenant, rule_id)
    LEFT JOIN tuning_analytic_rules AS q USING (tenant, rule_id)
    LEFT JOIN tuning_decided AS d
        ON d.tenant = c.tenant AND d.recommendation_id = tuning_recommendation_id(
            c.tenant, c.rule_id, c.exclusion_kind, c.entity_type_1, c.entity_key_1, c.entity_type_2, c.entity_key_2,
            c.entity_type_3, c.entity_key_3)
    -- a dismissed exclusion stays away until its evidence changes materially
    WHERE c.recommended AND NOT coalesce(d.suppressed, false)
)
SELECT
    tenant, rule_id, rule_name, owner, exclusion_kind,
    entity_type, entity_value, entity_key,
    entity_type_1, entity_key_1, entity_value_1, entity_type_2, entity_key_2, entity_value_2,
    entity_type_3, entity_key_3, entity_value_3,
    alerts, labelled_alerts, benign_alerts, rule_true_positive_alerts, true_positive_alerts, true_positive_incidents,
    incidents, decisions, benign_decisions, rule_true_positive_decisions, automation_decisions, undetermined_incidents,
    max_true_positives_per_30d,
    rule_alerts, alerts_removed_share, confidence,
    CASE WHEN has_rule_query
        THEN kql_exclusion(entity_type_1, entity_key_1, entity_type_2, entity_key_2, entity_type_3, entity_key_3)
    END AS kql_exclusion,
    has_rule_query,
    json_object(
        'rule_id', rule_id, 'entity_type', entity_type, 'entity_value', entity_value,
        'expires_on', strftime(expires_on, '%Y-%m-%d'),
        'reason', format('{} of {} decisions benign, none in any true positive', benign_decisions, decisions)
    ) AS watchlist_row,
    expires_on::DATE AS expires_on,
    format(
        '{} of {} decisions ({} of {} labelled alerts) on incidents with {} were benign{}{}; none in any true '
        'positive; at the 95% edge it could hide {} true positives per 30 days; excluding it removes {}% of this '
        'rule''s alerts.',
        benign_decisions, decisions, benign_alerts, labelled_alerts, evidence_subject,
        CASE WHEN undetermined_incidents > 0 THEN format('; {} undetermined', undetermined_incidents) ELSE '' END,
        CASE WHEN automation_decisions > 0
            THEN format('; {} closed by automation, not counted', automation_decisions) ELSE '' END,
        printf('%.1f', max_true_positives_per_30d), round(100 * alerts_removed_share)::BIGINT
    ) AS rationale,
    getvariable('as_of') AS as_of,
    tuning_recommendation_id(tenant, rule_id, exclusion_kind, entity_type_1, entity_key_1, entity_type_2, entity_key_2,
                             entity_type_3, entity_key_3) AS recommendation_id,
    owner_decision
FROM described;

COMMENT ON COLUMN tuning_recommendations.confidence IS
    '5% quantile of Beta(1 + benign decisions, 1 + true-positive decisions of this rule) over the labelled incidents carrying the exclusion: the lower end of its 90% credible interval of a decision being benign.';
COMMENT ON COLUMN tuning_recommendations.max_true_positives_per_30d IS
    'Incidents carrying the exclusion per 30 days times (1 - confidence): true positives per 30 days it could hide at the 95% edge of the interval.';
COMMENT ON COLUMN tuning_recommendations.true_positive_incidents IS
    'True-positive incidents of the tenant, ever, of any rule, holding the entity (both parts of a pair, in any of their alerts; accounts by identity); 0 for every recommendation (the visibility guard).';
