"""The optimiser race: two runs on the same pictures side by side, both forming live.

Both use the sidebar's settings except the optimiser and its learning rate, and both start
from the photo where the sidebar says the one-pass picture (the race is the optimisers'); the chart
shows the loss against steps and against each run's own computing time.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Generator
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from nst import DivergedError, Settings
from nst.jobs.picture import PictureJob
from nst.race import Lap, race_on
from nst.settings import LEARNING_RATES, help_text
from webapp.display import DISPLAY_SIDE, OPTIMISER_NAMES, STYLE_LOSS_NAMES, fit, number
from webapp.sidebar import BIND
from webapp.state import Lane, Picture, RaceOutcome, session
from webapp.stylize import CHART_SECONDS, PREVIEW_SECONDS
from webapp.turns import fair_share, runs_executor


def race_ui(settings: Settings | None, content: Picture | None, style: Picture | None) -> RaceOutcome | None:
    """The race's controls, the race when started, and its outcome (kept in the session)."""
    record = session()
    st.caption(
        "Which optimiser wins, and what does the style loss change? The same pictures and weights, two "
        "runners with their own optimiser and style loss, one step each in turn (on a cluster of four or more "
        "workers, each on a worker of its own at once). The race runs single-scale at the size chosen here; the "
        "rest comes from the sidebar. Two style losses measure the style differently, so compare their pictures, "
        "not their loss curves."
    )
    left, right, options = st.columns([1, 1, 1])
    with left:
        runner_a = _runner_ui("A", "lbfgs")
    with right:
        runner_b = _runner_ui("B", "adam")
    with options:
        size = st.select_slider("Size (px)", [128, 192, 256, 384, 512], value=256, key="race_size", bind=BIND)
        steps = st.slider("Steps each", 10, 300, 60, 10, key="race_steps", bind=BIND)
        start = st.button("Start the race", key="race_start", icon=":material/sports_score:", type="primary",
                          disabled=settings is None or content is None or style is None)  # fmt: skip
    slots = {name: column.empty() for name, column in zip("AB", st.columns(2), strict=True)}
    chart = st.empty()
    if start and settings is not None and content is not None and style is not None:
        base = settings.from_the_photo().replace(output_size=size, iterations=steps, scales=1, preview_every=0)
        _run_race({"A": base.replace(**runner_a), "B": base.replace(**runner_b)}, content, style, slots, chart)
    outcome = record.race
    if outcome is not None:
        for name, lane in outcome.lanes.items():
            if lane.image is not None:
                slots[name].image(fit(lane.image, DISPLAY_SIDE), caption=lane.caption, width="stretch")
        if outcome.history:
            chart.altair_chart(race_chart(outcome.history), width="stretch")
    return outcome


def _runner_ui(name: str, optimizer: str) -> dict[str, Any]:
    """One runner's optimiser, learning rate and style loss."""
    st.markdown(f"**Runner {name}**")
    chosen = st.radio(
        "Optimiser",
        list(OPTIMISER_NAMES),
        index=list(OPTIMISER_NAMES).index(optimizer),
        horizontal=True,
        key=f"race_optimizer_{name}",
        format_func=OPTIMISER_NAMES.get,
    )
    rate = st.select_slider(
        "Learning rate", LEARNING_RATES[chosen], value=Settings(optimizer=chosen).lr, key=f"race_rate_{name}_{chosen}"
    )
    loss = st.radio(
        "Style loss",
        list(STYLE_LOSS_NAMES),
        horizontal=True,
        key=f"race_style_loss_{name}",
        format_func=STYLE_LOSS_NAMES.get,
        help=help_text("style_loss"),
    )
    return {"optimizer": chosen, "learning_rate": rate, "style_loss": loss}


def _label(name: str, settings: Settings) -> str:
    loss = "" if settings.style_loss == "gram" else f", {settings.style_loss}"
    return f"{name}: {OPTIMISER_NAMES[settings.optimizer]}, lr {number(settings.lr)}{loss}"


def _run_race(
    configs: dict[str, Settings], content: Picture, style: Picture, slots: dict[str, Any], chart: Any
) -> None:
    """Race the runs (here on this session's turn, or on a cluster's workers); the latest
    pictures and losses stay in the session."""
    record = session()
    labels = {name: _label(name, settings) for name, settings in configs.items()}
    outcome = RaceOutcome(lanes={name: Lane(labels[name]) for name in configs})
    record.race = outcome
    jobs = {name: PictureJob(content.image, style.images, settings, preview_seconds=PREVIEW_SECONDS,
                             preview_size=DISPLAY_SIDE) for name, settings in configs.items()}  # fmt: skip
    with runs_executor(chart, configs["A"], record.cache) as executor:
        if executor is None:
            return
        if executor.remote:  # each runner on its own worker when half the workers allow two
            laps = race_on(executor, jobs, parallel=min(2, fair_share(executor)), owner=record.tag)
        else:  # here: the runners take turns step by step, on this session's turn on the device
            laps = race_on(executor, {name: dataclasses.replace(job, preview_size=None) for name, job in jobs.items()})
        _show_laps(laps, outcome, labels, slots, chart)


def _show_laps(
    laps: Generator[Lap, None, None], outcome: RaceOutcome, labels: dict[str, str], slots: dict[str, Any], chart: Any
) -> None:
    """Draw each lap as it comes: the runner's picture and caption, the chart now and then."""
    last_chart = 0.0
    try:
        for lap in laps:
            lane = outcome.lanes[lap.name]
            if lap.error is not None or lap.progress is None:
                lane.caption = f"{labels[lap.name]}: stopped, {lap.error}"
                if isinstance(lap.error, DivergedError) and lap.error.last_image is not None:
                    lane.image = lap.error.last_image
                continue
            progress = lap.progress
            outcome.history.append(
                {"runner": labels[lap.name], "step": progress.step, "seconds": lap.seconds, "loss": progress.loss}
            )
            if progress.image is not None:
                lane.image = progress.image
                lane.caption = f"{labels[lap.name]}: step {progress.step}, loss {progress.loss:.3g}"
                slots[lap.name].image(fit(progress.image, DISPLAY_SIDE), output_format="JPEG",
                                      caption=lane.caption, width="stretch")  # fmt: skip
            if time.perf_counter() - last_chart >= CHART_SECONDS:
                last_chart = time.perf_counter()
                chart.altair_chart(race_chart(outcome.history), width="stretch")
    finally:
        laps.close()


def race_chart(history: list[dict[str, float | str]]) -> alt.HConcatChart:
    """Loss against steps and against each runner's own seconds, one line per runner."""
    frame = pd.DataFrame(history)
    frame = frame[frame["loss"] > 0]

    def panel(x: str, title: str) -> alt.Chart:
        chart: alt.Chart = (
            alt.Chart(frame, height=220, width=300, title=title)
            .mark_line()
            .encode(
                x=alt.X(f"{x}:Q", title=x),
                y=alt.Y("loss:Q", scale=alt.Scale(type="log"), title="total loss"),
                color=alt.Color("runner:N", title=None),
            )
        )
        return chart

    return alt.hconcat(panel("step", "Loss per step"), panel("seconds", "Loss per second of computing"))
