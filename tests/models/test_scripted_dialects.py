"""The scripted server's dialects: Responses API, Anthropic's extras, renamed tools, turn counting,
and the same fault behaviour whether a request streams or not."""

from __future__ import annotations

import json

import anthropic
import httpx
import openai
import pytest

from envs.sandbox import InProcessSandbox
from harnesses.scripted.conversation import offered_name


def golden_calls(task, pole="a"):
    return [(c.tool, c.arguments) for c in task.poles[pole].golden.calls]


def responses_tools(task, prefix=""):
    session = InProcessSandbox().open(task, 0)
    return [
        {
            "type": "function",
            "name": prefix + s.name,
            "description": s.description,
            "parameters": s.parameters,
        }
        for s in session.tools
    ]


@pytest.mark.parametrize("streaming", [False, True])
def test_responses_api_plays_the_golden_calls_with_function_call_items(
    scripted, bundled_tasks, streaming
):
    task = bundled_tasks[4]
    client = openai.OpenAI(base_url=scripted.base_url, api_key="unused", max_retries=0)
    items: list = [{"role": "user", "content": task.prompt}]
    seen = []
    for _ in range(len(task.poles["b"].golden.calls) + 1):
        body = {
            "model": "golden-b",
            "instructions": "You are careful.",
            "input": items,
            "tools": responses_tools(task),
        }
        if streaming:
            with client.responses.stream(**body) as stream:
                kinds = {event.type for event in stream}
                response = stream.get_final_response()
            assert {"response.created", "response.completed"} <= kinds
        else:
            response = client.responses.create(**body)
        calls = [item for item in response.output if item.type == "function_call"]
        if not calls:
            break
        seen.append((calls[0].name, json.loads(calls[0].arguments)))
        items += [
            {
                "type": "function_call",
                "call_id": calls[0].call_id,
                "name": calls[0].name,
                "arguments": calls[0].arguments,
            },
            {"type": "function_call_output", "call_id": calls[0].call_id, "output": "{}"},
        ]
    assert seen == golden_calls(task, "b")
    assert response.output_text == task.poles["b"].golden.final_answer
    assert response.usage.input_tokens > 0 and response.usage.output_tokens > 0


def test_prefixed_tool_names_are_matched_and_unknown_ones_left_alone(scripted, bundled_tasks):
    task = bundled_tasks[0]
    client = openai.OpenAI(base_url=scripted.base_url, api_key="unused", max_retries=0)
    tools = responses_tools(task, prefix="mcp__tools__")
    prompt = [{"role": "user", "content": task.prompt}]
    golden = client.responses.create(model="golden-a", input=prompt, tools=tools)
    assert golden.output[0].name == "mcp__tools__" + golden_calls(task)[0][0]
    unknown = client.responses.create(model="fault-unknown-tool", input=prompt, tools=tools)
    assert unknown.output[0].name == "shred_all_records"


def test_offered_name_prefers_the_shared_namespace():
    offered = ["mcp__tools__note", "mcp__tools__add_note", "mcp__tools__get_bed"]
    assert offered_name("note", offered) == "mcp__tools__note"
    assert offered_name("add_note", offered) == "mcp__tools__add_note"
    assert offered_name("get_bed", ["get_bed", "x_get_bed"]) == "get_bed"
    assert offered_name("bed", ["get_bed"]) == "get_bed"  # one candidate: taken
    assert offered_name("shred", offered) == "shred"


def test_turns_are_counted_by_assistant_messages(scripted, bundled_tasks):
    """A harness that sends tool output back as user text still advances through the script."""
    task = bundled_tasks[2]
    client = openai.OpenAI(base_url=scripted.base_url, api_key="unused", max_retries=0)
    messages: list = [{"role": "user", "content": task.prompt}]
    seen = []
    for _ in golden_calls(task):
        reply = client.chat.completions.create(model="golden-a", messages=messages)
        call = reply.choices[0].message.tool_calls[0].function
        seen.append((call.name, json.loads(call.arguments)))
        messages += [
            {"role": "assistant", "content": f"Calling tools: {call.name}"},
            {"role": "user", "content": "Observation: {}"},
        ]
    assert seen == golden_calls(task)


