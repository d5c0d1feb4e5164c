"""trail.instrument(): the real openai and anthropic clients, over real HTTP to a local stand-in for each API, record
their calls as steps that we read back from git."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from llm_stub import TOOL_INPUT, StubLLM

import trail
from trail.capture.recorder import Recorder
from trail.capture.writer import StepWriter
from trail.repo import TrailRepo
from trail.store.steps import Step, Store

WEATHER_OPENAI = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]
WEATHER_RESPONSES = [
    {"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {}}, "strict": False}
]
WEATHER_ANTHROPIC = [{"name": "get_weather", "description": "Weather now", "input_schema": {"type": "object"}}]


@pytest.fixture(scope="module")
def stub() -> Iterator[StubLLM]:
    with StubLLM() as server:
        yield server


@pytest.fixture(autouse=True)
def _uninstrumented() -> Iterator[None]:
    yield
    trail.uninstrument()


def oai(stub: StubLLM) -> openai.OpenAI:
    return openai.OpenAI(base_url=stub.url + "/v1", api_key="sk-test", max_retries=0)


def aoai(stub: StubLLM) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=stub.url + "/v1", api_key="sk-test", max_retries=0)


def ant(stub: StubLLM) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=stub.url, api_key="sk-ant-test", max_retries=0)


def aant(stub: StubLLM) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=stub.url, api_key="sk-ant-test", max_retries=0)


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def steps(repo: Path, rec: Recorder) -> list[Step]:
    """The session's steps as stored in git, without its start and end."""
    found = Store(TrailRepo.discover(repo)).steps(rec.session_id)
    return [s for s in found if s.kind not in ("session_start", "session_end")]


def kinds(found: list[Step]) -> list[str]:
    return [s.kind for s in found]


# -- what one call records ---------------------------------------------------------------------------------------


def test_openai_chat_call_records_the_request_and_the_answer(repo: Path, stub: StubLLM) -> None:
    client = oai(stub)
    with Recorder(repo) as rec, trail.instrument():
        answer = client.chat.completions.create(
            model="gpt-stub",
            messages=[{"role": "system", "content": "Be brief."}, *user("what is 2+2?")],
            temperature=0.2,
            extra_headers={"X-Secret-Header": "hunter2"},
        )
    assert answer.choices[0].message.content == "echo: what is 2+2?"
    prompt, response = steps(repo, rec)
    assert prompt.kind == "prompt" and response.kind == "response"
    assert prompt.event.payload["text"] == "what is 2+2?"
    assert prompt.event.payload["request"] == {
        "model": "gpt-stub",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "what is 2+2?"}],
        "temperature": 0.2,
    }
    assert "hunter2" not in json.dumps(prompt.event.payload)
    p = response.event.payload
    assert p["text"] == "echo: what is 2+2?"
    assert (p["model"], p["provider"], p["api"], p["stop_reason"]) == (
        "gpt-stub-2026-01-01",
        "openai",
        "chat.completions",
        "stop",
    )
    assert (p["tokens_in"], p["tokens_out"]) == (11, 4)
    assert p["usage"]["prompt_tokens_details"] == {"cached_tokens": 3, "audio_tokens": 0}
    assert p["response_id"] == "chatcmpl-stub1" and p["request_id"] == "req_1"
    assert p["duration_ms"] > 0 and "stream" not in p


def test_anthropic_call_counts_cached_input_in_tokens_in(repo: Path, stub: StubLLM) -> None:
    with Recorder(repo) as rec, trail.instrument():
        answer = ant(stub).messages.create(
            model="claude-stub", max_tokens=100, system="Be brief.", messages=user("hello claude")
        )
    assert answer.content[0].text == "echo: hello claude"
    prompt, response = steps(repo, rec)
    assert prompt.event.payload["text"] == "hello claude"
    assert prompt.event.payload["request"]["system"] == "Be brief."
    p = response.event.payload
    assert (p["text"], p["stop_reason"], p["tokens_in"], p["tokens_out"]) == ("echo: hello claude", "end_turn", 18, 3)
    assert p["usage"]["cache_read_input_tokens"] == 5


