-- model: tuning_recommendations
-- kind: window
-- phase: report
-- grain: one row per recommended exclusion of the live fit
-- key: tenant, rule_id, exclusion_kind, entity_type_1, entity_key_1, entity_type_2, entity_key_2, entity_type_3,
--   entity_key_3
-- depends_on: tuning_exclusion_candidates, rule_noise, tuning_analytic_rules, analytic_rules, tuning_decided
-- params: as_of, exclusion_ttl_days
-- catch_up: whole
-- description: Recommended exclusions (single entities and pairs) with evidence and KQL.
-- columns:
--   tenant VARCHAR: tenant name
--   rule_id VARCHAR: analytic rule id
--   rule_name VARCHAR: `rule_noise.rule_name`
--   owner VARCHAR: `rule_noise.owner`
--   exclusion_kind VARCHAR: `single`, `pair` or `triple`
--   entity_type VARCHAR: the whole exclusion's type: `ip`, or `account+host` for a pair
--   entity_value VARCHAR: display values, `FABRIKAM\svc_backup + srv-backup01` for a pair
--   entity_key VARCHAR: normalised keys, joined the same way
--   entity_type_1 VARCHAR: as in `tuning_exclusion_candidates`
--   entity_key_1 VARCHAR: as in `tuning_exclusion_candidates`
--   entity_value_1 VARCHAR: as in `tuning_exclusion_candidates`
--   entity_type_2 VARCHAR: NULL for `single`
--   entity_key_2 VARCHAR: NULL for `single`
--   entity_value_2 VARCHAR: NULL for `single`
--   entity_type_3 VARCHAR: a triple's third part; NULL unless `triple`
--   entity_key_3 VARCHAR: NULL unless `triple`
--   entity_value_3 VARCHAR: NULL unless `triple`
--   alerts BIGINT: the rule's alerts carrying the exclusion
--   labelled_alerts BIGINT: of those, labelled
--   benign_alerts BIGINT: of those, benign (benign positive or false positive)
--   rule_true_positive_alerts BIGINT: of those, true positives: always 0 here
--   incidents BIGINT: as in `tuning_exclusion_candidates`
--   decisions BIGINT: labelled incidents carrying it that count as evidence (as in `tuning_exclusion_candidates`)
--   benign_decisions BIGINT: of those, benign
--   rule_true_positive_decisions BIGINT: of those, true positive: always 0 here
--   automation_decisions BIGINT: benign incidents closed by automation, not counted
--   undetermined_incidents BIGINT: incidents closed `undetermined` (named in the rationale)
--   max_true_positives_per_30d DOUBLE: true positives per 30 days it could hide at the 95% edge (as in
--     `tuning_exclusion_candidates`); the owner report shows this, the decisions and the benign decisions instead of
--     `confidence`
--   true_positive_alerts BIGINT: alerts of true-positive incidents carrying it: always 0 here
--   true_positive_incidents BIGINT: true-positive incidents ever holding it (the guard, as in
--     `tuning_exclusion_candidates`): always 0 here
--   rule_alerts BIGINT: all alerts of the rule
--   alerts_removed_share DOUBLE: `alerts` / `rule_alerts`, 0–1
--   confidence DOUBLE: as in `tuning_exclusion_candidates`; ≥ `min_confidence`
--   kql_exclusion VARCHAR: `| where not(…)` clause for the rule's query, one table, NRT-safe; when the rule's
--     definition is known (`analytic_rules`), an entity type it maps is matched on the rule's own mapped columns
--     (e.g. `TargetAccount =~ 'contoso\\svc'`), otherwise the standard columns (entity-to-column map
--     and literal escaping in `models/tuning/kql.py`: accounts by AccountName/AccountDomain, AccountUpn, AccountSid or
--     AccountObjectId; hosts by the first label of DeviceName; IPs with `=~`; files by FileName and FolderPath equal
--     to the folder or the full path; hashes without their `sha256:` prefix in their own column;
--     `=~`/`==`/`startswith`/`in~` only, the grammar `models/tuning/kql_eval.py` evaluates); NULL when an entity has
--     no stable column (`pid:` process keys, unmapped types), a value cannot be a KQL literal, or the rule has no
--     query (`has_rule_query` false): use the watchlist row then
--   has_rule_query BOOLEAN: the rule is an analytic rule (its alerts name it in `Analytic Rule Ids`), so a clause
--     can be pasted into its query; false for product alerts (Defender, Entra ID Protection, …)
--   watchlist_row JSON: a Sentinel watchlist row: `rule_id`, `entity_type`, `entity_value`, `expires_on`, `reason`
--   expires_on DATE: `as_of` + `exclusion_ttl_days`: review or drop the exclusion then; for an accepted exclusion,
--     the expiry its owner accepted
--   rationale VARCHAR: one sentence: benign of decisions (and of labelled alerts), undetermined incidents and
--     automation closures when any, no true positive, the hidden-true-positive bound, share of the rule's alerts
--     removed (rounded %)
--   as_of DATE: the run day of the fit
--   recommendation_id VARCHAR: stable id of the exclusion over nights (16 hex digits of the sha256 of tenant, rule,
--     kind and entity types and keys; the same as the reports' watchlist CSV and automation rules): what `hunthouse
--     tuning accept`, `dismiss` and `revoke` take
--   owner_decision VARCHAR: the owner's current decision (`tuning_decisions`): `accepted` (deployed; `expires_on` is
--     the owner's), `expired` (accepted, past its expiry), `dismissed, evidence changed` (dismissed, back because
--     its decisions doubled or its removed share moved by more than half); NULL when undecided. A dismissal whose
--     evidence has not changed keeps the exclusion out of this table
--
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
),
-- the rule's definition, when fetched: its entity mappings name the columns its query projects
with_definition AS (
    SELECT d.*, a.entity_mappings::VARCHAR AS rule_entity_mappings
    FROM described AS d
    LEFT JOIN analytic_rules AS a USING (tenant, rule_id)
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
        THEN kql_exclusion(entity_type_1, entity_key_1, entity_type_2, entity_key_2, entity_type_3, entity_key_3,
                           rule_entity_mappings)
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
FROM with_definition;

COMMENT ON COLUMN tuning_recommendations.confidence IS
    '5% quantile of Beta(1 + benign decisions, 1 + true-positive decisions of this rule) over the labelled incidents carrying the exclusion: the lower end of its 90% credible interval of a decision being benign.';
COMMENT ON COLUMN tuning_recommendations.max_true_positives_per_30d IS
    'Incidents carrying the exclusion per 30 days times (1 - confidence): true positives per 30 days it could hide at the 95% edge of the interval.';
COMMENT ON COLUMN tuning_recommendations.true_positive_incidents IS
    'True-positive incidents of the tenant, ever, of any rule, holding the entity (both parts of a pair, in any of their alerts; accounts by identity); 0 for every recommendation (the visibility guard).';
