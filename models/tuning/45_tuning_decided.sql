-- model: tuning_decided
-- kind: scratch
-- phase: report
-- grain: tenant × recommendation whose current decision is accepted or dismissed
-- key: tenant, recommendation_id
-- depends_on: tuning_decisions, tuning_exclusion_candidates
-- params: as_of
-- description: Each recommendation's current owner decision (tuning_decisions, latest line, revoked
--   left out) with the live fit's evidence beside the evidence recorded at the decision: whether a
--   dismissal still holds (suppressed) and whether an acceptance is deployed (until its expiry).
--
-- tuning_recommendation_id: the recommendation id of pipelines/reports/deployable.py
-- (recommendation_id), computed the same way (sha256 of the exclusion's identity, 16 hex digits) so
-- a decision recorded on a published recommendation finds the same exclusion in later fits;
-- tests/test_tuning_owner_decisions.py checks the two agree row for row.
-- Why a dismissal can end: an owner dismissed the exclusion on the evidence of that day. It comes
-- back only when the evidence changed materially: its decisions (labelled incidents) at least
-- doubled, or its share of the rule's alerts moved by more than half of the share at dismissal.
-- An accepted exclusion is deployed from its acceptance until expires_on (inclusive); after it,
-- status 'expired' (the automation rule has expired: its alerts come back).
CREATE OR REPLACE TEMP MACRO tuning_recommendation_id(tenant, rule_id, kind, t1, k1, t2, k2, t3, k3) AS
    left(sha256(concat_ws('|', coalesce(tenant, ''), coalesce(rule_id, ''), coalesce(kind, ''),
                          coalesce(t1, ''), coalesce(k1, ''), coalesce(t2, ''), coalesce(k2, ''),
                          coalesce(t3, ''), coalesce(k3, ''))), 16);

CREATE OR REPLACE TEMP TABLE tuning_decided AS
WITH current_decision AS (
    SELECT * FROM tuning_decisions WHERE is_latest AND decision IN ('accepted', 'dismissed')
),
live AS (
    SELECT
        tuning_recommendation_id(tenant, rule_id, exclusion_kind, entity_type_1, entity_key_1, entity_type_2,
                                 entity_key_2, entity_type_3, entity_key_3) AS recommendation_id,
        tenant, decisions, alerts_removed_share, recommended
    FROM tuning_exclusion_candidates
    SEMI JOIN current_decision USING (tenant, rule_id)
)
SELECT
    d.*,
    l.decisions AS current_decisions,
    l.alerts_removed_share AS current_removed_share,
    coalesce(l.recommended, false) AS currently_recommended,
    d.decision = 'dismissed' AND coalesce(
        l.decisions >= 2 * d.decisions_at_decision
        OR abs(l.alerts_removed_share - d.removed_share_at_decision) > 0.5 * d.removed_share_at_decision,
        false) AS evidence_changed,
    CASE
        WHEN d.decision = 'accepted' AND (d.expires_on IS NULL OR d.expires_on >= getvariable('as_of')) THEN 'accepted'
        WHEN d.decision = 'accepted' THEN 'expired'
        WHEN evidence_changed THEN 'dismissed, evidence changed'
        ELSE 'dismissed'
    END AS status,
    status = 'dismissed' AS suppressed,
    status = 'accepted' AS deployed
FROM current_decision AS d
LEFT JOIN live AS l USING (tenant, recommendation_id);
