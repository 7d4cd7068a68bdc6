"""Gatys et al.'s Figure 3: style-to-content ratios across, style layers down; a cell continues at full size."""

from __future__ import annotations

import streamlit as st

from nst import Settings
from nst.grid import RATIOS, STYLE_DEPTHS, GridStep, ratio_grid
from webapp.sidebar import write_settings
from webapp.state import GridOutcome, Picture, Result, session
from webapp.turns import figure_controls, small_runs_ui


def grid_ui(settings: Settings | None, content: Picture | None, style: Picture | None) -> GridOutcome | None:
    """The grid's controls, the grid when drawn, and its cells (kept in the session)."""
    record = session()
    st.caption(
        "Each cell is a small run from the same start: to the right the style weighs more against the content; "
        "downwards the style is matched on more layers, so its larger structures appear. "
        "**Continue** under a cell takes its weights and layers into the sidebar and goes on at full size."
    )
    ready = settings is not None and content is not None and style is not None
    asked = figure_controls("grid", [64, 96, 128, 192], 96, (150, 40, 10), "cell", "Draw the grid",
                            ":material/grid_view:", ready)  # fmt: skip
    if asked.start and settings is not None and content is not None and style is not None:
        grid = record.grid = GridOutcome(content, style)
        grid_steps = small_runs_ui(
            asked.status,
            settings,
            asked.steps,
            lambda executor, parallel: ratio_grid(executor, content.image, style.images, settings, size=asked.size,
                                                  steps=asked.steps, parallel=parallel, owner=record.tag),
        )  # fmt: skip
        for grid_step in grid_steps:
            _keep(grid, grid_step)
    shown = record.grid
    if shown is None or not shown.cells:
        return shown
    header = st.columns(len(RATIOS) + 1)
    header[0].markdown("**style layers ↓ · β/α →**")
    for column, ratio in zip(header[1:], RATIOS, strict=True):
        column.markdown(f"**{ratio:g}**")
    for row, depth in enumerate(STYLE_DEPTHS):
        columns = st.columns(len(RATIOS) + 1)
        columns[0].markdown("relu1_1" if row == 0 else f"relu1_1 … {depth}")
        for column_index, column in enumerate(columns[1:]):
            if (row, column_index) not in shown.cells:
                continue
            cell, picture = shown.cells[row, column_index]
            column.image(picture, width="stretch")
            column.button("Continue", key=f"grid_continue_{row}_{column_index}", on_click=_continue_cell,
                          args=(row, column_index), icon=":material/open_in_full:", help=cell.label)  # fmt: skip
    return shown


def _keep(grid: GridOutcome, grid_step: GridStep) -> None:
    if grid_step.progress.done and grid_step.progress.image is not None:
        cell = grid_step.cell
        grid.cells[cell.row, cell.column] = (cell, grid_step.progress.image)


def _continue_cell(row: int, column: int) -> None:
    """Take a grid cell's weights and layers into the sidebar and continue from its picture at full size."""
    record = session()
    grid = record.grid
    if grid is None:
        return
    cell, picture = grid.cells[row, column]
    write_settings(cell.settings, ("content_weight", "style_weight", "style_layers"))
    record.result = Result(
        image=picture, step=0, total=0, settings=cell.settings, content=grid.content, style=grid.style, status="done"
    )
    record.pending = "continue"
