"""The Streamlit app through Streamlit's own testing framework (AppTest).

AppTest runs streamlit_app.py in this process, so the real engine and the real Caffe
VGG19 do the work; runs are kept tiny (128 px, 10 steps).
"""

from __future__ import annotations

import io
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
import torch
from PIL import Image
from streamlit.testing.v1 import AppTest

import nst
import nst.jobs.picture

from conftest import make_content, make_style

APP = str(Path(__file__).resolve().parents[1] / "streamlit_app.py")


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def small_app(iterations: int = 10) -> AppTest:
    """The app, run once, with a tiny output size and few steps."""
    app = AppTest.from_file(APP, default_timeout=240)
    app.run()
    app.select_slider(key="output_size").set_value(128)
    app.slider(key="iterations").set_value(iterations)
    return app


def stylize(app: AppTest) -> AppTest:
    app.button(key="stylize").click()
    return app.run()


def recorded_transfers(monkeypatch) -> list[tuple[tuple, dict]]:
    """Record the arguments of every nst.transfer call the app makes (the real engine still runs)."""
    calls: list[tuple[tuple, dict]] = []
    real = nst.transfer

    def recording(*args, **kwargs):
        calls.append((args, kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(nst.jobs.picture, "transfer", recording)
    return calls


def test_the_app_starts_with_upload_boxes_examples_and_no_errors() -> None:
    app = AppTest.from_file(APP, default_timeout=240).run()
    assert not app.exception and not app.error
    assert [u.label for u in app.file_uploader] == [
        "Drop your own content picture here, or browse",
        "Drop your own style picture here, or browse",
        "Drop more style pictures here",  # blending, in a collapsed expander
        "…or upload it (with blended styles: one for all, or one each in their order)",  # large shapes, the same
        "Video clip (up to 10 s; MP4, MOV, WebM, MKV, AVI, animated GIF or WebP)",  # the Video tab
    ]
    assert len(app.image) == 4  # thumbnails of the photo and style, the one-pass picture, and it again in its tab
    assert "One pass of a feed-forward network" in app.image[2].proto.imgs[0].caption
    assert [b.label for b in app.button][:3] == ["Stylize", "Stop", "Continue"]  # Stylize refines the one pass
    assert not app.button(key="stylize").disabled and app.button(key="stop").disabled


def test_the_style_strength_slider_repaints_the_one_pass_picture() -> None:
    app = AppTest.from_file(APP, default_timeout=240).run()
    first = app.image[2].proto.imgs[0]
    app.slider(key="style_strength").set_value(0.3).run()
    again = app.image[2].proto.imgs[0]
    assert not app.exception and "style strength 0.3" in again.caption and "style strength 1" in first.caption
    assert again.url != first.url


def test_an_example_runs_end_to_end_with_a_result_and_a_download() -> None:
    app = stylize(small_app())
    assert not app.exception and not app.error
    result = app.session_state.session.result
    assert result.status == "done" and result.step == result.total == 10
    assert max(result.image.size) == 128 and result.previews >= 1
    # content, style, one pass, result; one pass and result in their tab; in the gallery: thumbnail, before, after
    assert len(app.image) == 9
    assert app.download_button[0].label.startswith("Download PNG (128×")
    assert app.progress[0].value == 100
    assert len(result.history) == 10


def test_changing_a_slider_after_a_run_keeps_the_result() -> None:
    app = stylize(small_app())
    before = np.asarray(app.session_state.session.result.image)
    app.select_slider(key="style_weight").set_value(100.0)
    app.run()
    assert not app.exception
    result = app.session_state.session.result
    assert result.status == "done" and np.array_equal(np.asarray(result.image), before)
    assert app.download_button, "the download is still offered"


@pytest.mark.parametrize(
    ("upload", "words"),
    [
        (("notes.png", b"this is not a picture", "image/png"), "is not a picture that can be read"),
        (("empty.jpg", b"", "image/jpeg"), "is empty"),
        (("huge.png", png(Image.new("L", (7000, 6000))), "image/png"), "too large: 7000x6000 is 42 megapixels"),
    ],
)
def test_a_bad_upload_shows_an_error_in_the_page_not_an_exception(upload, words) -> None:
    app = AppTest.from_file(APP, default_timeout=240).run()
    app.file_uploader(key="content_upload").set_value(upload)
    app.run()
    assert not app.exception
    assert any(words in e.value for e in app.error), [e.value for e in app.error]
    assert app.button(key="stylize").disabled


def test_uploaded_pictures_are_used(tmp_path) -> None:
    app = small_app()
    app.file_uploader(key="content_upload").set_value(("house.png", png(make_content(90, 60)), "image/png"))
    app.file_uploader(key="style_upload").set_value(("stripes.png", png(make_style(70, 70)), "image/png"))
    stylize(app)
    result = app.session_state.session.result
    assert not app.exception and result.status == "done"
    assert result.content.name == "house.png" and result.style.name == "stripes.png"
    assert result.image.size == (128, 85)
    from webapp.display import file_name

    assert file_name(result) == "house-in-the-style-of-stripes-a1-b30-10steps.png"


def test_continue_resumes_from_the_previous_picture_with_the_new_weights(monkeypatch) -> None:
    app = stylize(small_app())
    first = app.session_state.session.result
    calls = recorded_transfers(monkeypatch)
    computed = app.session_state.session.cache.computed
    app.select_slider(key="style_weight").set_value(300.0)
    app.button(key="continue").click()
    app.run()
    assert not app.exception and not app.error
    ((args, kwargs),) = calls
    resume, settings = kwargs["resume"], args[2]
    assert resume.image is first.image and resume.step == 10  # the previous picture, not the photo
    assert settings.style_weight == 300.0
    result = app.session_state.session.result
    assert result.status == "done" and result.step == result.total == 20
    assert len(result.history) == 20
    assert app.session_state.session.cache.computed == computed  # no target was computed again


def test_the_model_loads_once_for_all_sessions(monkeypatch) -> None:
    st.cache_resource.clear()
    built: list[str] = []
    real = nst.build_extractor

    def counting(*args, **kwargs):
        built.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(nst, "build_extractor", counting)
    for _ in range(2):  # two browser sessions
        stylize(small_app())
    assert built == ["caffe"]


def test_missing_torchvision_weights_offline_are_a_message_in_the_page(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    def offline(url, *args, **kwargs):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    app = small_app()
    app.selectbox(key="weights").set_value("torchvision")
    stylize(app)
    assert not app.exception
    messages = " ".join(e.value for e in app.error)
    assert "vgg19-dcbb9e9d.pth" in messages and "'caffe', which works offline" in messages


def test_a_diverging_run_keeps_the_last_good_picture_and_says_so(monkeypatch) -> None:
    import nst.terms

    real = nst.terms.style_loss_from_grams
    calls = {"n": 0}

    def breaks_at_step_6(*args, **kwargs):
        calls["n"] += 1
        return real(*args, **kwargs) * (float("nan") if calls["n"] >= 6 else 1.0)

    monkeypatch.setattr(nst.terms, "style_loss_from_grams", breaks_at_step_6)
    app = stylize(small_app())
    assert not app.exception
    result = app.session_state.session.result
    assert result.status == "diverged" and max(result.image.size) == 128
    assert any("diverged at step 6" in e.value for e in app.error)
    assert app.download_button  # the last good picture can still be saved


def test_invalid_settings_are_explained_and_block_the_run() -> None:
    app = AppTest.from_file(APP, default_timeout=240).run()
    app.multiselect(key="content_layers").set_value([])
    app.multiselect(key="style_layers").set_value([])
    app.run()
    assert not app.exception
    assert any("at least one content layer or one style layer" in e.value for e in app.sidebar.error)
    assert app.button(key="stylize").disabled


def interrupting_transfer(monkeypatch, after: int, then) -> dict:
    """Make nst.transfer call ``then()`` (which reruns the script) after ``after`` records, once.

    This is what Stop or a moved slider does to a real run: Streamlit raises its rerun
    exception inside the loop at the next st call.
    """
    real, seen = nst.transfer, {"records": 0, "closed": 0, "interrupted": False}

    def wrapped(*args, **kwargs):
        engine = real(*args, **kwargs)
        try:
            for progress in engine:
                seen["records"] += 1
                yield progress
                if not seen["interrupted"] and progress.step == after:
                    seen["interrupted"] = True
                    then()
        finally:
            seen["closed"] += 1
            engine.close()

    monkeypatch.setattr(nst.jobs.picture, "transfer", wrapped)
    return seen


def test_stop_mid_run_keeps_the_latest_picture_and_frees_the_device(monkeypatch) -> None:
    def press_stop() -> None:
        st.session_state.session.pending = "stop"  # what the Stop button's callback records
        st.rerun()

    seen = interrupting_transfer(monkeypatch, after=4, then=press_stop)
    app = stylize(small_app(iterations=30))
    assert not app.exception and not app.error
    result = app.session_state.session.result
    assert result.status == "stopped" and result.step == 4 and seen["closed"] == 1
    assert max(result.image.size) == 128 and app.download_button  # the last preview, downloadable
    assert app.session_state.session.pending is None and not app.button(key="stylize").disabled
    from webapp.resources import run_queue

    queue = run_queue("cpu")
    assert queue.running == 0 and queue.waiting == 0  # the device is free for the next session


def test_a_rerun_mid_run_goes_on_from_the_latest_picture_to_the_planned_end(monkeypatch) -> None:
    seen = interrupting_transfer(monkeypatch, after=3, then=st.rerun)  # e.g. a slider moved
    app = stylize(small_app(iterations=10))
    assert not app.exception and not app.error
    result = app.session_state.session.result
    assert result.status == "done" and result.step == result.total == 10
    assert [h["step"] for h in result.history] == list(range(1, 11))  # one curve, no restart
    assert seen["closed"] == 2  # the interrupted run was closed, then the continuation


def test_a_diverged_run_offers_a_safer_setting_and_continues_from_the_last_good_picture(monkeypatch) -> None:
    import nst.terms

    real, calls = nst.terms.style_loss_from_grams, {"n": 0}

    def breaks_at_step_4_once(*args, **kwargs):
        calls["n"] += 1
        return real(*args, **kwargs) * (float("nan") if calls["n"] == 4 else 1.0)

    monkeypatch.setattr(nst.terms, "style_loss_from_grams", breaks_at_step_4_once)
    app = small_app()
    app.radio(key="optimizer").set_value("adam")
    app.run()
    app.select_slider(key="learning_rate").set_value(0.2)
    stylize(app)
    assert app.session_state.session.result.status == "diverged"
    safer = app.button(key="continue_safer")
    assert "learning rate 0.02" in safer.label
    safer.click()
    app.run()
    assert not app.exception and not app.error
    assert app.select_slider(key="learning_rate").value == 0.02
    result = app.session_state.session.result
    assert result.status == "done" and result.settings.lr == 0.02 and result.step == 3 + 10


def test_a_preset_sets_the_knobs_and_the_page_url() -> None:
    app = AppTest.from_file(APP, default_timeout=240).run()
    app.selectbox(key="preset").set_value("Gatys 2015").run()
    assert not app.exception and not app.error
    assert app.select_slider(key="style_weight").value == 100.0
    assert app.session_state["init"] == "noise" and app.radio(key="pooling").value == "avg"
    assert app.slider(key="iterations").value == 500 and not app.toggle(key="coarse_to_fine").value
    assert "noise" in app.query_params["init"]  # a link to this page opens the same configuration
    app.selectbox(key="preset").set_value("fast CPU preview").run()
    assert app.select_slider(key="output_size").value == 256 and app.session_state["init"] == "content"
    assert app.select_slider(key="style_weight").value == 30.0 and app.toggle(key="coarse_to_fine").value


def test_a_run_can_start_from_an_uploaded_picture(monkeypatch) -> None:
    calls = recorded_transfers(monkeypatch)
    app = small_app()
    app.selectbox(key="init").set_value("image").run()
    assert app.slider(key="iterations").value == 120  # steps follow the start: the default from a picture
    app.slider(key="iterations").set_value(10)
    assert app.button(key="stylize").disabled  # nothing to start from yet
    start = make_style(90, 60, seed=7)
    app.sidebar.file_uploader(key="start_upload").upload("start.png", png(start), "image/png").run()
    stylize(app)
    assert not app.exception and not app.error
    assert np.array_equal(np.asarray(calls[0][1]["init_image"]), np.asarray(start))
    assert app.session_state.session.result.status == "done"


def test_keeping_the_photos_colours_is_a_sidebar_choice() -> None:
    app = small_app()
    app.radio(key="preserve_colour").set_value("luminance")
    stylize(app)
    assert not app.exception and not app.error
    assert app.session_state.session.result.settings.preserve_colour == "luminance"


def test_the_style_loss_is_a_sidebar_choice_with_its_explanation_and_a_race_compares_two() -> None:
    app = small_app()
    choice = app.radio(key="style_loss")
    assert "Wasserstein" in choice.help and "Gram" in choice.help
    choice.set_value("wasserstein")
    stylize(app)
    assert not app.exception and not app.error
    result = app.session_state.session.result
    assert result.settings.style_loss == "wasserstein" and result.status == "done"
    assert result.history[-1]["β·style"] < result.history[0]["β·style"]

    app.radio(key="race_optimizer_B").set_value("lbfgs")
    app.radio(key="race_style_loss_B").set_value("wasserstein")
    app.select_slider(key="race_size").set_value(128)
    app.slider(key="race_steps").set_value(10)
    app.button(key="race_start").click().run()
    assert not app.exception and not app.error
    race = app.session_state.session.race
    assert {row["runner"] for row in race.history} == {"A: L-BFGS, lr 1", "B: L-BFGS, lr 1, wasserstein"}
    a, b = (np.asarray(lane.image, dtype=float) for lane in race.lanes.values())
    assert np.abs(a - b).mean() > 1.0  # the same optimiser and start: only the style loss differs


def test_a_run_offers_its_previews_as_a_timelapse() -> None:
    from nst.timelapse import timelapse

    app = small_app(iterations=10)
    app.slider(key="iterations").set_value(20)
    stylize(app)
    result = app.session_state.session.result
    assert len(result.frames) >= 2 and result.frames[-1][0] == 20  # the last frame is the result
    labels = [b.label for b in app.get("download_button")]
    assert any(label.startswith("Download timelapse (animated WebP") for label in labels), labels
    animation = Image.open(io.BytesIO(timelapse(result.frames)))
    assert animation.n_frames == len(result.frames)


def test_more_style_pictures_blend_with_a_weight_each(monkeypatch) -> None:
    recorded = recorded_transfers(monkeypatch)
    app = small_app()
    extra = make_style(60, 60, seed=4)
    app.file_uploader(key="blend_uploads").set_value([("dots.png", png(extra), "image/png")]).run()
    app.slider(key="blend_weight_1").set_value(0.5)
    stylize(app)
    assert not app.exception and not app.error
    ((args, _),) = recorded
    styles, settings = args[1], args[2]
    assert isinstance(styles, list) and len(styles) == 2
    assert np.array_equal(np.asarray(styles[1]), np.asarray(extra))
    assert settings.style_blend == (1.0, 0.5)
    assert (
        app.session_state.session.result.status == "done" and "+ 1 more" in app.session_state.session.result.style.name
    )


def test_finished_pictures_collect_in_the_gallery_with_a_before_and_after_view() -> None:
    app = stylize(small_app())
    app.select_slider(key="style_weight").set_value(300.0)
    stylize(app)
    assert not app.exception and not app.error
    gallery = app.session_state.session.gallery
    assert len(gallery) == 2 and "β 30" in gallery[0].title and "β 300" in gallery[1].title
    assert gallery[1].settings.style_weight == 300.0 and gallery[1].image is app.session_state.session.result.image
    before, after = app.selectbox(key="compare_before"), app.selectbox(key="compare_after_3")
    assert before.value == "the content photo" and after.value == gallery[1].title
    after.set_value(gallery[0].title).run()
    assert not app.exception


def test_the_optimiser_race_runs_both_and_keeps_both_pictures_and_curves() -> None:
    app = small_app()
    app.select_slider(key="race_size").set_value(128)
    app.slider(key="race_steps").set_value(10)
    app.button(key="race_start").click().run()
    assert not app.exception and not app.error
    race = app.session_state.session.race
    assert all(lane.image is not None and max(lane.image.size) == 128 for lane in race.lanes.values())
    runners = {row["runner"] for row in race.history}
    assert runners == {"A: L-BFGS, lr 1", "B: Adam, lr 0.02"} and len(race.history) == 20
    app.slider(key="race_steps").set_value(20).run()  # any rerun keeps the race's outcome on the page
    assert app.session_state.session.race is race


def test_what_each_layer_sees_fills_a_labelled_grid_of_ten() -> None:
    app = small_app()
    app.select_slider(key="layers_size").set_value(96)
    app.slider(key="layers_steps").set_value(10)
    app.button(key="layers_start").click().run()
    assert not app.exception and not app.error
    views = app.session_state.session.layer_views
    assert list(views)[:2] == ["content from conv1_2", "content from conv2_2"] and len(views) == 10
    assert list(views)[-1] == "style from conv1_1…conv5_1"
    assert all(max(picture.size) == 96 for picture in views.values())


def test_inside_the_network_shows_feature_maps_and_gram_matrices() -> None:
    app = stylize(small_app())
    app.selectbox(key="inside_layer").set_value("relu2_1")
    app.button(key="inside_start").click().run()
    assert not app.exception and not app.error
    view = app.session_state.session.inside
    assert view.layer == "relu2_1" and list(view.maps) == ["style", "photo", "result"]
    assert all(len(pictures) == 4 for pictures in view.maps.values())
    assert list(view.grams) == ["style picture", "result", "result − style"]
    assert view.grams["result"].size == (256, 256)


def test_the_ratio_grid_fills_and_a_cell_continues_at_full_size(monkeypatch) -> None:
    app = small_app()
    app.select_slider(key="grid_size").set_value(64)
    app.slider(key="grid_steps").set_value(10)
    app.button(key="grid_start").click().run()
    assert not app.exception and not app.error
    assert len(app.session_state.session.grid.cells) == 20
    cell, picture = app.session_state.session.grid.cells[2, 3]
    calls = recorded_transfers(monkeypatch)
    app.button(key="grid_continue_2_3").click().run()
    assert not app.exception and not app.error
    ((args, kwargs),) = calls
    resume, settings = kwargs["resume"], args[2]
    assert resume.image is picture and resume.step == 0 and settings.style_weight == 3000.0
    assert settings.style_layers == ("relu1_1", "relu2_1", "relu3_1") and settings.output_size == 128
    result = app.session_state.session.result
    assert result.status == "done" and max(result.image.size) == 128


def test_every_sidebar_setting_travels_in_the_page_url_and_a_link_opens_it() -> None:
    """Settings -> the sidebar's widgets -> the URL -> a new session's widgets -> the same Settings."""
    from webapp.sidebar import KNOBS

    changed = nst.Settings(
        content_weight=2.0, style_weight=100.0, tv_weight=5.0, preserve_colour="histogram", iterations=60,
        output_size=256, scales=1, start_size=128, optimizer="adam", learning_rate=0.05, init="noise", seed=5,
        content_layers=("relu3_2",), style_layers=("relu1_1", "relu3_1"), style_layer_weights=(1.0, 0.5),
        pooling="avg", style_scale=1.5, precision="float32", style_loss="wasserstein", style_strength=0.6,
        scale_up="plain",
    )  # fmt: skip
    not_changed = {"weights", "device"}
    one_scale_hides = {"start_size", "scale_up"}  # the other choices need a download or a GPU
    first = AppTest.from_file(APP, default_timeout=240)
    for knob in KNOBS:  # what a preset's callback does
        first.session_state[knob.widget_key] = knob.widget_value(changed)
    for name, weight in (("relu1_1", 1.0), ("relu3_1", 0.5)):
        first.session_state[f"style_layer_weight_{name}"] = weight
    first.run()
    assert not first.exception and not first.sidebar.error
    link = dict(first.query_params)
    for knob in KNOBS:
        if knob.name not in not_changed | one_scale_hides:
            assert knob.widget_key in link, f"{knob.widget_key} is not carried in the page's URL"

    opened = AppTest.from_file(APP, default_timeout=240)
    for name, value in link.items():
        opened.query_params[name] = value
    opened.run()
    assert not opened.exception and not opened.sidebar.error
    settings = settings_of(opened)
    for knob in KNOBS:
        if knob.name not in not_changed | one_scale_hides:
            assert getattr(settings, knob.name) == getattr(changed, knob.name), knob.name
    assert settings.normalised_style_layer_weights == changed.normalised_style_layer_weights


def settings_of(app: AppTest) -> nst.Settings:
    """The Settings the sidebar now makes, read back from its widgets."""
    from webapp.sidebar import KNOBS

    values = {}
    for knob in KNOBS:
        if knob.widget_key in app.session_state:
            values[knob.name] = knob.setting(app.session_state[knob.widget_key])
    if values.get("optimizer") != "adam":
        values.pop("learning_rate", None)
    layers = values.get("style_layers", ())
    values["style_layer_weights"] = tuple(app.session_state[f"style_layer_weight_{name}"] for name in layers)
    return nst.Settings(**values)


def test_uploaded_masks_put_each_style_on_its_own_region(monkeypatch) -> None:
    recorded = recorded_transfers(monkeypatch)
    app = small_app()
    app.file_uploader(key="blend_uploads").set_value([("dots.png", png(make_style(60, 60, seed=4)), "image/png")]).run()
    app.toggle(key="regions_on").set_value(True).run()
    left, right = Image.new("L", (100, 60), 0), Image.new("L", (100, 60), 0)
    left.paste(255, (0, 0, 50, 60))
    right.paste(255, (50, 0, 100, 60))
    masks = [("left.png", png(left), "image/png"), ("right.png", png(right), "image/png")]
    app.file_uploader(key="mask_uploads").set_value(masks).run()
    assert any("another shape" in i.value for i in app.info)  # the cat photo is 3:2, the masks 5:3
    stylize(app)
    assert not app.exception and not app.error
    ((_, kwargs),) = recorded
    assert [np.asarray(m).mean() > 0 for m in kwargs["masks"]] == [True, True]
    result = app.session_state.session.result
    assert result.status == "done" and len(result.regions) == 2
    assert "2 regions" in app.session_state.session.gallery[-1].title


def test_with_one_painting_each_region_takes_the_part_of_it_given_for_it(monkeypatch) -> None:
    recorded = recorded_transfers(monkeypatch)
    app = small_app()
    app.toggle(key="regions_on").set_value(True).run()
    app.toggle(key="style_regions_on").set_value(True).run()
    assert app.slider(key="regions_count").value == 2
    halves = [Image.new("L", (90, 60), 0) for _ in range(4)]
    halves[0].paste(255, (0, 0, 45, 60))  # on the photo: left, right
    halves[1].paste(255, (45, 0, 90, 60))
    halves[2].paste(255, (0, 0, 90, 30))  # on the painting: top, bottom
    halves[3].paste(255, (0, 30, 90, 60))
    app.file_uploader(key="mask_uploads").set_value([(f"{n}.png", png(m), "image/png") for n, m in
                                                     zip("ab", halves[:2], strict=True)]).run()  # fmt: skip
    app.file_uploader(key="style_mask_uploads").set_value([(f"{n}.png", png(m), "image/png") for n, m in
                                                           zip("cd", halves[2:], strict=True)]).run()  # fmt: skip
    app.toggle(key="regions_inside").set_value(True).run()
    app.multiselect(key="regions_photo_colours").set_value([1]).run()
    stylize(app)
    assert not app.exception and not app.error
    ((args, kwargs),) = recorded
    assert len(kwargs["masks"]) == 2 and len(kwargs["style_masks"]) == 2
    assert args[2].mask_edges == "inside"  # the masks eroded at deeper layers
    assert args[2].region_colours == ("painting", "photo")  # region 2 in the photo's colours
    top, bottom = (np.asarray(m, float) for m in kwargs["style_masks"])
    assert top[: top.shape[0] // 3].mean() > 200 and bottom[: bottom.shape[0] // 3].mean() < 50
    assert app.session_state.session.result.status == "done"


def test_the_large_shapes_of_another_painting_reach_the_run_as_a_repainted_style(monkeypatch) -> None:
    recorded = recorded_transfers(monkeypatch)
    app = small_app(iterations=4)
    app.selectbox(key="coarse_example").set_value("mosaic").run()
    assert not app.exception and not app.error
    stylize(app)
    assert not app.exception and not app.error
    ((args, _),) = recorded
    painting = np.asarray(nst.examples.style("swirls").convert("RGB").resize(args[1].size), float)
    repainted = np.asarray(args[1].convert("RGB"), float)
    assert max(args[1].size) == 128  # at the run's style size
    assert np.abs(repainted - painting).mean() > 20  # the mosaic's shapes, not the swirls picture itself
    assert app.session_state.session.result.status == "done"
    assert app.session_state.session.result.style.name == "swirls with the large shapes of mosaic"
    app.toggle(key="regions_on").set_value(True).run()  # the painting's own regions would not fit it repainted
    assert not app.exception and app.toggle(key="style_regions_on").disabled


def test_a_mask_that_is_not_a_picture_is_a_message_and_the_run_goes_on_without_regions(monkeypatch) -> None:
    recorded = recorded_transfers(monkeypatch)
    app = small_app()
    app.toggle(key="regions_on").set_value(True).run()
    app.file_uploader(key="mask_uploads").set_value([("notes.png", b"not a picture", "image/png")]).run()
    assert not app.exception
    assert any("mask 1" in e.value and "is not a picture" in e.value for e in app.error), [e.value for e in app.error]
    stylize(app)
    ((_, kwargs),) = recorded
    assert kwargs["masks"] is None and app.session_state.session.result.status == "done"


def test_a_print_size_version_continues_the_result_at_twice_its_size(monkeypatch) -> None:
    from webapp.display import DISPLAY_SIDE

    calls = recorded_transfers(monkeypatch)
    app = stylize(small_app())
    result = app.session_state.session.result
    assert [r.label for r in app.radio if r.key == "print_factor"] == ["Enlarge"]
    app.number_input(key="print_dpi").set_value(150)
    app.button(key="print_go").click().run()
    assert not app.exception and not app.error
    version = app.session_state.session.print_version
    width, height = (2 * side for side in result.image.size)
    assert version.status == "done" and version.image.size == (width, height) and version.dpi == 150
    args, kwargs = calls[-1]
    assert args[2].output_size == 256 and args[2].dpi == 150
    assert kwargs["resume"].image is result.image and kwargs["preview_size"] == DISPLAY_SIDE
    labels = [b.label for b in app.download_button]
    assert f"Download print PNG ({width}×{height}, 150 dpi)" in labels
    assert app.session_state.session.result is result  # the result itself is unchanged
    assert not app.session_state.session.print_pending and not app.button(key="print_go").disabled


def test_a_print_size_over_the_limit_or_not_larger_is_refused_with_a_message() -> None:
    app = stylize(small_app())
    app.radio(key="print_factor").set_value("size in px").run()
    app.number_input(key="print_px").set_value(9000).run()
    assert any("up to 4096 px on cpu" in e.value for e in app.error)
    assert app.button(key="print_go").disabled
    app.number_input(key="print_px").set_value(100).run()
    assert any("larger than the picture's own 128 px" in e.value for e in app.error)
    assert app.button(key="print_go").disabled and app.session_state.session.print_version is None
