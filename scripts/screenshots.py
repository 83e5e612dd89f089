"""A screenshot of the models page of a running demo, for the README and docs/ui.md.

    make demo && .venv/bin/python scripts/screenshots.py [--out docs/images]

Logs in to the demo's Airflow (the generated admin password), opens the models page in
headless Debian chromium (playwright drives it; no browser download) and saves the whole
page as ``models-page.png``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/images"))
    args = parser.parse_args()
    base = os.environ.get("AIRFLOW__API__BASE_URL", "http://127.0.0.1:8080")
    passwords = Path(os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
    password = json.loads(passwords.read_text())["admin"]
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{base}/")
        page.wait_for_url("**/auth/login**")
        page.fill("input[name=username]", "admin")
        page.fill("input[name=password]", password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{base}/")
        page.goto(f"{base}/mlops/models")
        page.wait_for_selector(".card")
        args.out.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(args.out / "models-page.png"), full_page=True)
        browser.close()
    print(f"saved to {args.out}")


if __name__ == "__main__":
    main()
