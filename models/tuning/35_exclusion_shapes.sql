-- model: tuning_passing
-- kind: scratch
-- phase: fit
-- grain: one row per candidate that passes, numbered (cid)
-- key: cid
-- depends_on: tuning_candidates_judged
-- params: fit_end_day, fit_days, min_decisions, min_confidence
-- description: The passing candidates, numbered, with their shape rank and a strict tie key.
-- model: tuning_passing_alerts
-- kind: scratch
-- phase: fit
-- grain: passing candidate × alert of the fit it would remove
-- key: cid, tenant, system_alert_id
-- depends_on: tuning_passing, alert_labels, alert_entities
-- description: The alerts each passing candidate would remove, to compare shapes by the alerts they remove.
-- model: tuning_exclusion_candidates
-- kind: window
-- phase: fit
-- grain: tenant × rule × candidate exclusion (a single entity, a pair or a triple) judged by the fit
-- key: tenant, rule_id, exclusion_kind, entity_type_1, entity_key_1, entity_type_2, entity_key_2, entity_type_3,
--   entity_key_3
-- depends_on: tuning_candidates_judged, tuning_passing, tuning_passing_alerts
-- catch_up: whole
-- description: Every judged exclusion candidate with its evidence and verdict.
-- columns:
--   tenant VARCHAR: tenant name
--   rule_id VARCHAR: analytic rule id
--   exclusion_kind VARCHAR: `single`, `pair` or `triple`
--   entity_type_1 VARCHAR: entity type (of the pair's first part; parts ordered by type)
--   entity_key_1 VARCHAR: normalised key (`alert_entities.entity_key`)
--   entity_value_1 VARCHAR: most frequent display value
--   entity_type_2 VARCHAR: the pair's second entity type; NULL for `single`
--   entity_key_2 VARCHAR: its key; NULL for `single`
--   entity_value_2 VARCHAR: its display value; NULL for `single`
--   entity_type_3 VARCHAR: a triple's third part (`process`; a triple is `account` + `host` + `process` in the same
--     alert, judged only when all three of its pairs are in a true-positive incident); NULL otherwise
--   entity_key_3 VARCHAR: its key; NULL unless `triple`
--   entity_value_3 VARCHAR: its display value; NULL unless `triple`
--   alerts BIGINT: the rule's alerts carrying the entity (both entities for a pair)
--   labelled_alerts BIGINT: of those, labelled and evidence (`alert_labels.is_evidence`; ≥ `min_labelled_alerts`)
--   benign_alerts BIGINT: of those, `benign_positive` or `false_positive`
--   rule_true_positive_alerts BIGINT: of those, `true_positive`
--   incidents BIGINT: distinct incidents holding those alerts
--   decisions BIGINT: of those, labelled incidents that are evidence (analyst closures; automation ones only with
--     `automation_labels`): the support, one per incident however many alerts it grouped
--   benign_decisions BIGINT: of `decisions`, benign
--   rule_true_positive_decisions BIGINT: of `decisions`, true positive
--   automation_decisions BIGINT: benign incidents closed by automation, left out of `decisions` (0 with
--     `automation_labels`)
--   undetermined_incidents BIGINT: incidents closed `undetermined`
--   true_positive_alerts BIGINT: alerts of true-positive incidents (whole history before the cut-off, any rule or
--     none) carrying the entity (both in the same alert, for a pair); accounts matched by identity
--   true_positive_incidents BIGINT: the visibility guard: incidents of the tenant, ever before the cut-off (all of
--     `incident_history`, not the fit window), any of whose versions was classified true positive and any of whose
--     alerts carry the entity (for a pair: both parts, in any of its alerts); accounts compared by identity, their
--     forms (`domain\name`, UPN, SID, Entra object id) merged when one account entity carries several
--   rule_alerts BIGINT: all alerts of the rule
--   alerts_removed_share DOUBLE: `alerts` / `rule_alerts`, 0–1: the share of the rule's alerts the exclusion would
--     remove
--   confidence DOUBLE: 5% quantile of Beta(1 + `benign_decisions`, 1 + `decisions` − `benign_decisions`): the lower
--     end of the 90% credible interval of "a decision on an incident carrying it is benign", 0–1; a uniform prior on
--     purpose, so the entity's own evidence must carry it (with no true positive, ≥ 0.8 needs 13 benign decisions)
--   incidents_per_30d DOUBLE: `incidents` × 30 / the days the fit saw of the rule (its first alert in the window to
--     the cut-off)
--   max_true_positives_per_30d DOUBLE: `incidents_per_30d` × (1 − `confidence`): true positives per 30 days the
--     exclusion could hide at the 95% edge of the interval; what the owner weighs against the noise
--   subject_reason VARCHAR: for a `single`, why the entity is the rule's subject and never an exclusion alone:
--     `named in the rule's query` (a string literal of the rule's query text, today the `Query` of its alerts'
--     extended properties), a reason from the never-alone list `models/tuning/never_alone.csv` (LOLBAS binaries by
--     file name, built-in accounts, well-known SIDs and RIDs), `tier-0 host (tier0_hosts)`, `tier-0 host: seen as a
--     domain controller (krbtgt, ntds)` (the host of an alert of the fit window that also carries the krbtgt account
--     or touches ntdsutil.exe / ntds.dit) or `configured never_exclude`; NULL when none applies and always NULL for a
--     pair (the subject may be part of a narrower pair)
--   is_broad_shape BOOLEAN: a `single` file, account or host: a shape the removed-share cap applies to (an exact
--     command line, an ip or a pair is judged on its own evidence)
--   verdict VARCHAR: `fails subject guard: <subject_reason>`, else `fails guard: in a true-positive incident`
--     (`true_positive_incidents` > 0), else `too few decisions` (`decisions` < `min_decisions`), else `confidence
--     below threshold` (`confidence` < `min_confidence`), else `fix the rule logic: removes more than
--     max_removed_share of the rule's alerts` (`is_broad_shape` and `alerts_removed_share` > `max_removed_share`),
--     else `passes`
--   is_rule_logic_finding BOOLEAN: `is_broad_shape`, `alerts_removed_share` > `max_removed_share`, `decisions` ≥
--     `min_decisions` and `confidence` ≥ `min_confidence`, whatever the guards say: the rule's logic is noisy for this
--     entity; excluding it would switch most of the rule off, so the owner report lists it under "Fix the rule logic"
--     instead of offering an exclusion
--   shape_rank INTEGER: breadth of the shape, 1 = narrowest: 0 a triple, 1 a pair with a host and no subject part, 2
--     another pair without a subject part, 3 a pair with a subject part (`vssadmin.exe` on a host), 4 a command line,
--     5 a file by path, 6 a file by name, 7 any other single (account, host, ip, …)
--   shape_verdict VARCHAR: for a `passes` candidate (else NULL): `narrowest` (recommended); `covered by narrower
--     exclusions` (the benign decisions it removes beyond its narrower passing candidates, those whose alerts are a
--     subset of its alerts and that remove fewer alerts or the same alerts with a lower `shape_rank`, would not pass
--     `min_decisions` and `min_confidence` on their own: never emitted beside them); `inside a broader recommendation`
--     (a pair one of whose parts passes alone and is kept, or removes the same alerts as a kept candidate)
--   recommended BOOLEAN: `shape_verdict` = `narrowest`
--   rule_logic_finding VARCHAR: for an `is_rule_logic_finding` row, the finding as the owner reads it: share of the
--     rule's alerts, benign of decisions and of labelled alerts, true-positive incidents, "fix the query"; else NULL
--
-- tuning_exclusion_candidates: tuning_candidates_judged plus the shape choice: which passing
-- candidates are recommended.
-- Grain: (tenant, rule_id, exclusion_kind, entity_type_1, entity_key_1, entity_type_2, entity_key_2).
-- Why: several shapes often remove the same benign alerts (svc_backup alone, srv-backup01 alone,
-- the pair, the command line, the command line on the host); the broadest of them also hides
-- every future attack that shares one part. The owner gets the narrowest shapes only.
-- Narrower: Y is narrower than X (both passing, same rule) when Y's alerts are a subset of X's and
-- Y removes fewer alerts, or the same alerts with a lower shape_rank (30_exclusion_candidates.sql:
-- a pair with a host < other pairs < a pair with a subject part < a command line < a file by
-- path < a file by name < any other single), ties broken by the keys so the order is strict.
-- Shape verdict of a passing candidate X:
--   'covered by narrower exclusions'   the benign decisions X removes beyond its narrower Ys (the
--                                      residual) would not pass min_decisions and min_confidence on
--                                      their own: X adds risk, not evidence, and is never emitted
--                                      alongside them;
--   'inside a broader recommendation'  X is a pair one of whose parts passes alone and is kept, or
--                                      removes exactly the alerts of a kept candidate: that one
--                                      already removes all of X's alerts;
--   'narrowest'                        recommended.
-- Membership is recomputed from alert_labels x alert_entities for passing candidates only, so the
-- cost follows the recommendations, not every candidate.
CREATE OR REPLACE TEMP TABLE tuning_passing AS
SELECT
    row_number() OVER (ORDER BY tenant, rule_id, exclusion_kind, entity_type_1, entity_key_1,
                                entity_type_2, entity_key_2, entity_type_3, entity_key_3) AS cid,
    tenant, rule_id, exclusion_kind, entity_type_1, entity_key_1, entity_type_2, entity_key_2,
    entity_type_3, entity_key_3, shape_rank,
    decisions - benign_decisions AS true_positive_decisions,
    concat_ws(chr(31), entity_type_1, entity_key_1, coalesce(entity_type_2, ''), coalesce(entity_key_2, ''),
              coalesce(entity_type_3, ''), coalesce(entity_key_3, '')) AS tie_key
