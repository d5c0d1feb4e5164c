"""`trail-hook`: the command that agent hooks and git hooks run.

It must never hurt its caller: it always exits 0, writes nothing on stdout (Claude Code reads stdout as
instructions), returns within its time budget whatever it is fed, and logs its own failures to
`.git/trail/errors.log`. A payload it could not record in time, or at all, is kept (owner-only, redacted) under
`.git/trail/pending/` and recorded by a later hook or by `trail doctor --fix`: nothing is lost.

When a watcher runs, the whole process is a Python start, a JSON parse and a socket round trip: everything else
(pygit2 above all) is imported only on the paths that need it, inside the functions.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # not typing's: the fast path imports nothing it does not use
if TYPE_CHECKING:
    from trail.capture.sources import Source

USAGE = """\
usage: trail-hook SOURCE   (SOURCE: an agent, its hook payload on stdin, or git-post-commit)

Installed by `trail hooks install AGENT`; not meant to be run by hand.
"""
# Claude Code gives each hook 30 s (trail's settings say so; its default is 60): trail's work stops well before,
# keeping what it has not finished.
BUDGET_SECONDS = float(os.environ.get("TRAIL_HOOK_BUDGET", "10"))
PENDING_BUDGET_SECONDS = 2.0  # of it, for finishing what earlier hooks kept
MAX_PAYLOAD = 64 << 20  # bytes of stdin read; a larger payload is kept cut, and says so


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        sys.stderr.write(USAGE)
        return 0
    from trail.capture.sources import SOURCES

    source = SOURCES.get(args[0])
    if source is None:
        sys.stderr.write(f"trail-hook: unknown source {args[0]!r} (known: {', '.join(SOURCES)})\n{USAGE}")
        return 0
    real_stdout = sys.stdout
    sys.stdout = sys.stderr  # whatever is printed by accident must not reach the agent
    raw = b""
    over_budget = False
    try:
        raw = _read_stdin() if source.stdin else _argument_payload(args[1:])
        if not forward(source.name, raw, _quick_cwd(raw, source.cwd_key) or os.getcwd()):
            over_budget = _within_budget(source.name, raw, os.getcwd())
    except BaseException as e:  # noqa: BLE001 - the caller must never see a failure
        _last_resort(e)
    finally:
        sys.stdout = real_stdout
        _reply(_reply_for(source, raw))
    if over_budget:
        sys.stderr.flush()
        os._exit(0)  # the abandoned thread must not keep the agent waiting (its reply is written)
    return 0


def _reply_for(source: Source, raw: bytes) -> bytes:
    from trail.capture.sources import reply_for

    try:
        return reply_for(source, raw)
    except Exception:  # noqa: BLE001 - a reply is owed whatever the payload
        return source.reply


def _reply(data: bytes) -> None:
    """What the agent waits for on stdout, if anything: written once the work is done or kept."""
    if not data:
        return
    try:  # noqa: SIM105 - contextlib is not imported on the fast path
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    except (OSError, ValueError):
        pass


def forward(source: str, raw: bytes, where: str) -> bool:
    """Hand the hook to the watcher of the worktree at `where`, if one runs; True if it took it."""
    import base64

    from trail.capture.watch import client as watchclient

    sock = watchclient.socket_path(where)
    if sock is None:
        return False
    message = {"op": "hook", "source": source, "payload": base64.b64encode(raw).decode(), "cwd": os.getcwd()}
    try:
        reply = watchclient.request(sock, message, timeout=BUDGET_SECONDS + 5)
    except watchclient.WatcherGone:
        return False  # it may have recorded this already: a duplicate step is better than a lost one
    return bool(reply and reply.get("ok"))


def _quick_cwd(raw: bytes, key: str | None) -> str | None:
    import json

    if key is None or len(raw) > 4 << 20:
        return None  # the slow path finds it without parsing everything
    try:
        cwd = json.loads(raw).get(key)
    except (ValueError, AttributeError, UnicodeDecodeError, RecursionError):
        return None
    if isinstance(cwd, list):  # Cursor's workspace_roots: the first names the workspace
        cwd = cwd[0] if cwd else None
    return cwd if isinstance(cwd, str) and cwd else None


def _within_budget(source: str, raw: bytes, process_cwd: str) -> bool:
    """Record in this process, in a thread given BUDGET_SECONDS; past that, keep the payload and leave.

    The thread is abandoned, not stopped: the process exits with it (True: the caller replies, then exits at once).
    Whatever it had written is complete (objects first, the ref last, by compare-and-swap), and a ref lock it held
    is recognised as stale by the next writer.
    """
    import threading

    from trail.capture import handlers, keep
    from trail.capture.sources import SOURCES, function

    spec = SOURCES[source]
    cwd = handlers.payload_cwd(raw, spec.cwd_key) or process_cwd
    repo = handlers.find_repo(cwd)
    finished = threading.Event()

    def work() -> None:
        try:
            if repo is not None and keep.count(repo, keep.PENDING):
                handlers.finish_pending(repo, PENDING_BUDGET_SECONDS)
            function(spec.run)(raw, process_cwd)
        except BaseException as e:  # noqa: BLE001
            _last_resort(e)
        finally:
            finished.set()

    thread = threading.Thread(target=work, name="trail-hook", daemon=True)
    thread.start()
    if finished.wait(BUDGET_SECONDS):
        return False
    if repo is not None:
        kept = keep.keep(repo, source, raw, cwd, f"not recorded within the hook's {BUDGET_SECONDS:g} s budget")
        keep.log_error(repo, f"{source} hook over its budget; kept in {kept}", TimeoutError(), trace=False)
    return True


def _argument_payload(args: list[str]) -> bytes:
    """A payload given as the last argument (Codex's legacy notify appends it to the program's arguments). The
    arguments before it name the program that was there before trail (install chains it): it is started first, with
    the payload, and not waited for, as Codex starts its notify program."""
    if not args:
        return b""
    *chained, payload = args
    if chained:
        import subprocess

        try:
            subprocess.Popen(
                [*chained, payload],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as e:
            _last_resort(e)
    return os.fsencode(payload)


def _read_stdin() -> bytes:
    if sys.stdin is None or sys.stdin.isatty():
        return b""
    data = sys.stdin.buffer.read(MAX_PAYLOAD + 1)
    if len(data) > MAX_PAYLOAD:
        # Recorded as an unreadable payload (a note with the bytes kept), cut, rather than read without end.
        return data[:MAX_PAYLOAD]
    return data


def _last_resort(error: BaseException) -> None:
    try:  # noqa: SIM105 - contextlib is not imported on the fast path
        sys.stderr.write(f"trail-hook: {type(error).__name__}: {error}\n")
    except Exception:  # noqa: BLE001
        pass


if __name__ == "__main__":
    sys.exit(main())
