"""The command line end to end on small generated pictures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from nst.commands import main
from nst.commands.picture import build_parser

from conftest import make_content, make_style

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def pictures(tmp_path) -> tuple[Path, Path]:
    content, style = tmp_path / "content.png", tmp_path / "style.jpg"
    make_content(96, 72).save(content)
    make_style(80, 80).save(style)
    return content, style


def test_python_m_nst_writes_the_result_at_the_requested_size(pictures, tmp_path) -> None:
    content, style = pictures
    out = tmp_path / "out.png"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "nst",
            str(content),
            str(style),
            "-o",
            str(out),
            "--size",
            "48",
            "-n",
            "3",
            "--style-layers",
            "relu1_1,block2_relu1",
            "--save-every",
            "2",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    with Image.open(out) as result:
        assert result.size == (48, 36) and result.mode == "RGB"
    assert sorted(p.name for p in (tmp_path / "out_steps").iterdir()) == ["step_00002.png"]
    assert "3/3" in done.stderr and "loss=" in done.stderr  # the progress bar with the losses
    assert "saved" in done.stderr


@pytest.mark.parametrize(
    ("swap", "extra", "words"),
    [
        ("content", [], "is not a picture that can be read"),
        ("missing", [], "does not exist"),
        (None, ["--optimizer", "adam", "--style-weight", "-3"], "style_weight must be zero or more"),
        (None, ["--style-layers", "conv9_9"], "unknown VGG19 layer 'conv9_9'"),
        (None, ["--weights", "torchvision"], None),  # offline: a one-line message (or success if cached)
    ],
)
def test_bad_input_exits_non_zero_with_a_one_line_message(
    pictures, tmp_path, capsys, swap, extra, words, monkeypatch
) -> None:
    content, style = pictures
    if swap == "content":
        content = tmp_path / "notes.png"
        content.write_text("not a picture")
    elif swap == "missing":
        content = tmp_path / "nowhere.jpg"
    if extra[:2] == ["--weights", "torchvision"]:
        import urllib.error

        import torch

        monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
        monkeypatch.setattr(
            torch.hub, "download_url_to_file", lambda *a, **k: (_ for _ in ()).throw(urllib.error.URLError("offline"))
        )
        words = "works offline"
    status = main([str(content), str(style), "-o", str(tmp_path / "out.png"), "--size", "32", "-n", "1", "-q", *extra])
    err = capsys.readouterr().err.strip()
    assert status == 2
    assert err.startswith("nst: error: ") and words in err and "\n" not in err and "Traceback" not in err
    assert not (tmp_path / "out.png").exists()


def test_an_unknown_output_format_is_refused_before_any_work(pictures, tmp_path, capsys) -> None:
    content, style = pictures
    assert main([str(content), str(style), "-o", str(tmp_path / "out.xyz")]) == 2
    assert "end its name in .png" in capsys.readouterr().err


def test_a_bad_option_value_is_an_argparse_error(pictures, tmp_path, capsys) -> None:
    content, style = pictures
    with pytest.raises(SystemExit) as caught:
        main([str(content), str(style), "-o", str(tmp_path / "o.png"), "--optimizer", "sgd"])
    assert caught.value.code == 2 and "invalid choice: 'sgd'" in capsys.readouterr().err


def test_every_setting_is_an_option() -> None:
    import dataclasses

    from nst.commands.video import build_parser as video_parser
    from nst.settings import Settings

    options = {a.dest for a in build_parser()._actions}
    video_options = {a.dest for a in video_parser()._actions}
    for field in dataclasses.fields(Settings):
        if field.metadata.get("video"):  # the video command's own
            assert field.name in video_options and field.name not in options, field.name
        else:
            assert field.name in options or field.name == "preview_every", field.name  # preview_every: --save-every
    assert "save_every" in options


def test_a_diverging_run_saves_the_last_good_picture_and_exits_1(pictures, tmp_path, capsys, monkeypatch) -> None:
    import nst.terms

    calls = {"n": 0}
    real = nst.terms.ContentTerm.total

    def breaks(*args, **kwargs):
        calls["n"] += 1
        return real(*args, **kwargs) * (float("inf") if calls["n"] >= 3 else 1)

    monkeypatch.setattr(nst.terms.ContentTerm, "total", breaks)
    content, style = pictures
    out = tmp_path / "out.png"
    assert main([str(content), str(style), "-o", str(out), "--size", "32", "-n", "5", "-q"]) == 1
    err = capsys.readouterr().err
    assert "diverged at step 3" in err and "last good picture is saved" in err
    assert Image.open(out).size == (32, 24)


def test_a_preset_sets_the_settings_and_options_given_too_win(monkeypatch) -> None:
    from nst.commands import picture

    seen = {}
    monkeypatch.setattr(picture, "_run", lambda executor, request, **kw: seen.setdefault("s", request.settings) and 0)
    assert picture.main(["a.png", "b.png", "-o", "out.png", "--preset", "bold", "--size", "128"]) == 0
    assert seen["s"].style_weight == 300.0 and seen["s"].output_size == 128


def test_resume_goes_on_from_an_earlier_result_numbering_its_steps_on(pictures, tmp_path, capsys) -> None:
    content, style = pictures
    first, more = tmp_path / "first.png", tmp_path / "more.png"
    assert main([str(content), str(style), "-o", str(first), "--size", "48", "-n", "4", "-q"]) == 0
    steps = tmp_path / "steps"
    arguments = ["--size", "48", "-n", "3", "--save-every", "1", "--save-dir", str(steps), "-q"]
    assert (
        main([str(content), str(style), "-o", str(more), "--resume", str(first), "--resume-step", "4", *arguments]) == 0
    )
    assert sorted(p.name for p in steps.iterdir()) == ["step_00005.png", "step_00006.png"]  # step 7 is the result
    assert Image.open(more).size == Image.open(first).size
    both = [str(content), str(style), "-o", str(more), "--resume", str(first), "--init-image", str(first)]
    assert main(both) == 2 and "not both" in capsys.readouterr().err
