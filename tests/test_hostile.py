"""Hostile input (README, "What the gate guarantees under hostile input"): model files that are code load only
when trusted, code that exits or hangs never ends the gate with exit 0, and errors stay one line on stderr."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from audit import audit
from audit.cli import main
from audit.config import ConfigError, build_audit_kwargs, import_object, read_config

N = 200


def write(tmp_path: Path, text: str, name: str = "audit.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """``audit`` in a process of its own: what reaches its real stderr, and exits that would end pytest."""
    return subprocess.run([sys.executable, "-m", "audit.cli", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def frame(tmp_path) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.normal(size=N), "b": rng.normal(size=N), "g": rng.choice(["p", "q"], N)})
    df["y"] = (df["a"] + 0.5 * df["b"] + rng.normal(scale=0.5, size=N) > 0).astype(int)
    df.to_csv(tmp_path / "d.csv", index=False)
    return df


#: a model factory module; MODE picks how the model misbehaves once the audit calls it on rows other than the data
#: (N rows) or the repeat of its first 64 rows, i.e. inside a check
FACTORY = """import sys
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

MODE = {mode!r}

class Model:
    def __init__(self):
        df = pd.read_csv(__file__.rsplit('/', 1)[0] + '/d.csv')
        self.m = LogisticRegression().fit(df[['a', 'b']], df['y'])
        self.classes_, self.feature_names_in_ = self.m.classes_, self.m.feature_names_in_
        self.calls = 0

    def predict_proba(self, X):
        self.calls += 1
        in_check = len(X) not in ({n}, 64)
        if MODE == 'exit_in_check' and in_check:
            raise SystemExit(0)
        if MODE == 'exit_at_once':
            sys.exit(0)
        if MODE == 'raise_in_check' and in_check:
            raise ValueError('broken in a check')
        if MODE == 'raise_in_partition' and len(X) == {n} // 2:
            raise ValueError('broken on a worker')
        if MODE == 'loop_in_check' and in_check:
            while True:
                pass
        p = self.m.predict_proba(X)
        if MODE == 'drift':  # each call moves the scores by 0.01: the same rows get other scores
            q = p[:, 1] * 0.9 + 0.01 * self.calls
            p = np.column_stack([1 - q, q])
        return p

def load():
    if MODE == 'factory_exit':
        sys.exit(0)
    return Model()

def blocking_data():
    import os
    fifo = __file__.rsplit('/', 1)[0] + '/never-written.csv'
    os.mkfifo(fifo)
    return pd.read_csv(fifo)  # blocks until someone writes: never
"""


def factory(tmp_path: Path, mode: str) -> str:
    """Write the factory module under a name of its own (modules are cached by name) and return the name."""
    name = f"hostile_{mode}_{abs(hash(str(tmp_path))) % 10**8}"
    (tmp_path / f"{name}.py").write_text(FACTORY.format(mode=mode, n=N))
    return name


def config(tmp_path: Path, mode: str, extra: str = "", checks: str = "performance,explain") -> Path:
    return write(tmp_path, f'[model]\nfactory = "{factory(tmp_path, mode)}:load"\n[data]\npath = "d.csv"\n'
                           f'target = "y"\nsensitive = ["g"]\n[audit]\nchecks = "{checks}"\n{extra}')


# ----------------------------------------------------------------------------- 1. model files that are code
class _Writer(torch.nn.Module):
    """A TorchScript model whose forward overwrites a file of its choosing (``aten::from_file`` maps it shared)."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self.linear = torch.nn.Linear(2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = torch.from_file(self.path, shared=True, size=8, dtype=torch.uint8)
        t.fill_(65)  # "AAAAAAAA"
        return self.linear(x) + t[:1].float().sum() * 0


