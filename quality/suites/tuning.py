"""Suites of the tuning model tables other than rule_noise and tuning_recommendations, and of the
owners' decisions (tuning_decisions, a staging table the tuning models read).

The tuning models are recomputed in full for every tenant on each run (CREATE OR REPLACE), so each
suite validates the whole table, all tenants in one frame (the grain keys include tenant).
"""

from __future__ import annotations

from quality.checks import Check, error, warn
from quality.suites.common import E, not_null, unique
from quality.suites.staging import Scope

LABELS = ["true_positive", "benign_positive", "false_positive"]
EXCLUSION = ["tenant", "rule_id", "exclusion_kind", "entity_type_1", "entity_key_1", "entity_type_2", "entity_key_2",
             "entity_type_3", "entity_key_3"]


def _ordered(a: str, b: str, why: str) -> Check:
    return error(E.ExpectColumnPairValuesAToBeGreaterThanB(column_A=a, column_B=b, or_equal=True), why,
                 f"{a} >= {b}")


def _rate(column: str, why: str) -> Check:
    return error(E.ExpectColumnValuesToBeBetween(column=column, min_value=0, max_value=1), why)


def _counts(columns: list[str]) -> list[Check]:
    return [error(E.ExpectColumnValuesToBeBetween(column=c, min_value=0), "a count") for c in columns]


ALERT_LABELS = [
    *not_null(["tenant", "system_alert_id"], "the grain; every tuning model joins alerts to entities on it"),
    unique(["tenant", "system_alert_id"], "the label is decided once per alert; a duplicate double counts it in "
           "every rule's benign rate"),
    error(E.ExpectColumnValuesToBeInSet(column="label", value_set=LABELS),
          "the tuning models count exactly these labels (NULL = unlabelled); any other value drops out of the rates"),
    error(E.ExpectColumnValuesToBeInSet(column="is_labelled", value_set=[True, False]),
          "is_labelled/is_benign/is_true_positive drive every FILTER in the tuning SQL; NULL would count nowhere"),
]

RULE_TOP_ENTITIES = [
    *not_null(["rule_id", "entity_type", "entity_key"], "the grain"),
    unique(["tenant", "rule_id", "entity_type", "entity_key"], "one row per entity of a rule"),
    error(E.ExpectColumnValuesToBeBetween(column="entity_rank", min_value=1, max_value=10),
          "the table keeps the ten most frequent entities per rule"),
    _rate("alert_share", "the share of the rule's alerts an entity appears in"),
    _ordered("alerts", "true_positive_alerts", "labelled subsets of an entity's alerts cannot exceed them"),
    _ordered("alerts", "benign_positive_alerts", "labelled subsets of an entity's alerts cannot exceed them"),
]

TUNING_EXCLUSION_CANDIDATES = [
    *not_null(["rule_id", "exclusion_kind", "entity_type_1", "entity_key_1", "verdict"], "the grain and the verdict"),
    unique(EXCLUSION, "one judgement per candidate exclusion; the recommendations and the backtest read it"),
    error(E.ExpectColumnValuesToBeInSet(column="exclusion_kind", value_set=["single", "pair", "triple"]),
          "the recommendations and the KQL builder handle exactly these kinds"),
    _rate("confidence", "a posterior quantile of a probability; outside [0, 1] the Beta UDF is broken"),
    _rate("alerts_removed_share", "the share of the rule's alerts an exclusion would remove"),
    _ordered("alerts", "labelled_alerts", "labelled alerts are a subset of the candidate's alerts"),
    _ordered("labelled_alerts", "benign_alerts", "benign alerts are a subset of the labelled ones"),
    _ordered("decisions", "benign_decisions", "benign decisions are a subset of the decisions"),
    _ordered("incidents", "decisions", "decisions are labelled incidents of the candidate"),
    error(E.ExpectColumnValuesToBeInSet(column="shape_verdict",
                                        value_set=["narrowest", "covered by narrower exclusions",
                                                   "inside a broader recommendation"]),
          "the recommendations are the 'narrowest' rows; any other value would drop out silently"),
    *_counts(["true_positive_alerts", "true_positive_incidents", "max_true_positives_per_30d"]),
]

