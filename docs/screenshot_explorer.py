"""Screenshot of notebook 02's gate explorer, live in JupyterLab in a real (headless) browser.

Maintainers' tool, not part of ``make test``. It starts JupyterLab from the suite's venv, opens
``notebooks/02_gate.ipynb`` in headless Chromium, runs every cell, moves the temperature slider so
the picture shows a redraw, and saves the explorer to ``docs/explorer.png``::

    apt-get install chromium                  # Debian's Chromium (/usr/bin/chromium)
    python3.11 -m venv /tmp/shot && /tmp/shot/bin/pip install playwright
    /tmp/shot/bin/python docs/screenshot_explorer.py

Playwright drives the system Chromium (no browser download). What the run writes lands in
``runs/interactive/`` as for any JupyterLab session.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
# flags that keep Chromium off the network on a closed machine, and runnable as root
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def wait_for(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"JupyterLab did not answer at {url} within {seconds:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--port", type=int, default=8899)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "explorer.png")
    args = parser.parse_args()
    token = secrets.token_hex(16)
    lab = subprocess.Popen([str(ROOT / ".venv" / "bin" / "jupyter"), "lab", "--no-browser", "--allow-root", f"--port={args.port}",
                            f"--IdentityProvider.token={token}", "--ServerApp.root_dir=" + str(ROOT / "notebooks")],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           env={**os.environ, "EGLIB_PROGRESS": "0"})
    try:
        base = f"http://127.0.0.1:{args.port}"
        wait_for(f"{base}/api?token={token}", 60)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=args.chromium, args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1500, "height": 1000}, device_scale_factor=1)
            page.goto(f"{base}/lab/tree/02_gate.ipynb?token={token}")
            page.wait_for_selector(".jp-Notebook", timeout=60_000)
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator, .jp-KernelStatus", timeout=60_000)
            time.sleep(5)  # the kernel starts
            page.click(".jp-Notebook")
            page.keyboard.press("Escape")
            # Run > Run All Cells, through JupyterLab's own command
            page.locator("div.lm-MenuBar-itemLabel", has_text="Run").first.click()
            page.locator("li.lm-Menu-item", has_text="Run All Cells").first.click()
            slider = page.locator(".widget-hslider").first
            slider.wait_for(timeout=300_000)
            page.wait_for_function("() => !document.querySelector('.jp-Notebook .jp-InputArea-prompt') || "
                                   "![...document.querySelectorAll('.jp-InputArea-prompt')].some(p => p.textContent.includes('[*]'))",
                                   timeout=300_000)
            explorer = slider.locator("xpath=ancestor::div[contains(@class, 'widget-vbox')][1]")
            explorer.scroll_into_view_if_needed()
            # move the temperature up a few steps: the figure below redraws (continuous_update is off,
            # so the key presses are committed when the slider loses focus)
            handle = slider.locator(".noUi-handle, .slider-handle, [role=slider]").first
            handle.focus()
            for _ in range(25):
                page.keyboard.press("ArrowRight")
            page.locator(".jp-Notebook").first.click(position={"x": 5, "y": 5})
            time.sleep(4)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            explorer.screenshot(path=str(args.out))
            browser.close()
        print(f"saved {args.out}")
    finally:
        lab.terminate()
        lab.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
