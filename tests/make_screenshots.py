"""Make the README's screenshots of the real app (not a test; run by hand).

    python tests/make_screenshots.py [--out assets] [--mid-run-seconds 25]

Starts the app, opens it in headless Chromium with the default settings and the built-in
examples, presses Stylize, and saves a screenshot mid-run and one of the finished result.
Prints the seconds from the click to the first preview and the number of previews.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from browser import ROOT, button, chromium, page_text, result_images, streamlit_server, wait_for


def away_from_tooltips(driver) -> None:
    """Move the mouse onto the title, so that no button's tooltip covers the page."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    ActionChains(driver).move_to_element(driver.find_element(By.TAG_NAME, "h1")).perform()
    time.sleep(0.3)


def main() -> None:
    from selenium.webdriver.common.by import By

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "assets"))
    parser.add_argument("--mid-run-seconds", type=float, default=25.0)
    parser.add_argument("--query", default="", help="settings as URL query parameters, e.g. output_size=256")
    args = parser.parse_args()
    out = Path(args.out)
    log = Path(tempfile.mkdtemp()) / "streamlit.log"
    with streamlit_server(log) as url, chromium(1500, 1250) as driver:
        driver.get(f"{url}/?{args.query}")
        wait_for(
            lambda: (
                button(driver, "Stylize")
                and len(result_images(driver)) == 0
                and page_text(driver).count("scikit-image") >= 1
            ),
            120,
            what="the page",
        )
        time.sleep(1)
        clicked = time.monotonic()
        button(driver, "Stylize").click()
        wait_for(lambda: result_images(driver), 300, interval=0.05, what="the first preview")
        first = time.monotonic() - clicked
        time.sleep(max(0.0, args.mid_run_seconds - first))
        away_from_tooltips(driver)
        driver.save_screenshot(str(out / "app-running.png"))
        wait_for(lambda: "Download PNG" in page_text(driver), 1800, what="the end of the run")
        time.sleep(1.5)
        away_from_tooltips(driver)
        heading = driver.find_element(By.XPATH, "//h3[contains(., 'Result')]")  # the result, its download and chart
        driver.execute_script("arguments[0].scrollIntoView({block: 'start'})", heading)
        time.sleep(0.5)
        driver.save_screenshot(str(out / "app-result.png"))
        text = page_text(driver)
        print(f"first preview {first:.1f} s after the click (seen in the browser)")
        print(next((line for line in text.splitlines() if line.startswith("First picture")), "?"))
        print(next((line for line in text.splitlines() if line.startswith("Done at")), "?"))


if __name__ == "__main__":
    main()
