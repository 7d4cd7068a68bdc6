"""Helpers for driving the real app in headless Chromium: a server and a browser.

Used by test_browser.py and by make_screenshots.py. Needs Debian's ``chromium`` and
``chromium-driver`` (.ci/run installs them) and the ``selenium`` package.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

F = TypeVar("F", bound=Any)
ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
HAVE_BROWSER = bool(CHROMIUM and CHROMEDRIVER)

# A test that drives Chromium: deselect them all with `pytest -m "not browser"`. Without Chromium
# they are skipped with this reason, except where NST_REQUIRE_BROWSER is set (CI), where they fail.
SKIP_WITHOUT_BROWSER = pytest.mark.skipif(
    not HAVE_BROWSER and not os.environ.get("NST_REQUIRE_BROWSER"),
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)",
)
BROWSER = [pytest.mark.browser, SKIP_WITHOUT_BROWSER]  # a module's pytestmark


def browser_test(test: F) -> F:
    """Mark one test of a module that is mostly not about the browser."""
    return pytest.mark.browser(SKIP_WITHOUT_BROWSER(test))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(log_path: Path, *extra: str, facts: dict | None = None) -> Iterator[str]:
    """``streamlit run streamlit_app.py`` on a free local port; yields its URL.

    ``facts``, when given, receives the server's ``pid``.
    """
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(ROOT / "streamlit_app.py"),
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
        "--browser.gatherUsageStats",
        "false",
        *extra,
    ]
    with open(log_path, "w") as log:
        server = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        if facts is not None:
            facts["pid"] = server.pid
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                        if reply.read().strip() == b"ok":
                            break
                except OSError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"streamlit did not start; see {log_path}:\n{log_path.read_text()[-2000:]}")
                time.sleep(0.5)
            yield url
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()


@contextlib.contextmanager
def chromium(width: int = 1600, height: int = 1100, downloads: Path | None = None) -> Iterator[object]:
    """Headless Chromium under Selenium, with the flags this closed network needs.

    ``downloads``: the folder that downloaded files go to, without asking.
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager look for downloads
    profile = tempfile.mkdtemp(prefix="nst-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        "--disable-background-timer-throttling",  # tabs in the background keep their sessions going
        "--disable-renderer-backgrounding",
        "--disable-backgrounding-occluded-windows",
        "--no-first-run",
        f"--window-size={width},{height}",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    if downloads is not None:
        options.add_experimental_option(
            "prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False}
        )
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait_for(predicate, timeout: float, interval: float = 0.25, what: str = "a condition"):
    """Poll ``predicate()`` until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            value = predicate()
            if value:
                return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def button(driver, label: str):
    """The visible button whose text is ``label``."""
    from selenium.webdriver.common.by import By

    for element in driver.find_elements(By.CSS_SELECTOR, "button"):
        words = element.text.strip().splitlines()  # a button with an icon starts with the icon's name
        if words and words[-1].strip() == label and element.is_displayed():
            return element
    return None


def result_images(driver) -> list[str]:
    """The ``src`` of every picture captioned with a step (the live preview or result)."""
    from selenium.webdriver.common.by import By

    sources = []
    for figure in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stImage"]'):
        if " step " in f" {figure.text} " or figure.text.startswith("step"):
            sources += [img.get_attribute("src") for img in figure.find_elements(By.TAG_NAME, "img")]
    return sources


def page_text(driver) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.TAG_NAME, "body").text


def upload_box(driver, label: str):
    """The upload box whose label contains ``label`` (its whole text, shown or in a closed expander), or None."""
    from selenium.webdriver.common.by import By

    for element in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stFileUploader"]'):
        if label in (element.get_attribute("textContent") or ""):
            return element
    return None


def drop_file(driver, label: str, path: str, timeout: float = 120) -> None:
    """Drop a file on the upload box labelled ``label`` once, as a person would, and see it arrive.

    A person aims at a box by what it says, not by its place in the page: on a fresh page
    Streamlit's frontend draws each column's elements as their code arrives, so for a moment
    the style box can be the first upload box in the page while the content column still
    shows placeholders. The file is sent once; it must then appear in that box.
    """
    from selenium.webdriver.common.by import By

    name = Path(path).name
    box = wait_for(lambda: upload_box(driver, label), 60, interval=0.02, what=f"the upload box {label!r}")
    box.find_element(By.CSS_SELECTOR, 'input[type="file"]').send_keys(path)
    wait_for(
        lambda: shows_file(upload_box(driver, label).get_attribute("textContent") or "", name),
        timeout,
        what=f"{name} in the upload box {label!r}",
    )


def shows_file(text: str, name: str) -> bool:
    """Whether an upload box's text shows the file ``name`` (a long name is shortened in its middle)."""
    return name in text or (name[:5] in text and name[-8:] in text)


def memory_mb(pid: int) -> tuple[float, float]:
    """A process's resident memory now and at its peak, in MB (Linux)."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def tab(driver, label: str):
    """The visible tab (st.tabs) whose text is ``label``."""
    from selenium.webdriver.common.by import By

    for element in driver.find_elements(By.CSS_SELECTOR, '[role="tab"]'):
        if element.text.strip() == label:
            return element
    return None
