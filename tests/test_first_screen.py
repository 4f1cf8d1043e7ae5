"""Issue 23 items 6 and 7: early, named errors for the positive class, and a first screen that says who and what."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from audit import audit
from audit.checks import Check
from audit.cli import main
from audit.errors import AuditInputError
from audit.section import Section


@pytest.fixture(scope="module")
def loans():
    """String labels: 'approved' sorts before 'rejected', so the second class (the default positive) is
    'rejected'. Group 'a' is approved far more often than group 'b'."""
    rng = np.random.default_rng(0)
    n = 2000
    group = np.where(rng.random(n) < 0.5, "a", "b")
    x = rng.normal(size=n) + np.where(group == "a", 1.0, -1.0)
    y = np.where(x + rng.normal(scale=0.5, size=n) > 0, "approved", "rejected")
    frame = pd.DataFrame({"x": x, "group": group, "decision": y})
    model = LogisticRegression().fit(frame[["x"]], frame["decision"])
    return model, frame


class _Counting:
    """Counts the model's calls, to show an error comes before any check runs."""

    def __init__(self, model):
        self.model, self.calls = model, 0
        self.classes_ = model.classes_
        self.feature_names_in_ = model.feature_names_in_

    def predict_proba(self, X):
        self.calls += 1
        return self.model.predict_proba(X)


def test_an_unknown_positive_class_is_an_early_named_error(loans):
    model, frame = loans
    counting = _Counting(model)
    with pytest.raises(AuditInputError, match=r"positive_class='accepted' is not one of the model's classes "
                                              r"\['approved', 'rejected'\]"):
        audit(counting, frame, target="decision", sensitive=["group"], positive_class="accepted", progress=False)
    assert counting.calls == 1  # the one cached prediction; no check ran


def test_string_labels_state_the_positive_class_on_the_first_screen(loans):
    model, frame = loans
    report = audit(model, frame, target="decision", sensitive=["group"], checks=["fairness"], progress=False)
    assert report.meta["positive_class"] == "rejected"
    assert "second class" in report.meta["positive_class_source"]
    html = _html(report)
    first = html.split("<h2", 1)[0]  # the summary, before the first section
    assert re.search(r"positive class</dt><dd><strong>rejected</strong>", first)
    # the selection rate then counts rejections: group b is rejected more often
    groups = report.sections["fairness"].tables["Groups by group"]
    rejected = {g: float((model.predict(frame.loc[frame.group == g, ["x"]]) == "rejected").mean()) for g in "ab"}
    assert groups.loc["b", "selection_rate"] == pytest.approx(rejected["b"], abs=1e-12)

    chosen = audit(model, frame, target="decision", sensitive=["group"], checks=["fairness"], progress=False,
                   positive_class="approved")
    assert chosen.meta["positive_class"] == "approved" and chosen.meta["positive_class_source"] == "positive_class="
    approved = float((model.predict(frame.loc[frame.group == "b", ["x"]]) == "approved").mean())
    assert chosen.sections["fairness"].tables["Groups by group"].loc["b", "selection_rate"] == pytest.approx(approved)


def test_config_positive_class_reaches_the_audit(loans, tmp_path, capsys):
    model, frame = loans
    frame.to_csv(tmp_path / "loans.csv", index=False)
    (tmp_path / "loan_model.py").write_text(
        "import pandas as pd\nfrom sklearn.linear_model import LogisticRegression\n"
        "def load():\n    d = pd.read_csv(__file__.rsplit('/', 1)[0] + '/loans.csv')\n"
        "    return LogisticRegression().fit(d[['x']], d['decision'])\n")
    for pos, code in (("approved", None), ("accepted", 2)):
        (tmp_path / "audit.toml").write_text(
            '[model]\nfactory = "loan_model:load"\n[data]\npath = "loans.csv"\ntarget = "decision"\n'
            f'sensitive = ["group"]\n[audit]\npositive_class = "{pos}"\nchecks = ["fairness"]\n')
        got = main(["run", str(tmp_path / "audit.toml"), "--out", str(tmp_path / pos), "--quiet"])
        err = capsys.readouterr().err
        if code == 2:
            assert got == 2 and "positive_class='accepted' is not one of the model's classes" in err
        else:
            meta = json.loads((tmp_path / pos / "audit.json").read_text())["meta"]
            assert meta["positive_class"] == "approved", err


def _html(report) -> str:
    from audit.formats import render

    return render("html", report)


class _Broken(Check):
    name = "broken"
    title = "Broken check"
    requires = ()

    def run(self, ctx) -> Section:
        raise RuntimeError("the model's tokenizer is missing")


def test_failed_gate_names_column_and_groups_and_the_rule_is_a_legend(loans):
    model, frame = loans
    report = audit(model, frame, target="decision", sensitive=["group"], checks=["fairness", _Broken()],
                   progress=False)
    html = _html(report)
    summary = html.split('<div class="grid">', 1)[0]
    failed = summary.split("<h3>Failed gates</h3>", 1)[1]
    row = next(r for r in failed.split("<tr>") if "fairness.demographic_parity_difference" in r)
    # the why names the groups and their selection rates (of the positive class, 'rejected')
    assert re.search(r"selection rate 0\.\d\d for b vs 0\.\d\d for a", row)
    # the gap rule is not repeated per row: a numbered legend states it once
    assert "gap rule" not in row and "<sup>1</sup>" in row
    assert summary.count("fail only when the interval lies above 0.1") == 1
    # a check that raised is named, with its reason, on the first screen
    assert "Broken check</a>: the check raised RuntimeError: the model&#39;s tokenizer is missing" in summary
    # the JSON finding keeps the whole message, rule included
    f = next(f for f in report.findings if f.metric == "fairness.demographic_parity_difference")
    assert "gap rule" in f.message and f.rule.startswith("gap rule")
