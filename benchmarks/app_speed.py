"""The same run through the engine, the command line and the app in a browser, side by side.

    python benchmarks/app_speed.py [--size 512] [--steps 120] [--precision auto] [--avx2]

One after the other on this machine, with the same pictures (Tuebingen and The Starry
Night, or generated ones) and the same settings:

- engine: ``nst.transfer`` in a fresh Python, timed from the first record's request to the
  last record (VGG19 already loaded, as in a warm app);
- command line: ``python -m nst CONTENT STYLE -o OUT ...``, wall time of the whole command
  (Python starting, VGG19 loading, the picture written);
- app: ``streamlit run streamlit_app.py`` with the settings in the page's URL, the pictures
  dropped on the upload boxes in headless Chromium on this same machine (so the browser's
  work shares its cores, as on a laptop), timed from the click on Stylize until the page
  shows "Download PNG". The app's first run also loads VGG19, as the command line does.

``--avx2`` runs every part with oneDNN and PyTorch limited to AVX2
(``ONEDNN_MAX_CPU_ISA=AVX2``, ``ATEN_CPU_CAPABILITY=avx2``): a laptop-class CPU without
AVX-512 or bfloat16 units, where the default precision is float32.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent), str(HERE.parent / "tests")]
from common import ROOT, inputs, machine, run_child, table  # noqa: E402

AVX2 = {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}

ENGINE = r"""
import json, sys, time
sys.path.insert(0, "benchmarks")
from common import inputs
from nst import Settings, build_extractor, transfer
from nst.device import resolve_device, resolve_precision
size, steps, precision = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
content, style, _ = inputs()
settings = Settings(output_size=size, iterations=steps, precision=precision)
extractor = build_extractor(settings.weights, last_layer="relu5_1")
started = time.perf_counter()
for progress in transfer(content, style, settings, extractor=extractor):
    pass
dtype = str(resolve_precision(precision, resolve_device("auto"))).removeprefix("torch.")
print(json.dumps({"seconds": time.perf_counter() - started, "dtype": dtype}))
"""


WATCH = r"""
const [last, stopped] = arguments;
const times = {};
window.nstTimes = times;
const look = () => {
  const now = performance.now();
  if (times.last === undefined) {
    for (const figure of document.querySelectorAll('[data-testid="stImage"]')) {
      const caption = figure.textContent;
      if (times.first === undefined && /(^|\s)step \d/.test(caption)) times.first = now;
      if (caption.includes(last)) times.last = now;
    }
  }
  for (const box of document.querySelectorAll('[data-testid="stDownloadButton"]')) {
    if (box.textContent.includes("Download PNG") && (stopped === null || document.body.textContent.includes(stopped))) {
      times.done = now;
      if (times.first === undefined) times.first = now;
      observer.disconnect();
      return;
    }
  }
};
const observer = new MutationObserver(look);
observer.observe(document.body, {childList: true, subtree: true, characterData: true});
"""


def watch(driver, last: str, stopped: str | None = None) -> None:
    """Start watching the page for the first preview, the last step's picture (``last``) and the end.

    The end is "Download PNG" on the page, with the text ``stopped`` when it is given.
    """
    driver.execute_script(WATCH, last, stopped)


def listen_for_click(driver) -> None:
    """Note the moment the next click reaches the page (WebDriver's own round trips are not the app's time)."""
    driver.execute_script(
        'document.addEventListener("click", () => { window.nstTimes.clicked = performance.now(); },'
        " {capture: true, once: true});"
    )


def watched(driver, timeout: float = 3600) -> dict[str, float]:
    """The times (the page's performance.now(), ms) that :func:`watch` saw, once the end came.

    Watched inside the page by a MutationObserver and read every 2 s: polling the page's text
    would make the browser lay it out, and on a 2-core machine that slows the run; one script
    call blocking for the whole run would outlast WebDriver's 120 s read timeout.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        times = driver.execute_script("return window.nstTimes.done === undefined ? null : window.nstTimes")
        if times is not None:
            return dict(times)
        time.sleep(2)
    raise TimeoutError(f"the page did not finish within {timeout:.0f} s")


def command_line(folder: Path, size: int, steps: int, precision: str) -> float:
    content, style = folder / "content.png", folder / "style.png"
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "nst", str(content), str(style), "-o", str(folder / "cli.png"), "--size", str(size),
         "--iterations", str(steps), "--precision", precision, "--quiet"],
        check=True, cwd=ROOT, capture_output=True,
    )  # fmt: skip
    return time.perf_counter() - started


