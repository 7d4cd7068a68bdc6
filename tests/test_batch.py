"""Batch mode: every pair made once, resumable, failures reported, pixels as the single command's."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from nst.commands import main
from tests.conftest import make_content, make_style

TINY = ["--size", "48", "-n", "4", "--precision", "float32", "-q"]


@pytest.fixture
def folders(tmp_path):
    photos, paintings = tmp_path / "photos", tmp_path / "paintings"
    photos.mkdir()
    paintings.mkdir()
    make_content(64, 48).save(photos / "house.png")
    make_content(48, 64).rotate(90, expand=True).save(photos / "tall.jpg")
    (photos / "notes.txt").write_text("not a picture, and not a picture's name")  # ignored: not a picture's suffix
    single = tmp_path / "street.png"
    make_content(80, 50).save(single)
    make_style(40, 40, seed=1).save(paintings / "stripes.png")
    make_style(40, 40, seed=2).save(tmp_path / "waves.png")
    return photos, single, [str(paintings), str(tmp_path / "waves.png")]


def test_every_pair_is_made_once_and_a_rerun_skips_them_all(folders, tmp_path, capsys) -> None:
    photos, single, styles = folders
    out = tmp_path / "out"
    assert main(["batch", str(photos), str(single), "--style", *styles, "-o", str(out), *TINY]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(f"{c}--{s}.png" for c in ("house", "tall", "street") for s in ("stripes", "waves"))
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert main(["batch", str(photos), str(single), "--style", *styles, "-o", str(out)]) == 0  # not quiet
    assert "made 0, skipped 6 (already there), failed 0" in capsys.readouterr().err
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamps  # nothing written again


def test_a_picture_made_in_a_batch_is_the_single_commands_picture(folders, tmp_path) -> None:
    photos, single, styles = folders
    out = tmp_path / "out"
    assert main(["batch", str(single), "--style", styles[1], "-o", str(out), *TINY, "--seed", "3"]) == 0
    alone = tmp_path / "alone.png"
    assert main([str(single), styles[1], "-o", str(alone), *TINY, "--seed", "3"]) == 0
    batch = np.asarray(Image.open(out / "street--waves.png"))
    assert batch.shape == np.asarray(Image.open(alone)).shape and np.array_equal(batch, np.asarray(Image.open(alone)))


def test_an_unreadable_picture_is_reported_and_the_rest_are_made(folders, tmp_path, capsys) -> None:
    photos, single, styles = folders
    (photos / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    out = tmp_path / "out"
    assert main(["batch", str(photos), "--style", styles[1], "-o", str(out), *TINY]) == 1
    err = capsys.readouterr().err
    assert "made 2, skipped 0 (already there), failed 1" in err and "failed: broken.png + waves.png:" in err
    assert sorted(p.name for p in out.iterdir()) == ["house--waves.png", "tall--waves.png"]


def test_a_stopped_batch_leaves_no_half_picture_and_goes_on_when_run_again(folders, tmp_path, monkeypatch) -> None:
    import nst.batch

    photos, single, styles = folders
    real = nst.batch.run_batch

    def stopped_in_the_second_picture(*args, **kwargs):
        # Ctrl-C in the middle of the second picture. Python raises KeyboardInterrupt in the main thread, which
        # reads the pictures' records while threads make them; it is raised where that thread is. (Through
        # _thread.interrupt_main() from a picture's thread, the pending signal went unseen now and then in
        # the whole suite's process.)
        events, pictures = real(*args, **kwargs), []
        try:
            for event in events:
                if event.kind == "step" and event.pair not in pictures:
                    pictures.append(event.pair)
                if len(pictures) == 2 and event.kind == "step" and event.progress.step == 2:
                    raise KeyboardInterrupt
                yield event
        finally:
            events.close()

    monkeypatch.setattr(nst.batch, "run_batch", stopped_in_the_second_picture)
    out = tmp_path / "out"
    command = ["batch", str(photos), "--style", styles[1], "-o", str(out), *TINY]
    assert main(command) == 130
    assert [p.name for p in out.iterdir()] == ["house--waves.png"]  # the second was not written at all
    monkeypatch.setattr(nst.batch, "run_batch", real)
    assert main(command) == 0
    assert sorted(p.name for p in out.iterdir()) == ["house--waves.png", "tall--waves.png"]


def test_missing_inputs_and_empty_folders_are_refused_with_a_message(tmp_path, capsys) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["batch", str(empty), "--style", str(tmp_path), "-o", str(tmp_path / "o")]) == 2
    assert "the content folder" in capsys.readouterr().err
    assert main(["batch", str(tmp_path / "nope.jpg"), "--style", "x.png", "-o", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_a_paintings_targets_are_computed_once_for_all_the_photos(tmp_path) -> None:
    """Three styles at three scales and two photos' content need 15 entries: more than the place's 8."""
    from nst import Settings
    from nst.batch import plan_batch, run_batch
    from nst.execution import LocalExecutor
    from nst.execution.local import local_place

    photos = [tmp_path / f"photo{i}.png" for i in range(2)]
    paintings = [tmp_path / f"painting{i}.png" for i in range(3)]
    for i, path in enumerate(photos):
        make_content(64, 48).rotate(180 * i).save(path)
    for i, path in enumerate(paintings):
        make_style(40, 40, seed=i).save(path)
    place = local_place()
    (tmp_path / "out").mkdir()
    settings = Settings(output_size=64, start_size=32, scales=3, iterations=3, precision="float32")
    events = list(run_batch(plan_batch(photos, paintings, tmp_path / "out"), settings, LocalExecutor(place=place)))
    assert sum(event.kind == "done" for event in events) == 6
    assert place.cache.computed == 3 * 3 + 2 * 3  # each painting and each photo at each scale, once
