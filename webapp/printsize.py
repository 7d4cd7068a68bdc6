"""Make a print-size version of a result: continue it at 2x, 4x or a chosen size.

The result's picture is the starting point; the engine goes on coarse to fine from its size
up to the print size (``nst.Resume``), and scales too large for the memory budget work in
tiles (``nst.tiles``). The run takes its turn in the device's queue like every other run (on a cluster: a worker's);
the page gets display-sized previews only, and a status line per scale and tile with an
ETA. The finished picture downloads as a PNG whose name carries its size and whose DPI is
written in the file. Stop ends the run and keeps the result as it was.
"""

from __future__ import annotations

import time
from typing import Any

import streamlit as st

from nst import NSTError, Progress, Resume, Settings
from nst.device import resolve_device
from nst.images import scaled_size
from nst.jobs.picture import PictureJob
from webapp.display import DISPLAY_SIDE, file_name, fit, png
from webapp.resources import LIMITS
from webapp.state import PrintVersion, Result, session
from webapp.turns import run_turn

FACTORS = {"2×": 2, "4×": 4, "size in px": 0}
PRINT_STEPS = 20  # steps over the scales from the result's size up to the print size
PREVIEW_SECONDS = 2.0  # a print-size step takes seconds to minutes: previews seldom matter
CM_PER_INCH = 2.54


def print_size_ui(result: Result | None) -> None:
    """Under a finished (or stopped) result: the size, the DPI, the button and the print's download."""
    if result is None or result.status not in ("done", "stopped"):
        return
    record = session()
    with st.expander("Make a print-size version", expanded=record.print_version is not None):
        longest = max(result.image.size)
        columns = st.columns([1.4, 1, 1])
        factor = FACTORS[columns[0].radio("Enlarge", list(FACTORS), horizontal=True, key="print_factor")]
        asked = columns[1].number_input(
            "Longest side, px", min_value=64, max_value=20_000, value=longest * 2, step=256, key="print_px",
            disabled=factor != 0,
        )  # fmt: skip
        dpi = int(columns[2].number_input("DPI", min_value=30, max_value=2400, value=300, step=50, key="print_dpi"))
        size = longest * factor if factor else int(asked)
        width, height = scaled_size(result.content.image.size, size)  # as the engine sizes it: from the photo
        settings = result.settings.from_the_photo().replace(
            output_size=size, dpi=dpi, iterations=PRINT_STEPS, preview_every=0
        )
        problem = _problem(settings, size, longest)
        st.caption(
            f"{width}×{height} px prints at {width / dpi * CM_PER_INCH:.1f} × {height / dpi * CM_PER_INCH:.1f} cm "
            f"({width / dpi:.1f} × {height / dpi:.1f} in) at {dpi} dpi. {PRINT_STEPS} steps from this picture's "
            "size up; large sizes work in tiles within the memory budget and take minutes a step on a CPU."
        )
        if problem:
            st.error(problem)
        left, right = st.columns(2)
        left.button("Make print-size version", key="print_go", type="primary", disabled=bool(problem) or
                    record.print_pending, on_click=_request, args=(True,), icon=":material/print:")  # fmt: skip
        right.button("Stop print run", key="print_stop", disabled=not record.print_pending, on_click=_request,
                     args=(False,))  # fmt: skip
        status, picture = st.empty(), st.empty()
        if record.print_pending and not problem:
            _run(status, picture, result, settings)
        _show(status, picture, record.print_version, result)


def _request(go: bool) -> None:
    record = session()
    record.print_pending = go
    if not go and record.print_version is not None and record.print_version.status == "running":
        record.print_version.status = "stopped"


def _problem(settings: Settings, size: int, longest: int) -> str:
    """Why this print size cannot be made here, or ``""``."""
    if size <= longest:
        return f"Choose a size larger than the picture's own {longest} px."
    try:
        LIMITS.check(settings, str(resolve_device(settings.device)))
    except NSTError as error:
        return str(error).capitalize() + "."
    return ""


def _run(status: Any, picture: Any, result: Result, settings: Settings) -> None:
    record = session()
    version = PrintVersion(size=settings.output_size, dpi=settings.dpi, of=id(result))
    record.print_version = version
    with run_turn(status, settings, record.cache) as turn:  # here, or on a cluster's worker
        if turn is None:  # run_turn has said why in the status line
            version.status, version.message, record.print_pending = "failed", "The device is not usable.", False
            return
        started = time.perf_counter()
        latest: dict[str, Progress] = {}

        def on_tile(done: int, count: int) -> None:  # an st call: Stop ends the run here, within a tile
            status.progress(done / count, text=f"{_line(latest.get('p'), settings)} · tile {done} of {count}")

        engine = turn.start(
            PictureJob(
                result.content.image,
                result.style.images,
                settings,
                resume=Resume(result.image, step=0, total=settings.iterations),
                masks=list(result.regions) or None,
                preview_seconds=PREVIEW_SECONDS,
                preview_size=DISPLAY_SIDE,
                on_tile=None if turn.remote else on_tile,  # a worker's tiles are not reported, only its steps
            )
        )
        try:  # a rerun (a widget moved) interrupts this and asks for the print again: it stays pending
            for progress in engine:
                latest["p"] = progress
                version.seconds = time.perf_counter() - started
                if progress.image is not None and not progress.done:
                    picture.image(progress.image, caption="print-size version, forming", width="stretch")
                status.progress(progress.step / progress.total, text=_line(progress, settings))
                if progress.done and progress.image is not None:
                    version.image, version.status = progress.image, "done"
            version.notes = list(engine.notes)  # a cluster's worker was lost on the way
            record.print_pending = False
        except NSTError as error:
            version.status, version.message, record.print_pending = "failed", str(error), False
        finally:
            engine.close()
    st.rerun()  # draw the panel again as it is now: the button enabled, the download offered


def _line(progress: Progress | None, settings: Settings) -> str:
    if progress is None:
        return f"Starting the print-size version ({settings.output_size} px)"
    width, height = progress.size
    return (
        f"Print-size version: step {progress.step} of {progress.total} · scale {progress.scale}/{progress.scales} "
        f"({width}×{height}) · {progress.elapsed:.0f} s · about {progress.eta:.0f} s left"
    )


def _show(status: Any, picture: Any, version: PrintVersion | None, result: Result) -> None:
    if version is None or version.status == "running" or version.of != id(result):
        return
    if version.status == "done" and version.image is not None:
        width, height = version.image.size
        status.success(f"Print-size version: {width}×{height} px in {version.seconds:.0f} s.")
        for note in version.notes:
            st.info(note, icon=":material/sync_problem:")
        smaller = " (shown smaller)" if max(width, height) > DISPLAY_SIDE else ""
        picture.image(fit(version.image, DISPLAY_SIDE), caption=f"{width}×{height} px{smaller}")
        st.download_button(
            f"Download print PNG ({width}×{height}, {version.dpi} dpi)",
            png(version.image, version.dpi),
            file_name=file_name(result).removesuffix(".png") + f"-{width}x{height}-{version.dpi}dpi.png",
            mime="image/png",
            icon=":material/download:",
            on_click="ignore",
            key="download_print",
        )
    elif version.status == "stopped":
        status.info("The print-size run was stopped; the picture above is unchanged.")
    else:
        status.error(version.message or "The print-size run failed.")
