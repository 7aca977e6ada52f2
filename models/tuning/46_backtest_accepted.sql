-- model: tuning_backtest_accepted
-- kind: insert
-- phase: report
-- grain: backtest origin × deployed accepted exclusion
-- depends_on: tuning_decided, tuning_analytic_rules, analytic_rules
-- feeds: tuning_backtest_fitted
-- params: as_of, backtest_start, backtest_days
-- description: The accepted exclusions join each backtest origin's exclusions as deployed
--   (accepted = true), so the backtest reports the workload they remove beside the fitted ones.
--
-- An accepted exclusion is deployed (tuning_decided.deployed: accepted, not expired), so every
-- origin's replay applies it, whether or not that origin's held-out fit chose it: an exclusion the
-- fit chose too is only marked, one it did not is added with no fitted evidence (NULL). Its clause
-- is built as in 40_backtest_exclusions.sql, so 50_tuning_backtest.sql removes its alerts the same
-- way, and tuning_backtest_exclusions (accepted = true) shows what it removed per origin.
UPDATE tuning_backtest_fitted AS x
SET accepted = true
FROM tuning_decided AS d
WHERE d.deployed AND d.tenant = x.tenant AND d.rule_id = x.rule_id AND d.exclusion_kind = x.exclusion_kind
  AND d.entity_type_1 = x.entity_type_1 AND d.entity_key_1 = x.entity_key_1
  AND d.entity_type_2 IS NOT DISTINCT FROM x.entity_type_2 AND d.entity_key_2 IS NOT DISTINCT FROM x.entity_key_2
  AND d.entity_type_3 IS NOT DISTINCT FROM x.entity_type_3 AND d.entity_key_3 IS NOT DISTINCT FROM x.entity_key_3;

INSERT INTO tuning_backtest_fitted
WITH origins AS (
    SELECT
        k AS backtest_origin,
        (getvariable('as_of') - to_days((k - 1) * getvariable('backtest_days')))::DATE AS test_end_day
    FROM range(1, 1 + (date_diff('day', getvariable('backtest_start')::DATE, getvariable('as_of')::DATE) + 1)
                       // getvariable('backtest_days')) AS t(k)
)
SELECT
    o.backtest_origin, d.tenant, d.rule_id, d.exclusion_kind,
    d.entity_type_1, d.entity_key_1, d.entity_value_1, d.entity_type_2, d.entity_key_2, d.entity_value_2,
    d.entity_type_3, d.entity_key_3, d.entity_value_3,
    CASE WHEN d.rule_id IN (SELECT rule_id FROM tuning_analytic_rules AS a WHERE a.tenant = d.tenant)
        -- on the rule's own mapped columns when its definition is known, as 40_backtest_exclusions.sql
        THEN kql_exclusion(d.entity_type_1, d.entity_key_1, d.entity_type_2, d.entity_key_2, d.entity_type_3,
                           d.entity_key_3,
                           (SELECT r.entity_mappings::VARCHAR FROM analytic_rules AS r
                            WHERE r.tenant = d.tenant AND r.rule_id = d.rule_id))
    END AS deployed_clause,
    NULL, NULL, NULL, NULL, NULL,
    (o.test_end_day - to_days(getvariable('backtest_days') - 1))::DATE AS fit_end_day,
    o.test_end_day,
    true AS accepted
FROM tuning_decided AS d
CROSS JOIN origins AS o
WHERE d.deployed AND NOT EXISTS (
    SELECT 1 FROM tuning_backtest_fitted AS x
    WHERE x.backtest_origin = o.backtest_origin AND x.tenant = d.tenant AND x.rule_id = d.rule_id
      AND x.exclusion_kind = d.exclusion_kind
      AND x.entity_type_1 = d.entity_type_1 AND x.entity_key_1 = d.entity_key_1
      AND x.entity_type_2 IS NOT DISTINCT FROM d.entity_type_2 AND x.entity_key_2 IS NOT DISTINCT FROM d.entity_key_2
      AND x.entity_type_3 IS NOT DISTINCT FROM d.entity_type_3 AND x.entity_key_3 IS NOT DISTINCT FROM d.entity_key_3
);
