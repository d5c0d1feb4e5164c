"""One LLM call as trail records it: the tool results it carries, its request, and its answer or error, as steps.

Provider modules say how to read their requests and answers (an `Api`); everything else about recording is here.
Nothing in this module raises into the caller: a failure to record is logged to `.git/trail/errors.log` and the
user's call goes on as if trail were not there.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from weakref import WeakKeyDictionary

if TYPE_CHECKING:
    from trail.capture.recorder import Recorder

# Request arguments left out of the record: headers carry credentials, and the timeout and the SDK's sentinels are
# the client's business, not what was asked.
_NOT_RECORDED = frozenset(("extra_headers", "timeout"))
_UNSET_TYPES = frozenset(("NotGiven", "Omit"))
# Tool calls a response asked for and no later request has answered yet, per recorder; the oldest are dropped past
# this many (an agent that never answers its tool calls must not grow memory without bound).
_PENDING_LIMIT = 1000


@dataclass
class Reply:
    """What the model answered, the same for every provider."""

    text: str = ""
    model: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    usage: dict[str, Any] | None = None
    stop_reason: str | None = None
    tool_uses: list[dict[str, Any]] = field(default_factory=list)
    thinking: str | None = None
    response_id: str | None = None


@dataclass
class ToolResult:
    """A tool's result as a request hands it back to the model."""

    tool_use_id: str
    output: Any
    is_error: bool = False


class Accumulator(Protocol):
    """Builds a Reply from a stream's chunks, one at a time; a partial one if asked before the end."""

    def add(self, chunk: Any) -> None: ...

    def reply(self) -> Reply: ...


class Api(Protocol):
    """How to read one provider API's requests and answers (see openai_calls.py, anthropic_calls.py)."""

    provider: str
    name: str

    def prompt_text(self, request: dict[str, Any]) -> str: ...

    def tool_results(self, request: dict[str, Any]) -> list[ToolResult]: ...

    def reply(self, result: Any) -> Reply | None: ...

    def accumulator(self) -> Accumulator: ...

    def is_stream(self, result: Any) -> bool: ...


class Settings:
    """Process-wide switches `instrument()` sets: whether wrappers record, and the recorder pinned, if any."""

    enabled = False
    pinned: Recorder | None = None


settings = Settings()
# True while an instrumented call runs, so that an SDK method that calls another instrumented one (a helper that
# goes through `create`) is recorded once.
_inside: ContextVar[bool] = ContextVar("trail_instrument_inside", default=False)
_pending: WeakKeyDictionary[Recorder, OrderedDict[str, dict[str, Any]]] = WeakKeyDictionary()
_pending_lock = threading.Lock()
# The text of the last request each recorder recorded: a request that only hands tool results back resends the
# same newest user message, and must not read as the person asking again.
_last_text: WeakKeyDictionary[Recorder, str] = WeakKeyDictionary()


def open_call(api: Api, kwargs: Mapping[str, Any], stream: bool = False) -> LLMCall | None:
    """The record of a call about to be made, or None when nothing should be recorded (not instrumented, no
    recorder, or inside another instrumented call)."""
    if not settings.enabled or _inside.get():
        return None
    recorder = recording_into()
    if recorder is None:
        return None
    try:
        return LLMCall(recorder, api, kwargs, stream)
    except Exception as e:  # noqa: BLE001 - recording must never break the user's call
        log_failure(recorder, f"{api.provider} {api.name}: reading the request", e)
        return None


def recording_into() -> Recorder | None:
    """The recorder calls are recorded into now: the pinned one, else the current one."""
    if settings.pinned is not None:
        return settings.pinned
    from trail.capture.recorder import current

    return current()


def log_failure(recorder: Recorder, context: str, error: BaseException) -> None:
    try:
        from trail.capture.keep import log_error

        log_error(recorder.repo, f"instrument {context}", error)
    except Exception:  # noqa: BLE001 - logging must not be what fails the user's call
        pass


