"""The app pointed at a real local Ray cluster of two worker nodes (NST_CLUSTER), in AppTest and in Chromium."""

from __future__ import annotations

import os
import re
import time

import numpy as np
import torch

import nst
from tests.browser import browser_test, button, chromium, page_text, streamlit_server, wait_for
from tests.test_app import small_app, stylize
from tests.test_browser import pictures, upload  # noqa: F401  # pictures: a fixture
from tests.test_cluster import cluster  # noqa: F401  # a fixture: a cluster of two worker nodes for this module


def test_the_app_runs_on_the_cluster_and_says_so(cluster, monkeypatch) -> None:  # noqa: F811
    from webapp.resources import backend, clear_backend

    monkeypatch.setenv("NST_CLUSTER", cluster.address)
    clear_backend()
    try:
        app = small_app(iterations=10)
        captions = " ".join(caption.value for caption in app.caption)
        assert f"Runs on Ray cluster ({cluster.address}): 2 workers, 2 free" in captions
        stylize(app)
        assert not app.exception and not app.error, [e.value for e in app.error]
        assert "Done at step 10 of 10" in app.get("progress")[0].proto.text
        captions = " ".join(caption.value for caption in app.caption)
        assert re.search(r"Run 1 on worker \d on \S+ \(cpu, 1 thread\)", captions), captions
        assert [b.label for b in app.get("download_button")][0].startswith("Download PNG (128×")
        # The alpha/beta grid's cells run on the cluster too, and make what this machine makes.
        app.select_slider(key="grid_size").set_value(64)
        app.slider(key="grid_steps").set_value(10)
        app.button(key="grid_start").click().run()
        assert not app.exception and not app.error
        grid = app.session_state.session.grid
        assert len(grid.cells) == 20
        cell, picture = grid.cells[2, 3]
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # as many as a worker has: the same order of sums, the same pixels
        try:
            here = [p for p in nst.transfer(grid.content.image, grid.style.images, cell.settings)][-1].image
        finally:
            torch.set_num_threads(threads)
        assert np.array_equal(np.asarray(here), np.asarray(picture))
    finally:
        chosen = backend()
        if chosen.cluster is not None:
            chosen.cluster.close()  # its workers hold both nodes' CPUs: free them for the next test
        clear_backend()


def test_the_race_layer_views_print_size_and_video_run_on_the_cluster(cluster, monkeypatch, tmp_path) -> None:  # noqa: F811
    from tests.test_video_app import clip_bytes, output_frames
    from webapp.resources import backend, clear_backend, run_queue

    def numbered(queue) -> int:  # the number the queue gives its next run (taking it)
        ticket = queue.join("counting")
        queue.leave(ticket)
        return ticket.number

    monkeypatch.setenv("NST_CLUSTER", cluster.address)
    clear_backend()
    try:
        app = stylize(small_app(iterations=10))
        assert "Done at step 10 of 10" in app.get("progress")[0].proto.text
        here, there = numbered(run_queue("cpu")), numbered(backend().cluster.queue)
        app.select_slider(key="race_size").set_value(128)
        app.slider(key="race_steps").set_value(10)
        app.button(key="race_start").click().run()
        assert not app.exception and not app.error, [e.value for e in app.error]
        race = app.session_state.session.race
        assert all(lane.image is not None and "step 10" in lane.caption for lane in race.lanes.values())
        assert len(race.history) == 20
        app.select_slider(key="layers_size").set_value(96)
        app.slider(key="layers_steps").set_value(10)
        app.button(key="layers_start").click().run()
        assert not app.exception and not app.error, [e.value for e in app.error]
        assert len(app.session_state.session.layer_views) == 10
        app.button(key="print_go").click().run()
        assert not app.exception and not app.error, [e.value for e in app.error]
        version = app.session_state.session.print_version
        assert version.status == "done" and max(version.image.size) == 256
        app.file_uploader(key="video_upload").set_value(("pan.mp4", clip_bytes(tmp_path), "video/mp4")).run()
        app.select_slider(key="video_size").set_value(128)
        app.slider(key="video_frames").set_value(3)
        app.slider(key="video_steps").set_value(5)
        app.button(key="video_go").click().run()
        assert not app.exception and not app.error, [e.value for e in app.error]
        job = app.session_state.session.video
        assert job.status == "done" and len(job.frames) == 3 and output_frames(app, tmp_path) == 3
        # All of them went to the cluster's workers (2 runners, 10 views, 1 print, 1 clip), none ran here.
        assert numbered(backend().cluster.queue) == there + 2 + 10 + 1 + 1 + 1
        assert numbered(run_queue("cpu")) == here + 1
    finally:
        chosen = backend()
        if chosen.cluster is not None:
            chosen.cluster.close()
        clear_backend()


