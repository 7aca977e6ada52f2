-- model: tuning_backtest_fitted
-- kind: scratch
-- phase: setup
-- grain: backtest origin × exclusion its held-out fit recommended
-- key: backtest_origin, tenant, rule_id, exclusion_kind, entity_type_1, entity_key_1, entity_type_2, entity_key_2,
--   entity_type_3, entity_key_3
-- description: The exclusions each held-out fit chose (empty here; 40_backtest_exclusions.sql adds each origin's).
--
-- tuning_backtest_fitted (TEMP, empty): created once per build, before the rolling origins, each
-- of which adds the exclusions its held-out fit chose (40_backtest_exclusions.sql). An origin with
-- no history before its cut-off is skipped and adds nothing.
-- Grain: (backtest_origin, tenant, rule_id, exclusion_kind, entity_type_1, entity_key_1,
-- entity_type_2, entity_key_2, entity_type_3, entity_key_3).
CREATE OR REPLACE TEMP TABLE tuning_backtest_fitted (
    backtest_origin INTEGER, tenant VARCHAR, rule_id VARCHAR, exclusion_kind VARCHAR,
    entity_type_1 VARCHAR, entity_key_1 VARCHAR, entity_value_1 VARCHAR,
    entity_type_2 VARCHAR, entity_key_2 VARCHAR, entity_value_2 VARCHAR,
    entity_type_3 VARCHAR, entity_key_3 VARCHAR, entity_value_3 VARCHAR, deployed_clause VARCHAR,
    fitted_labelled_alerts BIGINT, fitted_benign_alerts BIGINT, fitted_decisions BIGINT,
    fitted_benign_decisions BIGINT, fitted_confidence DOUBLE, fit_end_day DATE, test_end_day DATE,
    accepted BOOLEAN  -- an owner accepted it: applied as deployed (46_backtest_accepted.sql)
);
