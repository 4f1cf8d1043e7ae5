"""GPU parity: every check runs on CUDA and gives the CPU's numbers, within the tolerances stated below.

Run with ``make test-gpu`` on a machine with CUDA. Without CUDA every test here is skipped (``make test``
collects them too). Each audit runs on a few hundred rows, so the whole file takes about a minute.

What is compared, and why these tolerances (the first pattern of :data:`TOLERANCES` that matches a
metric name applies):

- data quality involves no model: exactly equal;
- label-based metrics (accuracy, fairness rates, their gaps): exactly equal, because the tests first
  check that CPU and CUDA predict the same class for every row (float32 logits agree to ~1e-6, far
  inside every row's margin);
- metrics computed from probabilities (AUC, log loss, calibration): rtol 1e-5;
- gradient norms: rtol 1e-4 (float32 gradients reduced in another order);
- SHAP-based metrics: rtol 1e-3 (float32 model outputs summed in another order);
- attack accuracies and success rates: within 0.02 (a row whose gradient sign flips on a last-bit
  difference may take another path); group gaps within 0.1 (one row of a 30-row group is 0.033);
- saliency deletion/insertion areas within 0.02, rank statistics within 0.05 (pixels and features
  ranked by values that differ in the last bits).

TF32 is turned off for the comparisons: it rounds convolution inputs to 10-bit mantissas, a speed
choice of the user (on by default for cuDNN convolutions), not a device bug of the audit. Random
numbers (PGD starts, SmoothGrad noise, sanity-check weights, SHAP/LIME samples) are drawn on the CPU,
so the seeds give the same draws on both devices.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
import torch

from audit import audit
from audit.models.compas import TrainedTabular, train_compas_mlp
from audit.models.digits import train_digits_cnn

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (run with make test-gpu)"),
]

#: the device under test (a dry run of this file on a CPU-only machine may set it to "cpu")
GPU = "cuda"

#: (metric-name pattern, rtol, atol, why); the first match applies; no match: exactly equal (label-based)
TOLERANCES: list[tuple[str, float, float, str]] = [
    (r"^data_quality\.", 0.0, 0.0, "no model involved"),
    (r"^explain\.shap_exact_correlation$", 0.0, 0.0, "1 by definition when the values are exact"),
    (r"^robustness\..*group_gap@", 0.0, 0.1, "one flipped row moves a 30-row group's accuracy by 0.033"),
    (r"^robustness\.", 0.0, 0.02, "a row whose gradient sign flips on last-bit differences may end elsewhere"),
    (r"rank_agreement|rank_corr", 0.0, 0.05, "ranks of values that differ in the last bits"),
    (r"^saliency\.", 0.0, 0.02, "pixel orders from maps that differ in the last bits"),
    (r"^explain\.", 1e-3, 1e-6, "float32 model outputs summed in another order"),
    (r"^gradients\.", 1e-4, 1e-7, "float32 gradients reduced in another order"),
    (r"roc_auc|log_loss|brier|ece|^calibration\.", 1e-5, 1e-7, "from probabilities that differ by ~1e-7"),
]


def tolerance(name: str) -> tuple[float, float, str]:
    for pattern, rtol, atol, why in TOLERANCES:
        if re.search(pattern, name):
            return rtol, atol, why
    return 0.0, 0.0, "label-based, and the predictions are equal"


def assert_metrics_agree(cpu, gpu) -> None:  # noqa: ANN001 - two audit Reports
    assert set(gpu.metrics) == set(cpu.metrics), set(gpu.metrics) ^ set(cpu.metrics)
    bad = []
    for name in sorted(cpu.metrics):
        a, b = cpu.metrics[name].value, gpu.metrics[name].value
        rtol, atol, why = tolerance(name)
        if not np.isclose(b, a, rtol=rtol, atol=atol, equal_nan=True):
            bad.append(f"{name}: cpu {a!r}, {GPU} {b!r} (allowed rtol {rtol:g}, atol {atol:g}: {why})")
    assert not bad, "\n".join(bad)


def assert_no_errors(report) -> None:  # noqa: ANN001
    errors = {n: s.reason for n, s in report.sections.items() if s.status == "error"}
    assert not errors, errors


def predictions(net: torch.nn.Module, x: torch.Tensor, device: str) -> np.ndarray:
    m = copy.deepcopy(net).to(device)
    with torch.no_grad():
        return m(x.to(device)).argmax(1).cpu().numpy()


@pytest.fixture(autouse=True)
def _full_float32() -> Iterator[None]:
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


# ------------------------------------------------------------------ tabular: the bundled COMPAS MLP
def compas_case() -> tuple[TrainedTabular, pd.DataFrame, dict]:
    t = train_compas_mlp(epochs=10)
    test = t.test.sample(400, random_state=0).reset_index(drop=True)
    kw = dict(target=t.target, sensitive=t.sensitive, train=t.train.sample(800, random_state=0).reset_index(drop=True),
              transform=t.transform, features=t.transform.columns_, seed=0, progress=False)
    return t, test, kw


@pytest.fixture(scope="module")
def compas() -> tuple[TrainedTabular, pd.DataFrame, dict]:
    return compas_case()


def compiled(net: torch.nn.Module, example: torch.Tensor, kind: str, path) -> torch.nn.Module:  # noqa: ANN001
    """``net`` saved and loaded back as TorchScript or as a torch.export program (what a user would ship)."""
    net = copy.deepcopy(net).cpu()
    if kind == "script":
        torch.jit.script(net).save(str(path / "m.pt"))
        return torch.jit.load(str(path / "m.pt"))
    ep = torch.export.export(net, (example,), dynamic_shapes=({0: torch.export.Dim("batch")},))
    torch.export.save(ep, str(path / "m.pt2"))
    return torch.export.load(str(path / "m.pt2")).module()


def run_tabular_parity(case: tuple[TrainedTabular, pd.DataFrame, dict], kind: str, path) -> None:  # noqa: ANN001
    t, test, kw = case
    x = t.transform(test)
    assert np.array_equal(predictions(t.model, x, GPU), predictions(t.model, x, "cpu")), "a row lies on the decision boundary"

    def model() -> torch.nn.Module:  # a fresh copy per audit: ModelAdapter moves the module it is given
        return copy.deepcopy(t.model) if kind == "eager" else compiled(t.model, x[:3], kind, path)

    cpu = audit(model(), test, device="cpu", **kw)
    gpu = audit(model(), test, device=GPU, **kw)
    assert_no_errors(cpu)
    assert_no_errors(gpu)
    assert gpu.meta["device"].startswith(GPU)
    assert gpu.sections["robustness"].status == "ok" and gpu.sections["explain"].status == "ok"
    assert_metrics_agree(cpu, gpu)


@pytest.mark.parametrize("kind", ["eager", "script", "export"])
def test_tabular_model_runs_every_check_on_cuda_like_on_cpu(compas, kind, tmp_path):
    run_tabular_parity(compas, kind, tmp_path)


def test_same_seed_same_numbers_on_cuda_tabular(compas):
    t, test, kw = compas
    a = audit(copy.deepcopy(t.model), test, device=GPU, **kw).to_dict()["metrics"]
    b = audit(copy.deepcopy(t.model), test, device=GPU, **kw).to_dict()["metrics"]
    assert a == b  # exactly: nothing random is drawn on the device, and its kernels run deterministically


# ------------------------------------------------------------------ images: the digits CNN
def digits_case() -> tuple[torch.nn.Module, tuple, dict]:
    model, X_test, y_test, X_train, y_train = train_digits_cnn(epochs=3)
    n = 200
    half = np.where(np.arange(n) % 2 == 0, "even", "odd")  # a made-up group, so group breakdowns run too
    kw = dict(sensitive=[half], train=(X_train[:300], y_train[:300]), seed=0, progress=False)
    return model, (X_test[:n], y_test[:n]), kw


@pytest.fixture(scope="module")
def digits() -> tuple[torch.nn.Module, tuple, dict]:
    return digits_case()


def run_image_parity(case: tuple[torch.nn.Module, tuple, dict]) -> None:
    model, data, kw = case
    x = torch.as_tensor(data[0])
    assert np.array_equal(predictions(model, x, GPU), predictions(model, x, "cpu")), "an image lies on the decision boundary"
    cpu = audit(copy.deepcopy(model), data, device="cpu", **kw)
    gpu = audit(copy.deepcopy(model), data, device=GPU, **kw)
    assert_no_errors(cpu)
    assert_no_errors(gpu)
    assert gpu.sections["saliency"].status == "ok" and gpu.sections["robustness"].status == "ok"
    assert_metrics_agree(cpu, gpu)


def test_image_model_runs_every_check_on_cuda_like_on_cpu(digits):
    run_image_parity(digits)


def test_same_seed_same_numbers_on_cuda_images(digits):
    model, data, kw = digits
    a = audit(copy.deepcopy(model), data, device=GPU, **kw).to_dict()["metrics"]
    b = audit(copy.deepcopy(model), data, device=GPU, **kw).to_dict()["metrics"]
    # exactly: cuDNN runs its deterministic algorithms during the audit (see audit._batching.deterministic_kernels)
    assert a == b
