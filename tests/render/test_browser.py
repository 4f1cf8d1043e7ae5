"""Load reports in headless Chromium: no console error, no network request, a screenshot of the first screen.

Runs when Debian's Chromium is installed (``.ci/run`` installs it) and is skipped otherwise.
Screenshots go to ``$AUDIT_SCREENSHOTS`` (default: pytest's temporary folder) for a person to look at.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from audit import audit

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")
REPORTS = sorted((Path(__file__).resolve().parents[2] / "reports").glob("*.html"))
# Flags for a closed network: no background requests of Chromium's own.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def load(browser, path: Path, shot: Path) -> tuple[list[str], list[str], object]:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.resolve().as_uri(), wait_until="load")
    page.screenshot(path=str(shot))
    return problems, [u for u in requests if u != path.resolve().as_uri()], page


def _shots(tmp_path_factory) -> Path:
    d = os.environ.get("AUDIT_SCREENSHOTS")
    return Path(d) if d else tmp_path_factory.mktemp("screenshots")


@pytest.mark.parametrize("report", REPORTS, ids=[p.name for p in REPORTS])
def test_demo_report_loads_cleanly(browser, report, tmp_path_factory):
    shots = _shots(tmp_path_factory)
    shots.mkdir(parents=True, exist_ok=True)
    problems, requests, page = load(browser, report, shots / f"{report.stem}.png")
    assert problems == [] and requests == []
    # the verdict is on the first screen
    box = page.locator(".verdict").bounding_box()
    assert box is not None and box["y"] + box["height"] < 900
    assert report.stat().st_size < 5 * 1024 * 1024
    page.close()


def test_hostile_report_runs_no_script_and_sorts(browser, tabular_frame, tmp_path):
    df = tabular_frame.rename(columns={"x1": "<img src=x onerror=window.pwned=1>"})
    df["g"] = np.where(df["g"] == "a", "<script>window.pwned=2</script>", "b")
    feats = [df.columns[0], "x2"]
    clf = LogisticRegression().fit(df[feats], df["y"])
    r = audit(clf, df, target="y", sensitive=["g"], features=feats, progress=False)
    path = r.save_html(tmp_path / "hostile.html")
    problems, requests, page = load(browser, path, tmp_path / "hostile.png")
    assert requests == [] and problems == []
    assert page.evaluate("window.pwned === undefined")
    assert "<script>window.pwned=2</script>" in page.inner_text("body")  # shown as text, not run
    # clicking a header sorts the table (the one inline script, allowed by its CSP hash)
    table = page.locator("#sec-performance h3:text-is('Metrics') + .tw table")
    values = lambda: [float(v) for v in table.locator("tbody td:nth-child(2)").all_inner_texts()]  # noqa: E731
    table.locator("th").nth(1).click()
    assert values() == sorted(values())
    table.locator("th").nth(1).click()
    assert values() == sorted(values(), reverse=True)
    page.close()
