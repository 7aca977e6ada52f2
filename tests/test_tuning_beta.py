"""The Beta quantiles and the empirical-Bayes prior fit, checked against scipy (a dev dependency)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize, special, stats

from models.tuning.beta import beta_ppf, betainc
from models.tuning.prior import fit_beta_prior


def test_incomplete_beta_matches_scipy_across_small_and_large_parameters():
    rng = np.random.default_rng(7)
    a = np.concatenate([rng.uniform(0.05, 5, 100), rng.integers(1, 20_000, 100), [1e6, 0.5]])
    b = np.concatenate([rng.uniform(0.05, 5, 100), rng.integers(1, 20_000, 100), [3.0, 2e5]])
    x = rng.uniform(0, 1, a.size)
    np.testing.assert_allclose(betainc(a, b, x), special.betainc(a, b, x), atol=1e-10)


@pytest.mark.parametrize("q", [0.05, 0.5, 0.95])
def test_credible_bounds_match_scipy_beta_ppf(q):
    # the shapes the models produce: uniform-prior exclusion posteriors and fitted rule posteriors
    a = np.array([1 + 5, 1 + 20, 1 + 41, 1.56 + 3, 0.3 + 0, 8.0 + 900, 1.0])
    b = np.array([1.0, 1 + 2, 1.0, 0.79 + 7, 0.2 + 12, 2.0 + 95, 1.0])
    np.testing.assert_allclose(beta_ppf(q, a, b), stats.beta.ppf(q, a, b), atol=1e-9)


def test_all_benign_lower_bound_has_the_closed_form():
    # Beta(n + 1, 1) has CDF x^(n+1): its 5% quantile is 0.05^(1/(n+1))
    n = np.arange(1, 60)
    np.testing.assert_allclose(beta_ppf(0.05, n + 1.0, 1.0), 0.05 ** (1 / (n + 1)), rtol=1e-10)


def _synthetic_counts(alpha, beta, rules, seed):
    rng = np.random.default_rng(seed)
    n = rng.integers(20, 400, rules)
    return rng.binomial(n, rng.beta(alpha, beta, rules)), n


def test_method_of_moments_recovers_the_prior_of_synthetic_rules():
    k, n = _synthetic_counts(8.0, 2.0, 3000, seed=1)
    prior = fit_beta_prior(k, n)
    assert prior.method == "moments"
    assert prior.alpha / (prior.alpha + prior.beta) == pytest.approx(0.8, abs=0.01)
    assert prior.alpha + prior.beta == pytest.approx(10.0, rel=0.15)


def test_method_of_moments_agrees_with_beta_binomial_maximum_likelihood():
    k, n = _synthetic_counts(3.0, 1.5, 300, seed=2)

    def nll(log_params):
        a, b = np.exp(log_params)
        return -stats.betabinom.logpmf(k, n, a, b).sum()

    ml = np.exp(optimize.minimize(nll, x0=[0.0, 0.0], method="Nelder-Mead").x)
    prior = fit_beta_prior(k, n)
    assert prior.alpha / (prior.alpha + prior.beta) == pytest.approx(ml[0] / ml.sum(), abs=0.02)
    assert prior.alpha + prior.beta == pytest.approx(ml.sum(), rel=0.3)


def test_degenerate_inputs_fall_back_to_documented_priors():
    one_rule = fit_beta_prior([5], [10])
    assert (one_rule.alpha, one_rule.beta) == (1.0, 1.0) and one_rule.method.startswith("uniform")
    # identical rates: no spread beyond binomial noise -> strength capped at the largest rule
    same = fit_beta_prior([50, 50, 50, 50], [100, 100, 100, 100])
    assert same.method.startswith("moments, capped")
    assert (same.alpha, same.beta) == pytest.approx((50.0, 50.0))
    # every rule all benign: the mean is pulled inside (0, 1) so beta stays positive
    all_benign = fit_beta_prior([10, 30, 5], [10, 30, 5])
    assert all_benign.alpha > 0 and all_benign.beta > 0
    assert np.isfinite(beta_ppf(0.05, all_benign.alpha + 10, all_benign.beta))
