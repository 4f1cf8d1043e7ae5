"""Epsilon sweep: monotone, same fooled sets as separate attacks, attacks only rows still standing."""

from __future__ import annotations

import numpy as np
import pytest

from audit.errors import AuditInputError
from audit.robustness import fgsm, pgd, robustness_curve

EPS = [0.02, 0.06, 0.12, 0.25]


@pytest.mark.parametrize("attack", ["pgd", "fgsm"])
def test_sweep_matches_separate_attacks(mlp, blobs, attack):
    x, y = blobs
    curve = robustness_curve(mlp, x, y, EPS, attack=attack, steps=8, bounds=(0, 1), seed=3, device="cpu")
    fooled_before = np.zeros(len(y), dtype=bool)
    for e, r in zip(EPS, curve.results):
        if attack == "pgd":
            sep = pgd(mlp, x, y, e, steps=8, bounds=(0, 1), seed=3, device="cpu")
        else:
            sep = fgsm(mlp, x, y, e, bounds=(0, 1), device="cpu")
        # a row is fooled at eps iff a separate attack fooled it at this eps or a smaller one
        fooled_before |= sep.success
        assert np.array_equal(r.success, fooled_before), e
        assert float(r.perturbation.max()) <= e * (1 + 1e-9)
    acc = curve.table["robust_accuracy"].to_numpy()
    assert np.all(np.diff(acc) <= 0) and acc[-1] < acc[0]
    np.testing.assert_allclose(acc, [np.mean(~r.success) for r in curve.results])


def test_sweep_only_attacks_rows_still_standing(mlp, blobs):
    x, y = blobs
    curve = robustness_curve(mlp, x, y, EPS, steps=5, device="cpu")
    n_att = curve.table["n_attacked"].tolist()
    assert n_att[0] == len(y)
    for j in range(1, len(EPS)):
        prev = curve.results[j - 1]
        assert n_att[j] == int(np.sum(prev.pred_adv == y.numpy()))
    assert sum(n_att) < len(EPS) * len(y)


def test_eps_are_sorted_and_deduplicated_and_looked_up(mlp, blobs):
    x, y = blobs
    curve = robustness_curve(mlp, x, y, [0.1, 0.05, 0.1], attack="fgsm", device="cpu")
    assert curve.eps == [0.05, 0.1]
    assert curve.result(0.1).eps == 0.1
    with pytest.raises(KeyError, match="was not swept"):
        curve.result(0.3)
    with pytest.raises(AuditInputError, match="eps_list must be a non-empty sequence"):
        robustness_curve(mlp, x, y, [], device="cpu")
    with pytest.raises(AuditInputError, match="attack must be 'pgd' or 'fgsm'"):
        robustness_curve(mlp, x, y, [0.1], attack="cw", device="cpu")
