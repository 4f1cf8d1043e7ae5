"""RobustnessCheck on tiny tabular and image contexts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from audit.checks.robustness import RobustnessCheck
from audit.context import AuditContext
from audit.data import load_data
from audit.model import ModelAdapter
from audit.stats import wilson_interval
from audit.transforms import TabularEncoder


@pytest.fixture(scope="module")
def tabular_ctx() -> AuditContext:
    rng = np.random.default_rng(0)
    n = 240
    g = rng.choice(["a", "b"], n)
    kind = rng.choice(["p", "q", "r"], n)
    x1, x2, x3 = rng.normal(size=n), rng.normal(size=n), rng.uniform(0, 5, n)
    y = (x1 + 0.7 * x2 - 0.3 * x3 + 0.8 * (kind == "p") + 0.5 * (g == "a") + rng.normal(scale=0.6, size=n) > -0.5)
    df = pd.DataFrame({"x1": x1, "x2": x2, "x3": x3, "kind": kind, "g": g, "y": y.astype(int)})
    enc = TabularEncoder(columns=["x1", "x2", "x3", "kind", "g"]).fit(df)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(len(enc.feature_names_out), 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    xt, yt = enc(df), torch.tensor(df["y"].to_numpy())
    opt = torch.optim.Adam(net.parameters(), lr=0.03)
    for _ in range(150):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(xt), yt).backward()
        opt.step()
    for p in net.parameters():
        p.grad = None
    data = load_data(df, target="y", sensitive=["g"], features=["x1", "x2", "x3", "kind", "g"])
    return AuditContext(model=ModelAdapter(net, transform=enc), data=data, seed=0, options={"immutable": ["x3"]})


@pytest.fixture(scope="module")
def tabular_section(tabular_ctx):  # noqa: ANN001
    check = RobustnessCheck(steps=10, n_boot=200)
    assert check.skip_reason(tabular_ctx) is None
    return check.run(tabular_ctx)


def test_sensitive_immutable_and_categorical_inputs_never_change(tabular_ctx, tabular_section):
    enc = tabular_ctx.model.transform
    x = tabular_ctx.x_tensor
    frozen = [i for c in ("x3", "kind", "g") for i in enc.groups[c]]
    free = enc.groups["x1"] + enc.groups["x2"]
    lo, hi = x.min(0).values, x.max(0).values
    moved = False
    for curve in tabular_section.curves:
        for r in curve.results:
            assert torch.equal(r.x_adv[:, frozen], x[:, frozen])
            assert bool((r.x_adv >= lo).all() and (r.x_adv <= hi).all())  # observed range
            d = (r.x_adv - x)[:, free].abs()
            std = x[:, free].std(0, unbiased=False)
            assert bool((d <= r.eps * std * (1 + 1e-5) + 1e-6).all())  # eps in feature stds
            moved |= bool((d > 0).any())
    assert moved
    table = tabular_section.tables["Perturbed inputs"].set_index("column")
    assert not table.loc["g", "perturbed"] and not table.loc["x3", "perturbed"] and table.loc["x1", "perturbed"]


def test_metrics_are_the_model_on_x_adv(tabular_ctx, tabular_section):
    y = tabular_ctx.y
    g = tabular_ctx.data.sensitive["g"].to_numpy()
    names = {m.name for m in tabular_section.metrics}
    for curve in tabular_section.curves:
        for r in curve.results:
            with torch.no_grad():
                correct = (tabular_ctx.model.module(r.x_adv).argmax(1).numpy() == y)
            e = f"{r.eps:g}"
            m = tabular_section.metric(f"robustness.{r.attack}.linf.accuracy@{e}")
            assert m.value == pytest.approx(correct.mean())
            assert (m.low, m.high) == pytest.approx(wilson_interval(int(correct.sum()), len(y)))
            by = pd.Series(correct).groupby(g).mean()
            gap = tabular_section.metric(f"robustness.{r.attack}.linf.group_gap@{e}")
            worst = tabular_section.groups.overall.loc[f"{r.attack}.linf@{e}"]
            assert worst["plug_in"] == pytest.approx(by.max() - by.min())
            assert gap.low <= gap.value <= gap.high
            assert f"robustness.{r.attack}.linf.g.group_gap@{e}" in names
            assert f"robustness.{r.attack}.linf.attack_success_rate@{e}" in names
    assert {f"{e:g}" for e in (0.05, 0.1, 0.25, 0.5)} == {n.split("@")[1] for n in names}
    assert tabular_section.figures and tabular_section.figures[0].svg
    assert "Robust accuracy by group" in tabular_section.tables


def test_subsampling_is_seeded(tabular_ctx):
    a = RobustnessCheck(attacks=("fgsm",), max_rows=100).run(tabular_ctx)
    b = RobustnessCheck(attacks=("fgsm",), max_rows=100).run(tabular_ctx)
    assert len(a.rows) == 100 and np.array_equal(a.rows, b.rows)
    assert [m.value for m in a.metrics] == [m.value for m in b.metrics]
    # the row budget the orchestrator adds names the sample and the cap
    budget = RobustnessCheck(attacks=("fgsm",), max_rows=100).row_budget(tabular_ctx, a)
    assert budget.startswith(f"100 of {len(tabular_ctx.data):,} rows attacked (a seeded random sample; cap 100"), budget


def test_image_context_clips_to_pixels_and_shows_triplets():
    torch.manual_seed(0)
    x = torch.rand(60, 1, 6, 6)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(144, 3))
    with torch.no_grad():
        y = net(x).argmax(1).numpy()
    ctx = AuditContext(model=ModelAdapter(net), data=load_data((x, y)), seed=0)
    s = RobustnessCheck(steps=5, n_boot=0, n_examples=2).run(ctx)
    assert {n.split("@")[1] for n in (m.name for m in s.metrics)} == {"0.01", "0.03", "0.1"}
    for c in s.curves:
        for r in c.results:
            assert bool((r.x_adv >= 0).all() and (r.x_adv <= 1).all())
    assert any(f.png_base64 for f in s.figures)
    assert s.metric("robustness.pgd.linf.accuracy@0.1").value < 1.0


def test_skips_label_only_models_non_torch_images_and_unlabelled_data(tabular_ctx):
    from sklearn.linear_model import LogisticRegression

    df = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "y": [0, 0, 1, 1]})
    clf = LogisticRegression().fit(df[["a"]], df["y"])
    assert RobustnessCheck().skip_reason(AuditContext(model=ModelAdapter(clf), data=load_data(df, target="y"))) is None
    labels_only = AuditContext(model=ModelAdapter(lambda X: (np.asarray(X)[:, 0] > 1.5).astype(int)), data=load_data(df, target="y"))
    assert "only returns labels" in RobustnessCheck().skip_reason(labels_only)
    images = AuditContext(model=ModelAdapter(lambda X: np.tile([0.4, 0.6], (len(X), 1))),
                          data=load_data((np.random.default_rng(0).random((4, 1, 3, 3)), np.array([0, 1, 0, 1]))))
    assert "torch" in RobustnessCheck().skip_reason(images)
    unlabeled = AuditContext(model=ModelAdapter(torch.nn.Linear(1, 2)), data=load_data((np.zeros((4, 1)), None)))
    assert "labels" in RobustnessCheck().skip_reason(unlabeled)
