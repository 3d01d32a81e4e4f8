"""Regenerate the README's screenshots of the report: the national example rendered by
``aifactory report`` (the forecast's own samples and seed), photographed by headless Chromium at
desktop width (the main body, down to the appendix) and at phone width (the first screens).

Run: .venv/bin/python docs/img/screenshots.py   (needs Debian's chromium, as the browser test does)
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from aifactory.cli import main as aifactory  # noqa: E402

OUT = Path(__file__).resolve().parent
SHOTS = {"report-desktop.jpg": (1200, None), "report-phone.jpg": (390, 2400)}


def main() -> int:
    browser_path = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser_path is None:
        print("chromium not found (apt-get install chromium)", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        page_file = Path(tmp) / "report.html"
        if aifactory(["report", str(ROOT / "examples" / "national.yaml"), "--out", str(page_file)]) != 0:
            return 1
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=browser_path, args=["--no-sandbox", "--disable-gpu"])
            for name, (width, height) in SHOTS.items():
                tab = browser.new_page(viewport={"width": width, "height": 900})
                tab.goto(page_file.as_uri())
                tab.wait_for_load_state("load")
                bottom = height or tab.evaluate("() => document.getElementById('appendix').offsetTop")
                tab.screenshot(path=str(OUT / name), type="jpeg", quality=80, full_page=True,
                               clip={"x": 0, "y": 0, "width": width, "height": bottom})
                tab.close()
                print(f"wrote {OUT / name} ({(OUT / name).stat().st_size / 1024:,.0f} KiB)")
            browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
