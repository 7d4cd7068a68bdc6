"""The app's one-pass parts (AppTest): the contact sheet of learned styles, the camera, the teaching view."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.test_app import APP, small_app, stylize


def test_a_learned_style_becomes_the_style_picture_with_one_click() -> None:
    app = small_app()
    app.button(key="learned_sheet_paint").click().run()
    assert not app.exception
    sheet = app.session_state.session.learned_sheet
    assert sheet is not None and len(sheet[1]) == 26
    app.button(key="learned_use_7").click().run()
    chosen = app.session_state.session.learned_style
    assert chosen is not None and chosen.name == "learned style 7"
    assert app.selectbox(key="style_example").disabled
    captions = [image.proto.imgs[0].caption for image in app.image]
    assert any("learned style 7" in caption for caption in captions)
    app.button(key="learned_style_clear").click().run()
    assert app.session_state.session.learned_style is None and not app.selectbox(key="style_example").disabled


def test_the_camera_is_offered_only_when_asked_for() -> None:
    app = AppTest.from_file(APP, default_timeout=240).run()
    assert not app.get("camera_input")
    app.toggle(key="content_camera").set_value(True).run()
    assert not app.exception and len(app.get("camera_input")) == 1


def test_the_teaching_view_judges_one_pass_and_optimisation_side_by_side() -> None:
    app = stylize(small_app())
    app.button(key="versus_judge").click().run()
    assert not app.exception and not app.error
    judged = app.session_state.session.versus
    assert set(judged) == {"the photo itself", "one pass", "optimisation"}
    assert judged["one pass"]["style"] < judged["the photo itself"]["style"]
    assert judged["optimisation"]["style"] < judged["the photo itself"]["style"]


def test_refine_stylizes_from_the_one_pass_picture_with_its_steps() -> None:
    app = small_app()
    app.selectbox(key="init").set_value("content").run()  # Refine is offered where Stylize would not refine
    app.button(key="instant_refine").click().run()
    assert not app.exception and not app.error
    assert app.session_state["init"] == "instant" and app.slider(key="iterations").value == 10
    result = app.session_state.session.result
    assert result.status == "done" and result.step == result.total == 10 and max(result.image.size) == 128


def test_stylize_refines_the_one_pass_picture_by_default_and_the_steps_follow_the_start() -> None:
    app = AppTest.from_file(APP, default_timeout=240).run()
    assert app.selectbox(key="preset").value == "one pass, refined"
    assert app.selectbox(key="init").value == "instant" and app.slider(key="iterations").value == 10
    assert not [b for b in app.button if b.key == "instant_refine"]  # Stylize does that
    app.select_slider(key="output_size").set_value(128)
    result = stylize(app).session_state.session.result
    assert not app.exception and result.status == "done"
    assert result.settings.init == "instant" and result.step == result.total == 10
    app.selectbox(key="init").set_value("content").run()
    assert app.slider(key="iterations").value == 120  # the optimisation's own default from the photo
    app.slider(key="iterations").set_value(50).run()
    app.selectbox(key="init").set_value("instant").run()
    assert app.slider(key="iterations").value == 50  # steps a person chose stay
    app.selectbox(key="preset").set_value("default").run()
    assert app.selectbox(key="init").value == "content" and app.slider(key="iterations").value == 120