def test_torchscript_that_writes_files_loads_only_with_trust_code(tmp_path, frame, capsys):
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched\n")
    torch.jit.script(_Writer(str(victim))).save(str(tmp_path / "m.pt"))
    cfg = write(tmp_path, '[model]\npath = "m.pt"\n[data]\npath = "d.csv"\ntarget = "y"\nfeatures = ["a", "b"]\n')
    assert main(["run", str(cfg), "--out", str(tmp_path / "o"), "--quiet", "--checks", "performance"]) == 2
    err = capsys.readouterr().err
    assert "m.pt is a TorchScript program or a pickled torch model, which runs arbitrary code" in err
    assert "trust_code = true" in err and len(err.strip().splitlines()) == 1
    assert victim.read_text() == "untouched\n" and not (tmp_path / "o").exists()
    # the payload is real: a user who trusts the file runs it (the older name trust_pickle means the same)
    for key in ("trust_code", "trust_pickle"):
        victim.write_text("untouched\n")
        trusted = write(tmp_path, f'[model]\npath = "m.pt"\n{key} = true\n[data]\npath = "d.csv"\ntarget = "y"\n'
                                  'features = ["a", "b"]\n')
        assert main(["run", str(trusted), "--out", str(tmp_path / key), "--quiet", "--checks", "performance"]) in (0, 1)
        assert victim.read_text().startswith("AAAAAAAA")
    both = write(tmp_path, '[model]\npath = "m.pt"\ntrust_code = true\ntrust_pickle = false\n[data]\npath = "d.csv"\n'
                           'target = "y"\n')
    with pytest.raises(ConfigError, match="'model.trust_code' and 'model.trust_pickle' disagree"):
        read_config(both)


