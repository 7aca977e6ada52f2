"""Empirical-Bayes Beta prior for the benign rate of a tenant's rules: method of moments.

Each rule i has k_i benign (benign positive + false positive) of n_i labelled alerts, and its true
benign rate p_i is drawn from Beta(alpha, beta). The observed rates k_i/n_i scatter more than the
p_i do, by the binomial noise p(1-p)/n_i, so the moments are (Kleinman 1973, unweighted form):

    m = mean(k_i / n_i)
    between = var(k_i / n_i) - m (1 - m) * mean(1 / n_i)        (variance of the p_i themselves)
    alpha + beta = m (1 - m) / between - 1,   alpha = m (alpha + beta)

Method of moments rather than beta-binomial maximum likelihood: closed form, no optimiser at
runtime (scipy is dev-only), and with the handful to hundreds of rules a tenant has the two differ
far less than the posterior intervals are wide. Degenerate cases fall back, and say so in `method`:
- fewer than MIN_RULES rules with labels: no spread to measure, use the uniform Beta(1, 1);
- between <= 0 (rules agree more than binomial noise allows): the prior would be infinitely
  strong, so its strength is capped at the largest rule's label count, so no prior ever
  outweighs the best-evidenced rule;
- m at 0 or 1: pulled inside by half an alert, so both parameters stay positive.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_RULES = 3
UNIFORM = (1.0, 1.0)


@dataclass(frozen=True)
class BetaPrior:
    alpha: float
    beta: float
    method: str
    rules: int


def fit_beta_prior(benign: np.ndarray | list[int], labelled: np.ndarray | list[int]) -> BetaPrior:
    k = np.asarray(benign, dtype=float)
    n = np.asarray(labelled, dtype=float)
    keep = n > 0
    k, n = k[keep], n[keep]
    if len(n) < MIN_RULES:
        return BetaPrior(*UNIFORM, method=f"uniform: fewer than {MIN_RULES} rules with labels", rules=len(n))
    rates = k / n
    half_alert = 0.5 / (n.sum() + 1.0)
    m = float(np.clip(rates.mean(), half_alert, 1.0 - half_alert))
    between = float(rates.var(ddof=1) - m * (1.0 - m) * np.mean(1.0 / n))
    max_strength = float(n.max())
    if between <= 0:
        strength, method = max_strength, "moments, capped: no spread beyond binomial noise"
    else:
        strength = m * (1.0 - m) / between - 1.0
        method = "moments"
        if strength > max_strength:
            strength, method = max_strength, "moments, capped at the largest rule's labels"
        # Floor at two pseudo-labels: a near-zero strength would mean no shrinkage at all, which
        # is what the fit is for.
        strength = max(strength, 2.0)
    return BetaPrior(alpha=m * strength, beta=(1.0 - m) * strength, method=method, rules=len(n))
