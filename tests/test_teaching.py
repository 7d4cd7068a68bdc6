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

from PIL import Image

from browser import (
    BROWSER,
    button,
    chromium,
    drop_file,
    page_text,
    streamlit_server,
    tab,
    wait_for,
)

pytestmark = BROWSER

QUERY = (
    "output_size=128&iterations=10&coarse_to_fine=false&race_size=128&race_steps=10"
    "&grid_size=64&grid_steps=10&layers_size=96&layers_steps=10"
)


def shoot(driver, folder: str, name: str, label: str) -> None:
    """A screenshot of the page scrolled to the tab ``label``, the mouse resting on it (no tooltips)."""
    from selenium.webdriver.common.action_chains import ActionChains

    element = tab(driver, label)
    scroll_to(driver, element)
    ActionChains(driver).move_to_element(element).perform()
    time.sleep(0.8)
    scroll_to(driver, element)  # again, once the tab's pictures have their sizes
    time.sleep(0.3)
    driver.save_screenshot(os.path.join(folder, name))


def scroll_to(driver, element) -> None:
    driver.execute_script("arguments[0].scrollIntoView({block: 'start'});", element)


def press(driver, label: str) -> None:
    """Click the visible button ``label`` once it is there (tabs draw their content on opening)."""
    wait_for(lambda: button(driver, label) and button(driver, label).is_enabled(), 60, what=f"the {label} button")
    button(driver, label).click()


def open_tab(driver, label: str) -> None:
    element = wait_for(lambda: tab(driver, label), 60, what=f"the {label} tab")
    scroll_to(driver, element)
    element.click()


def test_every_teaching_feature_works_from_the_browser(tmp_path) -> None:
    shots = os.environ.get("NST_SCREENSHOT_DIR", str(tmp_path))
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    with streamlit_server(tmp_path / "server.log") as url, chromium(1500, 1150, downloads=downloads) as driver:
        driver.get(f"{url}/?{QUERY}")
        wait_for(lambda: button(driver, "Stylize") and button(driver, "Stylize").is_enabled(), 90, what="the app")

        # a run, then its timelapse downloaded as an animated WebP
        button(driver, "Stylize").click()
        wait_for(lambda: "Done at step 10 of 10" in page_text(driver), 180, what="the run to finish")
        timelapse = wait_for(
            lambda: next(b for b in driver.find_elements("css selector", "button") if "timelapse" in b.text), 30
        )
        timelapse.click()
        saved = wait_for(lambda: [p for p in downloads.glob("*.webp")], 60, what="the timelapse download")
        animation = Image.open(io.BytesIO(saved[0].read_bytes()))
        assert animation.n_frames >= 2 and "timelapse" in saved[0].name

        # the optimiser race
        open_tab(driver, "Optimiser race")
        press(driver, "Start the race")
        wait_for(
            lambda: "A: L-BFGS, lr 1: step 10" in (text := page_text(driver)) and "B: Adam, lr 0.02: step 10" in text,
            240,
            what="both runners to finish",
        )
        wait_for(lambda: "Loss per second of computing" in driver.page_source, 30, what="the race chart")
        shoot(driver, shots, "race.png", "Optimiser race")

        # the alpha/beta grid
        open_tab(driver, "α/β grid")
        press(driver, "Draw the grid")
        continues = lambda: [  # noqa: E731
            b for b in driver.find_elements("css selector", "button") if b.text.strip().endswith("Continue")
        ]
        wait_for(lambda: len(continues()) >= 21, 300, what="twenty grid cells")  # and the main Continue
        shoot(driver, shots, "grid.png", "α/β grid")

        # what each layer sees
        open_tab(driver, "What each layer sees")
        press(driver, "Show what each layer sees")
        wait_for(lambda: "style from conv1_1…conv5_1" in page_text(driver), 300, what="the ten reconstructions")
        shoot(driver, shots, "layers.png", "What each layer sees")

        # inside the network
        open_tab(driver, "Inside the network")
        press(driver, "Look inside")
        wait_for(lambda: "result − style" in page_text(driver), 120, what="the Gram matrices")
        shoot(driver, shots, "inside.png", "Inside the network")

        # the gallery has the run
        open_tab(driver, "Gallery")
        wait_for(lambda: "Before and after" in page_text(driver), 30, what="the gallery")
        text = page_text(driver)
        assert "1. chelsea the cat" in text.lower() or "1. " in text
        shoot(driver, shots, "gallery.png", "Gallery")
        assert "Traceback" not in page_text(driver)


def choose(driver, label: str, option: str) -> None:
    """Pick ``option`` in the st.selectbox labelled ``label`` (click it, then click the option)."""
    from selenium.webdriver.common.by import By

    def box():
        for element in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stSelectbox"]'):
            if element.text.splitlines()[0].strip() == label:
                return element
        return None

    wait_for(box, 30, what=f"the {label} box").find_element(By.CSS_SELECTOR, '[role="combobox"], input').click()
    wait_for(
        lambda: next(o for o in driver.find_elements(By.CSS_SELECTOR, '[role="option"]') if o.text.strip() == option),
        30,
        what=f"the option {option}",
    ).click()


def test_the_controls_from_the_other_tools_work_from_the_browser(tmp_path) -> None:
    from selenium.webdriver.common.by import By

    from conftest import make_style

    shots = os.environ.get("NST_SCREENSHOT_DIR", str(tmp_path))
    extra, start = tmp_path / "dots.png", tmp_path / "start.png"
    make_style(96, 96, seed=4).save(extra)
    make_style(120, 90, seed=8).save(start)
    with streamlit_server(tmp_path / "server.log") as url, chromium(1500, 1150) as driver:
        driver.get(url)
        choose(driver, "Preset", "bold")  # a preset sets the sidebar and the page's URL
        wait_for(lambda: "style_weight=300" in driver.current_url, 30, what="the preset in the URL")
        query = (  # then a link with settings: colour, pooling, style scale, start from an upload
            "output_size=128&iterations=20&coarse_to_fine=false&style_weight=300&pooling=avg&style_scale=1.5"
            "&preserve_colour=style+only+the+brightness&init=a+picture+you+upload"
        )
        driver.get(f"{url}/?{query}")

        drop_file(driver, "Starting picture", str(start))
        wait_for(lambda: "Drop the picture to start from here" not in page_text(driver), 60, what="the start picture")
        driver.find_element(By.XPATH, "//summary[contains(., 'Blend more styles')]").click()  # open the expander
        drop_file(driver, "Drop more style pictures", str(extra))
        wait_for(lambda: "Weight of dots.png" in page_text(driver), 60, what="the blend weight")
        press(driver, "Stylize")
        wait_for(lambda: "Done at step 20 of 20" in (t := page_text(driver)) and "previews shown" in t, 180,
                 what="the run")  # fmt: skip
        text = page_text(driver)
        assert "in the style of swirls + 1 more" in text and "Traceback" not in text
        assert "β/α = 300" in text  # the link's values reached the sidebar
        driver.execute_script("window.scrollTo(0, 0)")
        time.sleep(0.5)
        driver.save_screenshot(os.path.join(shots, "controls.png"))