def cpu_seconds(name: str) -> float:
    """CPU seconds used so far by every process of this user whose command name contains ``name``."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        command, fields = text[text.index("(") + 1 : text.rindex(")")], text[text.rindex(")") + 2 :].split()
        if name in command:
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    return total


def app(folder: Path, size: int, steps: int, precision: str, stop_after: float) -> tuple[float, float, float, float]:
    """Seconds from the click on Stylize to "Download PNG", to the first preview, the browser's CPU seconds,
    and the seconds from a click on Stop (``stop_after`` s into a second run) until the page says it stopped."""
    from browser import button, chromium, drop_file, page_text, streamlit_server, wait_for

    # From the photo, as the command line's default (the app's own default starts from the one-pass picture).
    query = f"output_size={size}&iterations={steps}&precision={precision}&init=the+content+photo"
    with streamlit_server(folder / "streamlit.log") as url, chromium(1500, 1100) as driver:
        driver.get(f"{url}/?{query}")
        wait_for(lambda: button(driver, "Stylize"), 120, what="the page")
        drop_file(driver, "Drop your own content picture", str(folder / "content.png"))
        drop_file(driver, "Drop your own style picture", str(folder / "style.png"))
        wait_for(lambda: page_text(driver).count("your upload") == 2, 120, what="both uploads shown")
        wait_for(lambda: button(driver, "Stylize").is_enabled(), 60, what="Stylize enabled")
        time.sleep(1)
        driver.execute_cdp_cmd("Performance.enable", {})
        before = {m["name"]: m["value"] for m in driver.execute_cdp_cmd("Performance.getMetrics", {})["metrics"]}
        browser = cpu_seconds("chrom")
        watch(driver, f"step {steps} of {steps}")
        listen_for_click(driver)
        button(driver, "Stylize").click()
        times = watched(driver)
        seconds, first = (times["done"] - times["clicked"]) / 1000, (times["first"] - times["clicked"]) / 1000
        browser = cpu_seconds("chrom") - browser
        after = {m["name"]: m["value"] for m in driver.execute_cdp_cmd("Performance.getMetrics", {})["metrics"]}
        work = {k.removesuffix("Duration"): round(v - before.get(k, 0), 1) for k, v in after.items() if "Duration" in k}
        print(f"browser's work during the run (s): {work}", file=sys.stderr)
        if "last" in times:
            print(
                f"from the last step's picture to Download PNG: {(times['done'] - times['last']) / 1000:.1f} s",
                file=sys.stderr,
            )
        time.sleep(2)
        watch(driver, "(no such step)", "Stopped at step")
        button(driver, "Stylize").click()
        time.sleep(stop_after)
        stop = button(driver, "Stop")
        listen_for_click(driver)
        stop.click()
        seen = watched(driver, timeout=120)
        return seconds, first, browser, (seen["done"] - seen["clicked"]) / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--precision", default="auto", choices=("auto", "float32", "bfloat16"))
    parser.add_argument("--avx2", action="store_true", help="limit oneDNN and PyTorch to AVX2 (a laptop-class CPU)")
    parser.add_argument("--app-only", action="store_true", help="time the app alone (profiling it)")
    parser.add_argument("--stop-after", type=float, default=25.0, help="seconds into a second run to press Stop")
    args = parser.parse_args()
    if args.avx2 and any(os.environ.get(k) != v for k, v in AVX2.items()):
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **AVX2})  # children inherit it
    folder = Path(tempfile.mkdtemp(prefix="nst-app-speed-"))
    content, style, described = inputs()
    content.save(folder / "content.png")
    style.save(folder / "style.png")
    if args.app_only:
        seconds, first, browser, stopped = app(folder, args.size, args.steps, args.precision, args.stop_after)
        print(f"app: {seconds:.1f} s (first preview {first:.1f} s, browser CPU {browser:.1f} s); Stop: {stopped:.1f} s")
        return
    engine = run_child(ENGINE, str(args.size), str(args.steps), args.precision)
    cli = command_line(folder, args.size, args.steps, args.precision)
    in_app, first, browser, stopped = app(folder, args.size, args.steps, args.precision, args.stop_after)
    rows = [
        ["engine (nst.transfer, model loaded)", f"{engine['seconds']:.1f}", f"{engine['seconds'] / cli:.2f}"],
        ["command line (python -m nst, whole command)", f"{cli:.1f}", "1.00"],
        [f"app in Chromium (click to Download PNG; first preview {first:.1f} s; browser CPU {browser:.0f} s)",
         f"{in_app:.1f}", f"{in_app / cli:.2f}"],
    ]  # fmt: skip
    isa = "limited to AVX2" if args.avx2 else "as it is"
    print(f"# {described} at {args.size} px, {args.steps} steps, precision {args.precision} "
          f"({engine['dtype']}), CPU {isa}; {machine()}")  # fmt: skip
    print(table(["path", "wall s", "vs command line"], rows))
    print(f"Stop, pressed {args.stop_after:.0f} s into a run: the page said it stopped {stopped:.1f} s later")


if __name__ == "__main__":
    main()
