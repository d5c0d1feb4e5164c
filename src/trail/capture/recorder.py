"""The Python SDK: record an agent session step by step into the repository it works in.

with trail.Recorder(agent="my-agent", model="gpt-5") as rec:
    rec.prompt("Fix the failing test")
    rec.tool_call("bash", input={"command": "pytest"}, output="1 failed")
"""

from __future__ import annotations

import os
import threading
from contextvars import ContextVar
from types import TracebackType
from typing import Any

from trail import events as ev
from trail.capture.writer import StepWriter
from trail.errors import SessionEndedError
from trail.events import Event
from trail.repo import TrailRepo
from trail.store.steps import Step, check_session_id

# The recorder a `with Recorder(...)` block made current (trail.instrument() records LLM calls into it); in a thread
# that did not enter one, the last recorder entered in the process that has not ended.
_current: ContextVar[Recorder | None] = ContextVar("trail_recorder", default=None)
_last: list[Recorder] = []
_last_lock = threading.Lock()


def current() -> Recorder | None:
    """The recorder LLM calls made here are recorded into, or None."""
    found = _current.get()
    if found is not None and not found._ended:
        return found
    with _last_lock:
        while _last and _last[-1]._ended:
            _last.pop()
        return _last[-1] if _last else None


class Recorder:
    """Records one session. Every method writes one step (a commit with the working tree of that moment) and
    returns it. Safe to share between threads; several processes may record into one session."""

    def __init__(
        self,
        path: str | os.PathLike[str] = ".",
        agent: str = "python-sdk",
        session_id: str | None = None,
        model: str | None = None,
        **session_fields: Any,
    ) -> None:
        self.repo = TrailRepo.discover(path)
        self.writer = StepWriter(self.repo)
        self.store = self.writer.store
        self.session_id = check_session_id(session_id) if session_id is not None else ev.new_session_id()
        self.agent = agent
        self.model = model
        self._session_fields = session_fields
        self._lock = threading.RLock()
        self._started = False
        self._ended = False
        self._tokens: list[Any] = []  # ContextVar tokens of nested `with` blocks

    # -- the session -------------------------------------------------------------------------------------------

    def __enter__(self) -> Recorder:
        self.start()
        self._tokens.append(_current.set(self))
        with _last_lock:
            _last.append(self)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if not self._ended:
                reason = f"error: {exc_type.__name__}: {exc}" if exc_type is not None else "exit"
                self.end(reason=reason)
        finally:
            if self._tokens:
                _current.reset(self._tokens.pop())
            with _last_lock:
                if self in _last:
                    _last.remove(self)

    def start(self, **fields: Any) -> Step:
        """Record the session's start (done for you by `with` and by the first step)."""
        with self._lock:
            if self._started:
                raise SessionEndedError(f"session {self.session_id} was already started by this recorder")
            self._started = True
            resumed = self.store.session(self.session_id) is not None
            head = self.repo.head_commit()
            payload = {
                "source": "resume" if resumed else "startup",
                "model": self.model,
                "cwd": os.fspath(self.repo.workdir),
                "head": str(head.id) if head is not None else None,
                "branch": self.repo.head_branch(),
                **self._session_fields,
                **fields,
            }
            return self._record(ev.SESSION_START, payload)

    def end(self, reason: str | None = None, **fields: Any) -> Step:
        """Record the session's end; later calls raise SessionEndedError."""
        with self._lock:
            step = self.record(ev.SESSION_END, reason=reason, **fields)
            self._ended = True
            return step

    # -- steps -------------------------------------------------------------------------------------------------

    def prompt(self, text: str, **fields: Any) -> Step:
        return self.record(ev.PROMPT, text=text, **fields)

    def response(
        self,
        text: str,
        model: str | None = None,
        tokens_in: int | None = None,
        tokens_out: int | None = None,
        thinking: str | None = None,
        **fields: Any,
    ) -> Step:
        return self.record(
            ev.RESPONSE,
            text=text,
            model=model or self.model,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            thinking=thinking,
            **fields,
        )

    def tool_call(
        self,
        name: str,
        input: Any = None,  # noqa: A002 - the SDK's documented keyword
        output: Any = None,
        error: Any = None,
        duration_ms: float | None = None,
        **fields: Any,
    ) -> Step:
        return self.record(
            ev.TOOL_CALL,
            name=name,
            input=input,
            output=output,
            error=error,
            duration_ms=duration_ms,
            **fields,
        )

    def decision(
        self, choice: str, reasoning: str | None = None, alternatives: list[Any] | None = None, **fields: Any
    ) -> Step:
        return self.record(ev.DECISION, choice=choice, reasoning=reasoning, alternatives=alternatives, **fields)

    def note(self, text: str, **fields: Any) -> Step:
        return self.record(ev.NOTE, text=text, **fields)

    def record(self, kind: str, **fields: Any) -> Step:
        """Record a step of any kind (the methods above are shorthands); fields left None are not stored."""
        with self._lock:
            if self._ended:
                raise SessionEndedError(
                    f"session {self.session_id} has ended; start a new Recorder (or pass "
                    f"session_id={self.session_id!r} to resume it)"
                )
            if not self._started:
                self.start()
            return self._record(kind, fields)

    def _record(self, kind: str, fields: dict[str, Any]) -> Step:
        payload = {k: v for k, v in fields.items() if v is not None}
        event = Event(kind=kind, payload=payload, session_id=self.session_id, agent=self.agent)
        with self.writer.session_lock(self.session_id):
            return self.writer.write(event, self.writer.snapshot())
