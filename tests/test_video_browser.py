"""The Video tab in a real browser: drop a clip, stylise it, download the video and count its frames.

Skipped when Chromium or its driver is missing, unless NST_REQUIRE_BROWSER=1 (CI sets it).
Screenshots go to NST_SCREENSHOT_DIR when it is set.
"""

from __future__ import annotations

import os
import time

from nst.videoio import probe
from tests.test_video import sliding_frames, write_clip

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


def test_a_clip_dropped_in_the_video_tab_comes_back_stylised(tmp_path) -> None:
    shots = os.environ.get("NST_SCREENSHOT_DIR", str(tmp_path))
    clip = write_clip(tmp_path / "pan.mp4", sliding_frames(4, (96, 64)), fps=12)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    query = "iterations=10&video_size=128&video_steps=5"
    with streamlit_server(tmp_path / "server.log") as url, chromium(1500, 1150, downloads=downloads) as driver:
        driver.get(f"{url}/?{query}")
        wait_for(lambda: button(driver, "Stylize") and button(driver, "Stylize").is_enabled(), 90, what="the app")
        video = wait_for(lambda: tab(driver, "Video"), 60, what="the Video tab")
        driver.execute_script("arguments[0].scrollIntoView({block: 'start'});", video)
        video.click()
        drop_file(driver, "Video clip", str(clip))
        wait_for(lambda: "4 frames (0.3 s)" in page_text(driver), 60, what="the clip's description")
        wait_for(lambda: button(driver, "Stylize video") and button(driver, "Stylize video").is_enabled(), 30,
                 what="Stylize video to be enabled")  # fmt: skip
        button(driver, "Stylize video").click()
        forming = wait_for(lambda: "forming" in page_text(driver) or "Download video" in page_text(driver), 120,
                           what="a frame forming")  # fmt: skip
        assert forming
        deadline = time.monotonic() + 240
        while "Download video" not in page_text(driver) and time.monotonic() < deadline:
            time.sleep(0.3)
        text = page_text(driver)
        download = button(driver, "Download video (4 frames, MP4)")
        driver.execute_script("arguments[0].scrollIntoView({block: 'end'}); window.scrollBy(0, 120);", download)
        time.sleep(1.0)
        driver.save_screenshot(os.path.join(shots, "video-tab.png"))
        assert "Done: 4 frames" in text, text[-1500:]
        assert "Traceback" not in text and "Error" not in text
        button(driver, "Download video (4 frames, MP4)").click()
        saved = wait_for(lambda: [p for p in downloads.glob("*.mp4")], 60, what="the video download")
    made = probe(saved[0])
    assert (made.frames, made.fps, made.size) == (4, 12, (128, 84))
