"""Regions: a mask per style picture, guided Gram matrices, on small pictures with the real VGG19."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from nst import Settings, SettingsError, transfer
from nst.commands import main
from nst.images import to_tensor
from nst.losses import gram_matrix, relative_squared_error
from nst.regions import layer_masks, load_masks, region_colours

from conftest import make_content, make_style

WIDTH, HEIGHT = 96, 64
RUN = Settings(output_size=WIDTH, iterations=40, scales=1, preview_every=0)


def checks() -> Image.Image:
    """A second 'painting' unlike make_style's stripes: hard-edged coloured blocks."""
    yy, xx = np.mgrid[0:64, 0:64]
    pixels = np.stack([(xx // 8 % 2) * 255, (yy // 8 % 2) * 255, np.full_like(xx, 128)], -1)
    return Image.fromarray(pixels.astype(np.uint8))


def half(left: bool, size: tuple[int, int] = (WIDTH, HEIGHT)) -> Image.Image:
    columns = np.mgrid[0 : size[1], 0 : size[0]][1]
    return Image.fromarray((((columns < size[0] // 2) == left) * 255).astype(np.uint8))


def style_error(extractor, picture: Image.Image, painting: Image.Image, layers=("relu1_1", "relu2_1", "relu3_1")):
    """Mean relative Gram error of ``picture`` against ``painting`` over a few layers."""
    with torch.no_grad():
        ours = extractor(to_tensor(picture), layers)
        theirs = extractor(to_tensor(painting), layers)
        errors = [relative_squared_error(gram_matrix(ours[n]), gram_matrix(theirs[n])) for n in layers]
    return float(torch.stack(errors).mean())


def test_each_half_takes_the_style_of_its_own_mask(caffe_extractor) -> None:
    photo, stripes, blocks = make_content(WIDTH, HEIGHT), make_style(64, 64), checks()
    records = list(transfer(photo, [stripes, blocks], RUN, extractor=caffe_extractor, masks=[half(True), half(False)]))
    result = records[-1].image
    left, right = result.crop((0, 0, WIDTH // 2, HEIGHT)), result.crop((WIDTH // 2, 0, WIDTH, HEIGHT))
    assert style_error(caffe_extractor, left, stripes) < style_error(caffe_extractor, left, blocks)
    assert style_error(caffe_extractor, right, blocks) < style_error(caffe_extractor, right, stripes)
    assert records[-1].style_loss < 0.5 * records[0].style_loss


def test_a_white_mask_gives_the_same_picture_as_no_mask(caffe_extractor) -> None:
    photo, stripes = make_content(WIDTH, HEIGHT), make_style(64, 64)
    settings = RUN.replace(iterations=10)
    plain = list(transfer(photo, stripes, settings, extractor=caffe_extractor))
    white = Image.new("L", (WIDTH, HEIGHT), 255)
    masked = list(transfer(photo, [stripes], settings, extractor=caffe_extractor, masks=[white]))
    assert masked[0].style_loss == pytest.approx(plain[0].style_loss, rel=1e-4)
    difference = np.abs(np.asarray(masked[-1].image, float) - np.asarray(plain[-1].image, float))
    assert difference.mean() < 1.0  # of 255: the same picture up to float rounding over 10 steps


def test_black_masks_everywhere_leave_the_photo_and_say_so(caffe_extractor, caplog) -> None:
    photo = make_content(WIDTH, HEIGHT)
    black = Image.new("L", (WIDTH, HEIGHT), 0)
    records = list(transfer(photo, [make_style(), checks()], RUN.replace(iterations=5), extractor=caffe_extractor,
                            masks=[black, black]))  # fmt: skip
    assert all(r.style_loss == 0.0 for r in records)
    assert np.abs(np.asarray(records[-1].image, float) - np.asarray(photo, float)).max() <= 1.0
    assert "every mask is empty" in caplog.text and "mask 2 is empty" in caplog.text


def test_masks_are_averaged_over_each_layers_window_down_to_the_layer() -> None:
    mask = torch.zeros(1, 1, 32, 40)
    mask[..., :, :17] = 1.0  # a left region whose edge falls inside a pooling window
    reference = mask
    for _ in range(2):  # conv1_1, conv1_2: 3x3 means, counting only positions inside the picture
        reference = F.avg_pool2d(reference, 3, stride=1, padding=1, count_include_pad=False)
    reference = F.avg_pool2d(reference, 2)  # pool1
    reference = F.avg_pool2d(reference, 3, stride=1, padding=1, count_include_pad=False)  # conv2_1
    resampled = layer_masks(mask, ["relu2_1"])["relu2_1"]
    torch.testing.assert_close(resampled, reference)
    assert resampled.shape == (1, 1, 16, 20) and 0 < float(resampled[0, 0, 0, 8]) < 1  # a soft edge
    assert float(resampled[0, 0, 5, 0]) == 1.0 and float(resampled[0, 0, 5, -1]) == 0.0


def test_inside_masks_keep_only_neurons_wholly_in_the_region_and_never_lose_a_thin_one() -> None:
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., :, 32:] = 1.0
    soft = layer_masks(mask, ["relu1_1", "relu3_1"])
    inside = layer_masks(mask, ["relu1_1", "relu3_1"], inside=True)
    for layer in ("relu1_1", "relu3_1"):
        assert set(torch.unique(inside[layer]).tolist()) == {0.0, 1.0}  # in or out: no soft edge
        assert float(inside[layer].sum()) < float(soft[layer].sum())  # the edge eaten away, not the region
        assert bool((inside[layer] <= soft[layer]).all())
    thin = torch.zeros(1, 1, 64, 64)
    thin[..., :, 30:34] = 1.0  # 4 px wide: nothing of it is wholly inside relu3_1's windows
    deep = layer_masks(thin, ["relu3_1"], inside=True)["relu3_1"]
    torch.testing.assert_close(deep, layer_masks(thin, ["relu3_1"])["relu3_1"])  # the soft mask, still matched


def test_a_run_with_inside_masks_gives_each_half_its_own_style(caffe_extractor) -> None:
    photo, stripes, blocks = make_content(WIDTH, HEIGHT), make_style(64, 64), checks()
    settings = RUN.replace(mask_edges="inside")
    records = list(transfer(photo, [stripes, blocks], settings, extractor=caffe_extractor,
                            masks=[half(True), half(False)]))  # fmt: skip
    result = records[-1].image
    left, right = result.crop((0, 0, WIDTH // 2, HEIGHT)), result.crop((WIDTH // 2, 0, WIDTH, HEIGHT))
    assert style_error(caffe_extractor, left, stripes) < style_error(caffe_extractor, left, blocks)
    assert style_error(caffe_extractor, right, blocks) < style_error(caffe_extractor, right, stripes)
    soft = list(transfer(photo, [stripes, blocks], RUN.replace(iterations=1), extractor=caffe_extractor,
                         masks=[half(True), half(False)]))  # fmt: skip
    assert records[0].style_loss != pytest.approx(soft[0].style_loss)  # the eroded masks, not the soft ones


def test_masks_of_another_shape_are_stretched_with_a_note_and_a_wrong_count_is_refused() -> None:
    masks, notes = load_masks([half(True, (40, 40))], (WIDTH, HEIGHT), styles=1)
    assert masks[0].size == (WIDTH, HEIGHT) and masks[0].mode == "L"
    assert any("another shape" in note and "stretched" in note for note in notes)
    with pytest.raises(SettingsError, match="one mask per style picture: 1 masks for 2"):
        load_masks([half(True)], (WIDTH, HEIGHT), styles=2)


def test_the_command_line_takes_one_mask_per_style(tmp_path, capsys) -> None:
    photo, stripes, blocks = tmp_path / "photo.png", tmp_path / "stripes.png", tmp_path / "blocks.png"
    left, right, out = tmp_path / "left.png", tmp_path / "right.png", tmp_path / "out.png"
    make_content(WIDTH, HEIGHT).save(photo)
    make_style(64, 64).save(stripes)
    checks().save(blocks)
    half(True).save(left)
    half(False).save(right)
    common = ["-o", str(out), "--size", "48", "-n", "4", "-q"]
    assert main([str(photo), str(stripes), str(blocks), "--masks", str(left), str(right), *common]) == 0
    assert Image.open(out).size == (48, 32)
    assert main([str(photo), str(stripes), str(blocks), "--masks", str(left), *common]) == 2
    assert "one mask per style picture: 1 masks for 2 style pictures" in capsys.readouterr().err
    notes = tmp_path / "notes.txt"
    notes.write_text("not a picture")
    assert main([str(photo), str(stripes), "--masks", str(notes), *common]) == 2
    err = capsys.readouterr().err
    assert "mask 1" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def two_textures() -> Image.Image:
    """One painting, stripes on its left half and blocks on its right."""
    painting = Image.new("RGB", (128, 64))
    painting.paste(make_style(64, 64), (0, 0))
    painting.paste(checks(), (64, 0))
    return painting


def test_style_masks_send_each_half_of_a_painting_to_the_chosen_half_of_the_photo(caffe_extractor) -> None:
    photo, painting = make_content(WIDTH, HEIGHT), two_textures()
    # crossed on purpose: the photo's left takes the painting's right half (blocks), its right the stripes
    records = list(transfer(photo, painting, RUN, extractor=caffe_extractor, masks=[half(True), half(False)],
                            style_masks=[half(False, (128, 64)), half(True, (128, 64))]))  # fmt: skip
    result = records[-1].image
    left, right = result.crop((0, 0, WIDTH // 2, HEIGHT)), result.crop((WIDTH // 2, 0, WIDTH, HEIGHT))
    stripes, blocks = painting.crop((0, 0, 64, 64)), painting.crop((64, 0, 128, 64))
    assert style_error(caffe_extractor, left, blocks) < style_error(caffe_extractor, left, stripes)
    assert style_error(caffe_extractor, right, stripes) < style_error(caffe_extractor, right, blocks)


def test_the_command_line_takes_style_masks_and_refuses_them_alone_or_empty(tmp_path, capsys) -> None:
    photo, painting, out = tmp_path / "photo.png", tmp_path / "painting.png", tmp_path / "out.png"
    make_content(WIDTH, HEIGHT).save(photo)
    two_textures().save(painting)
    names = {}
    for name, picture in (("left", half(True)), ("right", half(False)), ("p_left", half(True, (128, 64))),
                          ("p_right", half(False, (128, 64))), ("black", Image.new("L", (128, 64), 0))):  # fmt: skip
        names[name] = str(tmp_path / f"{name}.png")
        picture.save(names[name])
    common = [str(photo), str(painting), "-o", str(out), "--size", "48", "-n", "3", "-q"]
    regions = ["--masks", names["left"], names["right"]]
    assert main([*common, *regions, "--style-masks", names["p_right"], names["p_left"]]) == 0
    assert Image.open(out).size == (48, 32)
    for wrong, message in (
        (["--style-masks", names["p_left"]], "give the regions too (--masks)"),
        ([*regions, "--style-masks", names["p_left"]], "one style mask per mask: 1 style masks for 2 masks"),
        ([*regions, "--style-masks", names["p_left"], names["black"]], "style mask 2 is empty"),
    ):
        assert main([*common, *wrong]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, err


def two_colours() -> Image.Image:
    """A photo whose left half is blue and right half yellow, with some texture to keep."""
    photo = np.asarray(make_content(WIDTH, HEIGHT).convert("L"), float)[..., None] * 0.4
    tint = np.where(np.mgrid[0:HEIGHT, 0:WIDTH][1][..., None] < WIDTH // 2, [30, 60, 200], [210, 190, 30])
    return Image.fromarray((tint * 0.7 + photo).clip(0, 255).astype(np.uint8))


def mean_colour(picture: Image.Image, left: bool) -> np.ndarray:
    return colours(picture, left).mean(0)


def spread(picture: Image.Image, left: bool) -> float:
    """How far the half's colours stray from their mean (the stripes' rainbow: about 78)."""
    return float(colours(picture, left).std(0).mean())


def colours(picture: Image.Image, left: bool) -> np.ndarray:
    width, height = picture.size
    box = (0, 0, width // 2, height) if left else (width // 2, 0, width, height)
    return np.asarray(picture.crop(box), float).reshape(-1, 3)


def test_a_region_in_the_photos_colours_keeps_them_while_the_other_takes_the_paintings(caffe_extractor) -> None:
    photo, painting = two_colours(), make_style(64, 64)  # the painting: rainbow stripes
    masks = [half(True), half(False)]
    plain = list(transfer(photo, [painting, painting], RUN, extractor=caffe_extractor, masks=masks))[-1].image
    ours = list(transfer(photo, [painting, painting], RUN.replace(region_colours=("photo", "painting")),
                         extractor=caffe_extractor, masks=masks))[-1].image  # fmt: skip
    blue = mean_colour(photo, left=True)
    # the left half, in the photo's colours, stays blue and takes little of the rainbow; in the painting's it does not
    ours_off, plain_off = (np.abs(mean_colour(picture, left=True) - blue).mean() for picture in (ours, plain))
    assert ours_off < 0.5 * plain_off
    assert mean_colour(ours, left=True)[2] > mean_colour(ours, left=True)[0] + 60  # far more blue than red
    assert spread(ours, left=True) < 0.5 * spread(plain, left=True)
    # the right half took the painting's colours (measured: 30 against the photo's 14; 53 in the plain run)
    assert spread(ours, left=False) > 1.5 * spread(photo, left=False)


def test_colours_per_region_are_matched_over_the_region_only() -> None:
    photo, painting = two_colours(), make_style(64, 64)
    recoloured = region_colours(["photo", "painting"], [painting, painting], [half(True), half(False)], [], photo)
    assert recoloured[1] is painting  # "painting": as it is
    pixels = np.asarray(recoloured[0], float).reshape(-1, 3)
    np.testing.assert_allclose(pixels.mean(0), mean_colour(photo, left=True), atol=4)  # the blue half's mean
    with pytest.raises(SettingsError, match="one colour choice per region: 1 for 2 regions"):
        region_colours(["photo"], [painting, painting], [half(True), half(False)], [], photo)
    with pytest.raises(SettingsError, match="give the regions too"):
        list(transfer(photo, painting, RUN.replace(region_colours=("photo",))))
