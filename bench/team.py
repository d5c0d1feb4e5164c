"""Team scale: a shared remote with 1,000, 10,000 and 100,000 sessions, and what a teammate's commands cost on it.

Each remote is made by a seed repository: sessions of three steps written fast through trail's bulk writer (most of
them ended weeks or months ago, RECENT of them in the last days), rolled into the archive layout by `trail archive`
and mirrored into a bare repository (refs packed, git's automatic gc off). On a clone of it we time a no-op `trail
fetch`, `trail fetch ID` of one session, `trail push` of one new session, `trail sessions`, and `git fetch origin
main` (the baseline: git's own work on the same remote). Target: each at 100,000 within 1.5x of its time at 1,000.

    .venv/bin/python bench/team.py                 # 1,000, 10,000 and 100,000 (minutes: generation dominates)
    .venv/bin/python bench/team.py 1000 10000      # the sizes given
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, os.fspath(Path(__file__).parent))
from storegen import GIT_ENV, git, init_repo  # noqa: E402

from trail.events import Event  # noqa: E402
from trail.repo import TrailRepo  # noqa: E402
from trail.store.bulk import BulkWriter  # noqa: E402
from trail.store.steps import Store  # noqa: E402

RECENT = 300  # sessions of the last days: they stay refs at every size
CHUNK = 5000  # sessions per bulk writer (bounded memory)
REPEAT = 5
TRAIL = [os.fspath(Path(sys.executable).parent / "trail")]
NOW = datetime.now(UTC)


def generate(repo: Path, sessions: list[tuple[str, datetime]]) -> None:
    store = Store(TrailRepo.discover(repo))
    for start in range(0, len(sessions), CHUNK):
        with BulkWriter(store) as bulk:
            for sid, when in sessions[start : start + CHUNK]:
                batch = bulk.session(sid)
                batch.append(Event("session_start", {"source": "startup"}, sid, when, agent="claude-code"), None)
                batch.append(
                    Event("prompt", {"text": f"fix the reminders ({sid})"}, sid, when + timedelta(seconds=3)), None
                )
                batch.append(Event("session_end", {"reason": "exit"}, sid, when + timedelta(seconds=9)), None)


def team_sessions(count: int, prefix: str = "s") -> list[tuple[str, datetime]]:
    """`count` sessions: RECENT in the last five days, the rest spread over the year before the last 31 days."""
    out = []
    old = count - RECENT
    for i in range(count):
        if i < old:
            when = NOW - timedelta(days=31) - timedelta(seconds=(old - i) * (334 * 86400 / max(old, 1)))
        else:
            when = NOW - timedelta(seconds=(count - i) * (5 * 86400 / RECENT))
        out.append((f"{prefix}{i:06d}", when))
    return out


def run(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=GIT_ENV, capture_output=True, text=True)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed in {cwd}: {done.stderr}")
    return took


def best(times: list[float]) -> float:
    """The fastest of the runs: the machine's other load only ever adds time."""
    return min(times)


def measure(size: int, base: Path) -> dict[str, float]:
    folder = base / str(size)
    seed = init_repo(folder / "seed", files=10)
    t0 = time.perf_counter()
    generate(seed, team_sessions(size))
    made = time.perf_counter() - t0
    t0 = time.perf_counter()
    run([*TRAIL, "archive"], seed)
    archived = time.perf_counter() - t0
    remote = folder / "remote.git"
    git(folder, "clone", "-q", "--mirror", os.fspath(seed), os.fspath(remote))
    git(remote, "config", "gc.auto", "0")
    git(remote, "config", "receive.autogc", "false")
    git(remote, "pack-refs", "--all")
    refs = len(git(remote, "for-each-ref", "--format=%(refname)").splitlines())
    print(
        f"  {size:>7,} sessions: generated in {made:.1f} s, archived in {archived:.1f} s; remote has {refs} refs",
        flush=True,
    )
    url = remote.as_uri()
    bob, carol = folder / "bob", folder / "carol"
    for who in (bob, carol):
        git(folder, "clone", "-q", url, os.fspath(who))
        git(who, "config", "gc.auto", "0")
        run([*TRAIL, "fetch"], who)
    # Sessions carol pushes, for bob to fetch by id.
    theirs = [(f"carol-{i}", NOW - timedelta(minutes=i + 1)) for i in range(REPEAT)]
    generate(carol, theirs)
    for sid, _ in theirs:
        run([*TRAIL, "push", sid], carol)
    # Dated now, as a session being pushed is: newer than anything archived.
    mine = [(f"bob-{i}", datetime.now(UTC)) for i in range(REPEAT)]
    generate(bob, mine)
    times = {
        "no-op `trail fetch`": best([run([*TRAIL, "fetch"], bob) for _ in range(REPEAT)]),
        "`trail fetch ID`": best([run([*TRAIL, "fetch", sid], bob) for sid, _ in theirs]),
        "`trail push` of one new session": best([run([*TRAIL, "push", sid], bob) for sid, _ in mine]),
        "`git fetch origin main`": best([run(["git", "fetch", "-q", "origin", "main"], bob) for _ in range(REPEAT)]),
        "`trail sessions`": best([run([*TRAIL, "sessions", "--no-pager"], bob) for _ in range(REPEAT)]),
    }
    shutil.rmtree(folder, ignore_errors=True)
    return times


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [1000, 10_000, 100_000]
    results: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="trail-team-") as tmp:
        for size in sizes:
            results[size] = measure(size, Path(tmp))
    names = list(results[sizes[0]])
    head = "| | " + " | ".join(f"{s:,} sessions" for s in sizes) + f" | {sizes[-1]:,} / {sizes[0]:,} |"
    print()
    print(head)
    print("|---|" + "---:|" * (len(sizes) + 1))
    for name in names:
        cells = " | ".join(f"{results[s][name] * 1000:.0f} ms" for s in sizes)
        ratio = results[sizes[-1]][name] / results[sizes[0]][name]
        print(f"| {name} | {cells} | {ratio:.2f}x |")
    print(f"\n(best of {REPEAT}; {RECENT} recent sessions stay refs at every size, the rest are archived by month)")


if __name__ == "__main__":
    main()
