from __future__ import annotations

import math

import pytest

from audit import Policy
from audit._api import metric_patterns, starter_policy, starter_thresholds
from audit.errors import AuditInputError
from audit.section import Metric


def judge(policy, metric, baseline=None):
    return policy.evaluate({metric.name: metric}, {metric.name: metric.name.split(".")[0]}, baseline=baseline)


def test_min_and_max_pass_and_fail():
    (f,) = judge(Policy({"performance.accuracy": {"min": 0.7}}), Metric("performance.accuracy", 0.65))
    assert (f.status, f.passed, f.threshold) == ("fail", False, ">= 0.7")
    (f,) = judge(Policy({"performance.log_loss": {"max": 0.5}}), Metric("performance.log_loss", 0.4))
    assert (f.status, f.passed) == ("pass", True)


def test_interval_straddling_threshold_is_inconclusive():
    m = Metric("fairness.demographic_parity_difference", 0.08, low=0.05, high=0.12)
    for mode, passed in (("warn", True), ("fail", False), ("pass", True)):
        (f,) = judge(Policy({m.name: {"max": 0.1}}, inconclusive=mode), m)
        assert f.status == "inconclusive" and f.passed is passed and "straddles" in f.message
    # an interval wholly above the bound fails even though it is uncertain
    (f,) = judge(Policy({m.name: {"max": 0.04}}), m)
    assert f.status == "fail"


def test_warn_severity_and_fail_on_warn():
    m = Metric("performance.accuracy", 0.5)
    (f,) = judge(Policy({m.name: {"min": 0.6, "severity": "warn"}}), m)
    assert (f.status, f.passed) == ("warn", True)
    (f,) = judge(Policy({m.name: {"min": 0.6, "severity": "warn"}}, fail_on="warn"), m)
    assert f.passed is False


def test_undefined_metric_is_reported_not_passed_silently():
    (f,) = judge(Policy({"performance.roc_auc": {"min": 0.6}}), Metric("performance.roc_auc", math.nan))
    assert f.status == "inconclusive" and "undefined" in f.message


def test_baseline_regression():
    m = Metric("fairness.equalized_odds_difference", 0.15)
    (f,) = judge(Policy({m.name: {"max_increase": 0.02}}), m, baseline={m.name: 0.10})
    assert f.status == "fail" and "increased by +0.05" in f.message
    (f,) = judge(Policy({m.name: {"max_increase": 0.02}}), m, baseline={m.name: 0.14})
    assert f.status == "pass"


def test_unknown_metric_lists_valid_names():
    with pytest.raises(AuditInputError, match=r"unknown metric 'performance.acuracy'; did you mean 'performance.accuracy'.*valid metric names are: .*performance.log_loss"):
        Policy({"performance.acuracy": {"min": 0.5}}).validate(metric_patterns())
    Policy({"performance.*": {"min": 0.0}}).validate(metric_patterns())


def test_bad_threshold_specs_name_the_key():
    with pytest.raises(AuditInputError, match=r"policy\['performance.accuracy'\] has unknown key\(s\) \['minimum'\]"):
        Policy({"performance.accuracy": {"minimum": 0.5}})
    with pytest.raises(AuditInputError, match=r"min must be a number"):
        Policy({"performance.accuracy": {"min": "high"}})
    with pytest.raises(AuditInputError, match="sets no bound"):
        Policy({"performance.accuracy": {"severity": "warn"}})


def test_requested_metric_that_was_not_computed_is_reported():
    p = Policy({"performance.accuracy": {"min": 0.5}})
    # selected but skipped for a missing input: the gate blocks and says why
    (f,) = p.evaluate({}, {}, skipped={"performance": "the data has no labels"})
    assert f.value is None and "not computed" in f.message and "no labels" in f.message
    assert f.status == "fail" and not f.passed
    # not selected at all (audit run --checks ...): inconclusive, not blocking by default
    (f,) = p.evaluate({}, {})
    assert f.status == "inconclusive" and f.passed and "was not run" in f.message
    # the check ran but has no such metric (a typo in a column name or an eps not swept)
    q = Policy({"fairness.rac.demographic_parity_difference": {"max": 0.1, "severity": "warn"}})
    got = {"fairness.race.demographic_parity_difference": Metric("fairness.race.demographic_parity_difference", 0.05)}
    (f,) = q.evaluate(got, {}, ran={"fairness"})
    assert f.status == "warn" and f.passed and "did you mean 'fairness.race.demographic_parity_difference'" in f.message


def test_wildcards_apply_to_every_match():
    p = Policy({"performance.train.*": {"min": 0.9}})
    fs = p.evaluate(
        {"performance.train.accuracy": Metric("performance.train.accuracy", 0.95),
         "performance.train.roc_auc": Metric("performance.train.roc_auc", 0.8)},
        {},
    )
    assert sorted((f.metric, f.passed) for f in fs) == [("performance.train.accuracy", True), ("performance.train.roc_auc", False)]


def test_metric_not_computed_for_cost_does_not_apply_under_the_starter_policy():
    """A metric that only checks an approximation, skipped by the audit for cost (Metric.not_computed):
    the starter policy's gate does not apply (info, passes, even with fail_on='warn'); a gate the user
    named hears that it was not computed (inconclusive), with the reason."""
    m = Metric("explain.shap_exact_correlation", math.nan, not_computed="exact reference would need 2e9 model rows")
    starter = starter_policy()
    assert "explain.shap_exact_correlation" in starter.thresholds
    # the starter gates, none named by the user, with and without --fail-on warn
    for pol in (starter, Policy(dict(starter.thresholds), fail_on="warn", explicit=frozenset())):
        (f,) = judge(pol, m)
        assert (f.status, f.passed) == ("info", True)
        assert "was not computed (exact reference would need 2e9 model rows)" in f.message and "does not apply" in f.message
    for mode, passed in (("warn", True), ("fail", False)):
        (f,) = judge(Policy({m.name: {"min": 0.9}}, inconclusive=mode), m)
        assert (f.status, f.passed) == ("inconclusive", passed)
        assert "was not computed (exact reference would need 2e9 model rows); cannot judge >= 0.9" in f.message
    (f,) = judge(Policy.from_dict({"defaults": True, m.name: {"min": 0.9}}, starter=starter_thresholds()), m)
    assert f.status == "inconclusive"
    # a NaN without a reason is still undefined, and inconclusive under the starter policy
    (f,) = judge(starter, Metric("explain.shap_exact_correlation", math.nan))
    assert f.status == "inconclusive" and "undefined" in f.message


@pytest.mark.parametrize("bound", ["min", "max", "max_increase", "max_decrease"])
def test_a_bound_that_is_nan_or_infinite_is_refused(bound):
    """NaN compares False with every value, so `min = nan` passed every accuracy; inf bounds nothing."""
    ok = Policy({"performance.accuracy": {bound: 0.1}}).thresholds["performance.accuracy"]
    assert getattr(ok, bound) == 0.1
    for value in (math.nan, math.inf, -math.inf):
        with pytest.raises(AuditInputError, match=rf"policy\['performance.accuracy'\]\.{bound} must be a finite number, "
                                                  rf"got {value!r}"):
            Policy({"performance.accuracy": {bound: value}})
    with pytest.raises(AuditInputError, match=rf"\.{bound} must be a finite number, got an integer of about 401 digits"):
        Policy({"performance.accuracy": {bound: 10**400}})
    # a Threshold built directly is held to the same rule
    from audit.policy import Threshold

    with pytest.raises(AuditInputError, match=f"threshold {bound} must be a finite number, got nan"):
        Threshold(**{bound: math.nan})