def test_openai_responses_call(repo: Path, stub: StubLLM) -> None:
    with Recorder(repo) as rec, trail.instrument():
        answer = oai(stub).responses.create(model="gpt-stub", input="describe trail", instructions="short")
    assert answer.output_text == "echo: describe trail"
    prompt, response = steps(repo, rec)
    assert prompt.event.payload["text"] == "describe trail"
    assert prompt.event.payload["request"]["instructions"] == "short"
    p = response.event.payload
    assert (p["text"], p["api"], p["stop_reason"], p["tokens_in"]) == (
        "echo: describe trail",
        "responses",
        "completed",
        11,
    )


def test_async_calls(repo: Path, stub: StubLLM) -> None:
    async def both() -> tuple[str, str]:
        chat = await aoai(stub).chat.completions.create(model="gpt-stub", messages=user("async one"))
        message = await aant(stub).messages.create(model="claude-stub", max_tokens=10, messages=user("async two"))
        return str(chat.choices[0].message.content), message.content[0].text  # type: ignore[union-attr]

    with Recorder(repo) as rec, trail.instrument():
        assert asyncio.run(both()) == ("echo: async one", "echo: async two")
    found = steps(repo, rec)
    assert kinds(found) == ["prompt", "response"] * 2
    assert [s.event.payload["text"] for s in found] == ["async one", "echo: async one", "async two", "echo: async two"]


# -- streams -------------------------------------------------------------------------------------------------------