class LLMCall:
    """One call: `begin` records what it answers and what it asks, `finish` or `fail` what came back.

    Each of these records synchronously and never raises; async wrappers run them in a worker thread so that a
    git write does not stall the event loop.
    """

    def __init__(self, recorder: Recorder, api: Api, kwargs: Mapping[str, Any], stream: bool) -> None:
        self.recorder = recorder
        self.api = api
        self.stream = stream or bool(kwargs.get("stream"))
        # Read now, in the caller's thread: the caller may change its message list as soon as the call returns.
        self.request: dict[str, Any] = {
            k: plain(v) for k, v in kwargs.items() if k not in _NOT_RECORDED and not is_unset(v)
        }
        self.started = time.perf_counter()
        self.first_chunk_ms: float | None = None
        self.answered = 0  # tool results this request hands back that a recorded response asked for

    def guarded(self, what: str, action: Callable[[], object]) -> None:
        try:
            action()
        except Exception as e:  # noqa: BLE001 - recording must never break the user's call
            log_failure(self.recorder, f"{self.api.provider} {self.api.name}: {what}", e)

    def begin(self) -> None:
        """Record the tool calls this request answers, then the request; start the clock."""
        self.guarded("recording tool results", self._record_tool_calls)
        self.guarded("recording the request", self._record_prompt)
        self.started = time.perf_counter()

    def stop_clock(self) -> float:
        return round((time.perf_counter() - self.started) * 1000, 1)

    def finish(self, reply: Reply | None, duration_ms: float, **fields: Any) -> None:
        """Record the answer (`reply` None: a result trail does not read, such as a raw HTTP response)."""
        self.guarded("recording the response", lambda: self._record_response(reply, duration_ms, fields))

    def finish_result(self, result: Any, duration_ms: float) -> None:
        """Record a non-streamed result."""

        def record() -> None:
            request_id = getattr(result, "_request_id", None)
            reply = self.api.reply(result)
            fields: dict[str, Any] = {"request_id": request_id if isinstance(request_id, str) else None}
            if reply is None:
                fields["unread"] = type(result).__name__
            self._record_response(reply, duration_ms, fields)

        self.guarded("recording the response", record)

    def fail(self, error: BaseException, duration_ms: float) -> None:
        """Record that the call failed; the caller re-raises `error` unchanged."""
        self.guarded("recording an error", lambda: self._record_response(None, duration_ms, {"error": error}))

    # -- the steps ---------------------------------------------------------------------------------------------

    def _common(self) -> dict[str, Any]:
        return {"provider": self.api.provider, "api": self.api.name, "stream": True if self.stream else None}

    def _record_prompt(self) -> None:
        model = self.request.get("model")
        text = self.api.prompt_text(self.request)
        with _pending_lock:
            again = self.answered and _last_text.get(self.recorder) == text
            _last_text[self.recorder] = text
        continues = None
        if again:
            count = f"{self.answered} tool result" + ("s" if self.answered != 1 else "")
            text, continues = f"(the conversation goes on with {count})", True
        self.recorder.prompt(
            text,
            model=model if isinstance(model, str) else None,
            request=self.request,
            continues=continues,
            **self._common(),
        )

    def _record_tool_calls(self) -> None:
        results = self.api.tool_results(self.request)
        if not results:
            return
        with _pending_lock:
            pending = _pending.get(self.recorder)
            asked = [(r, pending.pop(r.tool_use_id)) for r in results if pending and r.tool_use_id in pending]
        self.answered = len(asked)
        for result, use in asked:
            self.recorder.tool_call(
                str(use.get("name") or "tool"),
                input=use.get("input"),
                output=None if result.is_error else result.output,
                error=result.output if result.is_error else None,
                tool_use_id=result.tool_use_id,
                provider=self.api.provider,
            )

    def _record_response(self, reply: Reply | None, duration_ms: float, fields: dict[str, Any]) -> None:
        error = fields.pop("error", None)
        if isinstance(error, BaseException):
            fields["error"] = describe_error(error)
        if reply is None:
            reply = Reply()
            if error is not None:
                reply.text = f"error: {type(error).__name__}: {error}"
            elif fields.get("unread"):
                reply.text = f"(an unread {fields['unread']}: trail records parsed answers only)"
        self.recorder.response(
            reply.text,
            model=reply.model or _str(self.request.get("model")),
            tokens_in=reply.tokens_in,
            tokens_out=reply.tokens_out,
            thinking=reply.thinking or None,
            usage=reply.usage,
            stop_reason=reply.stop_reason,
            tool_uses=reply.tool_uses or None,
            duration_ms=duration_ms,
            first_chunk_ms=self.first_chunk_ms,
            response_id=reply.response_id,
            **self._common(),
            **fields,
        )
        if reply.tool_uses:
            with _pending_lock:
                pending = _pending.setdefault(self.recorder, OrderedDict())
                for use in reply.tool_uses:
                    if isinstance(use.get("id"), str):
                        pending[use["id"]] = use
                while len(pending) > _PENDING_LIMIT:
                    pending.popitem(last=False)


def describe_error(error: BaseException) -> dict[str, Any]:
    """An exception as the record keeps it: its type and message, and the HTTP status and body of an API error."""
    described: dict[str, Any] = {"type": type(error).__name__, "message": str(error)}
    status = getattr(error, "status_code", None)
    if isinstance(status, int):
        described["status_code"] = status
    body = getattr(error, "body", None)
    if body is not None:
        described["body"] = plain(body)
    request_id = getattr(error, "request_id", None)
    if isinstance(request_id, str):
        described["request_id"] = request_id
    return described


def is_unset(value: Any) -> bool:
    """The SDKs' "argument not given" sentinels (`NOT_GIVEN`, `omit`), matched by type name so that this module
    needs neither SDK."""
    return type(value).__name__ in _UNSET_TYPES


def plain(value: Any, depth: int = 0) -> Any:
    """`value` as JSON-ready data, without consuming it: SDK models are dumped, and an iterator (which reading would
    use up before the SDK sends it) is named, not read."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if depth > 50:
        return repr(value)
    if isinstance(value, Mapping):
        return {str(k): plain(v, depth + 1) for k, v in value.items() if not is_unset(v)}
    if isinstance(value, list | tuple):
        return [plain(v, depth + 1) for v in value]
    if isinstance(value, bytes | bytearray):
        return {"bytes": len(value)}
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return plain(dump(mode="json", exclude_unset=True), depth + 1)
        except TypeError:  # pydantic v1, which openai and anthropic still allow
            return plain(value.dict(exclude_unset=True), depth + 1)
    return f"<{type(value).__name__}>"


def parse_json(text: Any) -> Any:
    """A tool call's arguments: the JSON they hold, or the text as it came when it is not JSON (a cut stream)."""
    if not isinstance(text, str):
        return plain(text)
    if not text:
        return {}
    try:
        return json.loads(text)
    except ValueError:
        return text


def text_of(content: Any, kinds: tuple[str, ...] = ("text",)) -> str:
    """The text of a message's content: a string, or the parts of the given types joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(part.get("text") or "") for part in content if isinstance(part, dict) and part.get("type") in kinds
        )
    return ""


def dumped(model: Any) -> dict[str, Any] | None:
    """An SDK model (a usage object) as a dict, or None."""
    if model is None:
        return None
    value = plain(model)
    return value if isinstance(value, dict) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
