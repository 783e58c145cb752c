"""The dashboard in a real headless Chromium (Debian's), against a live server on 127.0.0.1."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.api.test_dashboard import fleet_events

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM) and not os.environ.get("CI"),
                       reason="Debian's chromium is not installed (apt-get install chromium); CI installs it"),
]


def test_charts_render_with_data_and_a_run_timeline_opens(settings, write_lake, serve, tmp_path) -> None:
    from playwright.sync_api import sync_playwright

    write_lake(settings.lake, fleet_events(tmp_path, 250))
    server = serve(settings)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{server.url}/dashboard", timeout=60_000)
            success = page.locator("#success svg circle.point")
            assert success.count() >= 10
            box = page.locator("#success svg").bounding_box()
            assert box is not None and box["width"] > 500 and box["height"] > 100  # laid out, not collapsed
            bars = page.locator("#cost svg rect.bar")
            assert bars.count() >= 4
            assert max(float(bars.nth(i).get_attribute("width") or 0) for i in range(bars.count())) > 100
            assert page.locator("#ttsf svg rect.bar").count() >= 4
            assert page.locator("#canaries .verdict").count() >= 1
            first = page.locator("#runs a.run-link").first
            run_id = (first.get_attribute("href") or "").rsplit("/", 1)[-1]
            first.click()
            page.wait_for_url(f"**/dashboard/runs/{run_id}", timeout=30_000)
            assert page.locator("#timeline li.event").count() >= 3
            assert "run_started" in page.locator("#timeline").inner_text()
        finally:
            browser.close()
