"""The fair queue that runs take turns in, and the server's limits."""

from __future__ import annotations

import threading
import time

import pytest

from nst.errors import SettingsError
from nst.limits import Limits
from nst.runqueue import RunQueue


def test_runs_take_turns_first_come_first_served() -> None:
    queue = RunQueue(slots=1)
    first, second, third = (queue.join(name) for name in ("a", "b", "c"))
    assert [queue.position(t) for t in (first, second, third)] == [0, 1, 2]
    queue.begin(first)
    with pytest.raises(RuntimeError):
        queue.begin(second)  # not its turn yet
    queue.leave(first)
    assert [queue.position(t) for t in (second, third)] == [0, 1]


def test_a_waiting_session_can_leave_and_the_ones_behind_move_up() -> None:
    queue = RunQueue(slots=1)
    tickets = [queue.join(str(n)) for n in range(4)]
    queue.leave(tickets[1])  # cancels while waiting
    queue.leave(tickets[1])  # twice is harmless
    assert [queue.position(t) for t in (tickets[0], tickets[2], tickets[3])] == [0, 1, 2]
    with pytest.raises(KeyError):
        queue.position(tickets[1])
    assert queue.running == 1 and queue.waiting == 2


def test_more_slots_let_more_runs_go_at_once() -> None:
    queue = RunQueue(slots=2)
    tickets = [queue.join() for _ in range(3)]
    assert [queue.position(t) for t in tickets] == [0, 0, 1]


def test_wait_returns_as_soon_as_the_turn_comes_and_threads_run_in_arrival_order() -> None:
    queue, order, lock = RunQueue(slots=1), [], threading.Lock()
    tickets = [queue.join(f"session {n}") for n in range(6)]

    def session(ticket) -> None:
        while queue.wait(ticket, timeout=5) > 0:
            pass
        queue.begin(ticket)
        with lock:
            order.append(ticket.owner)
        time.sleep(0.01)  # the run
        queue.leave(ticket)

    threads = [threading.Thread(target=session, args=(t,)) for t in reversed(tickets)]  # started out of order
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert order == [f"session {n}" for n in range(6)]
    assert time.monotonic() - started < 5  # woken by each leave, not by the timeout


def test_wait_gives_up_after_its_timeout_with_the_place_in_line() -> None:
    queue = RunQueue(slots=1)
    queue.join("busy")
    mine = queue.join("me")
    started = time.monotonic()
    assert queue.wait(mine, timeout=0.1) == 1
    assert 0.09 < time.monotonic() - started < 2


def test_limits_have_laptop_defaults_and_read_the_environment() -> None:
    limits = Limits.from_env({})
    assert limits.max_input_pixels == 40_000_000 and limits.max_output_size("cpu") == 4096
    assert limits.max_output_size("cuda:0") == 8192 and limits.runs_per_device == 1
    changed = Limits.from_env({"NST_MAX_INPUT_MEGAPIXELS": "2.5", "NST_RUNS_PER_DEVICE": "3"})
    assert changed.max_input_pixels == 2_500_000 and changed.runs_per_device == 3
    with pytest.raises(SettingsError, match="NST_MAX_ITERATIONS must be a whole number"):
        Limits.from_env({"NST_MAX_ITERATIONS": "many"})
    with pytest.raises(SettingsError, match="more than zero"):
        Limits.from_env({"NST_RUNS_PER_DEVICE": "0"})


def test_the_input_pixel_limit_comes_from_the_environment(monkeypatch) -> None:
    import io

    from PIL import Image

    from nst import ImageLoadError, load_image

    buffer = io.BytesIO()
    Image.new("RGB", (300, 200)).save(buffer, format="PNG")
    monkeypatch.setenv("NST_MAX_INPUT_MEGAPIXELS", "0.05")
    with pytest.raises(ImageLoadError, match="the limit is 0.05 megapixels"):
        load_image(buffer.getvalue())
