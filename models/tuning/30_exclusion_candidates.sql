-- model: tuning_candidates_judged
-- kind: scratch
-- phase: fit
-- grain: tenant × rule × single, pair or triple of entities with enough labelled alerts to judge
-- key: tenant, rule_id, exclusion_kind, entity_type_1, entity_key_1, entity_type_2, entity_key_2, entity_type_3,
--   entity_key_3
-- depends_on: alert_labels, alert_entities, tuning_account_identity, tuning_tp_guard_entities, tuning_tp_guard_pairs,
--   tuning_tp_incident_entities, tuning_subject_patterns, tuning_rule_query_literals, tuning_tier0_hosts_seen
-- params: fit_end_day, fit_days, min_labelled_alerts, min_decisions, min_confidence, max_removed_share
-- description: Every exclusion candidate of the fit with its evidence, guards, verdict and shape rank.
--
-- tuning_candidates_judged (TEMP; published with its shape choice by 35_exclusion_shapes.sql as
-- tuning_exclusion_candidates): every single entity and every pair of entities (two distinct
-- entity types in the same alert) that carries enough labelled alerts of a rule to be judged,
-- with its evidence, its visibility guard and the verdict.
-- Grain: (tenant, rule_id, exclusion_kind, entity_type_1, entity_key_1, entity_type_2, entity_key_2,
-- entity_type_3, entity_key_3);
-- the pair parts are ordered by entity type, and are NULL for a single.
-- Why: this is the fit shared by the live recommendations and the backtest; it reads only
-- alert_labels, which getvariable('fit_end_day') already cut, so the same SQL serves both.
-- Evidence is counted in decisions: labelled incidents (is_evidence: analyst closures, and
-- automation closures only with automation_labels), not alerts, so one bulk-closed incident of 13
-- alerts is one decision. Alert counts are kept beside them.
-- Confidence: the lower end of the 90% equal-tailed interval (5% quantile) of the posterior of
-- "a decision on an incident carrying it is benign", Beta(1 + benign decisions, 1 + true-positive
-- decisions of this rule), i.e. a uniform prior. Deliberately not the tenant's fitted prior: an exclusion hides future alerts, so
-- its own evidence must carry it; a noisy rule's reputation must not vouch for an entity.
-- Guard: no true-positive incident of the tenant, ever before the cut-off, of any rule or none,
-- holds the entity (or both entities of the pair, in any of its alerts), accounts compared by
-- identity across their forms (27-29_*.sql).
-- Subject guard (singles only): an entity that is the rule's subject is never an exclusion alone:
-- a literal of the rule's query text (tuning_rule_query_literals), or a pattern of
-- tuning_subject_patterns (the never-alone list models/tuning/never_alone.csv, tier-0 host globs
-- and the [tuning.never_exclude] globs), or a host seen as a domain controller (tuning_tier0_hosts_seen). A pattern is a case-insensitive glob matched against the
-- entity key and against its name part (a file's base name, an account's name without domain or
-- UPN suffix); `\` in keys and patterns is a plain character. It may still be part of a pair.
-- Removed-share cap: a broad shape (a file, an account or a host alone) that would remove more than
-- max_removed_share of the rule's alerts is not an exclusion but a rule-logic finding
-- (is_rule_logic_finding, with its text in rule_logic_finding from 35_exclusion_shapes.sql); narrow shapes (a command line,
-- a pair) are judged on their own evidence.
-- Triples (account + host + process in the same alert) are judged only where every two-part shape
-- of them is in a true-positive incident: the narrower exclusion when no pair is safe.
-- Which passing candidates are recommended (the narrowest shape) is decided in 35_exclusion_shapes.sql.
CREATE OR REPLACE TEMP MACRO subject_name(etype, ekey) AS CASE
    WHEN etype = 'file' THEN regexp_extract(ekey, '[^\\/]+$')
    WHEN etype = 'account' AND contains(ekey, '\') THEN regexp_extract(ekey, '[^\\]+$')
    WHEN etype = 'account' AND contains(ekey, '@') THEN split_part(ekey, '@', 1)
    ELSE ekey
END;

CREATE OR REPLACE TEMP MACRO glob_plain(value, pattern) AS
    replace(value, '\', '/') GLOB replace(lower(pattern), '\', '/');

CREATE OR REPLACE TEMP TABLE tuning_candidates_judged AS
WITH alert_entity AS (
    -- an alert can list the same entity twice (e.g. once inline, once by $ref)
    SELECT
        l.tenant, l.system_alert_id, l.rule_id, l.incident_number, l.is_labelled, l.is_benign,
        l.is_true_positive, l.is_evidence, l.is_undetermined, l.label_source,
        e.entity_type, e.entity_key, min(e.entity_value) AS entity_value
    FROM alert_labels AS l
    JOIN alert_entities AS e USING (tenant, system_alert_id)
    WHERE e.entity_key IS NOT NULL AND e.entity_key <> ''
      -- an alert's entity rows carry its day: the fit window's days skip older row groups
      AND e.day >= getvariable('fit_end_day') - getvariable('fit_days') AND e.day < getvariable('fit_end_day')
    GROUP BY ALL
),
rule_alert_entity AS (
    SELECT * FROM alert_entity WHERE rule_id IS NOT NULL
),
single_counts AS (
    SELECT
        tenant, rule_id, entity_type, entity_key,
        stable_mode(entity_value) AS entity_value,
        count(*) AS alerts,
        count(*) FILTER (WHERE is_evidence) AS labelled_alerts,
        count(*) FILTER (WHERE is_benign AND is_evidence) AS benign_alerts,
        count(*) FILTER (WHERE is_true_positive) AS rule_true_positive_alerts,
        count(DISTINCT incident_number) AS incidents,
        count(DISTINCT incident_number) FILTER (WHERE is_evidence) AS decisions,
        count(DISTINCT incident_number) FILTER (WHERE is_benign AND is_evidence) AS benign_decisions,
        count(DISTINCT incident_number) FILTER (WHERE is_true_positive) AS rule_true_positive_decisions,
        count(DISTINCT incident_number) FILTER (WHERE label_source = 'automation' AND NOT is_evidence)
            AS automation_decisions,
        count(DISTINCT incident_number) FILTER (WHERE is_undetermined) AS undetermined_incidents
    FROM rule_alert_entity
    GROUP BY tenant, rule_id, entity_type, entity_key
),
-- a pair never has more labelled alerts than either entity, so only judgeable entities pair up
pairable AS (
    SELECT r.*
    FROM rule_alert_entity AS r
    SEMI JOIN single_counts AS s
        ON s.tenant = r.tenant AND s.rule_id = r.rule_id
        AND s.entity_type = r.entity_type AND s.entity_key = r.entity_key
        AND s.labelled_alerts >= getvariable('min_labelled_alerts')
),
pair_counts AS (
    SELECT
        a.tenant, a.rule_id,
        a.entity_type AS entity_type_1, a.entity_key AS entity_key_1, stable_mode(a.entity_value) AS entity_value_1,
        b.entity_type AS entity_type_2, b.entity_key AS entity_key_2, stable_mode(b.entity_value) AS entity_value_2,
        count(*) AS alerts,
        count(*) FILTER (WHERE a.is_evidence) AS labelled_alerts,
        count(*) FILTER (WHERE a.is_benign AND a.is_evidence) AS benign_alerts,
        count(*) FILTER (WHERE a.is_true_positive) AS rule_true_positive_alerts,
        count(DISTINCT a.incident_number) AS incidents,
        count(DISTINCT a.incident_number) FILTER (WHERE a.is_evidence) AS decisions,
        count(DISTINCT a.incident_number) FILTER (WHERE a.is_benign AND a.is_evidence) AS benign_decisions,
        count(DISTINCT a.incident_number) FILTER (WHERE a.is_true_positive) AS rule_true_positive_decisions,
        count(DISTINCT a.incident_number) FILTER (WHERE a.label_source = 'automation' AND NOT a.is_evidence)
            AS automation_decisions,
        count(DISTINCT a.incident_number) FILTER (WHERE a.is_undetermined) AS undetermined_incidents
    FROM pairable AS a
    JOIN pairable AS b
        ON b.tenant = a.tenant AND b.system_alert_id = a.system_alert_id AND b.entity_type > a.entity_type
    GROUP BY a.tenant, a.rule_id, a.entity_type, a.entity_key, b.entity_type, b.entity_key
    HAVING count(*) FILTER (WHERE a.is_evidence) >= getvariable('min_labelled_alerts')
),
-- the guard keys of the candidates' entities: the account identity for accounts (27/28)
keyed AS (
    SELECT s.tenant, s.entity_type, s.entity_key, guard_key(s.entity_type, s.entity_key, i.identity) AS guard_key
    FROM (SELECT DISTINCT tenant, entity_type, entity_key FROM single_counts) AS s
    LEFT JOIN tuning_account_identity AS i
        ON i.tenant = s.tenant AND i.form = s.entity_key AND s.entity_type = 'account'
),
tp_entity AS (
    SELECT k.tenant, k.entity_type, k.entity_key, g.true_positive_incidents, g.true_positive_alerts
    FROM keyed AS k
    JOIN tuning_tp_guard_entities AS g USING (tenant, entity_type, guard_key)
),
tp_pair AS (
    SELECT
        p.tenant, p.entity_type_1, p.entity_key_1, p.entity_type_2, p.entity_key_2,
        g.true_positive_incidents, g.true_positive_alerts
    FROM (SELECT DISTINCT tenant, entity_type_1, entity_key_1, entity_type_2, entity_key_2 FROM pair_counts) AS p
    JOIN keyed AS k1 ON k1.tenant = p.tenant AND k1.entity_type = p.entity_type_1 AND k1.entity_key = p.entity_key_1
    JOIN keyed AS k2 ON k2.tenant = p.tenant AND k2.entity_type = p.entity_type_2 AND k2.entity_key = p.entity_key_2
    JOIN tuning_tp_guard_pairs AS g
        ON g.tenant = p.tenant AND g.entity_type_1 = p.entity_type_1 AND g.guard_key_1 = k1.guard_key
        AND g.entity_type_2 = p.entity_type_2 AND g.guard_key_2 = k2.guard_key
),
-- triples only of the three types whose pairs are all guarded (see header)
triple_counts AS (
    SELECT
        a.tenant, a.rule_id,
        a.entity_type AS entity_type_1, a.entity_key AS entity_key_1, stable_mode(a.entity_value) AS entity_value_1,
        b.entity_type AS entity_type_2, b.entity_key AS entity_key_2, stable_mode(b.entity_value) AS entity_value_2,
        c.entity_type AS entity_type_3, c.entity_key AS entity_key_3, stable_mode(c.entity_value) AS entity_value_3,
        count(*) AS alerts,
        count(*) FILTER (WHERE a.is_evidence) AS labelled_alerts,
        count(*) FILTER (WHERE a.is_benign AND a.is_evidence) AS benign_alerts,
        count(*) FILTER (WHERE a.is_true_positive) AS rule_true_positive_alerts,
        count(DISTINCT a.incident_number) AS incidents,
        count(DISTINCT a.incident_number) FILTER (WHERE a.is_evidence) AS decisions,
        count(DISTINCT a.incident_number) FILTER (WHERE a.is_benign AND a.is_evidence) AS benign_decisions,
        count(DISTINCT a.incident_number) FILTER (WHERE a.is_true_positive) AS rule_true_positive_decisions,
        count(DISTINCT a.incident_number) FILTER (WHERE a.label_source = 'automation' AND NOT a.is_evidence)
            AS automation_decisions,
        count(DISTINCT a.incident_number) FILTER (WHERE a.is_undetermined) AS undetermined_incidents
    FROM pairable AS a
    JOIN pairable AS b ON b.tenant = a.tenant AND b.system_alert_id = a.system_alert_id AND b.entity_type = 'host'
    JOIN pairable AS c ON c.tenant = a.tenant AND c.system_alert_id = a.system_alert_id AND c.entity_type = 'process'
    WHERE a.entity_type = 'account'
      AND EXISTS (SELECT 1 FROM tp_pair AS t WHERE t.tenant = a.tenant
                  AND t.entity_type_1 = 'account' AND t.entity_key_1 = a.entity_key
                  AND t.entity_type_2 = 'host' AND t.entity_key_2 = b.entity_key)
      AND EXISTS (SELECT 1 FROM tp_pair AS t WHERE t.tenant = a.tenant
                  AND t.entity_type_1 = 'account' AND t.entity_key_1 = a.entity_key
                  AND t.entity_type_2 = 'process' AND t.entity_key_2 = c.entity_key)
      AND EXISTS (SELECT 1 FROM tp_pair AS t WHERE t.tenant = a.tenant
                  AND t.entity_type_1 = 'host' AND t.entity_key_1 = b.entity_key
                  AND t.entity_type_2 = 'process' AND t.entity_key_2 = c.entity_key)
    GROUP BY a.tenant, a.rule_id, a.entity_type, a.entity_key, b.entity_type, b.entity_key, c.entity_type, c.entity_key
    HAVING count(*) FILTER (WHERE a.is_evidence) >= getvariable('min_labelled_alerts')
),
-- a triple is guarded when one true-positive incident holds all three (in any of its alerts)
tp_triple AS (
    SELECT
        t.tenant, t.entity_key_1, t.entity_key_2, t.entity_key_3,
        count(DISTINCT i1.incident_number) AS true_positive_incidents
    FROM (SELECT DISTINCT tenant, entity_key_1, entity_key_2, entity_key_3 FROM triple_counts) AS t
    JOIN keyed AS k1 ON k1.tenant = t.tenant AND k1.entity_type = 'account' AND k1.entity_key = t.entity_key_1
    JOIN tuning_tp_incident_entities AS i1
        ON i1.tenant = t.tenant AND i1.entity_type = 'account' AND i1.guard_key = k1.guard_key
    JOIN tuning_tp_incident_entities AS i2
        ON i2.tenant = t.tenant AND i2.incident_number = i1.incident_number
        AND i2.entity_type = 'host' AND i2.guard_key = t.entity_key_2
    JOIN tuning_tp_incident_entities AS i3
        ON i3.tenant = t.tenant AND i3.incident_number = i1.incident_number
        AND i3.entity_type = 'process' AND i3.guard_key = t.entity_key_3
    GROUP BY ALL
),
subject AS (
    SELECT s.tenant, s.rule_id, s.entity_type, s.entity_key, min(m.reason) AS subject_reason
    FROM single_counts AS s
    JOIN (
        SELECT NULL::VARCHAR AS tenant, NULL::VARCHAR AS rule_id, entity_type, pattern, reason, true AS is_glob
        FROM tuning_subject_patterns
        UNION ALL
        SELECT tenant, rule_id, NULL, literal, 'named in the rule''s query', false
        FROM tuning_rule_query_literals
        UNION ALL
        SELECT tenant, NULL, 'host', entity_key, 'tier-0 host: seen as a domain controller (krbtgt, ntds)', false
        FROM tuning_tier0_hosts_seen
    ) AS m
        ON (m.tenant IS NULL OR m.tenant = s.tenant) AND (m.rule_id IS NULL OR m.rule_id = s.rule_id)
        AND (m.entity_type IS NULL OR m.entity_type = s.entity_type)
        AND CASE WHEN m.is_glob
            THEN glob_plain(s.entity_key, m.pattern) OR glob_plain(subject_name(s.entity_type, s.entity_key), m.pattern)
            ELSE m.pattern IN (s.entity_key, subject_name(s.entity_type, s.entity_key)) END
    WHERE s.labelled_alerts >= getvariable('min_labelled_alerts')
    GROUP BY ALL
),
candidates AS (
    SELECT
        s.tenant, s.rule_id, 'single' AS exclusion_kind,
        s.entity_type AS entity_type_1, s.entity_key AS entity_key_1, s.entity_value AS entity_value_1,
        NULL::VARCHAR AS entity_type_2, NULL::VARCHAR AS entity_key_2, NULL::VARCHAR AS entity_value_2,
        NULL::VARCHAR AS entity_type_3, NULL::VARCHAR AS entity_key_3, NULL::VARCHAR AS entity_value_3,
        s.alerts, s.labelled_alerts, s.benign_alerts, s.rule_true_positive_alerts,
        s.incidents, s.decisions, s.benign_decisions, s.rule_true_positive_decisions, s.automation_decisions,
        s.undetermined_incidents,
        coalesce(t.true_positive_alerts, 0) AS true_positive_alerts,
        coalesce(t.true_positive_incidents, 0) AS true_positive_incidents,
        g.subject_reason
    FROM single_counts AS s
    LEFT JOIN tp_entity AS t USING (tenant, entity_type, entity_key)
    LEFT JOIN subject AS g USING (tenant, rule_id, entity_type, entity_key)
    WHERE s.labelled_alerts >= getvariable('min_labelled_alerts')
    UNION ALL
    SELECT
        p.tenant, p.rule_id, 'pair',
        p.entity_type_1, p.entity_key_1, p.entity_value_1,
        p.entity_type_2, p.entity_key_2, p.entity_value_2,
        NULL, NULL, NULL,
        p.alerts, p.labelled_alerts, p.benign_alerts, p.rule_true_positive_alerts,
        p.incidents, p.decisions, p.benign_decisions, p.rule_true_positive_decisions, p.automation_decisions,
        p.undetermined_incidents,
        coalesce(t.true_positive_alerts, 0),
        coalesce(t.true_positive_incidents, 0),
        NULL::VARCHAR
    FROM pair_counts AS p
    LEFT JOIN tp_pair AS t USING (tenant, entity_type_1, entity_key_1, entity_type_2, entity_key_2)
    UNION ALL
    SELECT
        t.tenant, t.rule_id, 'triple',
        t.entity_type_1, t.entity_key_1, t.entity_value_1,
        t.entity_type_2, t.entity_key_2, t.entity_value_2,
        t.entity_type_3, t.entity_key_3, t.entity_value_3,
        t.alerts, t.labelled_alerts, t.benign_alerts, t.rule_true_positive_alerts,
        t.incidents, t.decisions, t.benign_decisions, t.rule_true_positive_decisions, t.automation_decisions,
        t.undetermined_incidents,
        0,
        coalesce(g.true_positive_incidents, 0),
        NULL::VARCHAR
    FROM triple_counts AS t
    LEFT JOIN tp_triple AS g USING (tenant, entity_key_1, entity_key_2, entity_key_3)
),
rule_alerts AS (
    SELECT
        tenant, rule_id, count(*) AS rule_alerts,
        -- days the fit saw of this rule: from its first alert in the window to the cut-off
        date_diff('day', min(day), getvariable('fit_end_day')::DATE) AS rule_days
    FROM alert_labels
    WHERE rule_id IS NOT NULL
    GROUP BY ALL
),
scored AS (
    SELECT
        c.*,
        r.rule_alerts,
        c.alerts / r.rule_alerts AS alerts_removed_share,
        beta_quantile(0.05, 1.0 + c.benign_decisions, 1.0 + c.decisions - c.benign_decisions) AS confidence,
        c.incidents * 30.0 / greatest(r.rule_days, 1) AS incidents_per_30d
    FROM candidates AS c
    JOIN rule_alerts AS r USING (tenant, rule_id)
),
shaped AS (
    SELECT
        *,
        exclusion_kind = 'single' AND entity_type_1 IN ('file', 'account', 'host') AS is_broad_shape,
        -- at the interval's edge (the 95% bound of "a decision on it is a true positive"), the true
        -- positives per 30 days its incidents could hold
        incidents_per_30d * (1.0 - confidence) AS max_true_positives_per_30d
    FROM scored
),
judged AS (
    SELECT
        *,
        CASE
            WHEN subject_reason IS NOT NULL THEN 'fails subject guard: ' || subject_reason
            WHEN true_positive_incidents > 0 THEN 'fails guard: in a true-positive incident'
            WHEN decisions < getvariable('min_decisions') THEN 'too few decisions'
            WHEN confidence < getvariable('min_confidence') THEN 'confidence below threshold'
            WHEN is_broad_shape AND alerts_removed_share > getvariable('max_removed_share')
                THEN 'fix the rule logic: removes more than max_removed_share of the rule''s alerts'
            ELSE 'passes'
        END AS verdict,
        -- the rule's logic is noisy for this entity: a finding for the owner, not an exclusion
        is_broad_shape AND alerts_removed_share > getvariable('max_removed_share')
            AND decisions >= getvariable('min_decisions')
            AND confidence >= getvariable('min_confidence') AS is_rule_logic_finding
    FROM shaped
)
SELECT
    j.*,
    -- a pair with a subject part is broader than one without: it matches every use of the subject
    -- on the other part (vssadmin.exe on srv-backup01, whoever runs it)
    CASE
        WHEN j.exclusion_kind = 'triple' THEN 0
        WHEN j.exclusion_kind = 'pair' AND s1.subject_reason IS NULL AND s2.subject_reason IS NULL
            AND 'host' IN (j.entity_type_1, j.entity_type_2) THEN 1
        WHEN j.exclusion_kind = 'pair' AND s1.subject_reason IS NULL AND s2.subject_reason IS NULL THEN 2
        WHEN j.exclusion_kind = 'pair' THEN 3
        WHEN j.entity_type_1 = 'process' THEN 4
        WHEN j.entity_type_1 = 'file' AND regexp_matches(j.entity_key_1, '[\\/]') THEN 5
        WHEN j.entity_type_1 = 'file' THEN 6
        ELSE 7
    END AS shape_rank
FROM judged AS j
LEFT JOIN subject AS s1
    ON j.exclusion_kind = 'pair' AND s1.tenant = j.tenant AND s1.rule_id = j.rule_id
    AND s1.entity_type = j.entity_type_1 AND s1.entity_key = j.entity_key_1
LEFT JOIN subject AS s2
    ON j.exclusion_kind = 'pair' AND s2.tenant = j.tenant AND s2.rule_id = j.rule_id
    AND s2.entity_type = j.entity_type_2 AND s2.entity_key = j.entity_key_2;
