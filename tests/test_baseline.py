"""Baseline semantics: inclusive bounds with a stated tolerance, validation when loaded (naming the file
and key), metrics the baseline cannot judge block, mismatched baselines are reported, and --fail-on warn
blocks every status that is not a pass."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from audit import Policy, audit
from audit.baseline import Baseline, load_baseline
from audit.checks import Check
from audit.cli import main
from audit.errors import AuditInputError
from audit.policy import BOUND_TOLERANCE, exceeds
from audit.report import Report
from audit.section import Metric, Section


def judge(policy, metric, baseline=None):
    return policy.evaluate({metric.name: metric}, {metric.name: metric.name.split(".")[0]}, baseline=baseline)


def test_bounds_are_inclusive_up_to_the_stated_tolerance():
    assert BOUND_TOLERANCE == 1e-9
    assert 0.87 - 0.89 < -0.02  # the float noise the tolerance absorbs
    acc = Policy({"performance.accuracy": {"max_decrease": 0.02}})
    (f,) = judge(acc, Metric("performance.accuracy", 0.87), {"performance.accuracy": 0.89})
    assert (f.status, f.passed, f.baseline) == ("pass", True, 0.89)
    (f,) = judge(acc, Metric("performance.accuracy", 0.8699), {"performance.accuracy": 0.89})
    assert f.status == "fail" and "decreased by -0.0201" in f.message
    inc = Policy({"fairness.equalized_odds_difference": {"max_increase": 0.1}})
    (f,) = judge(inc, Metric("fairness.equalized_odds_difference", 0.3), {"fairness.equalized_odds_difference": 0.2})
    assert f.status == "pass"  # 0.3 - 0.2 = 0.09999999999999998 and 0.1 both meet "<= 0.1"
    # min and max are inclusive with the same tolerance, also for an interval's ends
    (f,) = judge(Policy({"performance.accuracy": {"min": 0.3}}), Metric("performance.accuracy", 0.3 - 1e-12))
    assert f.status == "pass"  # 1e-12 under the bound is float noise
    (f,) = judge(Policy({"performance.accuracy": {"min": 0.3}}), Metric("performance.accuracy", 0.3 - 1e-8))
    assert f.status == "fail"
    (f,) = judge(Policy({"calibration.ece": {"max": 0.1}}), Metric("calibration.ece", 0.05, low=0.02, high=0.1 + 5e-10))
    assert f.status == "pass"
    # the tolerance scales with the magnitude compared (1e-9 relative as well as absolute)
    assert not exceeds(1e12 + 100.0, 1e12) and exceeds(1e12 + 2000.0, 1e12) and exceeds(3e-9, 0.0)


def test_baseline_is_validated_naming_the_file_and_the_key(tmp_path):
    def bad(text: str, match: str) -> None:
        p = tmp_path / "base.json"
        p.write_text(text)
        with pytest.raises(AuditInputError, match=match):
            load_baseline(p)

    bad("{not json", r"baseline '.*base\.json' is not valid JSON: Expecting property name")
    bad("[1, 2]", r"base\.json' must be a JSON object with a 'metrics' object \(an audit\.json\), but it has a JSON list")
    bad('{"verdict": "pass"}', r"but it has no 'metrics' key")
    bad('{"metrics": [1]}', r"but it has 'metrics' is list")
    bad('{"metrics": {"performance.accuracy": {"value": "0.99"}}}',
        r"base\.json' key metrics\['performance\.accuracy'\]\.value must be a number or null, got '0\.99' \(a str\)")
    bad('{"metrics": {"performance.accuracy": {"value": true}}}',
        r"metrics\['performance\.accuracy'\]\.value must be a number or null, got True \(a boolean\)")
    bad('{"metrics": {"performance.accuracy": {"low": 0.5}}}', r"metrics\['performance\.accuracy'\] has no 'value'")
    bad('{"metrics": {"performance.accuracy": "NaN"}}', r"metrics\['performance\.accuracy'\] must be a number or null, got 'NaN'")
    with pytest.raises(AuditInputError, match=r"baseline '.*nope\.json' not found"):
        load_baseline(tmp_path / "nope.json")
    with pytest.raises(AuditInputError, match=r"baseline\['performance\.accuracy'\] must be a number or null, got True"):
        load_baseline({"performance.accuracy": True})
    with pytest.raises(AuditInputError, match="baseline must be the path of a previous audit.json or a dict.*got int"):
        load_baseline(5)
    # a valid file: null and NaN are kept as NaN (the previous run could not compute them), with meta
    ok = tmp_path / "ok.json"
    ok.write_text('{"meta": {"model": "m1"}, "metrics": {"performance.accuracy": {"value": 0.9, "check": "performance"},'
                  ' "performance.roc_auc": {"value": null}, "calibration.ece": NaN}}')
    b = load_baseline(ok)
    assert b["performance.accuracy"] == 0.9 and math.isnan(b["performance.roc_auc"]) and math.isnan(b["calibration.ece"])
    assert (b.model, b.source, b.checks["calibration.ece"]) == ("m1", str(ok), "calibration")


def test_metric_the_baseline_cannot_judge_blocks():
    m = Metric("performance.accuracy", 0.9)
    gate = Policy({m.name: {"max_decrease": 0.02}})
    for base in (Baseline({"performance.roc_auc": 0.8}, source="last.json"), Baseline({m.name: math.nan}, source="last.json")):
        (f,) = judge(gate, m, base)
        assert (f.status, f.passed) == ("fail", False)
        assert "change not checked: baseline 'last.json'" in f.message and "cannot pass without it" in f.message
    # a warn-level gate reports it and blocks only under fail_on="warn"
    warn = Policy({m.name: {"max_decrease": 0.02, "severity": "warn"}})
    (f,) = judge(warn, m, {"performance.roc_auc": 0.8})
    assert (f.status, f.passed) == ("warn", True)
    (f,) = judge(Policy({m.name: {"max_decrease": 0.02, "severity": "warn"}}, fail_on="warn"), m, {"performance.roc_auc": 0.8})
    assert (f.status, f.passed) == ("warn", False)
    # with no baseline at all (a first release) there is nothing to compare against: it passes and says so
    (f,) = judge(gate, m, None)
    assert f.status == "pass" and "change bound was not checked" in f.message
    # a min/max gate does not need the baseline
    (f,) = judge(Policy({m.name: {"min": 0.5}}), m, Baseline({}, source="x"))
    assert f.status == "pass"


def test_fail_on_warn_blocks_every_status_that_is_not_a_pass():
    p = Policy({"performance.accuracy": {"min": 0.5}, "calibration.ece": {"max": 0.1}}, inconclusive="pass", fail_on="warn")
    found = {f.metric: f for f in p.evaluate({"calibration.ece": Metric("calibration.ece", 0.08, low=0.05, high=0.12)},
                                            {"calibration.ece": "calibration"}, ran={"calibration"})}
    # performance was not run (left out on purpose): inconclusive, and under fail_on="warn" it blocks
    assert (found["performance.accuracy"].status, found["performance.accuracy"].passed) == ("inconclusive", False)
    # an interval straddling the bound blocks under fail_on="warn" even with inconclusive="pass"
    assert (found["calibration.ece"].status, found["calibration.ece"].passed) == ("inconclusive", False)
    (f,) = judge(Policy({"performance.roc_auc": {"min": 0.6}}, fail_on="warn"), Metric("performance.roc_auc", math.nan))
    assert (f.status, f.passed) == ("inconclusive", False)
    (f,) = judge(Policy({"performance.roc_auc": {"min": 0.6}}, fail_on="warn"), Metric("performance.roc_auc", 0.7))
    assert (f.status, f.passed) == ("pass", True)
    # the same findings under the default fail_on="fail" do not block
    q = Policy({"performance.accuracy": {"min": 0.5}}, inconclusive="pass")
    (f,) = q.evaluate({}, {})
    assert (f.status, f.passed) == ("inconclusive", True)


def _report(baseline: Baseline, model: str, names: list[str], fail_on: str = "fail") -> Report:
    sec = Section(check="performance", title="Performance", metrics=[Metric(n, 0.9) for n in names])
    return Report(sections={"performance": sec}, findings=[], policy=Policy({}, fail_on=fail_on),
                  meta={"model": model}, baseline=baseline)


def test_baseline_of_another_model_or_metric_set_is_reported():
    base = Baseline({"performance.accuracy": 0.9, "performance.roc_auc": 0.8, "fairness.race.proxy_auc": 0.6},
                    source="last.json", model="credit v1",
                    checks={"performance.accuracy": "performance", "performance.roc_auc": "performance",
                            "fairness.race.proxy_auc": "fairness"})
    same = _report(base, "credit v1", ["performance.accuracy", "performance.roc_auc"])
    assert same.findings == [] and same.passed  # fairness was not run this time: not a mismatch
    other = _report(base, "credit v2", ["performance.accuracy", "performance.log_loss"])
    found = {f.metric: f for f in other.findings}
    assert set(found) == {"baseline.model", "baseline.metrics"}
    assert "recorded for model 'credit v1', this run audits 'credit v2'" in found["baseline.model"].message
    msg = found["baseline.metrics"].message
    assert "1 metric(s) of this run are not in the baseline ('performance.log_loss')" in msg
    assert "1 baseline metric(s) were not produced by this run ('performance.roc_auc')" in msg
    assert all(f.status == "warn" and f.passed for f in other.findings) and other.passed
    strict = _report(base, "credit v2", ["performance.accuracy", "performance.roc_auc"], fail_on="warn")
    assert [f.metric for f in strict.findings] == ["baseline.model"] and not strict.passed


class _Spy(Check):
    name = "performance"
    title = "spy"
    ran = False

    def run(self, ctx):
        _Spy.ran = True
        return Section(check=self.name, title=self.title)


def test_audit_validates_the_baseline_before_any_check_runs(tmp_path, tabular_frame):
    clf = LogisticRegression().fit(tabular_frame[["x1", "x2"]], tabular_frame["y"])
    bad = tmp_path / "bad.json"
    bad.write_text('{"metrics": {"performance.accuracy": {"value": "0.99"}}}')
    with pytest.raises(AuditInputError, match=r"bad\.json' key metrics\['performance\.accuracy'\]\.value"):
        audit(clf, tabular_frame, target="y", features=["x1", "x2"], checks=[_Spy()], baseline=bad, progress=False)
    assert _Spy.ran is False


GROUPED_FACTORY = """import pandas as pd
from sklearn.linear_model import LogisticRegression

