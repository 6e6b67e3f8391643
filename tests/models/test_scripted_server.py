"""The scripted server speaks OpenAI and Anthropic to their official clients, and LangChain's."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import anthropic
import httpx
import openai
import pytest
from langchain_core.messages import HumanMessage
from langchain_openai import ChatOpenAI

from envs.sandbox import InProcessSandbox
from harnesses.scripted.conversation import Conversation, Reply
from harnesses.scripted.server import ScriptedServer


def golden_calls(task, pole="a"):
    return [(c.tool, c.arguments) for c in task.poles[pole].golden.calls]


def test_openai_client_gets_the_golden_calls_one_per_turn(scripted, bundled_tasks):
    task = bundled_tasks[0]
    client = openai.OpenAI(base_url=scripted.base_url, api_key="unused", max_retries=0)
    messages = [{"role": "user", "content": task.prompt}]
    seen = []
    for _ in range(len(task.poles["b"].golden.calls) + 1):
        reply = client.chat.completions.create(model="golden-b", messages=messages)
        message = reply.choices[0].message
        if not message.tool_calls:
            break
        call = message.tool_calls[0]
        seen.append((call.function.name, json.loads(call.function.arguments)))
        assert reply.choices[0].finish_reason == "tool_calls"
        messages.append(message.model_dump(exclude_none=True))
        messages.append({"role": "tool", "tool_call_id": call.id, "content": '{"ok": true}'})
    assert seen == golden_calls(task, "b")
    assert message.content == task.poles["b"].golden.final_answer
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage.prompt_tokens > 0 and reply.usage.completion_tokens > 0


def test_openai_streaming_carries_the_same_reply_and_usage(scripted, bundled_tasks):
    task = bundled_tasks[1]
    client = openai.OpenAI(base_url=scripted.base_url, api_key="unused", max_retries=0)
    body = {"model": "golden-a", "messages": [{"role": "user", "content": task.prompt}]}
    whole = client.chat.completions.create(**body).choices[0].message.tool_calls[0]
    name, arguments, usage, chunks = "", "", None, 0
    stream = client.chat.completions.create(
        **body, stream=True, stream_options={"include_usage": True}
    )
    for chunk in stream:
        chunks += 1
        usage = chunk.usage or usage
        for delta in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            name += delta.function.name or ""
            arguments += delta.function.arguments or ""
    assert chunks > 3
    assert (name, arguments) == (whole.function.name, whole.function.arguments)
    assert usage is not None and usage.total_tokens > 0


def test_chat_openai_binds_tools_and_calls_them(scripted, bundled_tasks):
    task = bundled_tasks[2]
    session = InProcessSandbox().open(task, 0)
    tools = [spec.openai() for spec in session.tools]
    first_call = golden_calls(task)[0]
    for streaming in (False, True):
        chat = ChatOpenAI(
            model="golden-a",
            base_url=scripted.base_url,
            api_key="unused",
            streaming=streaming,
            max_retries=0,
        )
        reply = chat.bind_tools(tools).invoke([HumanMessage(content=task.prompt)])
        assert [(c["name"], c["args"]) for c in reply.tool_calls] == [first_call]


def test_anthropic_client_gets_tool_use_blocks(scripted, bundled_tasks):
    task = bundled_tasks[0]
    client = anthropic.Anthropic(base_url=scripted.root_url, api_key="unused", max_retries=0)
    body = {
        "model": "golden-a",
        "max_tokens": 512,
        "system": "You are careful.",
        "messages": [{"role": "user", "content": task.prompt}],
    }
    message = client.messages.create(**body)
    block = message.content[0]
    assert message.stop_reason == "tool_use"
    assert (block.name, block.input) == golden_calls(task)[0]
    follow_up = body["messages"] + [
        {"role": "assistant", "content": [b.model_dump() for b in message.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": block.id, "content": "{}"}],
        },
    ]
    with client.messages.stream(**{**body, "messages": follow_up}) as stream:
        streamed = stream.get_final_message()
    assert (streamed.content[0].name, streamed.content[0].input) == golden_calls(task)[1]
    assert streamed.usage.output_tokens > 0


def test_bad_requests_get_clear_errors(scripted):
    client = openai.OpenAI(base_url=scripted.base_url, api_key="unused", max_retries=0)
    hello = [{"role": "user", "content": "hello"}]
    with pytest.raises(openai.NotFoundError, match=r"no scripted policy named 'gpt-9'.*golden-a"):
        client.chat.completions.create(model="gpt-9", messages=hello)
    with pytest.raises(openai.BadRequestError, match="no loaded task's prompt"):
        client.chat.completions.create(model="golden-a", messages=hello)
    with pytest.raises(openai.BadRequestError, match="parameter must be an integer"):
        client.chat.completions.create(model="fault-http-500:often", messages=hello)
    response = httpx.post(f"{scripted.base_url}/chat/completions", json={"model": "refuser"})
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "invalid request: messages: Field required"


def test_http_500_bursts_then_recovers_with_retry_after(scripted, bundled_tasks):
    body = {
        "model": "fault-http-500:2",
        "messages": [{"role": "user", "content": bundled_tasks[3].prompt}],
        "seed": 4242,
    }
    answers = [httpx.post(f"{scripted.base_url}/chat/completions", json=body) for _ in range(3)]
    assert [a.status_code for a in answers] == [500, 500, 200]
    assert answers[0].headers["retry-after-ms"] == "10"
    call = answers[2].json()["choices"][0]["message"]["tool_calls"][0]["function"]
    assert call["name"] == golden_calls(bundled_tasks[3])[0][0]


def test_random_policy_is_seeded_and_its_calls_are_valid(scripted, bundled_tasks):
    client = openai.OpenAI(base_url=scripted.base_url, api_key="unused", max_retries=0)
    for task in bundled_tasks[:6]:
        session = InProcessSandbox().open(task, 0)
        tools = [spec.openai() for spec in session.tools]

        def first_call(seed, task=task, tools=tools):
            reply = client.chat.completions.create(
                model="random",
                messages=[{"role": "user", "content": task.prompt}],
                tools=tools,
                seed=seed,
            )
            call = reply.choices[0].message.tool_calls[0].function
            return call.name, json.loads(call.arguments)

        assert first_call(7) == first_call(7)
        draws = {json.dumps(first_call(seed)) for seed in range(5)}
        assert len(draws) > 1
        for draw in draws:
            name, arguments = json.loads(draw)
            result = session.call(name, arguments)
            assert result.error_kind not in ("invalid_arguments", "unknown_tool", "refused"), (
                task.id,
                name,
                arguments,
                result.error,
            )


def test_a_policy_is_a_plain_function(bundled_tasks):
    def echo(conversation: Conversation) -> Reply:
        return Reply(text=f"{conversation.param}:{conversation.turn}:{conversation.task.id}")

    with ScriptedServer(bundled_tasks, policies={"echo": echo}) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
        reply = client.chat.completions.create(
            model="echo:hi", messages=[{"role": "user", "content": bundled_tasks[0].prompt}]
        )
        models = [m.id for m in client.models.list()]
    assert reply.choices[0].message.content == f"hi:0:{bundled_tasks[0].id}"
    assert models == ["echo"]


def test_slow_replies_do_not_hold_up_shutdown(bundled_tasks):
    server = ScriptedServer(bundled_tasks).start()
    client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
    with pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(
            model="fault-slow:30",
            messages=[{"role": "user", "content": bundled_tasks[0].prompt}],
            timeout=0.3,
        )
    server.stop()  # returns promptly: the waiting reply is woken, not waited out
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.root_url}/health")


def test_serve_scripted_command_registers_endpoints_and_stops_on_interrupt(tmp_path):
    endpoints = tmp_path / "endpoints.yaml"
    command = [sys.executable, "-m", "valuegym", "serve", "scripted", "--port", "0"]
    process = subprocess.Popen(
        [*command, "--endpoints", str(endpoints)],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        lines = [process.stderr.readline(), process.stderr.readline()]
        assert lines[0].startswith("scripted server on http://127.0.0.1:"), lines
        base_url = lines[0].split()[3]
        health = httpx.get(base_url.removesuffix("/v1") + "/health", timeout=10).json()
        assert health["status"] == "ok" and health["tasks"] >= 24
        assert "golden-a" in health["policies"]
        assert f"base_url: {base_url}" in endpoints.read_text()
        assert "scripted-fault-slow:" in endpoints.read_text()
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
