"""Browser test support: Debian's chromium (installed with apt when missing) driven by Playwright,
and helpers that load a page, wait until it has rendered and save a screenshot under var/screenshots/.

Use from any browser test (fixtures come from tests/browser/conftest.py):

    from tests.browser.support import screenshot_page, wait_streamlit_ready

    def test_superset_dashboard_renders(browser_page):        # a fresh Playwright Page
        path = screenshot_page(browser_page, "http://127.0.0.1:8088/superset/dashboard/1/",
                               "superset-dashboard", ready_selector=".dashboard-chart")
        assert path.is_file()

`screenshot_page` waits for `ready_selector` (any CSS selector) and then for `settle(page)` if given;
`wait_streamlit_ready` is the settle step for Streamlit apps (no "Running…" widget, no skeletons).
No browser is downloaded at run time: Playwright launches /usr/bin/chromium (`executable_path`).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"]


LOOPBACK_HOSTS = ("localhost",)


def _off_the_box(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host not in LOOPBACK_HOSTS and not host.startswith("127.")


def new_context(browser, width: int = 1400, height: int = 1000):
    """A 1400x1000 browser context whose requests off this machine fail at once: pages must work
    offline, and Superset's menu embeds a third-party telemetry pixel whose request, on a network
    that drops packets, keeps a page's `load` event back for minutes (CI: a login's redirect to the
    welcome page never reached `load` within 180 s)."""
    context = browser.new_context(viewport={"width": width, "height": height})
    context.route(_off_the_box, lambda route: route.abort("internetdisconnected"))
    return context


def ensure_chromium(timeout_s: float = 900) -> Path:
    """The system chromium, installed with apt-get when missing; raises RuntimeError if it cannot be had."""
    if CHROMIUM.exists():
        return CHROMIUM
    if shutil.which("apt-get") is None:
        raise RuntimeError("chromium is missing and apt-get is not available to install it")
    for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "chromium"]):
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise RuntimeError(f"{' '.join(command)} failed: {tail[0]}")
    if not CHROMIUM.exists():
        raise RuntimeError("apt-get installed chromium but /usr/bin/chromium is still missing")
    return CHROMIUM


def wait_streamlit_ready(page, timeout_s: float = 30.0, quiet_s: float = 0.6) -> None:
    """Wait until a Streamlit page has rendered: the app container is there and, for `quiet_s` in a
    row, no script is running and no skeleton placeholder is left."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout_s * 1000)
    deadline = time.monotonic() + timeout_s
    quiet_since: float | None = None
    while time.monotonic() < deadline:
        busy = page.evaluate(
            """() => {
                 const app = document.querySelector('[data-testid="stApp"]');
                 const running = app && app.getAttribute('data-test-script-state') === 'running';
                 const skeleton = document.querySelector('[data-testid="stSkeleton"]');
                 const status = document.querySelector('[data-testid="stStatusWidget"]');
                 const statusBusy = status && /Running|Connecting/i.test(status.innerText || '');
                 return Boolean(running || skeleton || statusBusy);
               }""")
        now = time.monotonic()
        if busy:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = now
        elif now - quiet_since >= quiet_s:
            return
        time.sleep(0.1)
    raise TimeoutError(f"page {page.url} still running after {timeout_s:.0f}s")


def screenshot_page(page, url: str, name: str, ready_selector: str | None = None,
                    settle: Callable | None = None, timeout_s: float = 30.0, full_page: bool = True) -> Path:
    """Load `url`, wait for `ready_selector` and `settle(page)`, save var/screenshots/<name>.png; returns its path."""
    page.goto(url, wait_until="domcontentloaded", timeout=timeout_s * 1000)
    if ready_selector:
        page.wait_for_selector(ready_selector, timeout=timeout_s * 1000)
    if settle is not None:
        settle(page)
    return save_screenshot(page, name, full_page=full_page)


# Apps that scroll inside a container (Streamlit's stMain) are not "full page" for the browser:
# the viewport is grown to the content's height before the shot, then put back.
CONTENT_HEIGHT = """() => {
    const inner = document.querySelector('[data-testid="stMain"]');
    return Math.max(inner ? inner.scrollHeight : 0, document.documentElement.scrollHeight);
}"""


def save_screenshot(page, name: str, full_page: bool = True, max_height: int = 8000) -> Path:
    """var/screenshots/<name>.png of the whole content (up to `max_height` px tall); returns its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    viewport = page.viewport_size
    if full_page and viewport:
        height = min(int(page.evaluate(CONTENT_HEIGHT)) + 40, max_height)
        if height > viewport["height"]:
            page.set_viewport_size({"width": viewport["width"], "height": height})
            page.wait_for_timeout(700)  # charts re-layout to the new size
    try:
        page.screenshot(path=str(path), full_page=full_page)
    finally:
        if viewport:
            page.set_viewport_size(viewport)
    return path
