"""Outputs that must not break on what users write or where they run: a non-UTF-8 locale, a crash mid-write,
a lone surrogate, bidi and control characters, a 1 MB column name. Every output is UTF-8, written atomically,
and shows user text through the one cleaning function, :func:`audit.text.plain`."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from audit import audit
from audit.checks.explain import ExplainCheck
from audit.checks.fairness import FairnessCheck
from audit.checks.performance import PerformanceCheck
from audit.cli import main
from audit.errors import AuditInputError
from audit.plots._figure import FIGURE_TEXT_LIMIT, figure
from audit.text import JSON_TEXT_LIMIT, LABEL_LIMIT, plain, scrub

# bidi marks, embeddings, overrides and isolates, C0 and C1 controls: none may reach a shown output
BIDI = "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
CONTROLS = "\x00\x07\x1b\x7f\x9b"
UNSAFE = re.compile(f"[{BIDI}{CONTROLS}\x01-\x08\x0e-\x1f\x80-\x84\x86-\x9f\ud800-\udfff]")

MODEL_FACTORY = """import pandas as pd
from sklearn.linear_model import LogisticRegression

def load():
    df = pd.read_csv(__file__.rsplit('/', 1)[0] + '/d.csv')
    return LogisticRegression().fit(df[['a', 'b']], df['y'])
