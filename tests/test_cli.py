"""The CLI as a subprocess: exit codes, outputs, and errors that name the bad key."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from audit.cli import main
from audit.config import ConfigError, build_audit_kwargs, read_config

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "audit.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=300)


@pytest.mark.parametrize(("config", "code"), [("compas.toml", 0), ("compas_strict.toml", 1)])
def test_example_configs_gate_with_exit_codes(config, code, tmp_path):
    out = tmp_path / "out"
    proc = run_cli("run", str(EXAMPLES / config), "--out", str(out), "--checks", "performance,fairness", "--quiet")
    assert proc.returncode == code, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["audit.json", "junit.xml", "report.html", "summary.md"]
    data = json.loads((out / "audit.json").read_text())
    assert data["passed"] is (code == 0)
    root = ET.parse(out / "junit.xml").getroot()
    cases = {c.get("name"): c for c in root.iter("testcase")}
    gated = {f["metric"] for f in data["findings"]}
    assert set(cases) == gated and {"performance.accuracy", "fairness.demographic_parity_difference"} <= gated
    dp = data["metrics"]["fairness.demographic_parity_difference"]
    failure = cases["fairness.demographic_parity_difference"].find("failure")
    if code == 1:
        # the whole interval lies above the bound: a failure, not "inconclusive"
        assert dp["low"] > 0.1 and failure is not None
        assert f"{dp['value']:.6g}" in failure.get("message") and "<= 0.1" in failure.get("message")
        assert root.get("failures") == "1"
    else:
        assert failure is None and dp["high"] < 0.35 and data["metrics"]["performance.accuracy"]["value"] >= 0.6
        # checks left out by --checks stay silent for starter thresholds but explicit gates say so
        assert cases["calibration.ece"].find("system-out") is not None


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "audit.toml"
    p.write_text(text)
    return p


def test_cannot_run_bad_key_is_named_without_traceback(tmp_path):
    cfg = write(tmp_path, '[model]\nfactory = "audit.models.compas:load_model"\n[data]\npth = "x.csv"\ntarget = "y"\n')
    proc = run_cli("run", str(cfg), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2
    assert "config key 'data.pth' is not known" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


TINY_FACTORY = "import torch\ndef load():\n    return torch.nn.Linear(1, 2)\n"


def test_cannot_run_unknown_metric_lists_valid_names(tmp_path, capsys):
    (tmp_path / "d.csv").write_text("a,y\n1,0\n2,1\n")
    (tmp_path / "tiny_model_a.py").write_text(TINY_FACTORY)
    cfg = write(tmp_path, '[model]\nfactory = "tiny_model_a:load"\n[data]\npath = "d.csv"\ntarget = "y"\n'
                '[policy]\n"performance.acuracy" = { min = 0.5 }\n')
    code = main(["run", str(cfg), "--out", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "unknown metric 'performance.acuracy'" in err and "performance.accuracy" in err


def test_cannot_run_invalid_data_and_missing_file(tmp_path, capsys):
    (tmp_path / "d.csv").write_text("a,y\n1,0\n2,1\n")
    (tmp_path / "tiny_model_b.py").write_text(TINY_FACTORY)
    cfg = write(tmp_path, '[model]\nfactory = "tiny_model_b:load"\n[data]\npath = "d.csv"\ntarget = "label"\n')
    assert main(["run", str(cfg), "--quiet"]) == 2
    assert "target column 'label' not found in data; columns are ['a', 'y']" in capsys.readouterr().err
    cfg2 = write(tmp_path, '[model]\nfactory = "nomodule_xyz:f"\n[data]\npath = "d.csv"\ntarget = "y"\n')
    assert main(["run", str(cfg2), "--quiet"]) == 2
    assert "cannot import module 'nomodule_xyz'" in capsys.readouterr().err


def test_model_files_skops_torchscript_and_pickle_refusal(tmp_path):
    import joblib
    import skops.io as sio

    df = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0], "y": [0, 0, 1, 1]})
    df.to_csv(tmp_path / "d.csv", index=False)
    clf = LogisticRegression().fit(df[["a", "b"]], df["y"])
    sio.dump(clf, tmp_path / "m.skops")
    joblib.dump(clf, tmp_path / "m.pkl")
    torch.jit.script(torch.nn.Linear(2, 2)).save(str(tmp_path / "m.pt"))
    for name, trust in (("m.skops", ""), ("m.pt", "trust_code = true\n")):  # TorchScript is code: trusted by name
        cfg = read_config(write(tmp_path, f'[model]\npath = "{name}"\n{trust}[data]\npath = "d.csv"\ntarget = "y"\n'))
        kw = build_audit_kwargs(cfg)
        assert kw["data"].shape == (4, 3)
        if name == "m.skops":
            assert (kw["model"].predict_proba(df[["a", "b"]]) == clf.predict_proba(df[["a", "b"]])).all()
    cfg = read_config(write(tmp_path, '[model]\npath = "m.pkl"\n[data]\npath = "d.csv"\ntarget = "y"\n'))
    with pytest.raises(ConfigError, match="pickle, which runs arbitrary code.*trust_code = true"):
        build_audit_kwargs(cfg)
    cfg = read_config(write(tmp_path, '[model]\npath = "m.pkl"\ntrust_pickle = true\n[data]\npath = "d.csv"\ntarget = "y"\n'))
    assert build_audit_kwargs(cfg)["model"].coef_.tolist() == clf.coef_.tolist()


def test_config_errors_name_the_key(tmp_path):
    cases = {
        '[modle]\nfactory = "a:b"\n': "unknown table [modle]",
        '[data]\npath = "d.csv"\ntarget = "y"\n': "needs a [model] table",
        '[model]\nfactory = "a:b"\npath = "m.pt"\n[data]\npath = "d.csv"\ntarget = "y"\n': "exactly one of 'model.factory', 'model.path', or stored predictions",
        '[model]\nfactory = "a:b"\n[data]\npath = "d.csv"\n': "'data.target' is missing",
        '[model]\nfactory = "a:b"\n[data]\npath = "d.csv"\ntarget = "y"\nsensitive = 3\n': "'data.sensitive' must be a list",
        '[model]\nfactory = "a:b"\n[data]\npath = "d.csv"\ntarget = "y"\n[audit]\nsed = 1\n': "'audit.sed' is not known",
    }
    for text, msg in cases.items():
        with pytest.raises(ConfigError, match=msg.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")):
            read_config(write(tmp_path, text))


def test_checks_command_lists_metric_names(capsys):
    assert main(["checks"]) == 0
    out = capsys.readouterr().out
    assert "performance.accuracy" in out and "performance.train_test_gap.accuracy" in out


def test_metric_reference_doc_is_in_sync():
    from audit.cli import metric_reference_markdown

    doc = Path(__file__).resolve().parents[1] / "docs" / "metrics.md"
    assert doc.read_text().strip() == metric_reference_markdown().strip(), (
        "docs/metrics.md is stale: run `audit checks --markdown > docs/metrics.md`"
    )


GROUPED_FACTORY = """import pandas as pd
from sklearn.linear_model import LogisticRegression

