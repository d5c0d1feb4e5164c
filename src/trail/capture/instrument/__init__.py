"""`trail.instrument()`: record every call made through the official `openai` and `anthropic` clients as steps.

    with trail.Recorder(agent="my-agent") as rec, trail.instrument():
        client.chat.completions.create(model="gpt-5", messages=[...])   # a prompt step, then a response step

The SDKs' resource classes are patched (never instances, so clients made before or after are both covered), once
however many times `instrument()` is called; `uninstrument()` puts back the exact attributes it replaced. Calls
are recorded into the pinned recorder (`instrument(recorder=rec)`), else `trail.capture.recorder.current()`; with
neither, they go through unrecorded. What a call records is in calls.py, streams in streams.py, and where each
SDK keeps its methods in openai_calls.py and anthropic_calls.py.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import threading
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from trail.capture.instrument.calls import Api, _inside, open_call, recording_into, settings
from trail.capture.instrument.streams import AsyncRecordedStream, RecordedStream, RecordedStreamManager, offload

if TYPE_CHECKING:
    from trail.capture.recorder import Recorder

__all__ = ["Instrumentation", "instrument", "instrumented", "uninstrument"]

# How a patched method reaches the API: it sends the request and returns the answer or a stream (CALL); it is a
# stream helper that sends its own request (OWN_STREAM: Anthropic's `messages.stream`); or a stream helper that
# goes through the instrumented `create` (VIA_CREATE: OpenAI's `.stream()`), which records the request.
CALL = "call"
OWN_STREAM = "own_stream"
VIA_CREATE = "via_create"
PROVIDERS = ("trail.capture.instrument.openai_calls", "trail.capture.instrument.anthropic_calls")


@dataclass(frozen=True)
class Target:
    """One method to patch: `method` of class `owner` in the first of `modules` that imports."""

    modules: tuple[str, ...]
    owner: str
    method: str
    api: Api
    how: str = CALL


@dataclass
class _Patch:
    owner: type
    method: str
    original: Any  # what the class itself held (None: the method was inherited)
    wrapper: Any


_lock = threading.RLock()
_patches: list[_Patch] = []


class Instrumentation:
    """What `instrument()` returns; as a context manager, leaving the block undoes what entering it did (a nested
    `with trail.instrument(recorder=b)` puts back the outer block's recorder rather than uninstrumenting)."""

    def __init__(self, turned_on: bool, previous: Recorder | None) -> None:
        self._turned_on = turned_on
        self._previous = previous

    @property
    def methods(self) -> list[str]:
        """The methods patched, as `module.Class.method`."""
        return instrumented()

    def __enter__(self) -> Instrumentation:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        with _lock:
            if self._turned_on:
                uninstrument()
            else:
                settings.pinned = self._previous


def instrument(recorder: Recorder | None = None) -> Instrumentation:
    """Record LLM calls made through `openai` and `anthropic` (whichever are installed) into `recorder`, or into
    the current recorder at the time of each call when None. Calling it again only changes the recorder."""
    with _lock:
        handle = Instrumentation(turned_on=not settings.enabled, previous=settings.pinned)
        if not _patches:
            _patch_all()
        settings.pinned = recorder
        settings.enabled = True
        return handle


def uninstrument() -> None:
    """Stop recording LLM calls and put back every method `instrument()` replaced, exactly as it was. A method that
    someone else wrapped after us is left to them; our wrapper inside theirs then only passes calls through."""
    with _lock:
        settings.enabled = False
        settings.pinned = None
        for patch in reversed(_patches):
            if patch.owner.__dict__.get(patch.method) is not patch.wrapper:
                continue
            if patch.original is None:
                delattr(patch.owner, patch.method)
            else:
                setattr(patch.owner, patch.method, patch.original)
        _patches.clear()


def instrumented() -> list[str]:
    """The methods currently patched, as `module.Class.method`."""
    with _lock:
        return [f"{p.owner.__module__}.{p.owner.__qualname__}.{p.method}" for p in _patches]


def _patch_all() -> None:
    for provider in PROVIDERS:
        try:
            targets: list[Target] = importlib.import_module(provider).targets()
        except ImportError:  # the SDK is not installed
            continue
        for target in targets:
            owner = _find_class(target)
            original = getattr(owner, target.method, None) if owner is not None else None
            if owner is None or not callable(original):  # an older SDK without it
                continue
            wrapper = _wrap(original, target)
            _patches.append(_Patch(owner, target.method, owner.__dict__.get(target.method), wrapper))
            setattr(owner, target.method, wrapper)


def _find_class(target: Target) -> type | None:
    for name in target.modules:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        owner = getattr(module, target.owner, None)
        if isinstance(owner, type):
            return owner
    return None


def _wrap(original: Any, target: Target) -> Any:
    if target.how != CALL:
        return _wrap_helper(original, target.api, own_request=target.how == OWN_STREAM)
    # The SDKs' async `create` is a plain function (a decorator's) returning a coroutine: the class tells.
    if target.owner.startswith("Async") or inspect.iscoroutinefunction(inspect.unwrap(original)):
        return _wrap_async(original, target.api)
    return _wrap_sync(original, target.api)


def _wrap_sync(original: Any, api: Api) -> Any:
    @functools.wraps(original)
    def recorded(self: Any, *args: Any, **kwargs: Any) -> Any:
        call = open_call(api, kwargs)
        if call is None:
            return original(self, *args, **kwargs)
        call.begin()
        inside = _inside.set(True)
        try:
            result = original(self, *args, **kwargs)
        except Exception as e:
            call.fail(e, call.stop_clock())
            raise
        finally:
            _inside.reset(inside)
        if api.is_stream(result):
            return RecordedStream(result, call)
        call.finish_result(result, call.stop_clock())
        return result

    return recorded


def _wrap_async(original: Any, api: Api) -> Any:
    @functools.wraps(original)
    async def recorded(self: Any, *args: Any, **kwargs: Any) -> Any:
        call = open_call(api, kwargs)
        if call is None:
            return await original(self, *args, **kwargs)
        await offload(call.begin)
        inside = _inside.set(True)
        try:
            result = await original(self, *args, **kwargs)
        except Exception as e:
            await offload(call.fail, e, call.stop_clock())
            raise
        finally:
            _inside.reset(inside)
        if api.is_stream(result):
            return AsyncRecordedStream(result, call)
        await offload(call.finish_result, result, call.stop_clock())
        return result

    return recorded


def _wrap_helper(original: Any, api: Api, own_request: bool) -> Any:
    @functools.wraps(original)
    def recorded(self: Any, *args: Any, **kwargs: Any) -> Any:
        manager = original(self, *args, **kwargs)
        if not settings.enabled or _inside.get() or recording_into() is None:
            return manager
        call = open_call(api, kwargs, stream=True) if own_request else None
        if own_request and call is None:
            return manager
        return RecordedStreamManager(manager, call)

    return recorded