FROM tuning_candidates_judged
WHERE verdict = 'passes';

CREATE OR REPLACE TEMP TABLE tuning_passing_alerts AS
WITH alert_entity AS (
    SELECT DISTINCT
        l.tenant, l.rule_id, l.system_alert_id, l.incident_number, l.is_benign AND l.is_evidence AS is_benign,
        e.entity_type, e.entity_key
    FROM alert_labels AS l
    JOIN alert_entities AS e USING (tenant, system_alert_id)
    WHERE l.rule_id IS NOT NULL
      AND e.day >= getvariable('fit_end_day') - getvariable('fit_days') AND e.day < getvariable('fit_end_day')
)
SELECT p.cid, a1.tenant, a1.system_alert_id, a1.incident_number, a1.is_benign
FROM tuning_passing AS p
JOIN alert_entity AS a1
    ON a1.tenant = p.tenant AND a1.rule_id = p.rule_id
    AND a1.entity_type = p.entity_type_1 AND a1.entity_key = p.entity_key_1
LEFT JOIN alert_entity AS a2
    ON a2.tenant = a1.tenant AND a2.system_alert_id = a1.system_alert_id
    AND a2.entity_type = p.entity_type_2 AND a2.entity_key = p.entity_key_2
LEFT JOIN alert_entity AS a3
    ON a3.tenant = a1.tenant AND a3.system_alert_id = a1.system_alert_id
    AND a3.entity_type = p.entity_type_3 AND a3.entity_key = p.entity_key_3
