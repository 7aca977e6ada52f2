-- model: held_out_exclusions
-- kind: insert
-- phase: backtest
-- grain: one row per exclusion the held-out fit of this origin recommends
-- depends_on: tuning_exclusion_candidates, tuning_analytic_rules, analytic_rules
-- feeds: tuning_backtest_fitted
-- params: backtest_origin, backtest_end, fit_end_day
-- description: Keeps the exclusions a held-out fit recommends, before the next fit replaces its tables.
--
-- tuning_backtest_fitted: the exclusions the fit recommends when it is cut at a backtest origin
-- (getvariable('fit_end_day') = the first held-out day of origin getvariable('backtest_origin')).
-- Run once per origin (models/tuning/__init__.py), each run adding its origin's rows.
-- Grain: (backtest_origin, tenant, rule_id, exclusion_kind, entity_type_1, entity_key_1,
-- entity_type_2, entity_key_2).
-- Why: the backtest must score exclusions chosen without the days it scores them on; the next
-- (live) fit replaces the shared fit tables, so the held-out fit's verdicts are kept here.
-- TEMP, not published: every column reaches analysts through tuning_backtest_exclusions (x.*).
-- deployed_clause: the KQL clause the owner would paste (NULL for a rule without a query, i.e. a
-- product alert, or an entity with no stable column: then the watchlist row, entity equality).
-- the table itself: 39_backtest_fitted_table.sql, created once per build before the first origin
INSERT INTO tuning_backtest_fitted
SELECT
    getvariable('backtest_origin'), tenant, rule_id, exclusion_kind,
    entity_type_1, entity_key_1, entity_value_1, entity_type_2, entity_key_2, entity_value_2,
    entity_type_3, entity_key_3, entity_value_3,
    CASE WHEN rule_id IN (SELECT rule_id FROM tuning_analytic_rules AS a WHERE a.tenant = c.tenant)
        -- on the rule's own mapped columns when its definition is known, as tuning_recommendations writes it
        THEN kql_exclusion(entity_type_1, entity_key_1, entity_type_2, entity_key_2, entity_type_3, entity_key_3,
                           (SELECT d.entity_mappings::VARCHAR FROM analytic_rules AS d
                            WHERE d.tenant = c.tenant AND d.rule_id = c.rule_id))
    END AS deployed_clause,
    labelled_alerts AS fitted_labelled_alerts,
    benign_alerts AS fitted_benign_alerts,
    decisions AS fitted_decisions,
    benign_decisions AS fitted_benign_decisions,
    confidence AS fitted_confidence,
    getvariable('fit_end_day') AS fit_end_day,
    getvariable('backtest_end') AS test_end_day,
    false AS accepted
FROM tuning_exclusion_candidates AS c
WHERE recommended;
