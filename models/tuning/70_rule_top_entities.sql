-- model: rule_top_entities
-- kind: window
-- phase: report
-- grain: tenant × analytic rule × entity, the ten entities in most of the rule's alerts
-- key: tenant, rule_id, entity_type, entity_key
-- depends_on: alert_labels, alert_entities
-- catch_up: whole
-- description: Top ten entities per analytic rule with their share and label mix.
-- columns:
--   tenant VARCHAR: tenant name
--   rule_id VARCHAR: analytic rule id
--   entity_rank BIGINT: 1–10 within the rule (order: `alerts` desc, `entity_type`, `entity_key`)
--   entity_type VARCHAR: `alert_entities.entity_type` (account, host, ip, …)
--   entity_key VARCHAR: normalised key (`alert_entities.entity_key`)
--   entity_value VARCHAR: its most frequent display value
--   alerts BIGINT: the rule's alerts carrying the entity
--   alert_share DOUBLE: `alerts` / the rule's alerts, 0–1
--   true_positive_alerts BIGINT: of those, labelled `true_positive`
--   benign_positive_alerts BIGINT: of those, labelled `benign_positive`
--   false_positive_alerts BIGINT: of those, labelled `false_positive`
--   unlabelled_alerts BIGINT: of those, unlabelled
--
-- rule_top_entities: the ten mapped entities that appear in most of each rule's alerts, with the
-- share of the rule's alerts they appear in and the labels of those alerts.
-- Grain: (tenant, rule_id, entity_type, entity_key). Why: Sentinel shows four, for one rule at a
-- time; owners see here which entities dominate a rule, whether or not an exclusion qualifies.
CREATE OR REPLACE TABLE rule_top_entities AS
WITH alert_entity AS (
    SELECT
        l.tenant, l.rule_id, l.system_alert_id, l.label,
        e.entity_type, e.entity_key, min(e.entity_value) AS entity_value
    FROM alert_labels AS l
    JOIN alert_entities AS e USING (tenant, system_alert_id)
    WHERE l.rule_id IS NOT NULL AND e.entity_key IS NOT NULL AND e.entity_key <> ''
    GROUP BY ALL
),
rule_alerts AS (
    SELECT tenant, rule_id, count(*) AS rule_alerts FROM alert_labels WHERE rule_id IS NOT NULL GROUP BY ALL
),
counted AS (
    SELECT
        tenant, rule_id, entity_type, entity_key,
        stable_mode(entity_value) AS entity_value,
        count(*) AS alerts,
        count(*) FILTER (WHERE label = 'true_positive') AS true_positive_alerts,
        count(*) FILTER (WHERE label = 'benign_positive') AS benign_positive_alerts,
        count(*) FILTER (WHERE label = 'false_positive') AS false_positive_alerts,
        count(*) FILTER (WHERE label IS NULL) AS unlabelled_alerts
    FROM alert_entity
    GROUP BY tenant, rule_id, entity_type, entity_key
)
SELECT
    c.tenant, c.rule_id,
    row_number() OVER (
        PARTITION BY c.tenant, c.rule_id ORDER BY c.alerts DESC, c.entity_type, c.entity_key
    ) AS entity_rank,
    c.entity_type, c.entity_key, c.entity_value, c.alerts,
    c.alerts / r.rule_alerts AS alert_share,
    c.true_positive_alerts, c.benign_positive_alerts, c.false_positive_alerts, c.unlabelled_alerts
FROM counted AS c
JOIN rule_alerts AS r USING (tenant, rule_id)
QUALIFY entity_rank <= 10;