class _Tripwire:
    """Unpickling this object creates a file: proof that loading ran code."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _pt2_with_sample_inputs(tmp_path: Path, name: str, payload: bytes) -> Path:
    """A valid torch.export archive whose sample-inputs entry is replaced by ``payload``."""
    net = torch.nn.Linear(2, 2)
    ep = torch.export.export(net, (torch.zeros(3, 2),), dynamic_shapes={"input": {0: torch.export.Dim("batch")}})
    torch.export.save(ep, str(tmp_path / "clean.pt2"))
    out = tmp_path / name
    with zipfile.ZipFile(tmp_path / "clean.pt2") as src, zipfile.ZipFile(out, "w") as dst:
        entries = [i.filename for i in src.infolist()]
        assert any(e.endswith("sample_inputs/model.pt") for e in entries), entries
        for info in src.infolist():
            data = payload if info.filename.endswith("sample_inputs/model.pt") else src.read(info.filename)
            dst.writestr(info, data)
    return out


def test_pt2_whose_sample_inputs_are_a_pickle_loads_only_with_trust_code(tmp_path, frame, capsys):
    marker = tmp_path / "code-ran"
    _pt2_with_sample_inputs(tmp_path, "evil.pt2", pickle.dumps(_Tripwire(str(marker))))
    cfg = write(tmp_path, '[model]\npath = "evil.pt2"\n[data]\npath = "d.csv"\ntarget = "y"\n')
    assert main(["run", str(cfg), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "evil.pt2 is a torch.export program, which runs arbitrary code" in err and "trust_code = true" in err
    assert not marker.exists()
    # the payload is real: torch.export.load falls back to torch.load(weights_only=False) and runs it
    trusted = write(tmp_path, '[model]\npath = "evil.pt2"\ntrust_code = true\n[data]\npath = "d.csv"\ntarget = "y"\n')
    with pytest.raises(ConfigError, match="cannot load evil.pt2"):
        build_audit_kwargs(read_config(trusted))
    assert marker.exists()


def test_a_torch_file_that_does_not_load_is_one_line_on_stderr(tmp_path, frame):
    """torch.export logs the traceback of each reader it tried (44 lines); the gate prints one."""
    import datetime

    _pt2_with_sample_inputs(tmp_path, "odd.pt2", pickle.dumps(datetime.date(2020, 1, 1)))  # no tensor, no code
    cfg = write(tmp_path, '[model]\npath = "odd.pt2"\ntrust_code = true\n[data]\npath = "d.csv"\ntarget = "y"\n')
    proc = run_cli("run", str(cfg), "--out", str(tmp_path / "o"), "--quiet")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()], proc.stderr[:2000]
    assert proc.stderr.startswith("audit: error: ConfigError: config key 'model.path': cannot load odd.pt2")


def test_model_files_that_are_data_load_without_a_trust_flag(tmp_path, frame):
    """XGBoost's JSON and LightGBM's text model files hold trees, not code: they load as they are and predict
    what the model they were saved from predicts."""
    xgboost = pytest.importorskip("xgboost")
    lightgbm = pytest.importorskip("lightgbm")
    X, y = frame[["a", "b"]], frame["y"]
    xgb = xgboost.XGBClassifier(n_estimators=5, max_depth=2).fit(X, y)
    xgb.get_booster().save_model(str(tmp_path / "m.json"))
    lgb = lightgbm.LGBMClassifier(n_estimators=5, verbose=-1).fit(X, y)
    lgb.booster_.save_model(str(tmp_path / "m.txt"))
    for name, ref in (("m.json", xgb.predict_proba(X)[:, 1]), ("m.txt", lgb.predict_proba(X)[:, 1])):
        cfg = read_config(write(tmp_path, f'[model]\npath = "{name}"\n[data]\npath = "d.csv"\ntarget = "y"\n'))
        report = audit(build_audit_kwargs(cfg)["model"], frame, target="y", features=["a", "b"],
                       checks=["performance"], progress=False)
        assert report.sections["performance"].status == "ok", name
        got = report.meta["repeatability"]
        assert got["max_abs_difference"] == 0.0
        booster = build_audit_kwargs(cfg)["model"]
        p = booster.predict(xgboost.DMatrix(X) if name == "m.json" else X)
        np.testing.assert_allclose(p, ref, rtol=1e-6, atol=1e-7)


# ----------------------------------------------------------------------------- 2. the gate never fails open
def test_sys_exit_in_a_factory_is_exit_2(tmp_path, frame, capsys):
    assert main(["run", str(config(tmp_path, "factory_exit")), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "config key 'model.factory': the factory called sys.exit(0)" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_sys_exit_while_predicting_before_any_check_is_exit_2(tmp_path, frame, capsys):
    assert main(["run", str(config(tmp_path, "exit_at_once")), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("audit: error: SystemExit: code the audit ran (the model, a factory or a transform) called "
                          "sys.exit(0) before a verdict was written") and len(err.strip().splitlines()) == 1


def test_sys_exit_in_a_check_is_an_error_section_and_fails_the_gate(tmp_path, frame):
    """In a process of its own: before, SystemExit(0) in predict_proba ended the run with exit 0 and no outputs."""
    out = tmp_path / "o"
    proc = run_cli("run", str(config(tmp_path, "exit_in_check")), "--out", str(out), "--quiet")
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == ""  # the reason is in the report; no traceback on stderr (--debug shows it)
    data = json.loads((out / "audit.json").read_text())
    assert data["passed"] is False and data["sections"]["performance"]["status"] == "ok"
    assert data["sections"]["explain"]["status"] == "error"
    assert "SystemExit: the model or the check called sys.exit(0)" in data["sections"]["explain"]["reason"]


def test_a_check_that_raises_leaves_no_traceback_on_stderr(tmp_path, frame):
    proc = run_cli("run", str(config(tmp_path, "raise_in_check")), "--out", str(tmp_path / "o"), "--quiet")
    assert proc.returncode == 1 and proc.stderr == "", proc.stderr[:2000]
    reason = json.loads((tmp_path / "o" / "audit.json").read_text())["sections"]["explain"]["reason"]
    assert "ValueError" in reason and "broken in a check" in reason


@pytest.mark.parametrize(("bound", "value"), [("min", "nan"), ("max", "nan"), ("max_decrease", "nan"),
                                              ("max_increase", "inf"), ("max", "-inf")])
def test_a_bound_that_is_not_finite_is_refused(tmp_path, frame, capsys, bound, value):
    cfg = write(tmp_path, f'[model]\nfactory = "{factory(tmp_path, "fine")}:load"\n[data]\npath = "d.csv"\n'
                          f'target = "y"\n[policy]\n"performance.accuracy" = {{ {bound} = {value} }}\n')
    assert main(["run", str(cfg), "--out", str(tmp_path / "o"), "--quiet", "--checks", "performance"]) == 2
    err = capsys.readouterr().err
    assert f"policy['performance.accuracy'].{bound} must be a finite number, got {float(value)!r}" in err
    assert not (tmp_path / "o").exists()


def test_a_failing_verdict_is_not_exit_0_when_stdout_is_closed(tmp_path, frame):
    """`audit run ... | head -0`: the reader left before the summary was printed; the verdict still decides."""
    cfg = write(tmp_path, f'[model]\nfactory = "{factory(tmp_path, "fine")}:load"\n[data]\npath = "d.csv"\n'
                          'target = "y"\n[policy]\n"performance.accuracy" = { min = 0.999 }\n')
    proc = subprocess.Popen([sys.executable, "-m", "audit.cli", "run", str(cfg), "--out", str(tmp_path / "o"),
                             "--checks", "performance"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before anything is printed
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err.decode()[-2000:]
    assert json.loads((tmp_path / "o" / "audit.json").read_text())["passed"] is False


def test_a_model_that_scores_the_same_rows_differently_is_reported(tmp_path, frame):
    """The audit predicts the first 64 rows again; a model whose scores moved by 0.01 between the calls gets a
    model.repeatability warning with that difference (blocking under fail_on='warn'), a deterministic one none."""
    sys.path.append(str(tmp_path))
    try:
        drift = import_object(f"{factory(tmp_path, 'drift')}:load", "model.factory", tmp_path)()
        fine = import_object(f"{factory(tmp_path, 'fine')}:load", "model.factory", tmp_path)()
    finally:
        sys.path.remove(str(tmp_path))
    kw = dict(target="y", features=["a", "b"], checks=["performance"], progress=False)
    report = audit(drift, frame, **kw)
    (f,) = [f for f in report.findings if f.metric == "model.repeatability"]
    # call 1 scored every row with +0.01, call 2 the first 64 with +0.02: 0.01 apart, as computed by hand
    assert f.status == "warn" and f.passed and f.value == pytest.approx(0.01, abs=1e-12)
    assert "different scores for the same rows" in f.message and "first 64 rows" in f.message
    assert report.meta["repeatability"]["rows"] == 64
    strict = audit(drift, frame, policy={"fail_on": "warn"}, **kw)
    assert not strict.passed
    steady = audit(fine, frame, **kw)
    assert not [f for f in steady.findings if f.metric == "model.repeatability"]
    assert steady.meta["repeatability"]["max_abs_difference"] == 0.0


# ----------------------------------------------------------------------------- 7. hangs and noise
def test_a_looping_model_ends_at_the_time_budget_with_the_finished_checks(tmp_path, frame):
    out = tmp_path / "o"
    started = time.monotonic()
    cfg = config(tmp_path, "loop_in_check", checks="performance,explain,calibration")
    proc = run_cli("run", str(cfg), "--out", str(out), "--quiet", "--timeout", "20", timeout=240)
    assert proc.returncode == 2
    assert time.monotonic() - started < 200
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("audit: error: TimeoutError: the time budget of 20 s (--timeout) ran out during check "
                           "'explain'; wrote the 1 finished check(s) (performance)"), line
    data = json.loads((out / "audit.json").read_text())
    assert data["passed"] is False and "ran out during check 'explain'" in data["meta"]["timed_out"]
    status = {k: s["status"] for k, s in data["sections"].items()}
    assert status == {"performance": "ok", "explain": "error", "calibration": "error"}
    assert data["sections"]["calibration"]["reason"].startswith("the check did not finish: the time budget of 20 s")
    assert (out / "junit.xml").is_file() and (out / "report.html").is_file()


def test_a_blocked_data_read_ends_at_the_config_time_budget(tmp_path, frame):
    name = factory(tmp_path, "fine")
    cfg = write(tmp_path, f'[model]\nfactory = "{name}:load"\n[data]\nfactory = "{name}:blocking_data"\n'
                          'target = "y"\n[audit]\ntimeout = 5\n')
    proc = run_cli("run", str(cfg), "--out", str(tmp_path / "o"), "--quiet", timeout=240)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("audit: error: TimeoutError: the time budget of 5 s ([audit] timeout) ran out during "
                                   "reading the data ([data]); no check had finished; nothing was written")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(("text", "message"), [
    ('timeout = "30"', "'audit.timeout' must be a positive number of seconds, got '30' (a string)"),
    ("timeout = 0", "'audit.timeout' must be a positive number of seconds, got 0"),
    ("timeout = nan", "'audit.timeout' must be a positive number of seconds, got nan"),
])
def test_the_time_budget_is_a_positive_number_of_seconds(tmp_path, capsys, text, message):
    cfg = write(tmp_path, f'[model]\nfactory = "a:b"\n[data]\npath = "d.csv"\ntarget = "y"\n[audit]\n{text}\n')
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_config(cfg)
    with pytest.raises(SystemExit):
        main(["run", str(cfg), "--timeout", "-1"])
    assert "--timeout: must be a positive number of seconds, got '-1'" in capsys.readouterr().err


def test_a_fifo_as_the_data_path_is_refused_before_reading(tmp_path, frame):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)

    def writer() -> None:  # unblocks a reader within 10 s, so code that opens the FIFO does not hang the suite
        end = time.monotonic() + 10
        while time.monotonic() < end:
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:  # no reader yet
                time.sleep(0.05)
                continue
            os.set_blocking(fd, True)
            with os.fdopen(fd, "w") as fh:
                fh.write(frame.to_csv(index=False))
            return

    threading.Thread(target=writer, daemon=True).start()
    name = factory(tmp_path, "fine")
    cfg = read_config(write(tmp_path, f'[model]\nfactory = "{name}:load"\n[data]\npath = "pipe.csv"\ntarget = "y"\n'))
    with pytest.raises(ConfigError, match=r"config key 'data.path': '.*pipe\.csv' is a FIFO \(named pipe\), not a "
                                          r"regular file"):
        build_audit_kwargs(cfg)


def test_a_project_module_named_like_a_library_does_not_replace_it(tmp_path, monkeypatch):
    """The config's folder is searched after the installed packages: a project's lime.py leaves lime alone."""
    import importlib.util

    pytest.importorskip("lime")
    (tmp_path / "lime.py").write_text("def load():\n    return 'the project lime'\n")
    (tmp_path / "hostile_lime_factory.py").write_text("def load():\n    return 'factory'\n")
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "lime", raising=False)
    assert import_object("hostile_lime_factory:load", "model.factory", tmp_path)() == "factory"
    origin = Path(importlib.util.find_spec("lime").origin)
    assert tmp_path not in origin.parents, origin
    # a factory that names the shadowed module is told why it is not found
    with pytest.raises(ConfigError, match=r"installed module 'lime' at .* comes before the project's 'lime'"):
        import_object("lime:load", "model.factory", tmp_path)


def test_dask_worker_errors_are_one_line_on_stderr(tmp_path, frame):
    """A model that raises on a LocalCluster worker: exit 2, one line; the workers' 'Compute Failed' tracebacks
    stay in the workers (--debug shows them)."""
    pytest.importorskip("distributed")
    (tmp_path / "parts").mkdir()
    for i in range(2):
        frame.iloc[i * (N // 2):(i + 1) * (N // 2)].to_parquet(tmp_path / "parts" / f"part-{i}.parquet")
    name = factory(tmp_path, "raise_in_partition")
    cfg = write(tmp_path, f'[model]\nfactory = "{name}:load"\n[data]\npath = "parts/*.parquet"\ntarget = "y"\n'
                          '[engine]\nscheduler = "local"\nworkers = 1\n[audit]\nchecks = ["performance"]\n')
    proc = run_cli("run", str(cfg), "--out", str(tmp_path / "o"), "--quiet")
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("audit: error: ModelCallError: model raised ValueError while predicting on partition")
    assert "broken on a worker" in line


def test_a_dask_audit_keeps_the_repeatability_warning_of_its_sampled_checks(frame):
    """The Dask engine re-evaluates the policy over the merged sections; the warning a sampled audit found is kept,
    once, as the in-memory audit reports it."""
    from audit import Policy
    from audit._api import _repeat_finding
    from audit.engines.dask import _merge
    from audit.model import ModelAdapter
    from audit.report import Report

    policy = Policy({})
    warned = Report(sections={}, findings=[_repeat_finding(64, 0.01, policy)], policy=policy, meta={"model": "m"})
    parts = [Report(sections={}, findings=[], policy=policy, meta={"model": "m"}), warned, warned]
    adapter = ModelAdapter(LogisticRegression().fit(frame[["a", "b"]], frame["y"]))
    merged = _merge(parts, adapter, n_rows=N, how="all rows", seconds=0.0)
    (f,) = merged.findings
    assert f.metric == "model.repeatability" and f.value == 0.01 and f.status == "warn"
