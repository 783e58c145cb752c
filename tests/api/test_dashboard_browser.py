"""The dashboard in a real headless Chromium (Debian's), against a live server on 127.0.0.1.

Without ``/usr/bin/chromium`` the test is skipped on a developer's machine and
fails in CI (``CI`` set), which installs it (``.ci/run``).
"""

from __future__ import annotations

import pytest

from tests.api.dashboard.kit import chromium_missing_reason, fleet_lake, launch_chromium

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(chromium_missing_reason() is not None, reason=chromium_missing_reason() or ""),
]


def test_charts_render_with_data_and_a_run_timeline_opens(settings, keys, redactor, serve, tmp_path) -> None:
    from playwright.sync_api import sync_playwright

    fleet_lake(settings.lake, tmp_path / "fleet", 250, redactor)
    settings.api_keys_file = keys["path"]
    server = serve(settings)
    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            problems: list[str] = []  # console errors (a CSP violation is one), failed requests
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("requestfailed", lambda r: problems.append(f"{r.url}: {r.failure}"))
            answer = page.goto(f"{server.url}/dashboard", timeout=60_000)  # no session yet: the sign-in form
            assert answer is not None and answer.status == 200 and page.url == f"{server.url}/dashboard/signin"
            page.fill("input[name=key]", keys["acme-read"])
            with page.expect_navigation(timeout=60_000):
                page.click("button[type=submit]")  # a same-origin form POST: the key becomes a session cookie
            assert page.url == f"{server.url}/dashboard", page.content()[:300]  # the key never was in the URL
            cookies = page.context.cookies()
            assert [c["name"] for c in cookies] == ["tracelake_session"] and cookies[0]["httpOnly"]
            assert cookies[0]["secure"]  # Secure by default; Chromium keeps it on http://127.0.0.1 (loopback)
            assert keys["acme-read"] not in cookies[0]["value"]
            assert "acme" in page.locator("header").inner_text()

            points = page.locator("#success svg circle.point")
            assert points.count() >= 10
            box = page.locator("#success svg").bounding_box()
            assert box is not None and box["width"] > 500 and box["height"] > 100  # laid out, not collapsed
            point = points.first.bounding_box()
            assert point is not None and point["width"] > 0  # drawn, not just present in the markup
            assert "100%" in page.locator("#success svg text").all_text_contents()  # the axis has numbers

            bars = page.locator("#cost svg rect.bar")
            assert bars.count() >= 4
            widest = max(bars.nth(i).bounding_box()["width"] for i in range(bars.count()))  # type: ignore[index]
            assert widest > 100
            assert any(t.startswith("$") for t in page.locator("#cost svg text.value").all_text_contents())
            assert page.locator("#ttsf svg g.spread").count() == 4
            assert all(" s · p95 " in t for t in page.locator("#ttsf svg text.value").all_text_contents())
            assert page.locator("#reasons svg rect.bar").count() >= 1
            assert page.locator("#canaries .verdict").count() >= 1

            tenants = page.locator("#runs tbody td:nth-child(5)").all_inner_texts()
            assert tenants and set(tenants) == {"acme"}  # the key's tenant only

            first = page.locator("#runs a.run-link").first
            run_id = (first.get_attribute("href") or "").rsplit("/", 1)[-1]
            first.click()
            page.wait_for_url(f"**/dashboard/runs/{run_id}", timeout=30_000)  # the cookie carried the key
            events = page.locator("#timeline li.event")
            assert events.count() >= 3
            assert "run_started" in page.locator("#timeline").inner_text()
            bar = page.locator("#timeline .wf i").first.bounding_box()
            assert bar is not None and bar["width"] >= 1
            page.locator("a", has_text="dashboard").click()
            page.wait_for_url(f"{server.url}/dashboard", timeout=30_000)
            assert page.locator("#success svg circle.point").count() >= 10
            assert problems == []
        finally:
            browser.close()
