"""Scale per style (Gatys et al. 2017): a style picture with one picture's large shapes and another's
fine strokes, made with the real VGG19 on tiny pictures."""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image

from nst import Settings, SettingsError
from nst.commands import main
from nst.images import to_tensor
from nst.jobs.picture import PictureJob
from nst.losses import gram_matrix, relative_squared_error
from nst.scale_mix import mixed_style, with_coarse_styles
from nst.targets import picture_digest

from conftest import make_content, make_style

SETTINGS = Settings(output_size=64, iterations=4, scales=1, preview_every=0, precision="float32")
FINE = ("relu1_1", "relu2_1")


def halves() -> Image.Image:
    """Large shapes and nothing fine: a dark blue left half and a bright yellow right half."""
    pixels = np.zeros((64, 64, 3), np.uint8)
    pixels[:, :32] = (30, 40, 120)
    pixels[:, 32:] = (235, 215, 60)
    return Image.fromarray(pixels)


def fine_error(extractor, picture: Image.Image, painting: Image.Image) -> float:
    with torch.no_grad():
        ours, theirs = extractor(to_tensor(picture), FINE), extractor(to_tensor(painting), FINE)
        return float(sum(relative_squared_error(gram_matrix(ours[n]), gram_matrix(theirs[n])) for n in FINE) / 2)


def test_the_coarse_picture_takes_the_fine_pictures_strokes_and_keeps_its_layout(caffe_extractor) -> None:
    stripes, coarse = make_style(64, 64), halves()
    mixed = mixed_style(stripes, coarse, SETTINGS, caffe_extractor)
    assert mixed.size == (64, 64)
    # the fine statistics are now the stripes' ...
    assert fine_error(caffe_extractor, mixed, stripes) < 0.2 * fine_error(caffe_extractor, coarse, stripes)
    # ... colours included (relu1_1 reads them), while the large shapes stay: the two halves still differ,
    # where the stripes' own halves are alike
    assert halves_apart(mixed) > 20 and halves_apart(mixed) > 3 * halves_apart(stripes)


def halves_apart(picture: Image.Image) -> float:
    pixels = np.asarray(picture, float)
    middle = pixels.shape[1] // 2
    return float(np.abs(pixels[:, :middle].mean((0, 1)) - pixels[:, middle:].mean((0, 1))).mean())


def test_each_style_takes_its_own_coarse_picture_a_style_given_as_its_own_is_left_and_a_wrong_count_refused(
    caffe_extractor,
) -> None:
    stripes, coarse = make_style(64, 64), halves()
    mixed = with_coarse_styles([stripes, stripes], [coarse, stripes], SETTINGS, caffe_extractor)
    assert np.asarray(mixed[1]).tobytes() == stripes.tobytes()  # its own picture: left as it is
    assert np.abs(np.asarray(mixed[0], float) - np.asarray(stripes, float)).mean() > 20
    try:
        with_coarse_styles([stripes, stripes, stripes], [coarse, coarse], SETTINGS, caffe_extractor)
    except SettingsError as error:
        assert "one coarse picture, or one per style picture: 2 coarse pictures for 3 style pictures" in str(error)
    else:
        raise AssertionError("two coarse pictures for three styles were taken")


def test_a_run_with_a_coarse_picture_repaints_it_once_and_reuses_it(local_executor) -> None:
    photo, stripes, coarse = make_content(64, 48), make_style(64, 64), halves()
    job = PictureJob(photo, stripes, SETTINGS, coarse_styles=[coarse])
    first = list(local_executor.run(job))
    assert first[-1].done and first[-1].image is not None
    entries = [key for key in local_executor.place.cache.keys() if key[0] == "mixed style"]
    assert len(entries) == 1
    reused = local_executor.place.cache.reused
    list(local_executor.run(job))  # live tuning: the same pictures again
    assert local_executor.place.cache.reused > reused
    assert [key for key in local_executor.place.cache.keys() if key[0] == "mixed style"] == entries


def test_each_region_takes_its_own_large_shapes(local_executor) -> None:
    photo, stripes, blocks = make_content(64, 48), make_style(64, 64), make_style(64, 64, seed=7)
    left, right = Image.new("L", (64, 48), 0), Image.new("L", (64, 48), 0)
    left.paste(255, (0, 0, 32, 48))
    right.paste(255, (32, 0, 64, 48))
    # region 1: the stripes' strokes on the halves' shapes; region 2: its own picture, left as it is
    job = PictureJob(photo, [stripes, blocks], SETTINGS, masks=[left, right], coarse_styles=[halves(), blocks])
    records = list(local_executor.run(job))
    assert records[-1].done and records[-1].image is not None
    mixed = [key for key in local_executor.place.cache.keys() if key[0] == "mixed style"]
    assert len(mixed) == 1 and mixed[0][1:3] == (picture_digest(stripes), picture_digest(halves()))


def test_the_command_line_takes_coarse_styles_and_refuses_them_with_style_masks(tmp_path, capsys) -> None:
    photo, painting, coarse, out = (tmp_path / f"{n}.png" for n in ("photo", "painting", "coarse", "out"))
    make_content(64, 48).save(photo)
    make_style(64, 64).save(painting)
    halves().save(coarse)
    common = [str(photo), str(painting), "-o", str(out), "--size", "48", "-n", "3"]
    assert main([*common, "--coarse-styles", str(coarse)]) == 0
    assert Image.open(out).size == (48, 36)
    assert "repainted with its style picture's strokes" in capsys.readouterr().err
    mask = tmp_path / "mask.png"
    Image.new("L", (64, 48), 255).save(mask)
    style_mask = tmp_path / "style_mask.png"
    Image.new("L", (64, 64), 255).save(style_mask)
    wrong = ["--masks", str(mask), "--style-masks", str(style_mask), "--coarse-styles", str(coarse), "-q"]
    assert main([*common, *wrong]) == 2
    err = capsys.readouterr().err
    assert "do not go together" in err and "Traceback" not in err, err


def test_a_job_carries_its_coarse_pictures_to_a_worker() -> None:
    job = PictureJob(make_content(64, 48), make_style(64, 64), SETTINGS, coarse_styles=[halves()])
    again = PictureJob.from_wire(job.to_wire())
    assert again.coarse_styles is not None and len(again.coarse_styles) == 1
    assert Image.open(io.BytesIO(again.coarse_styles[0])).convert("RGB").tobytes() == halves().tobytes()
    assert PictureJob.from_wire(PictureJob(make_content(), make_style(), SETTINGS).to_wire()).coarse_styles is None