def load():
    df = pd.read_csv(__file__.rsplit('/', 1)[0] + '/d.csv')
    return LogisticRegression().fit(df[['a', 'b']], df['y'])
"""


def _grouped_csv(tmp_path: Path) -> pd.DataFrame:
    import numpy as np

    rng = np.random.default_rng(0)
    n = 400
    a, b = rng.normal(size=n), rng.normal(size=n)
    y = (a + 0.5 * b + rng.normal(scale=0.7, size=n) > 0).astype(int)
    df = pd.DataFrame({"a": a, "b": b, "g": np.where(rng.random(n) < 0.5, "p", "q"), "y": y})
    df.to_csv(tmp_path / "d.csv", index=False)
    return df


def test_baseline_regression_gates_and_fail_on_warn(tmp_path):
    """A regression against a baseline audit.json fails the gate with the delta in JUnit and Markdown;
    a warning passes unless --fail-on warn."""
    df = _grouped_csv(tmp_path)
    (tmp_path / "grouped_model.py").write_text(GROUPED_FACTORY)
    head = '[model]\nfactory = "grouped_model:load"\n[data]\npath = "d.csv"\ntarget = "y"\nsensitive = ["g"]\n'
    cfg = write(tmp_path, head + '[policy]\n"performance.accuracy" = { max_decrease = 0.01 }\n')
    # in-process (the subprocess path is covered above): five runs in well under the time of five interpreters
    first = main(["run", str(cfg), "--out", str(tmp_path / "first"), "--checks", "performance", "--quiet"])
    # No baseline: a bound on change alone has nothing to compare against and must not fail.
    assert first == 0
    saved = json.loads((tmp_path / "first" / "audit.json").read_text())
    assert "change bound was not checked" in saved["findings"][0]["message"]
    acc = saved["metrics"]["performance.accuracy"]["value"]
    ref = LogisticRegression().fit(df[["a", "b"]], df["y"]).score(df[["a", "b"]], df["y"])
    assert acc == pytest.approx(ref)

    # Pretend the last release was 0.05 more accurate: a 0.05 drop breaks max_decrease = 0.01.
    saved["metrics"]["performance.accuracy"]["value"] = acc + 0.05
    base = tmp_path / "last-release.json"
    base.write_text(json.dumps(saved))
    again = main(["run", str(cfg), "--out", str(tmp_path / "second"), "--checks", "performance",
                  "--baseline", str(base), "--quiet"])
    assert again == 1
    case = next(c for c in ET.parse(tmp_path / "second" / "junit.xml").getroot().iter("testcase")
                if c.get("name") == "performance.accuracy")
    failure = case.find("failure")
    assert f"baseline {acc + 0.05:.6g}" in failure.get("message") and "decreased by -0.05" in failure.text
    md = (tmp_path / "second" / "summary.md").read_text()
    assert "baseline" in md and "-0.05" in md
    assert "<th>baseline</th>" in (tmp_path / "second" / "report.html").read_text()

    # A small regression within the allowance passes.
    saved["metrics"]["performance.accuracy"]["value"] = acc + 0.005
    base.write_text(json.dumps(saved))
    assert main(["run", str(cfg), "--out", str(tmp_path / "third"), "--checks", "performance",
                 "--baseline", str(base), "--quiet"]) == 0

    # A broken warn-level gate: exit 0 by default, 1 with --fail-on warn.
    warn_cfg = write(tmp_path, head + '[policy]\n"performance.accuracy" = { min = 0.999, severity = "warn" }\n')
    assert main(["run", str(warn_cfg), "--out", str(tmp_path / "w1"), "--checks", "performance", "--quiet"]) == 0
    assert main(["run", str(warn_cfg), "--out", str(tmp_path / "w2"), "--checks", "performance",
                 "--fail-on", "warn", "--quiet"]) == 1


def test_python_dash_m_audit_is_the_console_script():
    proc = subprocess.run([sys.executable, "-m", "audit", "checks"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "performance.accuracy" in proc.stdout and "robustness.random_search.linf" in proc.stdout


def test_adult_config_gates_a_pipeline_with_the_black_box_attack(tmp_path):
    out = tmp_path / "adult"
    code = main(["run", str(EXAMPLES / "adult.toml"), "--out", str(out), "--checks", "performance,fairness,robustness", "--quiet"])
    assert code == 1
    data = json.loads((out / "audit.json").read_text())
    status = {f["metric"]: f["status"] for f in data["findings"]}
    assert status == {"performance.accuracy": "pass", "performance.roc_auc": "pass",
                      "robustness.random_search.linf.accuracy@0.1": "pass", "fairness.demographic_parity_difference": "fail"}
    rob = data["metrics"]["robustness.random_search.linf.accuracy@0.1"]
    assert rob["low"] <= rob["value"] <= rob["high"] < data["metrics"]["performance.accuracy"]["value"]


def test_parquet_data_torch_export_model_check_settings_and_transform_factory(tmp_path, monkeypatch, capsys):
    """The config's other sources: a Parquet file, a torch.export (.pt2) program, a transform factory,
    and [checks.<name>] tables that configure one check."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.normal(size=80), "b": rng.normal(size=80), "g": rng.choice(["p", "q"], 80)})
    df["y"] = (df["a"] > 0).astype(int)
    df.to_parquet(tmp_path / "d.parquet")
    net = torch.nn.Linear(2, 2)
    batch = {"input": {0: torch.export.Dim("batch")}}
    torch.export.save(torch.export.export(net, (torch.zeros(3, 2),), dynamic_shapes=batch), str(tmp_path / "m.pt2"))
    (tmp_path / "enc_mod.py").write_text(
        "import torch\n"
        "def make():\n"
        "    return lambda df: torch.as_tensor(df[['a', 'b']].to_numpy(), dtype=torch.float32)\n"
    )
    cfg = read_config(write(tmp_path, '[model]\npath = "m.pt2"\ntrust_code = true\ntransform = "enc_mod:make"\n'
                                      '[data]\npath = "d.parquet"\ntarget = "y"\nsensitive = ["g"]\n'
                                      '[checks.fairness]\nn_boot = 50\nmin_group_size = 5\n'))
    kw = build_audit_kwargs(cfg)
    pd.testing.assert_frame_equal(kw["data"], df)
    x = torch.as_tensor(df[["a", "b"]].to_numpy(), dtype=torch.float32)
    torch.testing.assert_close(kw["model"](x), net(x))
    torch.testing.assert_close(kw["transform"](df), x)
    fair = [c for c in kw["checks"] if getattr(c, "name", None) == "fairness"]
    assert len(fair) == 1 and fair[0].n_boot == 50
    bad = read_config(write(tmp_path, '[model]\npath = "m.pt2"\ntrust_code = true\n[data]\npath = "d.parquet"\ntarget = "y"\n'
                                      '[checks.fairness]\nn_bot = 50\n'))
    with pytest.raises(ConfigError, match=r"\[checks.fairness\].*n_bot"):
        build_audit_kwargs(bad)
    # a program exported with a fixed batch size gets a message that says how to export it
    torch.export.save(torch.export.export(net, (torch.zeros(3, 2),)), str(tmp_path / "fixed.pt2"))
    fixed = write(tmp_path, '[model]\npath = "fixed.pt2"\ntrust_code = true\ntransform = "enc_mod:make"\n'
                            '[data]\npath = "d.parquet"\ntarget = "y"\n')
    capsys.readouterr()
    assert main(["run", str(fixed), "--out", str(tmp_path / "o"), "--quiet", "--checks", "performance"]) == 2
    assert "fixed batch size: export it with dynamic_shapes=" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as on a machine without the optional extra
    with pytest.raises(ConfigError, match=r"needs pyarrow; install it with pip install 'audit\[parquet\]'"):
        build_audit_kwargs(cfg)
