"""Video: known motion is followed, the temporal term removes flicker, clips keep their frames,
rate and audio, and bad clips get a message (clips made here with PyAV and Pillow)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, ImageDraw

from nst import Settings, examples
from nst.commands import main
from nst.errors import VideoError
from nst.flow import certainty, optical_flow, warp
from nst.limits import Limits
from nst.video import carried, check_clip, frame_size, stylize_video
from nst.videoio import ClipWriter, probe, read_frames

SHIFT = 2  # px the camera pans by each frame


def sliding_frames(count: int, size: tuple[int, int]) -> list[Image.Image]:
    """A window panning right by SHIFT px a frame across a photo: frame t+1 at x is frame t at x+SHIFT."""
    width, height = size
    photo = examples.photo("chelsea the cat").resize((width + SHIFT * count + 8, height + 8))
    return [photo.crop((SHIFT * t, 4, SHIFT * t + width, 4 + height)) for t in range(count)]


def write_clip(path: Path, frames: list[Image.Image], fps: int = 12, *, audio: bool = False) -> Path:
    """An H.264 clip of these frames; with ``audio``, an AAC sine tone as long as the frames."""
    container = av.open(str(path), mode="w")
    video = container.add_stream("libx264", rate=fps)
    video.width, video.height = frames[0].size
    video.pix_fmt = "yuv420p"
    video.options = {"crf": "12"}
    sound = container.add_stream("aac", rate=44100) if audio else None
    for index, picture in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(np.asarray(picture), format="rgb24")
        frame.pts, frame.time_base = index, Fraction(1, fps)
        container.mux(video.encode(frame))
    container.mux(video.encode(None))
    if sound is not None:
        samples = int(44100 * len(frames) / fps)
        tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(samples) / 44100)).astype(np.float32)
        for start in range(0, samples, 1024):
            chunk = av.AudioFrame.from_ndarray(tone[None, start : start + 1024], format="flt", layout="mono")
            chunk.sample_rate, chunk.pts = 44100, start
            container.mux(sound.encode(chunk))
        container.mux(sound.encode(None))
    container.close()
    return path


def decoded(path: Path) -> list[np.ndarray]:
    return [np.asarray(frame, dtype=np.float32) for frame in read_frames(probe(path))]


def flicker(frames: list[np.ndarray]) -> float:
    """Mean absolute difference between each frame and the one before shifted by the known motion,
    over the pixels that stay in view (0..255)."""
    pairs = zip(frames[:-1], frames[1:], strict=True)
    return float(np.mean([np.abs(later[:, :-SHIFT] - earlier[:, SHIFT:]).mean() for earlier, later in pairs]))


def run(clip: Path, style: Image.Image, out: Path, settings: Settings, extractor, **kwargs) -> Path | None:
    generator = stylize_video(clip, style, out, settings, extractor=extractor, **kwargs)
    try:
        while True:
            next(generator)
    except StopIteration as stop:
        return stop.value


def test_the_flow_follows_a_known_pan_and_distrusts_what_comes_into_view() -> None:
    first, second = sliding_frames(2, (96, 64))
    backward, forward = optical_flow(second, first), optical_flow(first, second)
    inner = (slice(8, -8), slice(8, -8))
    assert np.median(backward[inner][..., 0]) == pytest.approx(SHIFT, abs=0.1)
    assert np.abs(backward[inner][..., 1]).mean() < 0.2
    carried = np.asarray(warp(first, backward), dtype=np.float32)
    error = np.abs(carried - np.asarray(second, dtype=np.float32))[:, : -SHIFT - 2].mean()
    assert error < 3.0, error  # vs about 10 without moving it
    trust = certainty(backward, forward)
    assert trust[:, -1].mean() < 0.2  # the column that enters the view was not in the first frame
    assert trust[inner].mean() > 0.9


def test_distrust_spreads_a_pixel_or_two_past_an_occlusion_as_in_the_reference() -> None:
    still = np.zeros((32, 32, 2), dtype=np.float32)
    forward = still.copy()
    forward[:, 12:20, 0] = 6.0  # these columns do not come back to where they started: hidden before
    trust = certainty(still, forward)
    assert trust[:, 12:20].max() == 0.0
    assert 0.0 < trust[16, 11] < 0.7 and 0.0 < trust[16, 20] < 0.7  # the edge's neighbours: part trusted
    assert trust[:, :9].min() == pytest.approx(1.0, abs=1e-3) and trust[:, 23:].min() == pytest.approx(1.0, abs=1e-3)


def bar_frame(photo: Image.Image, t: int) -> Image.Image:
    """``photo`` with a grey bar, 24 px wide, at 24 + 8t px from the left: each column is hidden for 3 frames."""
    frame = photo.copy()
    ImageDraw.Draw(frame).rectangle((24 + 8 * t, 0, 47 + 8 * t, photo.height - 1), fill=(128, 128, 128))
    return frame


def test_background_a_bar_hid_is_kept_close_to_how_it_was_painted_before_it_was_hidden() -> None:
    photo = examples.photo("chelsea the cat").resize((240, 160))
    # frame t was painted flat grey 20t + 10, so the target's level says which frame it came from
    history = [(bar_frame(photo, t), Image.new("RGB", photo.size, (20 * t + 10,) * 3)) for t in range(8)]
    revealed = slice(80, 88)  # behind the bar in frames 5-7, seen in frame 8 (bar at 88-111) and in frames 0-4
    short_init, short = carried(bar_frame(photo, 8), history, (1,))
    assert np.asarray(short.certainty)[:, revealed].mean() < 0.2  # the previous frame had the bar there
    assert np.asarray(short_init).tobytes() == np.asarray(short.previous).tobytes()  # the previous frame, carried
    init, long = carried(bar_frame(photo, 8), history, (1, 2, 4, 8))
    assert np.asarray(init).tobytes() == np.asarray(long.previous).tobytes()  # it starts where the term pulls
    trust = np.asarray(long.certainty)[:, revealed]
    levels = np.asarray(long.previous, dtype=np.float32)[:, revealed, 0]
    assert trust.mean() > 0.6
    assert np.median(levels[trust > 0.5]) <= 95  # painted by frame 4 or before: not 110-150, the bar's
    far = (slice(None), slice(170, 240))  # background the bar never came near: the previous frame, fully trusted
    assert np.asarray(long.certainty)[far].mean() > 0.95
    assert np.median(np.asarray(long.previous, dtype=np.float32)[far]) == 150


def test_the_temporal_term_removes_most_of_the_flicker(tmp_path, caffe_extractor) -> None:
    clip = write_clip(tmp_path / "pan.mp4", sliding_frames(6, (96, 64)))
    style = examples.style("swirls", 96)
    base = Settings(output_size=96, iterations=30, frame_iterations=15, precision="float32")
    steady = run(clip, style, tmp_path / "steady.mp4", base, caffe_extractor)
    jumpy = run(clip, style, tmp_path / "jumpy.mp4", base.replace(temporal_weight=0), caffe_extractor)
    assert steady is not None and jumpy is not None
    with_term, without = flicker(decoded(steady)), flicker(decoded(jumpy))
    assert with_term < 0.5 * without, (with_term, without)
    assert flicker(decoded(clip)) < with_term  # the photo frames themselves are steadier still


def test_the_output_keeps_the_frame_count_the_rate_and_the_audio(tmp_path, caffe_extractor) -> None:
    clip = write_clip(tmp_path / "talk.mp4", sliding_frames(6, (64, 48)), fps=15, audio=True)
    settings = Settings(output_size=64, iterations=4, frame_iterations=2, precision="float32")
    out = run(clip, examples.style("mosaic", 64), tmp_path / "out.mp4", settings, caffe_extractor)
    assert out == tmp_path / "out.mp4" and not (tmp_path / "out.part.mp4").exists()
    made = probe(out)
    assert (made.frames, made.fps, made.size, made.audio) == (6, 15, (64, 48), True)
    with av.open(str(out)) as container:
        sound = container.streams.audio[0]
        assert sound.codec_context.name == "aac"  # copied, as it was
        seconds = float(sum(packet.duration or 0 for packet in container.demux(sound)) * sound.time_base)
    assert seconds == pytest.approx(6 / 15, abs=0.05)


def test_animated_gif_in_and_webp_out_keep_frames_and_timing(tmp_path, caffe_extractor) -> None:
    frames = sliding_frames(4, (48, 32))
    # GIF keeps durations in centiseconds: 100 ms, 10 frames a second
    frames[0].save(tmp_path / "pan.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    clip = probe(tmp_path / "pan.gif")
    assert (clip.frames, clip.fps, clip.reader) == (4, 10, "pillow")
    settings = Settings(output_size=48, iterations=3, frame_iterations=2, precision="float32")
    out = run(tmp_path / "pan.gif", examples.style("strokes", 48), tmp_path / "out.webp", settings, caffe_extractor)
    with Image.open(out) as made:
        made.load()
        assert (made.n_frames, made.size, made.info["duration"]) == (4, (48, 32), 100)


def test_a_stopped_run_leaves_a_playable_clip_of_the_frames_done(tmp_path, caffe_extractor) -> None:
    clip = write_clip(tmp_path / "pan.mp4", sliding_frames(6, (64, 48)))
    settings = Settings(output_size=64, iterations=3, frame_iterations=2, precision="float32")
    generator = stylize_video(clip, examples.style("swirls", 64), tmp_path / "out.mp4", settings,
                              extractor=caffe_extractor)  # fmt: skip
    for progress in generator:
        if progress.frame == 4:  # frames 1-3 are written
            break
    generator.close()
    assert len(decoded(tmp_path / "out.mp4")) == 3
    assert not (tmp_path / "out.part.mp4").exists()


def test_ctrl_c_in_the_command_line_keeps_the_frames_done(tmp_path, monkeypatch, capsys) -> None:
    import nst.video

    clip = write_clip(tmp_path / "pan.mp4", sliding_frames(5, (64, 48)))
    style = tmp_path / "style.png"
    examples.style("swirls", 64).save(style)
    calls = {"n": 0}
    real = nst.video.optical_flow

    def interrupted(*args):  # the user presses Ctrl-C while frame 3 starts
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(nst.video, "optical_flow", interrupted)
    out = tmp_path / "out.mp4"
    code = main(["video", str(clip), str(style), "-o", str(out), "--size", "64", "-n", "3", "--frame-iterations", "2",
                 "--precision", "float32", "-q"])  # fmt: skip
    assert code == 130
    assert "stopped; the 2 frames done are saved" in capsys.readouterr().err
    assert len(decoded(out)) == 2


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("notes.mp4", b"these are not moving pictures", "not a video that can be read"),
        ("empty.mp4", b"", "is empty"),
        ("still.png", None, "still picture, not a video"),
        ("cut.mp4", "truncated", "not a video that can be read"),
    ],
)
def test_a_file_that_is_no_readable_video_is_refused_with_a_message(tmp_path, capsys, name, content, message) -> None:
    path = tmp_path / name
    if content is None:
        examples.style("swirls", 32).save(path)
    elif content == "truncated":
        whole = write_clip(tmp_path / "whole.mp4", sliding_frames(6, (64, 48))).read_bytes()
        path.write_bytes(whole[: len(whole) // 2])  # the index (moov) is written last: half a file has none
    else:
        path.write_bytes(content)
    with pytest.raises(VideoError, match=message):
        probe(path)
    style = tmp_path / "style.png"
    examples.style("mosaic", 32).save(style)
    assert main(["video", str(path), str(style), "-o", str(tmp_path / "out.mp4"), "-q"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_clip_over_the_limits_is_refused_before_any_work(tmp_path) -> None:
    clip = write_clip(tmp_path / "pan.mp4", sliding_frames(12, (64, 48)), fps=12)  # 1 s
    style = examples.style("swirls", 32)
    short = Limits(max_video_seconds_cli=0.5, max_video_seconds=0.25)
    with pytest.raises(VideoError, match=r"runs 1.0 s; the limit is 0.5 s"):
        next(stylize_video(clip, style, tmp_path / "o.mp4", limits=short))
    with pytest.raises(VideoError, match=r"the limit is 0.25 s: cut it shorter"):
        next(stylize_video(clip, style, tmp_path / "o.mp4", limits=short, app=True))
    with pytest.raises(VideoError, match="megapixels"):
        next(stylize_video(clip, style, tmp_path / "o.mp4", limits=Limits(max_video_megapixels=0.001)))
    assert not list(tmp_path.glob("o*"))
    assert check_clip(probe(clip), short, max_frames=5) == 5  # --max-frames: only its start is stylised


def test_frames_work_at_even_sizes() -> None:
    assert frame_size((1920, 1080), 512) == (512, 288)
    assert all(side % 2 == 0 for side in frame_size((641, 479), 255))


def test_a_clip_writer_refuses_an_unknown_format(tmp_path) -> None:
    with pytest.raises(VideoError, match="end its name in"):
        ClipWriter(tmp_path / "out.avi", Fraction(12), (64, 48), None)


def test_the_eta_counts_the_later_frames_from_the_first_frames_coarse_steps() -> None:
    from nst.progress import Progress
    from nst.video import _Pace

    pace = _Pace(frame_iterations=20, pixels=256 * 192)
    coarse = Progress(step=5, total=60, losses={}, loss=1.0, elapsed=3.0, eta=20.0, size=(128, 96), scale=1, scales=3)
    pace.step(coarse, 0.25)  # a quarter of the pixels: a full-size step takes about 1 s
    assert pace.frame(later=True) == pytest.approx(20.0)
    pace.finished(True, 12.0)
    pace.finished(True, 14.0)
    assert pace.frame(later=True) == pytest.approx(13.0)  # measured frames win over the guess


@pytest.mark.parametrize("preserve", ["histogram", "luminance"])
def test_keeping_the_colours_matches_the_style_to_the_clip_once_not_to_every_frame(caffe_extractor, preserve) -> None:
    from nst.targets import TargetCache
    from nst.video import stylise_frames

    # The light changes over the clip: each frame a little warmer than the one before.
    frames = [Image.fromarray(np.clip(np.asarray(f, np.int16) + [8 * i, 0, -8 * i], 0, 255).astype(np.uint8))
              for i, f in enumerate(sliding_frames(4, (64, 48)))]  # fmt: skip
    settings = Settings(output_size=64, scales=1, iterations=3, frame_iterations=2, precision="float32",
                        preserve_colour=preserve)  # fmt: skip
    cache = TargetCache(max_entries=8)
    steps = list(stylise_frames(frames, examples.style("mosaic", 64), settings, extractor=caffe_extractor, cache=cache))
    assert {step.index for step in steps} == {1, 2, 3, 4}
    # Each frame's content features, and the style's targets once: matched to the first frame.
    assert cache.computed == len(frames) + 1, (cache.computed, cache.reused)