WHERE (p.entity_type_2 IS NULL OR a2.system_alert_id IS NOT NULL)
  AND (p.entity_type_3 IS NULL OR a3.system_alert_id IS NOT NULL);

CREATE OR REPLACE TABLE tuning_exclusion_candidates AS
WITH sizes AS (
    SELECT cid, count(*) AS n FROM tuning_passing_alerts GROUP BY cid
),
overlap AS (
    SELECT x.cid AS x_cid, y.cid AS y_cid, count(*) AS shared
    FROM tuning_passing_alerts AS x
    JOIN tuning_passing_alerts AS y
        ON y.tenant = x.tenant AND y.system_alert_id = x.system_alert_id AND y.cid <> x.cid
    GROUP BY ALL
),
narrower AS (
    SELECT o.x_cid, o.y_cid
    FROM overlap AS o
    JOIN tuning_passing AS px ON px.cid = o.x_cid
    JOIN tuning_passing AS py ON py.cid = o.y_cid
    JOIN sizes AS sx ON sx.cid = o.x_cid
    JOIN sizes AS sy ON sy.cid = o.y_cid
    WHERE o.shared = sy.n
      AND (sy.n < sx.n OR py.shape_rank < px.shape_rank OR (py.shape_rank = px.shape_rank AND py.tie_key < px.tie_key))
),
same_alerts AS (
    SELECT o.x_cid, o.y_cid
    FROM overlap AS o
    JOIN sizes AS sx ON sx.cid = o.x_cid
    JOIN sizes AS sy ON sy.cid = o.y_cid
    WHERE o.shared = sx.n AND o.shared = sy.n
),
covered_alerts AS (
    SELECT DISTINCT n.x_cid AS cid, xa.system_alert_id
    FROM narrower AS n
    JOIN tuning_passing_alerts AS xa ON xa.cid = n.x_cid AND xa.is_benign
    JOIN tuning_passing_alerts AS ya
        ON ya.cid = n.y_cid AND ya.tenant = xa.tenant AND ya.system_alert_id = xa.system_alert_id
),
-- the benign decisions only this candidate (not a narrower one) removes, and whether they alone
-- would pass the same bars as the whole candidate
residual AS (
    SELECT
        p.cid,
        count(DISTINCT a.incident_number) FILTER (WHERE a.is_benign AND c.cid IS NULL) AS residual_benign_decisions
    FROM tuning_passing AS p
    JOIN tuning_passing_alerts AS a ON a.cid = p.cid
    LEFT JOIN covered_alerts AS c ON c.cid = a.cid AND c.system_alert_id = a.system_alert_id
    GROUP BY p.cid
),
kept AS (
    SELECT r.cid
    FROM residual AS r
    JOIN tuning_passing AS p USING (cid)
    WHERE r.residual_benign_decisions >= getvariable('min_decisions')
      AND beta_quantile(0.05, 1.0 + r.residual_benign_decisions, 1.0 + p.true_positive_decisions)
          >= getvariable('min_confidence')
),
shape AS (
    SELECT
        p.*,
        CASE
            WHEN p.cid NOT IN (SELECT cid FROM kept) THEN 'covered by narrower exclusions'
            WHEN p.exclusion_kind = 'pair' AND EXISTS (
                SELECT 1
                FROM tuning_passing AS x
                WHERE x.exclusion_kind = 'single' AND x.tenant = p.tenant AND x.rule_id = p.rule_id
                    AND ((x.entity_type_1 = p.entity_type_1 AND x.entity_key_1 = p.entity_key_1)
                         OR (x.entity_type_1 = p.entity_type_2 AND x.entity_key_1 = p.entity_key_2))
                    AND (x.cid IN (SELECT cid FROM kept)
                         OR EXISTS (SELECT 1 FROM same_alerts AS e JOIN kept AS k ON k.cid = e.y_cid
                                    WHERE e.x_cid = x.cid AND k.cid <> p.cid))
            ) THEN 'inside a broader recommendation'
            ELSE 'narrowest'
        END AS shape_verdict
    FROM tuning_passing AS p
)
SELECT
    j.*,
    s.shape_verdict,
    coalesce(s.shape_verdict = 'narrowest', false) AS recommended,
    -- the owner report's "Fix the rule logic" finding (30_exclusion_candidates.sql, removed-share cap)
    CASE WHEN j.is_rule_logic_finding THEN format(
        'The rule''s logic is noisy for {} {}: it is in {}% of the rule''s alerts ({} of {}), {} of {} decisions '
        '({} of {} labelled alerts) with it were benign{}. Excluding it would switch most of the rule off; fix the '
        'query instead (narrow what it matches for this {}).',
        j.entity_type_1, j.entity_value_1, round(100 * j.alerts_removed_share)::BIGINT, j.alerts, j.rule_alerts,
        j.benign_decisions, j.decisions, j.benign_alerts, j.labelled_alerts,
        CASE WHEN j.true_positive_incidents > 0
            THEN format(', and {} true-positive incidents of the tenant hold it', j.true_positive_incidents)
            ELSE '' END,
        j.entity_type_1
    ) END AS rule_logic_finding
FROM tuning_candidates_judged AS j
LEFT JOIN shape AS s
    ON s.tenant = j.tenant AND s.rule_id = j.rule_id AND s.exclusion_kind = j.exclusion_kind
    AND s.entity_type_1 = j.entity_type_1 AND s.entity_key_1 = j.entity_key_1
    AND s.entity_type_2 IS NOT DISTINCT FROM j.entity_type_2 AND s.entity_key_2 IS NOT DISTINCT FROM j.entity_key_2
    AND s.entity_type_3 IS NOT DISTINCT FROM j.entity_type_3 AND s.entity_key_3 IS NOT DISTINCT FROM j.entity_key_3;
