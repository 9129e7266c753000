"""The dashboard in a real browser: Debian's chromium, headless, driven from the command line
(--dump-dom for the DOM after load, --screenshot for a picture). Screenshots stay in pytest's
tmp_path; the test prints where."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from _dashboard_support import XSS, LiveServer, snapshot

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not installed (apt-get install -y chromium); browser tests skipped",
)


def chromium(url: str, profile: Path, *args: str) -> str:
    done = subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--window-size=1280,900",
            *args,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


class Browser:
    def __init__(self, base: str, folder: Path) -> None:
        self.base = base
        self.folder = folder
        self.profile = folder / "profile"
        self.shots: list[Path] = []

    def dom(self, path: str) -> str:
        return chromium(self.base + path, self.profile, "--dump-dom")

    def screenshot(self, path: str, name: str) -> Path:
        target = self.folder / f"{name}.png"
        chromium(self.base + path, self.profile, f"--screenshot={target}")
        assert target.read_bytes().startswith(b"\x89PNG") and target.stat().st_size > 5000
        self.shots.append(target)
        return target


def links(dom: str, pattern: str) -> list[str]:
    return [html.unescape(h) for h in re.findall(r'href="(' + pattern + r')"', dom)]


def test_browse_overview_run_plots_and_compare(
    live_server: LiveServer, real_workspace: dict, tmp_path: Path
):
    before = snapshot(real_workspace["root"])
    browser = Browser(live_server.url, tmp_path)

    overview = browser.dom("/")
    assert "Overview" in overview and "fraud" in overview
    browser.screenshot("/", "01-overview")

    run_links = links(overview, r"/runs/\d{8}-\d{6}-[0-9a-f]{6}")
    assert run_links, "the overview links to the latest runs"
    run_page = browser.dom(run_links[0])
    assert '<svg class="dag"' in run_page and '<svg class="timeline"' in run_page
    browser.screenshot(run_links[0], "02-run")

    plots_path = links(run_page, r"/runs/[^\"]+/plots")[0]
    plots = browser.dom(plots_path)
    images = [html.unescape(s) for s in re.findall(r'<img src="([^"]+)"', plots)]
    assert len(images) >= 3
    for src in images:  # what the browser was told to load is a real PNG from the store
        response = httpx.get(live_server.url + src)
        assert response.status_code == 200 and response.content.startswith(b"\x89PNG")
    browser.screenshot(plots_path, "03-plots")

    runs = browser.dom("/runs")
    a = re.search(r'name="a" value="([^"]+)" checked', runs).group(1)
    b = re.search(r'name="b" value="([^"]+)" checked', runs).group(1)
    compare = browser.dom(f"/compare?a={a}&b={b}")
    assert "Config differences" in compare and "max_depth" in compare
    browser.screenshot(f"/compare?a={a}&b={b}", "04-compare")

    print(f"\nscreenshots: {tmp_path}: {', '.join(p.name for p in browser.shots)}")
    assert snapshot(real_workspace["root"]) == before


def test_markup_in_names_stays_text(
    live_server: LiveServer, seeded_workspace: dict, tmp_path: Path
):
    browser = Browser(live_server.url, tmp_path)
    for path in (f"/runs/{seeded_workspace['xss']}?ws=1", "/runs?ws=1", "/drift?ws=1"):
        dom = browser.dom(path)
        # the DOM chromium built holds the name as text and no <script> element at all
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom, path
        assert "<script" not in dom.lower(), path
        assert XSS not in dom
    # a page whose title is the name: the title is text, and the page rendered (no dialog blocked it)
    shot = browser.screenshot(f"/runs/{seeded_workspace['xss']}?ws=1", "xss-run")
    print(f"\nscreenshot: {shot}")
