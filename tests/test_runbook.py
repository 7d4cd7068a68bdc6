"""docs/cluster.md's "Try it on one machine first", run line by line as written.

The lines run in a folder that looks like the checkout (its code, the virtual environment
this test runs in, a photo, a painting and a folder of photos), with a home folder of its own,
so the token the runbook makes is the test's. Each line runs in bash as it is written; an
``export`` line carries on to the lines after it, as in the reader's shell. The app's line
serves the page until its health check answers, then is stopped, as the reader's Ctrl+C does.
Then the troubleshooting: a shell without the token gets the runbook's message, not a traceback.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import make_content, make_style

ROOT = Path(__file__).resolve().parent.parent
RUNBOOK = ROOT / "docs" / "cluster.md"
MARK = "<!-- run by tests/test_runbook.py"
PORT = 6379


def runbook_lines() -> list[str]:
    """The commands of the marked block, without their comments."""
    text = RUNBOOK.read_text()
    block = re.search(re.escape(MARK) + r".*?\n```bash\n(.*?)\n```", text, re.S)
    assert block, "docs/cluster.md has no block marked for this test"
    return [line.split(" #")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def _port_taken(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A folder like the reader's checkout, with the pictures the runbook names."""
    folder = tmp_path / "checkout"
    folder.mkdir()
    for name in ("nst", "webapp", "streamlit_app.py", ".streamlit"):
        (folder / name).symlink_to(ROOT / name)
    (folder / ".venv").symlink_to(Path(sys.prefix))
    make_content(160, 120).save(folder / "photo.jpg")
    make_style(96, 96).save(folder / "painting.jpg")
    (folder / "photos").mkdir()
    for number in range(3):
        make_content(120 + 8 * number, 90).save(folder / "photos" / f"photo{number}.jpg")
    return folder


def _environment(home: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("RAY_", "NST_CLUSTER"))}
    env["HOME"] = str(home)
    return env


def _run(line: str, folder: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", line], cwd=folder, env=env, capture_output=True, text=True, timeout=240,
                          stdin=subprocess.DEVNULL)  # fmt: skip


def _serve_until_healthy(line: str, folder: Path, env: dict[str, str]) -> str:
    """Start the app's line, wait for its page to answer, stop it as Ctrl+C does; what it printed."""
    server = subprocess.Popen(
        ["bash", "-c", line], cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        stdin=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    printed: list[str] = []
    reader = threading.Thread(target=lambda: printed.extend(iter(server.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        deadline = time.monotonic() + 90
        while not _answers(printed):
            assert time.monotonic() < deadline, f"the app's line served no page within 90 s: {''.join(printed)}"
            assert server.poll() is None, f"the app's line ended: {''.join(printed)}"
            time.sleep(0.5)
    finally:
        os.killpg(server.pid, signal.SIGINT)
        server.wait(timeout=30)
        reader.join(timeout=5)
    return "".join(printed)


def _answers(printed: list[str]) -> bool:
    """Whether the server has said where it listens and its health check answers there."""
    where = re.search(r"Local URL: (http://localhost:\d+)", "".join(printed))
    if not where:
        return False
    try:
        with urllib.request.urlopen(f"{where.group(1)}/_stcore/health", timeout=2) as answer:
            return bool(answer.read() == b"ok")
    except OSError:
        return False


def _check(line: str, done: subprocess.CompletedProcess[str], folder: Path) -> None:
    assert done.returncode == 0, (line, done.stdout[-2000:], done.stderr[-2000:])
    if " batch " in line:
        made = sorted(path.name for path in (folder / "styled").glob("*.png"))
        assert len(made) == 3, made
        assert "2 workers" in done.stderr + done.stdout
    elif "-m nst " in line:
        assert "running on Ray cluster (127.0.0.1:6379): 2 workers, 2 free" in done.stderr + done.stdout
        assert Image.open(folder / "result.png").size == (128, 96)


def _without_the_token(lines: list[str], folder: Path, env: dict[str, str], tmp: Path) -> None:
    picture = next(line for line in lines if "-m nst " in line and " batch " not in line)
    stranger = tmp / "no-token-home"
    stranger.mkdir()
    done = _run(picture, folder, {**env, "HOME": str(stranger)})
    assert done.returncode != 0
    assert "its token is missing or wrong here" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


@pytest.mark.skipif(sys.platform == "win32", reason="the runbook is written for bash")
def test_the_runbook_runs_as_written_a_head_two_workers_a_picture_a_batch_and_the_app(checkout, tmp_path) -> None:
    if _port_taken(PORT):
        pytest.fail(f"port {PORT} is taken (a Ray cluster of yours? `ray stop` first): the runbook needs it")
    lines = runbook_lines()
    assert lines[-1].endswith("ray stop")
    home = tmp_path / "home"
    home.mkdir()
    env = _environment(home)
    try:
        for line in lines:
            if line.startswith("export "):
                env.update(dict(pair.split("=", 1) for pair in shlex.split(line)[1:]))
            elif "streamlit run" in line:
                assert "You can now view your Streamlit app" in _serve_until_healthy(line, checkout, env)
            else:
                if line.endswith("ray stop"):
                    _without_the_token(lines, checkout, env, tmp_path)
                _check(line, _run(line, checkout, env), checkout)
        assert (home / ".ray" / "auth_token").exists()
        assert not _port_taken(PORT)
    finally:
        subprocess.run([str(Path(sys.prefix) / "bin" / "ray"), "stop", "--force"], env=env, capture_output=True,
                       timeout=120)  # fmt: skip