def test_streamed_chat_gives_every_chunk_and_records_the_assembled_answer(repo: Path, stub: StubLLM) -> None:
    client = oai(stub)
    request: dict[str, Any] = {
        "model": "gpt-stub",
        "messages": user("stream a few words please"),
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    plain = [c.model_dump() for c in client.chat.completions.create(**request)]
    with Recorder(repo) as rec, trail.instrument():
        stream = client.chat.completions.create(**request)
        assert isinstance(stream, openai.Stream)
        with stream:
            seen = [c.model_dump() for c in stream]
    assert seen == plain and len(seen) > 5
    prompt, response = steps(repo, rec)
    assert prompt.event.payload["stream"] is True
    p = response.event.payload
    assert p["text"] == "echo: stream a few words please" and p["stream"] is True and "partial" not in p
    assert (p["tokens_in"], p["tokens_out"], p["stop_reason"]) == (11, 6, "stop")
    assert 0 < p["first_chunk_ms"] <= p["duration_ms"]


def test_streamed_async_calls(repo: Path, stub: StubLLM) -> None:
    async def run() -> tuple[str, str, str]:
        chat = await aoai(stub).chat.completions.create(model="gpt-stub", messages=user("async chat"), stream=True)
        assert isinstance(chat, openai.AsyncStream)
        async with chat:
            text = "".join([c.choices[0].delta.content or "" async for c in chat if c.choices])
        async with aant(stub).messages.stream(
            model="claude-stub", max_tokens=10, messages=user("async helper")
        ) as helper:
            helper_text = "".join([t async for t in helper.text_stream])
        responses = await aoai(stub).responses.create(model="gpt-stub", input="async responses", stream=True)
        deltas = [e.delta async for e in responses if e.type == "response.output_text.delta"]
        return text, helper_text, "".join(deltas)

    with Recorder(repo) as rec, trail.instrument():
        assert asyncio.run(run()) == ("echo: async chat", "echo: async helper", "echo: async responses")
    found = steps(repo, rec)
    assert kinds(found) == ["prompt", "response"] * 3
    answers = [s.event.payload for s in found[1::2]]
    assert [a["text"] for a in answers] == ["echo: async chat", "echo: async helper", "echo: async responses"]
    assert [a["api"] for a in answers] == ["chat.completions", "messages", "responses"]
    assert answers[1]["tokens_in"] == 18 and answers[2]["tokens_out"] == 3
    assert all(a["stream"] is True and "partial" not in a for a in answers)


def test_stream_helpers_of_both_sdks(repo: Path, stub: StubLLM) -> None:
    with Recorder(repo) as rec, trail.instrument():
        with ant(stub).messages.stream(model="claude-stub", max_tokens=10, messages=user("anthropic helper")) as s:
            final = s.get_final_message()
        with oai(stub).chat.completions.stream(model="gpt-stub", messages=user("openai helper")) as c:
            completion = c.get_final_completion()
        with oai(stub).responses.stream(model="gpt-stub", input="responses helper") as r:
            response = r.get_final_response()
    assert final.content[0].text == "echo: anthropic helper"  # type: ignore[union-attr]
    assert completion.choices[0].message.content == "echo: openai helper"
    assert response.output_text == "echo: responses helper"
    found = steps(repo, rec)
    assert kinds(found) == ["prompt", "response"] * 3
    assert [s.event.payload["text"] for s in found[1::2]] == [
        "echo: anthropic helper",
        "echo: openai helper",
        "echo: responses helper",
    ]


def test_a_stream_closed_early_records_what_arrived_as_partial(repo: Path, stub: StubLLM) -> None:
    long = "one two three four five six seven eight"
    with Recorder(repo) as rec, trail.instrument():
        stream = oai(stub).chat.completions.create(model="gpt-stub", messages=user(long), stream=True)
        for n, _chunk in enumerate(stream):
            if n == 3:
                break
        stream.close()
        with ant(stub).messages.stream(model="claude-stub", max_tokens=10, messages=user(long)) as helper:
            next(iter(helper.text_stream))
        # OpenAI's helper closes the HTTP response itself, past the stream trail wrapped: leaving its block counts.
        with oai(stub).chat.completions.stream(model="gpt-stub", messages=user(long)) as events:
            next(e for e in events if e.type == "content.delta" and e.delta)
    found = steps(repo, rec)
    assert kinds(found) == ["prompt", "response"] * 3
    chat, claude, helper_chat = (s.event.payload for s in found[1::2])
    assert chat["partial"] is True and chat["partial_reason"] == "closed before the end"
    assert chat["text"] == "echo: one two "
    assert claude["partial"] is True and claude["text"] == "echo: "
    assert helper_chat["partial"] is True and helper_chat["text"] == "echo: "


def test_a_stream_that_raises_records_the_error_and_the_error_reaches_the_caller(repo: Path, stub: StubLLM) -> None:
    with Recorder(repo) as rec, trail.instrument():
        stream = ant(stub).messages.create(
            model="claude-midstream-error", max_tokens=10, messages=user("a b c d e"), stream=True
        )
        with pytest.raises(anthropic.APIStatusError, match="stub says 529"):
            for _event in stream:
                pass
    response = steps(repo, rec)[-1].event.payload
    assert response["partial"] is True and response["partial_reason"].startswith("the stream raised")
    assert "stub says 529" in response["error"]["message"]
    assert response["text"] == "echo: "


# -- tool calls ----------------------------------------------------------------------------------------------------


def test_openai_chat_tool_round_trip_records_the_tool_call_between_the_calls(repo: Path, stub: StubLLM) -> None:
    client = oai(stub)
    messages: list[Any] = user("weather in Paris?")
    with Recorder(repo) as rec, trail.instrument():
        first = client.chat.completions.create(model="gpt-stub", messages=messages, tools=WEATHER_OPENAI)
        call = first.choices[0].message.tool_calls[0]  # type: ignore[index]
        messages += [first.choices[0].message, {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21C"}]
        second = client.chat.completions.create(model="gpt-stub", messages=messages, tools=WEATHER_OPENAI)
        # The history goes again with every request: the same result must not be recorded twice.
        messages += [second.choices[0].message, *user("and tomorrow?")]
        client.chat.completions.create(model="gpt-stub", messages=messages, tools=WEATHER_OPENAI)
    found = steps(repo, rec)
    assert kinds(found) == ["prompt", "response", "tool_call", "prompt", "response", "prompt", "response"]
    asked = found[1].event.payload
    assert asked["tool_uses"] == [{"id": "call_stub_1", "name": "get_weather", "input": TOOL_INPUT}]
    assert asked["stop_reason"] == "tool_calls"
    assert found[2].event.payload == {
        "name": "get_weather",
        "input": TOOL_INPUT,
        "output": "sunny, 21C",
        "tool_use_id": "call_stub_1",
        "provider": "openai",
    }
    # The second request only hands the result back: it says so, rather than read as the person asking again.
    assert found[3].event.payload["text"] == "(the conversation goes on with 1 tool result)"
    assert found[3].event.payload["continues"] is True and "continues" not in found[0].event.payload
    assert found[3].event.payload["request"]["messages"][1]["tool_calls"][0]["id"] == "call_stub_1"
    assert found[5].event.payload["text"] == "and tomorrow?"


def test_anthropic_streamed_tool_round_trip_with_an_error_result(repo: Path, stub: StubLLM) -> None:
    client = ant(stub)
    messages: list[Any] = user("weather?")
    with Recorder(repo) as rec, trail.instrument():
        with client.messages.stream(
            model="claude-stub", max_tokens=50, messages=messages, tools=WEATHER_ANTHROPIC
        ) as s:
            asked = s.get_final_message()
        use = asked.content[0]
        result = {"type": "tool_result", "tool_use_id": use.id, "content": "no network", "is_error": True}  # type: ignore[union-attr]
        messages += [{"role": "assistant", "content": asked.content}, {"role": "user", "content": [result]}]
        client.messages.create(model="claude-stub", max_tokens=50, messages=messages, tools=WEATHER_ANTHROPIC)
    found = steps(repo, rec)
    assert kinds(found) == ["prompt", "response", "tool_call", "prompt", "response"]
    assert found[1].event.payload["tool_uses"] == [{"id": "toolu_stub_1", "name": "get_weather", "input": TOOL_INPUT}]
    tool = found[2].event.payload
    assert (tool["name"], tool["input"], tool["error"], tool["tool_use_id"]) == (
        "get_weather",
        TOOL_INPUT,
        "no network",
        "toolu_stub_1",
    )
    assert "output" not in tool


def test_openai_responses_tool_round_trip(repo: Path, stub: StubLLM) -> None:
    client = oai(stub)
    with Recorder(repo) as rec, trail.instrument():
        stream = client.responses.create(model="gpt-stub", input="weather?", tools=WEATHER_RESPONSES, stream=True)  # type: ignore[arg-type]
        call = next(e.item for e in stream if e.type == "response.output_item.done")
        list(stream)
        output = {"type": "function_call_output", "call_id": call.call_id, "output": "rain"}  # type: ignore[union-attr]
        client.responses.create(model="gpt-stub", input=[*user("weather?"), call, output], tools=WEATHER_RESPONSES)  # type: ignore[arg-type]
    found = steps(repo, rec)
    assert kinds(found) == ["prompt", "response", "tool_call", "prompt", "response"]
    assert found[2].event.payload["output"] == "rain" and found[2].event.payload["input"] == TOOL_INPUT


# -- errors --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 500])
def test_an_api_error_is_recorded_and_propagates_unchanged(repo: Path, stub: StubLLM, status: int) -> None:
    errors: list[BaseException] = []
    with Recorder(repo) as rec, trail.instrument():
        for call in (
            lambda: oai(stub).chat.completions.create(model=f"gpt-error-{status}", messages=user("x")),
            lambda: ant(stub).messages.create(model=f"claude-error-{status}", max_tokens=5, messages=user("y")),
        ):
            with pytest.raises(openai.APIStatusError if not errors else anthropic.APIStatusError) as caught:
                call()
            assert caught.value.status_code == status
            errors.append(caught.value)
    assert type(errors[0]).__module__.startswith("openai") and type(errors[1]).__module__.startswith("anthropic")
    found = steps(repo, rec)
    assert kinds(found) == ["prompt", "response"] * 2
    for step, error in zip(found[1::2], errors, strict=True):
        recorded = step.event.payload["error"]
        assert recorded["type"] == type(error).__name__ and recorded["status_code"] == status
        assert "stub says" in json.dumps(recorded["body"])
        assert step.event.payload["text"].startswith(f"error: {type(error).__name__}")


# -- on, off, and where to ----------------------------------------------------------------------------------------


def _patched() -> dict[str, Any]:
    from anthropic.resources.messages.messages import AsyncMessages, Messages
    from openai.resources.chat.completions.completions import AsyncCompletions, Completions
    from openai.resources.responses.responses import Responses

    return {
        f"{owner.__name__}.{name}": owner.__dict__[name]
        for owner in (Completions, AsyncCompletions, Responses, Messages, AsyncMessages)
        for name in ("create", "stream", "parse")
    }


def test_uninstrument_puts_back_the_exact_methods_and_stops_recording(repo: Path, stub: StubLLM) -> None:
    before = _patched()
    first = trail.instrument()
    again = trail.instrument()  # idempotent: nothing is wrapped twice
    assert len(first.methods) == len(set(first.methods)) == 24
    during = _patched()
    assert all(during[name] is not before[name] for name in before)
    assert again.methods == first.methods and _patched() == during
    trail.uninstrument()
    assert _patched() == before
    assert all(_patched()[name] is before[name] for name in before)
    with Recorder(repo) as rec:
        oai(stub).chat.completions.create(model="gpt-stub", messages=user("after"))
    assert steps(repo, rec) == []
    trail.uninstrument()  # harmless when off


def test_the_with_form_undoes_itself(repo: Path, stub: StubLLM) -> None:
    before = _patched()
    with Recorder(repo) as rec:
        with trail.instrument() as on:
            assert on.methods
            oai(stub).chat.completions.create(model="gpt-stub", messages=user("inside"))
        oai(stub).chat.completions.create(model="gpt-stub", messages=user("outside"))
    assert _patched() == before
    assert [s.event.payload["text"] for s in steps(repo, rec)] == ["inside", "echo: inside"]


def test_without_a_recorder_calls_go_through_unrecorded(repo: Path, stub: StubLLM) -> None:
    trail.instrument()
    answer = oai(stub).chat.completions.create(model="gpt-stub", messages=user("nobody listens"))
    chunks = list(ant(stub).messages.create(model="claude-stub", max_tokens=5, messages=user("x"), stream=True))
    assert answer.choices[0].message.content == "echo: nobody listens" and chunks
    assert Store(TrailRepo.discover(repo)).sessions() == []


def test_a_pinned_recorder_gets_the_calls(repo: Path, stub: StubLLM) -> None:
    pinned = Recorder(repo, session_id="pinned-session")
    with Recorder(repo) as other, trail.instrument(recorder=pinned):
        oai(stub).chat.completions.create(model="gpt-stub", messages=user("to the pinned one"))
    pinned.end()
    assert steps(repo, other) == []
    assert kinds(steps(repo, pinned)) == ["prompt", "response"]


def test_calls_from_many_threads_are_all_recorded(repo: Path, stub: StubLLM) -> None:
    client = oai(stub)

    def ask(n: int) -> None:
        for i in range(3):
            answer = client.chat.completions.create(model="gpt-stub", messages=user(f"thread {n} call {i}"))
            assert answer.choices[0].message.content == f"echo: thread {n} call {i}"

    with Recorder(repo) as rec, trail.instrument():
        threads = [threading.Thread(target=ask, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    found = steps(repo, rec)
    prompts = sorted(s.event.payload["text"] for s in found if s.kind == "prompt")
    answers = sorted(s.event.payload["text"] for s in found if s.kind == "response")
    assert prompts == sorted(f"thread {n} call {i}" for n in range(4) for i in range(3))
    assert answers == ["echo: " + p for p in prompts]


# -- trail failing must not fail the call ------------------------------------------------------------------------


def test_a_failure_inside_trail_never_breaks_the_call(
    repo: Path, stub: StubLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Recorder(repo) as rec, trail.instrument():
        rec.note("before the disk filled up")

        def broken(self: StepWriter, *args: Any, **kwargs: Any) -> Step:
            raise OSError("No space left on device")

        monkeypatch.setattr(StepWriter, "write", broken)
        answer = oai(stub).chat.completions.create(model="gpt-stub", messages=user("still works"))
        streamed = "".join(
            c.choices[0].delta.content or ""
            for c in oai(stub).chat.completions.create(model="gpt-stub", messages=user("streamed"), stream=True)
        )
        message = asyncio.run(aant(stub).messages.create(model="claude-stub", max_tokens=5, messages=user("async")))
        with pytest.raises(anthropic.RateLimitError):
            ant(stub).messages.create(model="claude-error-429", max_tokens=5, messages=user("y"))
        monkeypatch.undo()
    assert answer.choices[0].message.content == "echo: still works"
    assert streamed == "echo: streamed" and message.content[0].text == "echo: async"  # type: ignore[union-attr]
    assert kinds(steps(repo, rec)) == ["note"]
    log = (TrailRepo.discover(repo).trail_dir / "errors.log").read_text()
    assert log.count("No space left on device") >= 8
    assert "instrument openai chat.completions: recording the request" in log


def test_import_trail_does_not_import_the_sdks() -> None:
    code = "import sys, trail; trail.Recorder; trail.instrument; assert not {'openai', 'anthropic'} & set(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)