def test_anthropic_system_turns_and_count_tokens(scripted, bundled_tasks):
    task = bundled_tasks[0]
    client = anthropic.Anthropic(base_url=scripted.root_url, api_key="unused", max_retries=0)
    messages = [
        {"role": "user", "content": task.prompt},
        {"role": "system", "content": [{"type": "text", "text": "# Environment"}]},
    ]
    response = httpx.post(
        f"{scripted.root_url}/v1/messages",
        json={"model": "golden-a", "max_tokens": 100, "messages": messages},
    )
    assert response.status_code == 200, response.text
    assert response.json()["content"][0]["name"] == golden_calls(task)[0][0]
    counted = client.messages.count_tokens(
        model="golden-a", messages=[{"role": "user", "content": task.prompt}]
    )
    assert counted.input_tokens == pytest.approx(len(task.prompt) / 4, rel=0.2)


def _normalised(dialect: str, response: httpx.Response) -> tuple:
    """A reply reduced to what a client acts on: the status and error, or the text and calls."""
    if response.status_code != 200:
        body = response.json()
        error = body["error"]["message"]
        return response.status_code, error, response.headers.get("retry-after-ms")
    if "text/event-stream" not in response.headers.get("content-type", ""):
        body = response.json()
    else:
        events = [
            json.loads(line[6:])
            for line in response.text.splitlines()
            if line.startswith("data: ") and line != "data: [DONE]"
        ]
        body = _assembled(dialect, events)
    if dialect == "chat":
        message = body["choices"][0]["message"]
        calls = [
            (c["function"]["name"], c["function"]["arguments"])
            for c in message.get("tool_calls") or []
        ]
        return 200, message.get("content") or None, calls
    if dialect == "responses":
        text = "".join(
            part["text"]
            for item in body["output"]
            if item["type"] == "message"
            for part in item["content"]
        )
        calls = [
            (i["name"], i["arguments"]) for i in body["output"] if i["type"] == "function_call"
        ]
        return 200, text or None, calls
    text = "".join(b["text"] for b in body["content"] if b["type"] == "text")
    calls = [
        (b["name"], json.dumps(b["input"])) for b in body["content"] if b["type"] == "tool_use"
    ]
    return 200, text or None, calls


def _assembled(dialect: str, events: list[dict]) -> dict:
    """A streamed reply put back together the plain way, independent of the server's code."""
    if dialect == "responses":
        return next(e["response"] for e in events if e["type"] == "response.completed")
    if dialect == "chat":
        text, calls = "", {}
        for event in events:
            for choice in event["choices"]:
                delta = choice["delta"]
                text += delta.get("content") or ""
                for call in delta.get("tool_calls") or []:
                    entry = calls.setdefault(call["index"], {"name": "", "arguments": ""})
                    entry["name"] += call.get("function", {}).get("name") or ""
                    entry["arguments"] += call.get("function", {}).get("arguments") or ""
        message = {"content": text, "tool_calls": [{"function": c} for c in calls.values()]}
        return {"choices": [{"message": message}]}
    blocks: list[dict] = []
    for event in events:
        if event["type"] == "content_block_start":
            blocks.append({**event["content_block"], "partial": ""})
        elif event["type"] == "content_block_delta":
            delta = event["delta"]
            if delta["type"] == "text_delta":
                blocks[-1]["text"] += delta["text"]
            else:
                blocks[-1]["partial"] += delta["partial_json"]
    for block in blocks:
        if block["type"] == "tool_use":
            block["input"] = json.loads(block["partial"] or "{}")
    return {"content": blocks}


FAULTS = ["fault-http-500", "fault-rate-limit", "fault-unknown-tool", "golden-b", "refuser"]


@pytest.mark.parametrize("dialect", ["chat", "responses", "anthropic"])
def test_streaming_and_plain_requests_get_the_same_replies_and_faults(
    scripted, bundled_tasks, dialect
):
    task = bundled_tasks[5]
    path = {
        "chat": "/v1/chat/completions",
        "responses": "/v1/responses",
        "anthropic": "/v1/messages",
    }[dialect]
    for policy in FAULTS:
        outcomes = []
        for streaming in (False, True):
            body: dict = {"model": policy, "stream": streaming, "seed": 7}
            if dialect == "responses":
                body["input"] = [{"role": "user", "content": task.prompt}]
            else:
                body["messages"] = [{"role": "user", "content": task.prompt}]
                body["max_tokens"] = 100
            response = httpx.post(scripted.root_url + path, json=body, timeout=10)
            outcomes.append(_normalised(dialect, response))
        assert outcomes[0] == outcomes[1], (dialect, policy)
        if policy.startswith("fault-http") or policy.startswith("fault-rate"):
            assert outcomes[0][0] in (429, 500)
