"""Every registered check keeps the contract the orchestrator, policies and ``audit checks`` rely on.

One parametrised test per rule, over :data:`audit.checks.REGISTRY`: a new check is held to every rule
the moment it is registered, with no test of its own to copy.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from audit.backends import StoredPredictions
from audit.checks import REGISTRY, Check
from audit.checks._base import REQUIREMENTS
from audit.context import AuditContext, AuditOptions
from audit.data import load_data
from audit.model import ModelAdapter
from audit.policy import Policy
from audit.section import pattern_regex

CHECKS = list(REGISTRY.values())

#: settings that keep each check to a fraction of a second on the tiny contexts below
SMALL: dict[str, dict] = {
    "performance": {"n_boot": 50},
    "fairness": {"n_boot": 50},
    "explain": {"n_rows": 30, "n_background": 10, "n_lime_rows": 2, "lime_samples": 100, "n_bootstrap": 10},
    "calibration": {"n_boot": 50},
    "saliency": {"n_eval": 8, "steps": 4, "max_images": 4, "randomize_layers": 1},
    "robustness": {"eps": (0.1,), "steps": 3, "n_boot": 50, "n_examples": 2},
    "uncertainty": {"n_boot": 50},
}


def _check(cls: type[Check]) -> Check:
    return cls(**SMALL.get(cls.name, {}))


def _frame(n: int = 160) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    g = rng.choice(["a", "b"], size=n)
    x1, x2 = rng.normal(size=n), rng.normal(size=n) + (g == "a") * 0.5
    y = (x1 + 0.5 * x2 + rng.normal(scale=0.5, size=n) > 0).astype(int)
    return pd.DataFrame({"x1": x1, "x2": x2, "g": g, "y": y})


def _tabular_net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))


@pytest.fixture(scope="module")
def contexts() -> dict[str, AuditContext]:
    """One context per situation a check may or may not apply to; together they leave no requirement unmet
    and none met everywhere."""
    df, feats = _frame(), ["x1", "x2"]
    history = pd.DataFrame({"train_loss": [0.9, 0.6, 0.5], "val_loss": [0.95, 0.7, 0.72]})
    torch.manual_seed(0)
    images, labels = torch.rand(40, 1, 8, 8), np.arange(40) % 3
    cnn = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.Linear(256, 3))
    stored = df.assign(p=np.clip(0.5 + 0.4 * df["x1"].to_numpy(), 0.01, 0.99))
    from sklearn.linear_model import LogisticRegression

    return {
        # torch MLP on labelled tabular data with a sensitive column, train data and a history: every check but
        # saliency applies
        "tabular": AuditContext(
            model=ModelAdapter(_tabular_net()),
            data=load_data(df, target="y", sensitive=["g"], features=feats),
            train=load_data(df.sample(frac=0.5, random_state=1), target="y", sensitive=["g"], features=feats),
            options=AuditOptions(history=history),
        ),
        "image": AuditContext(model=ModelAdapter(cnn), data=load_data((images.numpy(), labels))),
        "unlabelled": AuditContext(model=ModelAdapter(_tabular_net()), data=load_data((df[feats], None))),
        "labels only": AuditContext(model=ModelAdapter(lambda X: (X["x1"].to_numpy() > 0).astype(int)),
                                    data=load_data(df, target="y", features=feats)),
        "scikit-learn": AuditContext(model=ModelAdapter(LogisticRegression().fit(df[feats], df["y"])),
                                     data=load_data(df, target="y", features=feats)),
        "prediction log": AuditContext(model=ModelAdapter(StoredPredictions(score="p")),
                                       data=load_data(stored, target="y", sensitive=["g"], features=["x1", "x2", "p"])),
        # a regressor on the same features (the target is a number): the checks that serve only regression run here
        "regression": AuditContext(model=ModelAdapter(lambda X: X["x1"].to_numpy() + 0.5 * X["x2"].to_numpy(),
                                                      task="regression"),
                                   data=load_data(df.assign(y=df["x1"] + 0.5 * df["x2"] + 0.3 * df["y"]), target="y",
                                                  sensitive=["g"], features=feats)),
        "text": _text_context(),
    }


def _text_context() -> AuditContext:
    """A text classifier on strings that mention identity terms, with a sensitive column."""
    rng = np.random.default_rng(0)
    subject = rng.choice(["she", "he", "the driver"], 200)
    act = rng.choice(["stole a car", "hit a man", "drove fast"], 200)
    texts = [f"{s} {a}" for s, a in zip(subject, act)]
    frame = pd.DataFrame({"text": texts, "y": (rng.random(200) < 0.5).astype(int), "g": rng.choice(["a", "b"], 200)})

    def model(batch):
        p = np.array([0.3 + 0.4 * ("hit" in t) + 0.1 * t.startswith("she") for t in batch])
        return np.c_[1 - p, p]

    adapter = ModelAdapter(model)
    adapter.text_input = True
    return AuditContext(model=adapter, data=load_data(frame, target="y", sensitive=["g"], features=["text"],
                                                      modality="text"))


def _runs_on(cls: type[Check]) -> str:
    if "text" in cls.requires:
        return "text"
    if "binary" not in cls.tasks:
        return "regression"
    return "image" if "images" in cls.requires else "tabular"


@pytest.mark.parametrize("cls", CHECKS, ids=lambda c: c.name)
def test_declarations_are_complete_and_consistent(cls):
    assert REGISTRY[cls.name] is cls and cls.name.isidentifier()
    assert isinstance(cls.title, str) and cls.title.strip()
    assert set(cls.requires) <= set(REQUIREMENTS), f"unknown requirement(s) {set(cls.requires) - set(REQUIREMENTS)}"
    assert set(cls.requirement_reasons) <= set(cls.requires)
    assert all(isinstance(r, str) and r.strip() for r in cls.requirement_reasons.values())
    assert cls.metric_patterns and len(set(cls.metric_patterns)) == len(cls.metric_patterns)
    assert all(p.startswith(f"{cls.name}.") for p in cls.metric_patterns)
    for p in cls.metric_patterns:
        pattern_regex(p)
    # a documented name is a declared pattern, or a more general one (``saliency.<method>.deletion_auc``)
    undocumentable = [k for k in cls.metric_docs
                      if k not in cls.metric_patterns and not any(pattern_regex(k).match(p) for p in cls.metric_patterns)]
    assert not undocumentable, f"metric_docs names no declared metric: {undocumentable}"
    # the starter thresholds name metrics the check can produce
    Policy(dict(getattr(cls, "default_policy", {}))).validate(list(cls.metric_patterns))
    # a threshold is stated once, in default_policy (`audit checks --markdown` prints it beside the doc)
    restated = [k for k, doc in cls.metric_docs.items() if "starter policy" in doc.lower()]
    assert not restated, f"metric_docs restate the starter policy: {restated}"


@pytest.mark.parametrize("cls", CHECKS, ids=lambda c: c.name)
def test_emitted_metric_names_match_the_declared_patterns(cls, contexts):
    ctx = contexts[_runs_on(cls)]
    check = _check(cls)
    assert check.skip_reason(ctx) is None
    section = check.run(ctx)
    assert (section.status, section.check, section.title) == ("ok", cls.name, cls.title)
    names = [m.name for m in section.metrics]
    assert names and len(names) == len(set(names)), "a check emits each metric once"
    regexes = [pattern_regex(p) for p in cls.metric_patterns]
    undeclared = [n for n in names if not any(r.match(n) for r in regexes)]
    assert not undeclared, f"{cls.name} emits metrics its metric_patterns do not declare: {undeclared}"


@pytest.mark.parametrize("cls", CHECKS, ids=lambda c: c.name)
def test_every_unmet_requirement_skips_with_a_reason(cls, contexts):
    for need in cls.requires:
        unmet = [name for name, ctx in contexts.items() if not REQUIREMENTS[need][0](ctx)]
        assert unmet, f"no context here leaves {need!r} unmet: add one to the contexts fixture"
        for name in unmet:
            reason = _check(cls).skip_reason(contexts[name])
            assert isinstance(reason, str) and reason.strip(), (need, name, reason)
    for name, ctx in contexts.items():  # wherever it is asked, a check answers None or a sentence
        reason = _check(cls).skip_reason(ctx)
        assert reason is None or (isinstance(reason, str) and reason.strip()), (name, reason)


@pytest.mark.parametrize("cls", CHECKS, ids=lambda c: c.name)
def test_every_section_that_ran_states_its_row_budget_once(cls, contexts):
    """Through the orchestrator: one 'Row budget:' note, naming at most the rows the data has."""
    from audit._api import _run_check

    ctx = contexts[_runs_on(cls)]
    section = _run_check(_check(cls), ctx)
    notes = [n for n in section.notes if n.startswith("Row budget:")]
    assert section.status == "ok" and len(notes) == 1, (section.reason, section.notes)
    first = int(notes[0].split()[2].replace(",", "")) if notes[0].split()[2][0].isdigit() else len(ctx.data)
    assert first <= len(ctx.data), notes[0]
