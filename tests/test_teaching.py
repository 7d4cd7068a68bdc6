"""The classroom features in a real browser: timelapse download, optimiser race, the
alpha/beta grid, what each layer sees, inside the network, and the gallery.

One server and one headless Chromium; every feature is driven by clicks, as a teacher
would. Screenshots go to NST_SCREENSHOT_DIR when it is set (the README's come from a run
with ``NST_SCREENSHOT_DIR=assets``), else to a temporary folder.
"""

from __future__ import annotations

import io
import os
import time

import pytest
from PIL import Image

from browser import CHROMEDRIVER, CHROMIUM, button, chromium, page_text, streamlit_server, tab, wait_for

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER) and not os.environ.get("NST_REQUIRE_BROWSER"),
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)",
)

QUERY = (
    "output_size=128&iterations=20&coarse_to_fine=false&race_size=128&race_steps=20"
    "&grid_size=64&grid_steps=10&layers_size=96&layers_steps=20"
)


def shoot(driver, folder: str, name: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    ActionChains(driver).move_to_element(driver.find_element(By.TAG_NAME, "h1")).perform()  # no tooltips
    time.sleep(0.5)
    driver.save_screenshot(os.path.join(folder, name))


def scroll_to(driver, element) -> None:
    driver.execute_script("arguments[0].scrollIntoView({block: 'start'});", element)


def test_every_teaching_feature_works_from_the_browser(tmp_path) -> None:
    shots = os.environ.get("NST_SCREENSHOT_DIR", str(tmp_path))
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    with streamlit_server(tmp_path / "server.log") as url, chromium(1500, 1300, downloads=downloads) as driver:
        driver.get(f"{url}/?{QUERY}")
        wait_for(lambda: button(driver, "Stylize") and button(driver, "Stylize").is_enabled(), 90, what="the app")

        # a run, then its timelapse downloaded as an animated WebP
        button(driver, "Stylize").click()
        wait_for(lambda: "Done at step 20 of 20" in page_text(driver), 180, what="the run to finish")
        timelapse = wait_for(
            lambda: next(b for b in driver.find_elements("css selector", "button") if "timelapse" in b.text), 30
        )
        timelapse.click()
        saved = wait_for(lambda: [p for p in downloads.glob("*.webp")], 60, what="the timelapse download")
        animation = Image.open(io.BytesIO(saved[0].read_bytes()))
        assert animation.n_frames >= 2 and "timelapse" in saved[0].name

        # the optimiser race
        scroll_to(driver, tab(driver, "Optimiser race"))
        tab(driver, "Optimiser race").click()
        button(driver, "Start the race").click()
        wait_for(
            lambda: "A: L-BFGS, lr 1: step 20" in (text := page_text(driver)) and "B: Adam, lr 0.02: step 20" in text,
            240,
            what="both runners to finish",
        )
        wait_for(lambda: "Loss per second of computing" in driver.page_source, 30, what="the race chart")
        shoot(driver, shots, "race.png")

        # the alpha/beta grid
        tab(driver, "α/β grid").click()
        button(driver, "Draw the grid").click()
        wait_for(lambda: len([b for b in driver.find_elements("css selector", "button") if b.text == "Continue"
                              and b.is_displayed()]) == 20, 300, what="twenty grid cells")  # fmt: skip
        shoot(driver, shots, "grid.png")

        # what each layer sees
        tab(driver, "What each layer sees").click()
        button(driver, "Show what each layer sees").click()
        wait_for(lambda: "style from conv1_1…conv5_1" in page_text(driver), 300, what="the ten reconstructions")
        shoot(driver, shots, "layers.png")

        # inside the network
        tab(driver, "Inside the network").click()
        button(driver, "Look inside").click()
        wait_for(lambda: "result − style" in page_text(driver), 120, what="the Gram matrices")
        shoot(driver, shots, "inside.png")

        # the gallery has the run
        tab(driver, "Gallery").click()
        wait_for(lambda: "Before and after" in page_text(driver), 30, what="the gallery")
        text = page_text(driver)
        assert "1. chelsea the cat" in text.lower() or "1. " in text
        shoot(driver, shots, "gallery.png")
        assert "Traceback" not in page_text(driver)