def load():
    df = pd.read_csv(__file__.rsplit('/', 1)[0] + '/d.csv')
    return LogisticRegression().fit(df[['a', 'b']], df['y'])
"""


def test_cli_exit_codes_for_baselines(tmp_path, capsys):
    rng = np.random.default_rng(0)
    n = 400
    a, b = rng.normal(size=n), rng.normal(size=n)
    y = (a + 0.5 * b + rng.normal(scale=0.7, size=n) > 0).astype(int)
    pd.DataFrame({"a": a, "b": b, "y": y}).to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "baseline_model.py").write_text(GROUPED_FACTORY)
    cfg = tmp_path / "audit.toml"
    cfg.write_text('[model]\nfactory = "baseline_model:load"\n[data]\npath = "d.csv"\ntarget = "y"\n'
                   '[policy]\n"performance.accuracy" = { max_decrease = 0.02 }\n')
    run = ["run", str(cfg), "--checks", "performance", "--quiet"]
    assert main([*run, "--out", str(tmp_path / "first")]) == 0
    saved = json.loads((tmp_path / "first" / "audit.json").read_text())
    acc = saved["metrics"]["performance.accuracy"]["value"]
    base = tmp_path / "last.json"

    # exactly max_decrease worse than the baseline: inclusive, so it passes
    saved["metrics"]["performance.accuracy"]["value"] = acc + 0.02
    base.write_text(json.dumps(saved))
    assert acc - (acc + 0.02) < -0.02  # the float noise that used to fail this gate
    assert main([*run, "--out", str(tmp_path / "edge"), "--baseline", str(base)]) == 0
    assert [f["metric"] for f in json.loads((tmp_path / "edge" / "audit.json").read_text())["findings"]] == [
        "performance.accuracy"]  # same model, same metric set: no baseline warning

    # a baseline recorded for another model: reported (a warning), and blocking under --fail-on warn
    saved["meta"]["model"] = "another model"
    base.write_text(json.dumps(saved))
    assert main([*run, "--out", str(tmp_path / "other"), "--baseline", str(base)]) == 0
    found = json.loads((tmp_path / "other" / "audit.json").read_text())["findings"]
    (warn,) = [f for f in found if f["metric"] == "baseline.model"]
    assert warn["status"] == "warn" and "recorded for model 'another model'" in warn["message"]
    assert "baseline.model" in (tmp_path / "other" / "summary.md").read_text()
    assert main([*run, "--out", str(tmp_path / "other2"), "--baseline", str(base), "--fail-on", "warn"]) == 1

    # the gated metric is missing from the baseline, or null: exit 1, not a silent pass
    for value in (None, "absent"):
        if value == "absent":
            del saved["metrics"]["performance.accuracy"]
        else:
            saved["metrics"]["performance.accuracy"]["value"] = value
        base.write_text(json.dumps(saved))
        assert main([*run, "--out", str(tmp_path / "miss"), "--baseline", str(base)]) == 1
        found = json.loads((tmp_path / "miss" / "audit.json").read_text())["findings"]
        (f,) = [f for f in found if f["metric"] == "performance.accuracy"]
        assert f["status"] == "fail" and "change not checked" in f["message"]

    # a malformed baseline: exit 2 naming the file and the key
    saved["metrics"]["performance.accuracy"] = {"value": True}
    base.write_text(json.dumps(saved))
    capsys.readouterr()
    assert main([*run, "--out", str(tmp_path / "bad"), "--baseline", str(base)]) == 2
    err = capsys.readouterr().err
    assert "last.json' key metrics['performance.accuracy'].value must be a number or null, got True" in err
    assert not (tmp_path / "bad").exists()  # nothing ran, nothing was written


def test_help_states_what_fail_on_warn_blocks(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "'warn': every gate whose status is not pass" in out and "blocks (exit 1): warnings, inconclusive results" in out
    assert "whose metric or baseline value was not computed" in out


def test_baseline_numbers_too_large_or_too_deep_name_the_file_and_key(tmp_path):
    """A value of hundreds of digits was a bare OverflowError, one over 4,300 digits a bare ValueError, and
    arrays nested 100,000 deep a bare RecursionError."""
    def bad(text: str, match: str) -> None:
        p = tmp_path / "base.json"
        p.write_text(text)
        with pytest.raises(AuditInputError, match=match):
            load_baseline(p)

    bad('{"metrics": {"performance.accuracy": {"value": 1' + "0" * 400 + "}}}",
        r"base\.json' key metrics\['performance\.accuracy'\]\.value is an integer of about 401 digits, too large")
    bad('{"metrics": {"performance.accuracy": 1' + "0" * 5000 + "}}",
        r"base\.json' holds a number JSON cannot read here \(Exceeds the limit \(4300 digits\)")
    bad('{"metrics": ' + "[" * 100_000 + "]" * 100_000 + "}", r"base\.json' nests JSON arrays or objects too deeply")
    bad('{"metrics": {"performance.accuracy": {"value": ' + "[" * 3000 + "]" * 3000 + "}}}",
        r"base\.json' nests JSON arrays or objects too deeply|metrics\['performance\.accuracy'\]\.value must be a number")
    with pytest.raises(AuditInputError, match=r"baseline\['performance\.accuracy'\] is an integer of about 401 digits"):
        load_baseline({"performance.accuracy": 10**400})
    with pytest.raises(AuditInputError, match=r"baseline\['performance\.accuracy'\] must be a number or null, got a list "
                                              r"too large to show"):
        nested: list = []
        for _ in range(100_000):
            nested = [nested]
        load_baseline({"performance.accuracy": nested})
