"""Streamed answers: wrappers that hand the caller every chunk unchanged and record the answer when the stream ends.

A stream ends in one of three ways, and each records one response step: read to the end (the whole answer), closed
early (what arrived, marked `partial`), or raising (what arrived, marked `partial`, with the error). The wrappers
report the wrapped object's class as their own, so `isinstance(stream, openai.Stream)` holds as before.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any

from trail.capture.instrument.calls import Accumulator, LLMCall, log_failure

CLOSED_EARLY = "closed before the end"


async def offload(action: Any, *args: Any) -> Any:
    """Run a recording in a worker thread, so that a git write does not stall the caller's event loop (asyncio or
    trio: anyio comes with both SDKs); in this thread where anyio is missing."""
    try:
        import anyio.to_thread
    except ImportError:
        return action(*args)
    return await anyio.to_thread.run_sync(action, *args)


class _Recording:
    """What the sync and async wrappers share: the chunks seen so far, and recording the answer once."""

    def __init__(self, stream: Any, call: LLMCall) -> None:
        self._trail_stream = stream
        self._trail_call = call
        self._trail_done = False
        self._trail_accumulator: Accumulator | None = None
        try:
            self._trail_accumulator = call.api.accumulator()
        except Exception as e:  # noqa: BLE001 - recording must never break the user's call
            log_failure(call.recorder, f"{call.api.provider} {call.api.name}: reading the stream", e)

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # noqa: D105 - isinstance() sees the wrapped stream's class, as with a mock's spec
        return type(self._trail_stream)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_trail_"):  # not set yet: never look it up on the stream (nor recurse)
            raise AttributeError(name)
        return getattr(self._trail_stream, name)

    def _trail_seen(self, chunk: Any) -> None:
        call = self._trail_call
        if call.first_chunk_ms is None:
            call.first_chunk_ms = round((time.perf_counter() - call.started) * 1000, 1)
        if self._trail_accumulator is not None:
            try:
                self._trail_accumulator.add(chunk)
            except Exception as e:  # noqa: BLE001 - stop reading, keep streaming
                self._trail_accumulator = None
                log_failure(call.recorder, f"{call.api.provider} {call.api.name}: reading a chunk", e)

    def _trail_claim(self) -> bool:
        """True once: the first of end, close and error records the answer."""
        if self._trail_done:
            return False
        self._trail_done = True
        return True

    def _trail_record(self, partial: str | None, error: BaseException | None, duration_ms: float) -> None:
        call = self._trail_call
        try:
            reply = self._trail_accumulator.reply() if self._trail_accumulator is not None else None
        except Exception as e:  # noqa: BLE001 - record what can be recorded
            log_failure(call.recorder, f"{call.api.provider} {call.api.name}: assembling the stream", e)
            reply = None
        fields: dict[str, Any] = {}
        if partial is not None:
            fields.update(partial=True, partial_reason=partial)
        if error is not None:
            fields["error"] = error
        call.finish(reply, duration_ms, **fields)


def _raised(error: BaseException) -> str:
    return f"the stream raised {type(error).__name__}"


class RecordedStream(_Recording):
    """A sync stream (`for chunk in stream`, `with stream:`), recorded."""

    def __iter__(self) -> RecordedStream:
        return self

    def __next__(self) -> Any:
        try:
            chunk = next(self._trail_stream)
        except StopIteration:
            self.settle(None)
            raise
        except BaseException as e:
            self.settle(_raised(e), e)
            raise
        self._trail_seen(chunk)
        return chunk

    def settle(self, partial: str | None = CLOSED_EARLY, error: BaseException | None = None) -> None:
        """Record the answer unless it already was (`partial` None: the stream ended)."""
        if self._trail_claim():
            self._trail_record(partial, error, self._trail_call.stop_clock())

    def close(self) -> None:
        try:
            self._trail_stream.close()
        finally:
            self.settle()

    def __enter__(self) -> RecordedStream:
        self._trail_stream.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Any:
        try:
            return self._trail_stream.__exit__(exc_type, exc, tb)
        finally:
            self.settle()


class AsyncRecordedStream(_Recording):
    """An async stream (`async for chunk in stream`, `async with stream:`), recorded."""

    def __aiter__(self) -> AsyncRecordedStream:
        return self

    async def __anext__(self) -> Any:
        try:
            chunk = await self._trail_stream.__anext__()
        except StopAsyncIteration:
            await self.settle(None)
            raise
        except Exception as e:
            await self.settle(_raised(e), e)
            raise
        except BaseException as e:  # cancelled: a cancelled task cannot await the worker thread, so record here
            if self._trail_claim():
                self._trail_record(_raised(e), e, self._trail_call.stop_clock())
            raise
        self._trail_seen(chunk)
        return chunk

    async def settle(self, partial: str | None = CLOSED_EARLY, error: BaseException | None = None) -> None:
        if self._trail_claim():
            await offload(self._trail_record, partial, error, self._trail_call.stop_clock())

    async def close(self) -> None:
        try:
            await self._trail_stream.close()
        finally:
            await self.settle()

    async def __aenter__(self) -> AsyncRecordedStream:
        await self._trail_stream.__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Any:
        try:
            return await self._trail_stream.__aexit__(exc_type, exc, tb)
        finally:
            await self.settle()


class RecordedStreamManager:
    """A stream helper's context manager (`with client.messages.stream(...) as stream:`), recorded.

    With `call`, the helper sends its own request (Anthropic's `messages.stream`): entering records the request,
    and the helper's raw stream is swapped for a recorded one before it is read. Without, the helper goes through
    an instrumented `create` (OpenAI's `.stream()`), which recorded the request; either way leaving the block
    records what arrived if the stream was left before its end, since the helpers close the HTTP response directly.
    """

    def __init__(self, manager: Any, call: LLMCall | None) -> None:
        self._trail_manager = manager
        self._trail_call = call
        self._trail_helper_stream: Any = None

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # noqa: D105
        return type(self._trail_manager)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_trail_"):
            raise AttributeError(name)
        return getattr(self._trail_manager, name)

    def _wrap(self, helper_stream: Any, wrapper: type[_Recording]) -> Any:
        self._trail_helper_stream = helper_stream
        call = self._trail_call
        if call is not None:
            try:
                raw = helper_stream._raw_stream
                helper_stream._raw_stream = wrapper(raw, call)
            except Exception as e:  # noqa: BLE001 - an SDK without `_raw_stream`: the request alone is recorded
                call.finish(None, call.stop_clock(), unread=type(helper_stream).__name__)
                log_failure(call.recorder, f"{call.api.provider} {call.api.name}: wrapping the stream", e)
        return helper_stream

    def _recorded(self) -> Any:
        raw = getattr(self._trail_helper_stream, "_raw_stream", None)
        return raw if type(raw) in (RecordedStream, AsyncRecordedStream) else None

    def __enter__(self) -> Any:
        call = self._trail_call
        if call is not None:
            call.begin()
        try:
            helper_stream = self._trail_manager.__enter__()
        except Exception as e:
            if call is not None:
                call.fail(e, call.stop_clock())
            raise
        return self._wrap(helper_stream, RecordedStream)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Any:
        try:
            return self._trail_manager.__exit__(exc_type, exc, tb)
        finally:
            recorded = self._recorded()
            if recorded is not None:
                recorded.settle()

    async def __aenter__(self) -> Any:
        call = self._trail_call
        if call is not None:
            await offload(call.begin)
        try:
            helper_stream = await self._trail_manager.__aenter__()
        except Exception as e:
            if call is not None:
                await offload(call.fail, e, call.stop_clock())
            raise
        return self._wrap(helper_stream, AsyncRecordedStream)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Any:
        try:
            return await self._trail_manager.__aexit__(exc_type, exc, tb)
        finally:
            recorded = self._recorded()
            if recorded is not None:
                await recorded.settle()