def test_an_unreachable_cluster_is_a_message_and_the_fallback_serves_here(monkeypatch) -> None:
    from webapp.resources import clear_backend

    monkeypatch.setenv("NST_CLUSTER", "127.0.0.1:1")  # nothing listens there
    clear_backend()
    try:
        app = small_app(iterations=10)
        stylize(app)
        assert "Set NST_CLUSTER_FALLBACK=local to serve runs on this server" in app.error[0].value
        assert not app.get("download_button")
        monkeypatch.setenv("NST_CLUSTER_FALLBACK", "local")
        clear_backend()
        app = small_app(iterations=10)
        assert "Runs are served by this server meanwhile" in app.warning[0].value
        stylize(app)
        assert "Done at step 10 of 10" in app.get("progress")[0].proto.text
    finally:
        clear_backend()


@browser_test
def test_two_browser_sessions_stylise_at_once_each_on_its_own_worker(cluster, pictures, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("NST_CLUSTER", cluster.address)
    with streamlit_server(tmp_path / "streamlit.log") as url, chromium() as first, chromium() as second:
        drivers = (first, second)
        for driver in drivers:
            driver.get(f"{url}/?output_size=128&iterations=30")
            upload(driver, *pictures)
            wait_for(lambda driver=driver: button(driver, "Stylize").is_enabled(), 60, what="Stylize enabled")
            assert "2 workers" in page_text(driver)
        for driver in drivers:
            button(driver, "Stylize").click()
        started = time.monotonic()
        for driver in drivers:
            wait_for(lambda driver=driver: "Download PNG (128×96)" in page_text(driver), 400, what="a result")
        texts = [page_text(driver) for driver in drivers]
        second.save_screenshot(os.path.join(os.environ.get("NST_SCREENSHOT_DIR", str(tmp_path)), "cluster-app.png"))
        workers = [re.search(r"Run \d+ on (worker \d)", text) for text in texts]
        assert all(workers), [text[-800:] for text in texts]
        assert workers[0].group(1) != workers[1].group(1)  # at the same time, so on two workers
        assert all("Done at step 30 of 30" in text and "Traceback" not in text for text in texts)
        assert time.monotonic() - started < 400


@browser_test
def test_a_closed_tab_frees_its_worker(cluster, pictures, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("NST_CLUSTER", cluster.address)
    with streamlit_server(tmp_path / "streamlit.log") as url:
        with chromium() as leaving:
            leaving.get(f"{url}/?output_size=128&iterations=500")
            upload(leaving, *pictures)
            wait_for(lambda: button(leaving, "Stylize").is_enabled(), 60, what="Stylize enabled")
            button(leaving, "Stylize").click()
            wait_for(lambda: re.search(r"Step \d+ of 500", page_text(leaving)), 120, what="the run under way")
        closed = time.monotonic()  # the tab is gone; its run must stop and give its worker back
        with chromium() as looking:

            def free_workers() -> bool:
                looking.get(url)
                return bool(wait_for(lambda: "2 workers" in page_text(looking), 60, what="the backend line")) and (
                    "2 workers, 2 free" in page_text(looking)
                )

            wait_for(free_workers, 60, interval=1.0, what="both workers free after the tab closed")
        assert time.monotonic() - closed < 60


def test_a_cluster_that_failed_is_tried_again_without_a_restart(monkeypatch) -> None:
    """A page opened before any worker joined is not blocked for the life of the server."""
    import webapp.resources as resources

    monkeypatch.setenv("NST_CLUSTER", "127.0.0.1:1")  # nothing listens there
    resources.clear_backend()
    try:
        first = resources.backend()
        assert first.blocked and "tried again every 20 s" in first.problem
        tried = resources._failures()["127.0.0.1:1"][0]
        assert resources.backend().blocked and resources._failures()["127.0.0.1:1"][0] == tried  # not at once
        monkeypatch.setattr(resources, "RETRY_SECONDS", 0)
        assert resources.backend().blocked and resources._failures()["127.0.0.1:1"][0] > tried  # tried again
        monkeypatch.setenv("NST_CLUSTER", "local")
        assert not resources.backend().blocked
    finally:
        resources.clear_backend()
