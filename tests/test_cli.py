"""The CLI as a subprocess: exit codes, outputs, and errors that name the bad key."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

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
    proc = run_cli("run", str(EXAMPLES / config), "--out", str(out), "--checks", "performance", "--quiet")
    assert proc.returncode == code, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["audit.json", "junit.xml", "report.html", "summary.md"]
    data = json.loads((out / "audit.json").read_text())
    assert data["passed"] is (code == 0)
    root = ET.parse(out / "junit.xml").getroot()
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert set(cases) == {f["metric"] for f in data["findings"]}
    acc = data["metrics"]["performance.accuracy"]["value"]
    failure = cases["performance.accuracy"].find("failure")
    if code == 1:
        assert failure is not None and f"{acc:.6g}" in failure.get("message") and ">= 0.9" in failure.get("message")
    else:
        assert failure is None and acc >= 0.6


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
    for name in ("m.skops", "m.pt"):
        cfg = read_config(write(tmp_path, f'[model]\npath = "{name}"\n[data]\npath = "d.csv"\ntarget = "y"\n'))
        kw = build_audit_kwargs(cfg)
        assert kw["data"].shape == (4, 3)
        if name == "m.skops":
            assert (kw["model"].predict_proba(df[["a", "b"]]) == clf.predict_proba(df[["a", "b"]])).all()
    cfg = read_config(write(tmp_path, '[model]\npath = "m.pkl"\n[data]\npath = "d.csv"\ntarget = "y"\n'))
    with pytest.raises(ConfigError, match="pickle, which runs arbitrary code.*trust_pickle = true"):
        build_audit_kwargs(cfg)
    cfg = read_config(write(tmp_path, '[model]\npath = "m.pkl"\ntrust_pickle = true\n[data]\npath = "d.csv"\ntarget = "y"\n'))
    assert build_audit_kwargs(cfg)["model"].coef_.tolist() == clf.coef_.tolist()


def test_config_errors_name_the_key(tmp_path):
    cases = {
        '[modle]\nfactory = "a:b"\n': "unknown table [modle]",
        '[data]\npath = "d.csv"\ntarget = "y"\n': "needs a [model] table",
        '[model]\nfactory = "a:b"\npath = "m.pt"\n[data]\npath = "d.csv"\ntarget = "y"\n': "exactly one of 'model.factory' or 'model.path'",
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
