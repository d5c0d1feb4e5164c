"""Benchmark: the replay page in Chromium, a 5,000-step session against a 10-step one, and `trail view` against
`trail log --json` of the same session, in one run.

    python bench/view.py                    # a 5,000-step and a 10-step session, 7 runs
    python bench/view.py --big 20000 --runs 9 --keep

Builds a store with trail's bulk writer (bench/storegen.py), writes both pages with `trail view`, then:

- opens each page in headless Chromium (Debian's, `--chromium PATH`), a new page each run, alternating the two
  sessions, and reads the time to the first screen as the page itself measures it (`performance.now()` once the
  first rows and the first step are drawn and painted, from the start of the navigation);
- jumps to step 4,000 of the big session (to the last step of the small one) by its deep link, and times it in
  the page up to the next paint;
- prints the size of each page, per step;
- times whole processes, interleaved: `trail view SID -o FILE` against `trail log SID --json` of the same session
  (which reads every step's full event too, and prints it).

The targets: the 5,000-step session's first screen within 2x the 10-step one's, and under 1 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, os.fspath(Path(__file__).parent))
import storegen  # noqa: E402

ENV = {k: v for k, v in storegen.GIT_ENV.items() if k != "PYTHONDONTWRITEBYTECODE"}
BIN = Path(sys.executable).parent
TRAIL = [os.fspath(BIN / "trail")] if (BIN / "trail").exists() else [sys.executable, "-m", "trail.cli"]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
# Runs in the page: deep-link to a step, and wait until it is drawn and painted.
JUMP = """async (hash) => {
  const started = performance.now();
  location.hash = hash;
  while (document.body.dataset.shown !== hash.slice(1)) await new Promise((r) => setTimeout(r, 0));
  await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
  return performance.now() - started;
}"""


def run(cmd: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return (time.perf_counter() - started) * 1000


def median(values: list[float]) -> float:
    return statistics.median(values)


def browser_times(browser: Any, pages: dict[str, Path], jumps: dict[str, str], runs: int) -> dict[str, list[float]]:
    found: dict[str, list[float]] = {f"{name} {what}": [] for name in pages for what in ("first", "jump")}
    for _ in range(runs):
        for name, path in pages.items():
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            page = context.new_page()
            page.goto(path.as_uri())
            page.wait_for_function("() => document.body.dataset.firstScreen === '1'", timeout=60_000)
            found[f"{name} first"].append(page.evaluate("window.trailReplay.timings.firstScreen"))
            found[f"{name} jump"].append(page.evaluate(JUMP, jumps[name]))
            context.close()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--big", type=int, default=5000, help="steps of the big session (default 5000)")
    parser.add_argument("--runs", type=int, default=7, help="runs of each measure (default 7)")
    parser.add_argument("--chromium", default="/usr/bin/chromium", help="the browser (default /usr/bin/chromium)")
    parser.add_argument("--keep", action="store_true", help="keep the generated repository and pages")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="trail-bench-view-"))
    try:
        repo = storegen.init_repo(work / "repo")
        started = time.perf_counter()
        storegen.write_sessions(repo, {"big": args.big, "small": 10})
        print(f"store: {args.big:,}-step and 10-step sessions written in {time.perf_counter() - started:.1f} s")
        pages = {"big": work / "big.html", "small": work / "small.html"}
        for name, path in pages.items():
            run([*TRAIL, "view", name, "-o", os.fspath(path)], repo)

        generate: dict[str, list[float]] = {k: [] for k in ("view big", "log big", "view small", "log small")}
        for _ in range(args.runs):
            for name in ("big", "small"):
                generate[f"view {name}"].append(run([*TRAIL, "view", name, "-o", os.fspath(pages[name])], repo))
                generate[f"log {name}"].append(run([*TRAIL, "log", name, "--json"], repo))

        last = min(4000, args.big)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=args.chromium, headless=True, args=CHROMIUM_ARGS)
            version = browser.version
            times = browser_times(browser, pages, {"big": f"#step-{last}", "small": "#step-10"}, args.runs)
            browser.close()

        print(f"\nChromium {version}, medians of {args.runs} runs (ms)\n")
        print(f"{'session':>8} {'steps':>7} {'page':>9} {'per step':>9} {'first screen':>13} {'jump':>16}")
        for name, steps, target in (("small", 10, "to step 10"), ("big", args.big, f"to step {last:,}")):
            size = pages[name].stat().st_size
            first = median(times[f"{name} first"])
            jump = median(times[f"{name} jump"])
            print(
                f"{name:>8} {steps:>7,} {size / 1e6:>7.2f}MB {size / steps:>7,.0f} B {first:>13.0f} "
                f"{jump:>6.0f} ({target})"
            )
        ratio = median(times["big first"]) / median(times["small first"])
        first_big = median(times["big first"])
        print(
            f"\nfirst screen, big / small: {ratio:.2f} (target <= 2); big: {first_big:.0f} ms (target < 1000) -> "
            + ("met" if ratio <= 2 and first_big < 1000 else "NOT met")
        )
        print(f"\n{'generation':>12} {'trail view':>11} {'trail log --json':>17} {'ratio':>6}")
        for name in ("big", "small"):
            view = median(generate[f"view {name}"])
            log = median(generate[f"log {name}"])
            print(f"{name:>12} {view:>9.0f}ms {log:>15.0f}ms {view / log:>6.2f}")
        if args.keep:
            print(f"\nkept: {work}")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
