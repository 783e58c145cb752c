"""The README's dashboard picture: ``.venv/bin/python scripts/dashboard-screenshot.py [--out docs/dashboard.png]``.

By default it builds a throwaway lake the way the browser test does (the fleet
through the real SDK with its bad canary, validated and redacted by the real
ingest chain, one alert evaluation), serves it on 127.0.0.1 and photographs
``/dashboard`` in Debian's headless Chromium through Playwright (never a
downloaded browser). ``--url URL`` photographs a running dashboard instead
(e.g. the one ``tracelake demo`` prints). Exit 1 with a message when Chromium
is missing or the page does not answer 200.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.api.dashboard.kit: the browser test's own machinery

from tests.api.dashboard.kit import CHROMIUM, fleet_lake, launch_chromium  # noqa: E402


def shoot(url: str, out: Path) -> None:
    """Full-page PNG of ``url`` at 1280 px wide. Raises RuntimeError if the page does not answer 200."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
            answer = page.goto(url, timeout=60_000)
            if answer is None or answer.status != 200:
                raise RuntimeError(f"{url} answered {answer.status if answer else 'nothing'}")
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out), full_page=True)
        finally:
            browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "dashboard.png")
    parser.add_argument("--url", help="a running dashboard to photograph (default: a fresh fleet lake)")
    parser.add_argument("--runs", type=int, default=1000, help="fleet runs in the fresh lake (default 1000)")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        print(f"no Chromium at {CHROMIUM}: apt-get install chromium", file=sys.stderr)
        return 1
    try:
        if args.url:
            shoot(args.url, args.out)
        else:
            from tracelake.api.app import create_app
            from tracelake.api.server import BackgroundServer
            from tracelake.ingest.setup import make_redactor
            from tracelake.localkafka import free_port
            from tracelake.settings import Settings

            with tempfile.TemporaryDirectory(prefix="tracelake-shot-") as tmp:
                settings = Settings(lake=Path(tmp) / "lake", api_spool_dir=Path(tmp) / "spool")
                alerts = fleet_lake(settings.lake, Path(tmp) / "work", args.runs, make_redactor(settings))
                print(f"lake: {args.runs} fleet runs, {alerts} alerts stored")
                server = BackgroundServer(create_app(settings), free_port()).start()
                try:
                    shoot(f"{server.url}/dashboard", args.out)
                finally:
                    server.stop()
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
