"""A classroom at once: one real server, eight browser sessions, each with its own pictures.

Each session (a tab of one headless Chromium; every tab is its own Streamlit session)
uploads a content photo and a style picture in its own colour, presses Stylize, and waits.
All runs go through the server's queue for the CPU, one at a time. The test checks that
all finish, that each session shows a result in its own colour (nobody sees another's
pictures), that the queue served the sessions in the order they pressed Stylize, and it
prints the server's peak memory. Bounded in time: it fails rather than hangs.
"""

from __future__ import annotations

import io
import time
import urllib.request

import numpy as np
from PIL import Image

from browser import (
    BROWSER,
    button,
    chromium,
    memory_mb,
    page_text,
    result_images,
    streamlit_server,
    wait_for,
)
from test_browser import upload

pytestmark = BROWSER

SESSIONS = 8
COLOURS = [(220, 40, 40), (40, 200, 60), (50, 70, 220), (230, 200, 40), (200, 60, 200), (40, 200, 210),
           (250, 140, 30), (120, 120, 120)]  # fmt: skip


def picture(colour: tuple[int, int, int], seed: int, size: tuple[int, int]) -> Image.Image:
    """A picture in one colour with some texture, so that VGG19 has something to see."""
    rng = np.random.default_rng(seed)
    pixels = np.array(colour, float) + rng.normal(0, 18, (size[1], size[0], 3))
    return Image.fromarray(pixels.clip(0, 255).astype(np.uint8))


def mean_colour(url: str) -> np.ndarray:
    with urllib.request.urlopen(url, timeout=30) as reply:
        image = Image.open(io.BytesIO(reply.read())).convert("RGB")
    return np.asarray(image, float).reshape(-1, 3).mean(0)


def test_eight_sessions_at_once_each_get_their_own_result_in_fair_order(tmp_path) -> None:
    files = []
    for index, colour in enumerate(COLOURS[:SESSIONS]):
        content, style = tmp_path / f"photo{index}.png", tmp_path / f"style{index}.png"
        picture(colour, index, (160, 120)).save(content)
        picture(colour, 100 + index, (128, 128)).save(style)
        files.append((str(content), str(style)))
    facts: dict = {}
    with streamlit_server(tmp_path / "server.log", facts=facts) as url, chromium(1200, 900) as driver:
        address = f"{url}/?output_size=128&iterations=20&coarse_to_fine=false"
        tabs = []
        for index in range(SESSIONS):
            if index:
                driver.switch_to.new_window("tab")
            driver.get(address)
            upload(driver, *files[index])
            tabs.append(driver.current_window_handle)
        idle_mb = memory_mb(facts["pid"])[0]
        for tab in tabs:  # press Stylize in every tab, in order
            driver.switch_to.window(tab)
            wait_for(lambda: button(driver, "Stylize").is_enabled(), 30, what="Stylize to be enabled")
            button(driver, "Stylize").click()
            time.sleep(1.5)  # distinct arrival times, even while the first run loads the model
        deadline, texts = time.monotonic() + 420, {}
        while len(texts) < SESSIONS and time.monotonic() < deadline:
            for index, tab in enumerate(tabs):
                if index in texts:
                    continue
                driver.switch_to.window(tab)
                text = page_text(driver)
                if "Done at step 20 of 20" in text and "previews shown" in text:  # the page streams in
                    texts[index] = (text, result_images(driver))
            time.sleep(1)
        assert len(texts) == SESSIONS, f"only {sorted(texts)} finished in time"
        now_mb, peak_mb = memory_mb(facts["pid"])
        print(f"\nserver memory: {idle_mb:.0f} MB with {SESSIONS} sessions open, peak {peak_mb:.0f} MB, "
              f"{now_mb:.0f} MB after all runs")  # fmt: skip

        runs, waits = [], []
        for index in range(SESSIONS):
            text, sources = texts[index]
            assert "Traceback" not in text and len(sources) == 1, text[-800:]
            colour = mean_colour(sources[0])
            nearest = int(np.argmin([np.linalg.norm(colour - np.array(c)) for c in COLOURS[:SESSIONS]]))
            assert nearest == index, f"session {index} shows a picture in colour {colour.round()}"
            runs.append(int(text.split("Run ")[1].split()[0]))
            waits.append(float(text.split("waited ")[1].split()[0]))
        assert runs == sorted(runs) and len(set(runs)) == SESSIONS, runs  # first come, first served
        assert waits[-1] > waits[0], waits  # the last to arrive waited for the others


def test_a_closed_tab_ends_its_run_and_frees_the_device(tmp_path) -> None:
    content, style = tmp_path / "photo.png", tmp_path / "style.png"
    picture(COLOURS[0], 0, (160, 120)).save(content)
    picture(COLOURS[1], 1, (128, 128)).save(style)
    with streamlit_server(tmp_path / "server.log") as url, chromium(1200, 900) as driver:
        driver.get(f"{url}/?output_size=128&iterations=1000&coarse_to_fine=false")
        upload(driver, str(content), str(style))
        button(driver, "Stylize").click()
        wait_for(lambda: "Step " in page_text(driver) and result_images(driver), 120, what="the long run to start")
        driver.switch_to.new_window("tab")
        closed = [handle for handle in driver.window_handles if handle != driver.current_window_handle]
        driver.switch_to.window(closed[0])
        driver.close()  # the student closes the tab in the middle of a 1000-step run
        driver.switch_to.window([h for h in driver.window_handles if h not in closed][0])
        driver.get(f"{url}/?output_size=128&iterations=10&coarse_to_fine=false")
        upload(driver, str(content), str(style))
        button(driver, "Stylize").click()
        wait_for(
            lambda: "Done at step 10 of 10" in (text := page_text(driver)) and "previews shown" in text,
            180,
            what="the next session's run",
        )
        waited = float(page_text(driver).split("waited ")[1].split()[0])
        print(f"\nwaited {waited} s after the other tab closed")
        assert waited < 60, f"the closed tab's run held the device for {waited} s"