TUNING_BACKTEST = [
    *not_null(["tenant", "rule_id", "backtest_origin"], "the grain ('*' is the all-rules row, origin 0 all origins)"),
    unique(["tenant", "rule_id", "backtest_origin"], "one row per rule and origin plus the '*' and origin-0 totals"),
    _ordered("alerts", "true_positive_alerts", "the window's true positives are a subset of its alerts"),
    _ordered("alerts", "alerts_removed", "an exclusion cannot remove more alerts than the held-out days had"),
    _ordered("alerts_removed", "benign_alerts_removed", "removed benign alerts are a subset of the removed alerts"),
    _ordered("test_end_day", "test_start_day", "the held-out window must be ordered"),
    error(E.ExpectColumnValuesToBeBetween(column="analyst_hours_saved", min_value=0), "hours"),
    warn(E.ExpectColumnValuesToBeBetween(column="true_positive_alerts_removed", max_value=0),
         "a backtested exclusion hid a true positive on days it had not seen: a finding about the recommendations "
         "that the owner report shows, not broken data, so it annotates",
         "no true positive removed"),
]

TUNING_BACKTEST_EXCLUSIONS = [
    *not_null(["backtest_origin", "rule_id", "exclusion_kind", "entity_type_1", "entity_key_1"], "the grain"),
    unique(["backtest_origin", *EXCLUSION],
           "one row per backtested exclusion and origin; the owner report looks each one up by this key"),
    _ordered("alerts_removed", "benign_alerts_removed", "removed benign alerts are a subset of the removed alerts"),
    _ordered("alerts_removed", "true_positive_alerts_removed", "removed true positives are a subset of the removed alerts"),
    *_counts(["unlabelled_alerts_removed"]),
]

TUNING_RULE_PRIORS = [
    *not_null(["tenant", "alpha", "beta", "method"], "rule_noise shrinks every rule with this prior"),
    error(E.ExpectColumnValuesToBeUnique(column="tenant"),
          "one prior per tenant; a duplicate would duplicate every rule_noise row in the join"),
    error(E.ExpectColumnValuesToBeBetween(column="alpha", min_value=0, strict_min=True),
          "Beta parameters must be positive; the quantile UDF returns NULL otherwise and every interval is lost"),
    error(E.ExpectColumnValuesToBeBetween(column="beta", min_value=0, strict_min=True),
          "Beta parameters must be positive; the quantile UDF returns NULL otherwise and every interval is lost"),
    warn(E.ExpectColumnValuesToNotMatchRegex(column="method", regex="^uniform"),
         "fewer than three rules with labels: rates are shrunk towards 50% rather than the tenant's own mix",
         "fitted, not the uniform fallback"),
]

TUNING_DECISIONS = [
    *not_null(["recommendation_id", "sequence", "decided_at"], "the grain and the order of a recommendation's decisions"),
    unique(["tenant", "recommendation_id", "sequence"], "one row per line of the decisions file"),
    unique(["tenant", "sequence"], "a line number names one decision of the tenant's file"),
    error(E.ExpectColumnValuesToBeInSet(column="decision", value_set=["accepted", "dismissed", "revoked"]),
          "45_tuning_decided.sql acts on exactly these decisions; any other is silently ignored"),
]

EXCLUSION_HEALTH = [
    *not_null(["recommendation_id", "rule_id", "severity", "accepted_at"], "the grain and what the reports sort on"),
    unique(["tenant", "recommendation_id"], "one row per accepted exclusion; a duplicate doubles its findings"),
    error(E.ExpectColumnValuesToBeInSet(column="severity", value_set=["high", "warn", "ok"]),
          "`hunthouse status` and the owner reports select on these severities"),
    _ordered("alerts_removed_30d", "alerts_removed_7d", "the 7 days are inside the 30"),
    *_counts(["true_positive_incidents_since_acceptance", "rule_alerts_30d"]),
]

WHOLE = "WHERE list_contains(?::VARCHAR[], tenant)"
TUNING_SUITES: dict[str, tuple[list[Check], Scope]] = {
    name: (suite, Scope(f"SELECT * FROM {name} {WHOLE}", "tenants", keys))  # noqa: S608 (names from this dict)
    for name, suite, keys in [
        ("alert_labels", ALERT_LABELS, ("tenant", "system_alert_id")),
        ("rule_top_entities", RULE_TOP_ENTITIES, ("tenant", "rule_id")),
        ("tuning_exclusion_candidates", TUNING_EXCLUSION_CANDIDATES, ("tenant", "rule_id", "entity_key_1")),
        ("tuning_backtest", TUNING_BACKTEST, ("tenant", "rule_id")),
        ("tuning_backtest_exclusions", TUNING_BACKTEST_EXCLUSIONS, ("tenant", "rule_id", "entity_key_1")),
        ("tuning_rule_priors", TUNING_RULE_PRIORS, ("tenant",)),
        ("tuning_decisions", TUNING_DECISIONS, ("tenant", "recommendation_id", "sequence")),
        ("exclusion_health", EXCLUSION_HEALTH, ("tenant", "recommendation_id")),
    ]
}