"""


def _frame(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), rng.normal(size=n)
    y = (a + 0.5 * b + rng.normal(scale=0.7, size=n) > 0).astype(int)
    return pd.DataFrame({"a": a, "b": b, "g": np.where(rng.random(n) < 0.5, "p", "q"), "y": y})


def _config(tmp_path: Path, module: str) -> Path:
    _frame().to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / f"{module}.py").write_text(MODEL_FACTORY, encoding="utf-8")
    cfg = tmp_path / "audit.toml"
    cfg.write_text(f'[model]\nfactory = "{module}:load"\n[data]\npath = "d.csv"\ntarget = "y"\nsensitive = ["g"]\n'
                   '[policy]\n"performance.accuracy" = { min = 0.5 }\n', encoding="utf-8")
    return cfg


# ------------------------------------------------------------------------------------------------ the CLI
def test_run_under_c_locale_writes_utf8_summary(tmp_path):
    """LC_ALL=C without UTF-8 mode (as on a bare CI container; a Windows code page is the same case): summary.md
    was written with the ASCII codec, so its first emoji raised UnicodeEncodeError: exit 2 and a 0-byte file."""
    cfg = _config(tmp_path, "outputs_c_locale_model")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONIOENCODING", "LANG", "LC_CTYPE", "PYTHONUTF8")}
    env.update(LC_ALL="C", PYTHONUTF8="0", PYTHONCOERCECLOCALE="0")
    out = tmp_path / "out"
    # not --quiet: the summary is printed too, to a console whose codec is ASCII
    proc = subprocess.run([sys.executable, "-m", "audit.cli", "run", str(cfg), "--out", str(out), "--checks", "performance"],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    md = (out / "summary.md").read_bytes().decode("utf-8")
    assert md.startswith("## ✅ Model audit: **PASS**") and "`performance.accuracy`" in md
    assert "Model audit: **PASS**" in proc.stdout  # the emoji printed as "?" on the ASCII console
    assert json.loads((out / "audit.json").read_bytes().decode("utf-8"))["passed"] is True
    assert (out / "report.html").read_bytes().decode("utf-8").startswith("<!DOCTYPE html>")


def test_run_writes_summary_atomically(tmp_path, monkeypatch, capsys):
    """summary.md goes through a temp file and a rename like the other three outputs: a crash while it is
    written leaves the previous summary whole (it was truncated in place) and no temp file behind."""
    cfg = _config(tmp_path, "outputs_atomic_model")
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.md").write_text("previous summary\n", encoding="utf-8")
    real_replace, renamed = os.replace, []

    def replace(src, dst):  # the disk fills up just as summary.md is moved into place
        if Path(dst).name == "summary.md":
            raise OSError(28, "No space left on device")
        renamed.append(Path(dst).name)
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    code = main(["run", str(cfg), "--out", str(out), "--checks", "performance", "--quiet"])
    assert code == 2 and "No space left on device" in capsys.readouterr().err
    assert (out / "summary.md").read_text(encoding="utf-8") == "previous summary\n"
    assert sorted(renamed) == ["audit.json", "junit.xml", "report.html"]
    assert sorted(p.name for p in out.iterdir()) == ["audit.json", "junit.xml", "report.html", "summary.md"]


# ------------------------------------------------------------------------- surrogates, bidi and controls
SURROGATE = "caf\udce9"  # what bytes b"caf\xe9" (Latin-1) hold when decoded as UTF-8 with errors="surrogateescape"
BIDI_GROUP = "\u202eevil\u202c group\x9b31m"
BIDI_COLUMN = "inc\u2066ome\u2069\x1b[31m\u200f"
BIDI_MODEL = "\u202egnp.exe\u202c credit\x07\u2067 model\u2069\x85v2"


@pytest.fixture(scope="module")
def unsafe_report():
    df = _frame(400, seed=1).rename(columns={"a": BIDI_COLUMN})
    df["g"] = np.where(df["g"] == "p", "plain", BIDI_GROUP)
    clf = LogisticRegression().fit(df[[BIDI_COLUMN, "b"]], df["y"])
    checks = [PerformanceCheck(), FairnessCheck(n_boot=20, proxies=False),
              ExplainCheck(n_rows=30, n_background=15, n_lime_rows=1, lime_samples=100, n_bootstrap=5)]
    return audit(clf, df, target="y", sensitive=["g"], features=[BIDI_COLUMN, "b"], checks=checks, name=BIDI_MODEL,
                 policy={"performance.accuracy": {"min": 0.5}}, progress=False)


def _svgs(html: str) -> list[str]:
    return [base64.b64decode(b).decode("utf-8") for b in re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', html)]


@pytest.mark.parametrize("where", ["sensitive", "target"])
def test_audit_refuses_a_surrogate_group_or_class_by_name(where):
    """A surrogate in a group value made every check an error section (pandas' Arrow strings refuse it) and
    then crashed save_html. Replacing it would merge groups that differ only in the lost bytes, so audit()
    names the column and the fix instead."""
    df = _frame(200)
    col = "g" if where == "sensitive" else "y"
    df[col] = pd.Series(np.where(df[col].isin(["p", 1]), SURROGATE, "other"), index=df.index, dtype=object)
    clf = LogisticRegression().fit(df[["a", "b"]], df["y"] if where == "sensitive" else df["y"] == "other")
    with pytest.raises(AuditInputError, match=rf"{'sensitive column' if where == 'sensitive' else 'target'} '{col}' holds "
                       r"text that is not valid Unicode .*encoding='latin-1'"):
        audit(clf, df, target="y", sensitive=["g"], features=["a", "b"], checks=["performance"], progress=False)


def test_save_html_with_a_surrogate_in_the_model_name(tmp_path):
    """audit(name=...) is not checked for surrogates: it is only shown. save_html raised UnicodeEncodeError;
    now the page is valid UTF-8 with U+FFFD where the surrogate was, and so is audit.json."""
    df = _frame(200)
    clf = LogisticRegression().fit(df[["a", "b"]], df["y"])
    report = audit(clf, df, target="y", features=["a", "b"], checks=["performance"], name=SURROGATE, progress=False)
    html = report.save_html(tmp_path / "r.html").read_bytes().decode("utf-8")  # strict: valid UTF-8 throughout
    assert "<title>Model audit: PASS · caf\ufffd</title>" in html
    text = report.to_json(tmp_path / "audit.json")
    assert "\\udce9" not in text and json.loads(text)["meta"]["model"] == "caf\ufffd"


def test_every_renderer_writes_a_hand_built_report_with_surrogates(tmp_path):
    """The renderers are entry points too: a Report built by hand with surrogates in notes, a table and a
    figure's SVG renders to valid UTF-8 in every format (the SVG's encode raised)."""
    from audit import Policy
    from audit.report import Report
    from audit.section import Figure, Section

    table = pd.DataFrame({"group": pd.Series([SURROGATE, "b"], dtype=object), "n": [3, 4]})
    svg = f'<svg xmlns="http://www.w3.org/2000/svg"><text>{SURROGATE}</text></svg>'
    sec = Section(check="fairness", title="Fairness", summary=SURROGATE, notes=[f"group {SURROGATE} is small"],
                  tables={f"by {SURROGATE}": table}, figures=[Figure(title=SURROGATE, alt=SURROGATE, svg=svg)])
    report = Report(sections={"fairness": sec}, findings=[], policy=Policy({}),
                    meta={"model": SURROGATE, "groups": {"g": [SURROGATE, "b"]}})
    html = report.save_html(tmp_path / "r.html").read_bytes().decode("utf-8")
    assert html.count("caf\ufffd") >= 5 and "caf\ufffd" in _svgs(html)[0]
    data = json.loads(report.to_json(tmp_path / "a.json"))
    assert data["sections"]["fairness"]["tables"]["by caf\ufffd"]["data"][0][0] == "caf\ufffd"
    assert data["sections"]["fairness"]["notes"] == ["group caf\ufffd is small"]
    ET.fromstring(report.to_junit(tmp_path / "j.xml"))
    assert "caf\ufffd" in report.to_markdown() and not UNSAFE.search(report._repr_html_())
    for name in ("r.html", "a.json", "j.xml"):
        (tmp_path / name).read_bytes().decode("utf-8")


def test_html_title_and_every_shown_name_lose_bidi_and_control_characters(unsafe_report):
    """The <title>, the model name, the group values and the column names (table cells, figure labels)
    hold no bidi override or control character: a right-to-left override turned "gnp.exe" in a title into
    what reads as "exe.png"."""
    html = unsafe_report.to_html()
    title = re.search(r"<title>(.*?)</title>", html, re.S).group(1)
    assert title.endswith("· gnp.exe credit model v2"), title
    assert not UNSAFE.search(html)
    for svg in _svgs(html):
        assert not UNSAFE.search(svg)
    assert "income[31m" in html and "evil group31m" in html  # the visible text is kept, in order
    assert not UNSAFE.search(unsafe_report._repr_html_())


def test_plain_is_the_one_cleaning_function():
    """Hand-checked: line breaks (NEL too) become spaces, bidi and C0/C1 controls go, surrogates become U+FFFD."""
    assert plain(BIDI_MODEL) == "gnp.exe credit model v2"
    assert plain("a\x85b\u2028c\r\nd") == "a b c d"
    assert plain("caf\udce9\udc80") == "caf\ufffd\ufffd" == scrub("caf\udce9\udc80")
    assert scrub("keeps\nlines\x1b") == "keeps\nlines\x1b"  # audit.json keeps text whole; JSON escapes these


# ------------------------------------------------------------------------------------- a 1 MB column name
BIG = "c" * 1_000_000
#: the report with a 1 MB column name stays below this (it was 2.9 MB: two SHAP figures held the whole name)
HTML_BOUND = 200_000


@pytest.fixture(scope="module")
def big_name_report():
    df = _frame(200, seed=2).rename(columns={"a": BIG})
    clf = LogisticRegression().fit(df[[BIG, "b"]], df["y"])
    checks = [ExplainCheck(n_rows=30, n_background=15, n_lime_rows=1, lime_samples=100, n_bootstrap=5)]
    return audit(clf, df, target="y", sensitive=["g"], features=[BIG, "b"], checks=checks, progress=False)


def test_one_megabyte_column_name_makes_a_small_report(big_name_report):
    """The SHAP importance bars and beeswarm drew the whole name as a tick label (48 s of layout and 1 MB of
    SVG each): labels are shortened to LABEL_LIMIT characters before drawing."""
    html = big_name_report.to_html()
    assert len(html.encode("utf-8")) < HTML_BOUND
    figures = big_name_report.sections["explain"].figures
    assert {"Global importance (mean |SHAP|)", "SHAP summary (beeswarm)"} <= {f.title for f in figures}
    for f in figures:
        longest = max((len(m) for m in re.findall("c{20,}", f.svg or "")), default=0)
        assert longest <= LABEL_LIMIT, (f.title, longest)
        assert len(f.alt) < 2_000 and len(f.svg or "") < 50_000, f.title
    for svg in _svgs(html):
        assert max((len(m) for m in re.findall("c{20,}", svg)), default=0) <= LABEL_LIMIT


def test_one_megabyte_column_name_is_kept_in_json(big_name_report):
    """audit.json keeps the name whole up to JSON_TEXT_LIMIT characters, then says how long it was."""
    data = json.loads(big_name_report.to_json())
    imp = data["sections"]["explain"]["tables"]
    names = [n for t in imp.values() for n in t["index"] if isinstance(n, str) and n.startswith("ccc")]
    assert names and all(n.endswith("… (1000000 characters)") and len(n) == JSON_TEXT_LIMIT for n in names)


def test_figure_net_shortens_tick_labels_a_plot_forgot():
    """Tick labels given as a list live in the axis' formatter, which rewrote the full text at draw time
    after the figure's tidy-up; the tidy-up shortens them there too."""
    with figure("t", "a", size=(10.0, 3.0)) as (fig, out):
        ax = fig.add_subplot()
        ax.barh([0, 1], [1.0, 2.0])
        ax.set_yticks([0, 1], ["x" * 100_000, "short\u202e"])
    svg = out[0].svg
    assert len(svg) < 30_000
    assert "x" * (FIGURE_TEXT_LIMIT - 1) + "…" in svg and "x" * FIGURE_TEXT_LIMIT not in svg
    assert "short\u202e" not in svg and "short" in svg
