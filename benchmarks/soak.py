"""Soak: many short runs in one server process; does its memory stay flat?

    python benchmarks/soak.py [--runs 100] [--size 128] [--iterations 10]

Starts the real app (``streamlit run``) on a free local port, opens it in headless
Chromium, uploads two pictures once, and presses Stylize ``--runs`` times, waiting for
each run to finish. Prints the server's resident memory after the first run and at
intervals, and the growth from the first run to the last. Needs Debian's chromium and
chromium-driver, like the browser tests.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]
from browser import button, chromium, memory_mb, page_text, streamlit_server, wait_for  # noqa: E402
from common import machine, table  # noqa: E402
from conftest import make_content, make_style  # noqa: E402
from test_browser import upload  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--iterations", type=int, default=10)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="nst-soak-"))
    content, style = folder / "photo.png", folder / "style.png"
    make_content(320, 240).save(content)
    make_style(256, 256).save(style)
    facts: dict = {}
    marks = sorted({1, *range(10, args.runs + 1, max(1, args.runs // 10)), args.runs})
    rows, started = [], time.monotonic()
    with streamlit_server(folder / "server.log", facts=facts) as url, chromium() as driver:
        driver.get(f"{url}/?output_size={args.size}&iterations={args.iterations}&coarse_to_fine=false")
        upload(driver, str(content), str(style))
        before = memory_mb(facts["pid"])[0]
        done = f"Done at step {args.iterations} of {args.iterations}"
        for run in range(1, args.runs + 1):
            wait_for(lambda: button(driver, "Stylize").is_enabled(), 60, what="Stylize to be enabled")
            button(driver, "Stylize").click()
            finished = f"Run {run} on this server"
            wait_for(
                lambda finished=finished: finished in (text := page_text(driver)) and done in text,
                120,
                interval=0.1,
                what=f"run {run} to finish",
            )
            if run in marks:
                now, peak = memory_mb(facts["pid"])
                rows.append([run, f"{time.monotonic() - started:.0f}", f"{now:.0f}", f"{peak:.0f}"])
                print(f"run {run}: {now:.0f} MB", file=sys.stderr, flush=True)
    first, last = float(rows[0][2]), float(rows[-1][2])
    print(f"# {args.runs} runs of {args.iterations} steps at {args.size} px in one server; {machine()}")
    print(f"# server RSS before the first run: {before:.0f} MB")
    print(table(["after run", "seconds", "server RSS MB", "peak RSS MB"], rows))
    print(f"# growth from run 1 to run {args.runs}: {last - first:+.0f} MB ({(last - first) / first:+.1%})")


if __name__ == "__main__":
    main()
