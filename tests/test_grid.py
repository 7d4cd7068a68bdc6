"""The alpha/beta grid: ratios across, style depth down, targets shared."""

from __future__ import annotations

from nst import Settings
from nst.grid import cells, ratio_grid

from conftest import make_content, make_style


def test_the_grid_has_five_depths_down_and_the_ratios_across() -> None:
    plan = cells(Settings(content_weight=5.0), size=80, steps=3, ratios=(10.0, 100.0))
    assert [(c.row, c.column) for c in plan[:3]] == [(0, 0), (0, 1), (1, 0)] and len(plan) == 10
    assert plan[0].settings.style_layers == ("relu1_1",) and len(plan[-1].settings.style_layers) == 5
    assert [c.settings.style_weight for c in plan[:2]] == [10.0, 100.0]
    assert all(c.settings.content_weight == 1.0 and c.settings.output_size == 80 for c in plan)
    assert plan[-1].label == "β/α 100, style from relu1_1…relu5_1"


def test_the_grid_starts_from_the_photo_where_the_settings_start_from_the_one_pass_picture() -> None:
    assert {cell.settings.init for cell in cells(Settings(init="instant", iterations=10))} == {"content"}
    assert {cell.settings.init for cell in cells(Settings(init="noise"))} == {"noise"}


def test_more_style_weight_moves_the_picture_further_from_the_photo(local_executor) -> None:
    photo, cache = make_content(64, 48), local_executor.place.cache
    finished = {
        (step.cell.row, step.cell.column): step.progress
        for step in ratio_grid(local_executor, photo, make_style(), size=64, steps=8, ratios=(1.0, 1000.0))
        if step.progress.done
    }
    assert len(finished) == 10 and all(p.image is not None for p in finished.values())
    # Further from the photo as the network sees it: its relu4_2 features (the content error).
    # (Pixel distance is a poor proxy: the shallowest layer alone repaints the photo at any ratio.)
    assert all(finished[row, 1].content_loss > 1.2 * finished[row, 0].content_loss for row in range(5))
    assert cache.computed == 1 + 5  # the photo's features once, one style target set per depth
