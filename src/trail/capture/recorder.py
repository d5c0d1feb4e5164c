"""The Python SDK: record an agent session step by step into the repository it works in.

with trail.Recorder(agent="my-agent", model="gpt-5") as rec:
    rec.prompt("Fix the failing test")
    rec.tool_call("bash", input={"command": "pytest"}, output="1 failed")

A session joins the W3C trace it is given (`traceparent=`, else the TRACEPARENT variable) or starts one. While a
recorder is entered, TRACEPARENT and TRAIL_PARENT_STEP name its latest step, so that a process it starts (another
agent, a tool recording with trail) records a session linked to that step.
"""

from __future__ import annotations

import os
import threading
from contextvars import ContextVar
from types import TracebackType
from typing import Any

from trail import events as ev
from trail import traceids
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
# The recorders entered, oldest first, each with the values of TRACEPARENT and TRAIL_PARENT_STEP to put back when
# it leaves. The environment belongs to the process: it names the latest step of the innermost one.
_ENV_NAMES = (traceids.ENV, traceids.PARENT_STEP_ENV)
_env_stack: list[tuple[Recorder, dict[str, str | None]]] = []
_env_lock = threading.Lock()


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
        traceparent: str | None = None,
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
        self._given_traceparent = traceparent
        self.trace_id: str | None = None  # known once the session has started
        self._latest: tuple[int, str] | None = None  # the number and span id of the latest step written here

    @property
    def traceparent(self) -> str | None:
        """The W3C `traceparent` of the latest step this recorder wrote (its session's trace, that step's span),
        to hand to work done on its behalf; None before the session has started."""
        latest = self._latest  # read once: another thread may be recording a step
        if self.trace_id is None or latest is None:
            return None
        return str(traceids.TraceParent(self.trace_id, latest[1]))

    def _environment(self) -> dict[str, str | None]:
        """TRACEPARENT and TRAIL_PARENT_STEP as a process this recorder starts now should see them. Takes no lock
        (the environment's lock is held while this runs, and a recording thread takes that one second)."""
        latest = self._latest
        if self.trace_id is None or latest is None:
            return {}
        n, span = latest
        return {
            traceids.ENV: str(traceids.TraceParent(self.trace_id, span)),
            traceids.PARENT_STEP_ENV: traceids.parent_step_value(self.session_id, n),
        }

    # -- the session -------------------------------------------------------------------------------------------

    def __enter__(self) -> Recorder:
        self.start()
        self._tokens.append(_current.set(self))
        with _last_lock:
            _last.append(self)
        _enter_environment(self)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if not self._ended:
                reason = f"error: {exc_type.__name__}: {exc}" if exc_type is not None else "exit"
                self.end(reason=reason)
        finally:
            _leave_environment(self)
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
            existing = self.store.session(self.session_id)
            head = self.repo.head_commit()
            given = {**self._session_fields, **fields}
            payload = {
                "source": "resume" if existing is not None else "startup",
                "model": self.model,
                "cwd": os.fspath(self.repo.workdir),
                "head": str(head.id) if head is not None else None,
                "branch": self.repo.head_branch(),
                **self._trace_fields(existing.tip.session if existing is not None else None, given),
                **given,
            }
            if not traceids.is_trace_id(payload.get("trace_id")):
                payload["trace_id"] = traceids.new_trace_id()
            self.trace_id = payload["trace_id"]
            return self._record(ev.SESSION_START, payload)

    def _trace_fields(self, described: dict[str, Any] | None, given: dict[str, Any]) -> dict[str, Any]:
        """The trace fields of the session's start: a resumed session stays in its trace; a new one joins the trace
        of the `traceparent` it was given (else TRACEPARENT), as a child of the step TRAIL_PARENT_STEP names."""
        if described is not None and traceids.is_trace_id(described.get("trace_id")):
            return {"trace_id": described["trace_id"]}
        given_parent = self._given_traceparent
        context = traceids.incoming(
            given_parent if given_parent is not None else os.environ.get(traceids.ENV),
            os.environ.get(traceids.PARENT_STEP_ENV),
        )
        fields = context.fields()
        if described is not None or "parent_session" in given or context.parent_session == self.session_id:
            # The session's parent is the one it already has, or the one the caller named.
            fields.pop("parent_session", None)
            fields.pop("parent_step", None)
        return fields

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
            step = self.writer.write(event, self.writer.snapshot())
        self._latest = (step.n, traceids.span_of(self.session_id, step.n, payload))
        _update_environment(self)
        return step


# -- the environment of child processes ------------------------------------------------------------------------------


def _enter_environment(recorder: Recorder) -> None:
    with _env_lock:
        _env_stack.append((recorder, {name: os.environ.get(name) for name in _ENV_NAMES}))
        _set_environment(recorder._environment())


def _update_environment(recorder: Recorder) -> None:
    """After a step: the environment names it when `recorder` is the innermost one entered; otherwise the one
    entered after it will put back this step, not the one before, when it leaves."""
    with _env_lock:
        for i, (entered, _) in enumerate(_env_stack):
            if entered is recorder:
                if i == len(_env_stack) - 1:
                    _set_environment(recorder._environment())
                else:
                    _env_stack[i + 1] = (_env_stack[i + 1][0], recorder._environment())
                return


def _leave_environment(recorder: Recorder) -> None:
    with _env_lock:
        for i, (entered, saved) in enumerate(_env_stack):
            if entered is recorder:
                del _env_stack[i]
                if i == len(_env_stack):
                    _set_environment(saved, restore=True)
                else:  # left out of order: the one entered after it now puts back what this one would have
                    _env_stack[i] = (_env_stack[i][0], saved)
                return


def _set_environment(values: dict[str, str | None], restore: bool = False) -> None:
    if not values and not restore:
        return
    for name in _ENV_NAMES:
        value = values.get(name)
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
