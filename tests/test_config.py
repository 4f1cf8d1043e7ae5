"""Config loading: every key has its type checked before anything is loaded, booleans are real booleans,
and model files load no code that neither skops nor the user trusts."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from audit.cli import main
from audit.config import ConfigError, build_audit_kwargs, read_config


def write(tmp_path, text: str, name: str = "audit.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


class _Tripwire:
    """Unpickling this object creates a file: proof that loading ran code."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.fixture
def frame(tmp_path) -> pd.DataFrame:
    df = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0], "b": [1.0, 0.0, 1.0, 0.0, 1.0, 0.0], "y": [0, 0, 0, 1, 1, 1]})
    df.to_csv(tmp_path / "d.csv", index=False)
    return df


@pytest.mark.parametrize("value", ['"no"', '"false"', '"0"', "1", "0", '"true"'])
def test_trust_pickle_takes_only_a_real_boolean(tmp_path, frame, capsys, value):
    marker = tmp_path / "code-ran"
    (tmp_path / "m.pkl").write_bytes(pickle.dumps(_Tripwire(str(marker))))
    cfg = write(tmp_path, f'[model]\npath = "m.pkl"\ntrust_pickle = {value}\n[data]\npath = "d.csv"\ntarget = "y"\n')
    with pytest.raises(ConfigError, match=r"'model\.trust_pickle' must be true or false \(a TOML boolean, without quotes\)"):
        read_config(cfg)
    assert main(["run", str(cfg), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "model.trust_pickle" in err and "write e.g. trust_pickle = false" in err
    assert not marker.exists(), "the untrusted pickle was loaded"
    # the real boolean false still refuses the pickle, naming the fix
    ok = write(tmp_path, '[model]\npath = "m.pkl"\ntrust_pickle = false\n[data]\npath = "d.csv"\ntarget = "y"\n')
    with pytest.raises(ConfigError, match="pickle, which runs arbitrary code"):
        build_audit_kwargs(read_config(ok))
    assert not marker.exists()


def test_skops_trusts_no_more_than_skops_defaults_plus_reviewed_types(tmp_path, frame):
    import skops.io as sio

    X, y = frame[["a", "b"]], frame["y"]
    evil = make_pipeline(FunctionTransformer(eval), LogisticRegression())
    sio.dump(evil, tmp_path / "evil.skops")
    assert "builtins.eval" in sio.get_untrusted_types(file=str(tmp_path / "evil.skops"))
    cfg = read_config(write(tmp_path, '[model]\npath = "evil.skops"\n[data]\npath = "d.csv"\ntarget = "y"\n'))
    with pytest.raises(ConfigError, match=r"skops does not trust.*\['builtins\.eval'\].*trusted_types"):
        build_audit_kwargs(cfg)
    # the user may take responsibility for it, by name
    cfg = read_config(write(tmp_path, '[model]\npath = "evil.skops"\ntrusted_types = ["builtins.eval"]\n'
                                      '[data]\npath = "d.csv"\ntarget = "y"\n'))
    assert build_audit_kwargs(cfg)["model"].steps[0][1].func is eval
    # a tree model needs sklearn.tree._tree.Tree, which skops flags and our reviewed list accepts
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y)
    sio.dump(forest, tmp_path / "rf.skops")
    assert sio.get_untrusted_types(file=str(tmp_path / "rf.skops")) == ["sklearn.tree._tree.Tree"]
    cfg = read_config(write(tmp_path, '[model]\npath = "rf.skops"\n[data]\npath = "d.csv"\ntarget = "y"\n'))
    np.testing.assert_array_equal(build_audit_kwargs(cfg)["model"].predict_proba(X), forest.predict_proba(X))
    # trusted_types is a list, never a string read character by character
    bad = write(tmp_path, '[model]\npath = "evil.skops"\ntrusted_types = "builtins.eval"\n[data]\npath = "d.csv"\ntarget = "y"\n')
    with pytest.raises(ConfigError, match=r"'model\.trusted_types' must be a list of type names, got 'builtins\.eval'"):
        read_config(bad)


HEAD = '[model]\nfactory = "tiny_cfg_model:load"\n[data]\npath = "d.csv"\ntarget = "y"\n'
FACTORY = ("from sklearn.linear_model import LogisticRegression\nimport pandas as pd\n"
           "def load():\n    df = pd.read_csv(__file__.rsplit('/', 1)[0] + '/d.csv')\n"
           "    return LogisticRegression().fit(df[['a', 'b']], df['y'])\n")


@pytest.mark.parametrize(("text", "message"), [
    ('[model]\npath = 5\n[data]\npath = "d.csv"\ntarget = "y"\n', "'model.path' must be a string (a file path), got 5 (an integer)"),
    (HEAD + '[audit]\nseed = "abc"\n', "'audit.seed' must be a non-negative integer, got 'abc' (a string); write e.g. seed = 0"),
    (HEAD + "[audit]\nseed = -1\n", "'audit.seed' must be a non-negative integer, got -1"),
    (HEAD + "[audit]\nseed = true\n", "'audit.seed' must be a non-negative integer, got True (a boolean)"),
    (HEAD.replace('target = "y"', "target = 1"), "'data.target' must be a string (the label column), got 1"),
    (HEAD + '[audit]\nbaseline = 3\n', "'audit.baseline' must be a string"),
    (HEAD + '[audit]\nchecks = 5\n', "'audit.checks' must be a list of check names, got 5"),
    (HEAD.replace('[data]', '[data]\nfeatures = "abc"'), "'data.features' must be a list of column names, got 'abc'"),
    (HEAD.replace('[data]', '[data]\nsensitive = 3'), "'data.sensitive' must be a list of column names, got 3"),
    (HEAD.replace('[model]', '[model]\noutput = "probs"'), "'model.output' must be one of ['auto', 'logits', 'proba', 'labels']"),
])
def test_wrong_types_name_the_key(tmp_path, capsys, text, message):
    cfg = write(tmp_path, text)
    with pytest.raises(ConfigError) as exc:
        read_config(cfg)
    assert message in str(exc.value)
    assert main(["run", str(cfg), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert message in capsys.readouterr().err


def test_non_utf8_config_names_the_file_and_the_fix(tmp_path, capsys):
    p = tmp_path / "latin1.toml"
    p.write_bytes('[audit]\nname = "modèle"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin1\.toml' is not UTF-8 text \(byte 0xe8 at offset 19\).*save it"):
        read_config(p)
    assert main(["run", str(p), "--quiet"]) == 2
    assert "is not UTF-8 text" in capsys.readouterr().err


def test_checks_as_a_string_and_check_settings_of_the_wrong_type(tmp_path, frame, capsys):
    (tmp_path / "tiny_cfg_model.py").write_text(FACTORY)
    one = read_config(write(tmp_path, HEAD + '[audit]\nchecks = "performance"\n'))
    assert one.audit["checks"] == ["performance"]
    assert [c.name for c in build_audit_kwargs(one)["checks"]] == ["performance"]
    two = read_config(write(tmp_path, HEAD + '[audit]\nchecks = "performance, calibration"\n'))
    assert [c.name for c in build_audit_kwargs(two)["checks"]] == ["performance", "calibration"]

    cases = {
        '[checks.fairness]\nn_boot = "many"\n': "'checks.fairness.n_boot' must be an integer, got 'many' (a string)",
        '[checks.fairness]\nproxies = "no"\n': "'checks.fairness.proxies' must be true or false",
        '[checks.fairness]\ninclude_small_groups = 1\n': "'checks.fairness.include_small_groups' must be true or false",
        '[checks.fairness]\nn_boot = 2.5\n': "'checks.fairness.n_boot' must be an integer, got 2.5 (a number)",
        '[checks.robustness]\neps = 0.1\n': "'checks.robustness.eps' must be a list ([...]) of a number, got 0.1",
        '[checks.robustness]\nnorm = "l3"\n': "'checks.robustness.norm' must be one of 'linf', 'l2', got 'l3'",
        '[checks.saliency]\nmethods = "saliency"\n': "'checks.saliency.methods' must be a list ([...]) of a string",
        '[checks.fairness]\nn_boot = -5\n': "'checks.fairness.n_boot' must be a non-negative integer (a count), got -5",
        '[checks.robustness]\nmax_rows = -1\n': "'checks.robustness.max_rows' must be a non-negative integer (a count), got -1",
    }
    for text, message in cases.items():
        cfg = write(tmp_path, HEAD + text)
        with pytest.raises(ConfigError) as exc:
            build_audit_kwargs(read_config(cfg))
        assert message in str(exc.value)
        # exit 2 (could not run), not 1 (a gate failed) after the check raised
        assert main(["run", str(cfg), "--out", str(tmp_path / "o"), "--quiet"]) == 2
        assert message in capsys.readouterr().err
    # well-typed settings still reach the check (ints are accepted where a float is expected)
    good = read_config(write(tmp_path, HEAD + "[checks.fairness]\nn_boot = 20\nconfidence = 1\nproxies = false\n"))
    (fair,) = [c for c in build_audit_kwargs(good)["checks"] if c.name == "fairness"]
    assert (fair.n_boot, fair.confidence, fair.proxies) == (20, 1, False)


def test_policy_defaults_option_takes_only_a_real_boolean(tmp_path, frame, capsys):
    (tmp_path / "tiny_cfg_model.py").write_text(FACTORY)
    cfg = write(tmp_path, HEAD + '[policy]\ndefaults = "no"\n"performance.accuracy" = { min = 0.5 }\n')
    assert main(["run", str(cfg), "--out", str(tmp_path / "o"), "--quiet", "--checks", "performance"]) == 2
    assert "policy option 'defaults' must be true or false" in capsys.readouterr().err
    from audit import Policy, starter_thresholds

    assert "calibration.ece" not in Policy.from_dict({"defaults": False, "performance.accuracy": {"min": 0.5}}).thresholds
    starter = starter_thresholds()
    assert "calibration.ece" in Policy.from_dict({"defaults": True, "performance.accuracy": {"min": 0.5}}, starter=starter).thresholds


def test_data_sample_weight_key_weighs_the_audit(tmp_path, frame, capsys):
    """[data] sample_weight = "column" reaches audit(): accuracy is scikit-learn's weighted accuracy, and a
    weight column that is not a column fails before any work, naming it."""
    import json

    from sklearn.metrics import accuracy_score

    from audit import audit

    w = np.array([1.0, 5.0, 1.0, 1.0, 0.5, 2.0])
    frame.assign(w=w).to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "tiny_cfg_model.py").write_text(FACTORY)
    kwargs = build_audit_kwargs(read_config(write(tmp_path, HEAD + 'sample_weight = "w"\n')))
    assert kwargs["sample_weight"] == "w"
    report = audit(**{**kwargs, "checks": ["performance"], "progress": False})
    model = kwargs["model"]
    expected = accuracy_score(frame["y"], model.predict(frame[["a", "b"]]), sample_weight=w)
    assert report.sections["performance"].metrics[0].value == pytest.approx(expected, abs=1e-12)
    assert main(["run", str(write(tmp_path, HEAD + 'sample_weight = "w"\n')), "--out", str(tmp_path / "o"), "--quiet",
                 "--checks", "performance"]) in (0, 1)
    saved = json.loads((tmp_path / "o" / "audit.json").read_text())
    assert json.dumps(saved).count("Weighted by sample_weight") >= 1
    bad = write(tmp_path, HEAD + 'sample_weight = "nope"\n')
    assert main(["run", str(bad), "--out", str(tmp_path / "o2"), "--quiet", "--checks", "performance"]) == 2
    assert "sample_weight column 'nope' not found" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="'data.sample_weight' must be a column name"):
        read_config(write(tmp_path, HEAD + "sample_weight = 3\n"))


def test_a_config_nested_too_deeply_or_with_a_huge_integer_names_the_file(tmp_path, capsys):
    """tomllib raised a bare RecursionError for arrays nested thousands deep and a bare ValueError for an integer of
    5,000 digits; both are config errors naming the file."""
    deep = write(tmp_path, "[audit]\nimmutable = " + "[" * 5000 + "]" * 5000 + "\n", name="deep.toml")
    with pytest.raises(ConfigError, match=r"deep\.toml' nests arrays or tables too deeply to read"):
        read_config(deep)
    huge = write(tmp_path, "[audit]\nseed = 1" + "0" * 5000 + "\n", name="huge.toml")
    with pytest.raises(ConfigError, match=r"huge\.toml' holds a value TOML cannot read here: Exceeds the limit"):
        read_config(huge)
    assert main(["run", str(deep), "--quiet"]) == 2
    assert "nests arrays or tables too deeply" in capsys.readouterr().err


@pytest.mark.parametrize("key", ["trust_code", "trust_pickle"])
def test_trust_code_takes_only_a_real_boolean_too(tmp_path, frame, key):
    marker = tmp_path / "code-ran"
    (tmp_path / "m.pkl").write_bytes(pickle.dumps(_Tripwire(str(marker))))
    cfg = write(tmp_path, f'[model]\npath = "m.pkl"\n{key} = "yes"\n[data]\npath = "d.csv"\ntarget = "y"\n')
    with pytest.raises(ConfigError, match=rf"'model\.{key}' must be true or false"):
        read_config(cfg)
    ok = write(tmp_path, f'[model]\npath = "m.pkl"\n{key} = true\n[data]\npath = "d.csv"\ntarget = "y"\n')
    build_audit_kwargs(read_config(ok))  # trusted: the pickle runs (its "model" is the file it opened)
    assert marker.exists()
