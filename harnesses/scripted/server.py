"""The scripted policy server: a Starlette app served by uvicorn on a loopback socket.

Routes: `POST /v1/chat/completions` (OpenAI Chat Completions), `POST /v1/responses` (OpenAI
Responses), `POST /v1/messages` and `POST /v1/messages/count_tokens` (Anthropic), `GET /v1/models`
and `GET /health`. Every dialect, streaming or not, gets the same policy reply for the same
conversation, and a fault reply is the same HTTP error whether the request streams or not.
The socket is bound and listening before the server thread starts, so a client can connect as
soon as `start()` returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import shlex
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from envs.task import Task
from harnesses.models import ModelApi, ModelEndpoint
from harnesses.scripted import wire_anthropic, wire_openai, wire_responses
from harnesses.scripted.conversation import (
    Conversation,
    Policy,
    PolicyError,
    Reply,
    ScriptedCall,
    estimate_tokens,
    normalise_prompt,
    offered_name,
    split_model,
)
from harnesses.scripted.policies import load_policies
from trajectories.schema import Message
from valuegym.loopback import LoopbackServer

MAX_REMEMBERED_REQUESTS = 10_000
ErrorBody = Callable[[int, str], dict[str, Any]]


class _Failure(Exception):
    def __init__(self, status: int, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after_s = retry_after_s


def _validation_message(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "body"
    return f"invalid request: {where}: {first['msg']}"


class ScriptedApp:
    """Request handling: find the policy and the task, ask the policy, speak the wire format."""

    def __init__(self, tasks: list[Task], policies: Mapping[str, Policy]) -> None:
        self._tasks = {normalise_prompt(t.prompt): t for t in tasks}
        for t in tasks:  # a forced-choice question states the situation its own way
            if t.choice_scenario.strip():
                self._tasks.setdefault(normalise_prompt(t.choice_scenario), t)
        self._policies = dict(policies)
        self._attempts: OrderedDict[str, int] = OrderedDict()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing: asyncio.Event | None = None

    @property
    def policies(self) -> list[str]:
        return sorted(self._policies)

    def starlette(self) -> Starlette:
        @contextlib.asynccontextmanager
        async def lifespan(_: Starlette) -> AsyncIterator[None]:
            self._loop = asyncio.get_running_loop()
            self._closing = asyncio.Event()
            yield

        return Starlette(
            routes=[
                Route("/v1/chat/completions", self._openai, methods=["POST"]),
                Route("/v1/responses", self._responses, methods=["POST"]),
                Route("/v1/messages", self._anthropic, methods=["POST"]),
                Route("/v1/messages/count_tokens", self._count_tokens, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
                Route("/health", self._health, methods=["GET"]),
            ],
            lifespan=lifespan,
        )

    def close(self) -> None:
        """Wake replies that are still waiting out a delay, so shutdown does not wait for them."""
        if self._loop is not None and self._closing is not None:
            self._loop.call_soon_threadsafe(self._closing.set)

    async def _delay(self, seconds: float) -> None:
        closing = self._closing or asyncio.Event()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(closing.wait(), seconds)
            raise _Failure(503, "the scripted server is shutting down")

    def match_task(self, messages: list[Message]) -> Task | None:
        """The task whose prompt is the first user message (or is quoted whole inside it)."""
        first = next((m.content for m in messages if m.role == "user" and m.content), None)
        if first is None:
            return None
        text = normalise_prompt(first)
        if text in self._tasks:
            return self._tasks[text]
        return next((t for p, t in self._tasks.items() if p in text), None)

    def _attempt(self, body: dict[str, Any]) -> int:
        """How many times this exact request was seen before (bounded memory)."""
        key = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        seen = self._attempts.pop(key, 0)
        self._attempts[key] = seen + 1
        while len(self._attempts) > MAX_REMEMBERED_REQUESTS:
            self._attempts.popitem(last=False)
        return seen

    async def _reply(
        self, request: Request, model_type: type[BaseModel], parts: Callable[[Any], Any]
    ) -> tuple[Any, Conversation, Reply, str]:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise _Failure(400, f"invalid request: body is not JSON: {exc}") from None
        try:
            parsed = model_type.model_validate(body)
        except ValidationError as exc:
            raise _Failure(400, _validation_message(exc)) from None
        name, param = split_model(parsed.model)  # type: ignore[attr-defined]
        policy = self._policies.get(name)
        if policy is None:
            known = ", ".join(self.policies)
            raise _Failure(404, f"no scripted policy named {name!r}; policies: {known}")
        messages, tools = parts(parsed)
        conversation = Conversation(
            policy=name,
            param=param,
            messages=messages,
            tools=tools,
            task=self.match_task(messages),
            seed=body.get("seed") if isinstance(body.get("seed"), int) else None,
            attempt=self._attempt(body),
            raw=body,
        )
        try:
            reply = policy(conversation)
        except PolicyError as exc:
            raise _Failure(400, str(exc)) from None
        except Exception as exc:  # a policy's bug must not kill the server
            raise _Failure(500, f"policy {name!r} failed: {type(exc).__name__}: {exc}") from None
        if reply.delay_s > 0:
            await self._delay(reply.delay_s)
        if reply.status != 200:
            message = reply.error or f"scripted HTTP {reply.status}"
            raise _Failure(reply.status, message, reply.retry_after_s)
        reply = harness_dialect(reply, conversation)
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:24]
        return parsed, conversation, reply, digest

    @staticmethod
    def _error(failure: _Failure, body: ErrorBody) -> Response:
        headers = {}
        if failure.retry_after_s is not None:
            headers = {
                "retry-after-ms": str(int(failure.retry_after_s * 1000)),
                "retry-after": str(max(1, round(failure.retry_after_s))),
            }
        return JSONResponse(body(failure.status, failure.message), failure.status, headers)

    async def _serve(
        self,
        request: Request,
        model_type: type[BaseModel],
        parts: Callable[[Any], Any],
        error_body: ErrorBody,
        render: Callable[[Any, Conversation, Reply, str, int], Response],
    ) -> Response:
        try:
            parsed, conversation, reply, digest = await self._reply(request, model_type, parts)
        except _Failure as failure:
            return self._error(failure, error_body)
        prompt_tokens = estimate_tokens(
            json.dumps(conversation.raw.get("messages") or conversation.raw.get("input") or [])
        )
        return render(parsed, conversation, reply, digest, prompt_tokens)

    async def _openai(self, request: Request) -> Response:
        def render(parsed, conversation, reply, digest, prompt_tokens) -> Response:
            args = (reply, parsed.model, f"chatcmpl-{digest}", conversation.turn, prompt_tokens)
            if parsed.stream:
                usage = bool((parsed.stream_options or {}).get("include_usage"))
                return _sse(wire_openai.stream(*args, include_usage=usage))
            return JSONResponse(wire_openai.completion(*args))

        return await self._serve(
            request,
            wire_openai.ChatRequest,
            wire_openai.conversation_parts,
            wire_openai.error_body,
            render,
        )

    async def _anthropic(self, request: Request) -> Response:
        def render(parsed, conversation, reply, digest, prompt_tokens) -> Response:
            args = (reply, parsed.model, f"msg_{digest}", conversation.turn, prompt_tokens)
            if parsed.stream:
                return _sse(wire_anthropic.stream(*args))
            return JSONResponse(wire_anthropic.message(*args))

        return await self._serve(
            request,
            wire_anthropic.MessagesRequest,
            wire_anthropic.conversation_parts,
            wire_anthropic.error_body,
            render,
        )

    async def _responses(self, request: Request) -> Response:
        def render(parsed, conversation, reply, digest, prompt_tokens) -> Response:
            args = (reply, parsed.model, f"resp_{digest}", conversation.turn, prompt_tokens)
            if parsed.stream:
                return _sse(wire_responses.stream(*args))
            return JSONResponse(wire_responses.response(*args))

        return await self._serve(
            request,
            wire_responses.ResponsesRequest,
            wire_responses.conversation_parts,
            wire_openai.error_body,
            render,
        )

    async def _count_tokens(self, request: Request) -> Response:
        """Anthropic's token counter, with the same estimate the replies' usage reports."""
        try:
            body = await request.json()
            wire_anthropic.CountTokensRequest.model_validate(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            failure = _Failure(400, f"invalid request: body is not JSON: {exc}")
            return self._error(failure, wire_anthropic.error_body)
        except ValidationError as exc:
            return self._error(_Failure(400, _validation_message(exc)), wire_anthropic.error_body)
        counted = {k: body.get(k) for k in ("system", "messages", "tools") if body.get(k)}
        return JSONResponse({"input_tokens": estimate_tokens(json.dumps(counted))})

    async def _models(self, _: Request) -> Response:
        data = [{"id": n, "object": "model", "owned_by": "valuegym"} for n in self.policies]
        return JSONResponse({"object": "list", "data": data})

    async def _health(self, _: Request) -> Response:
        return JSONResponse({"status": "ok", "policies": self.policies, "tasks": len(self._tasks)})


FINAL_ANSWER_TOOL = "final_answer"


def harness_dialect(reply: Reply, conversation: Conversation) -> Reply:
    """The reply in the offering harness's terms: calls renamed to the namespaced tools it
    offers, and a final answer given as a call of its `final_answer` tool if it has one
    (smolagents' agents end only that way)."""
    offered = conversation.tool_names
    shell = shell_tool(conversation)
    if shell is not None:
        return as_shell_commands(reply, conversation, shell)
    if reply.tool_calls:
        calls = [
            c.model_copy(update={"name": offered_name(c.name, offered)}) for c in reply.tool_calls
        ]
        return reply.model_copy(update={"tool_calls": calls})
    final = next((t for t in conversation.tools if t.name == FINAL_ANSWER_TOOL), None)
    if final is None or reply.text is None:
        return reply
    argument = next(iter(final.parameters.get("properties", {})), "answer")
    call = ScriptedCall(name=final.name, arguments=json.dumps({argument: reply.text}))
    return reply.model_copy(update={"text": None, "tool_calls": [call]})


SHELL_COMMAND = "valuegym-tool"
SUBMIT_MARKER = "COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT"


def shell_tool(conversation: Conversation) -> str | None:
    """The offered shell tool's name when a shell (one tool taking a `command`) is all the
    harness offers: the agent then reaches the environment through `valuegym-tool`."""
    if len(conversation.tools) != 1:
        return None
    (tool,) = conversation.tools
    properties = tool.parameters.get("properties", {})
    return tool.name if "command" in properties else None


def as_shell_commands(reply: Reply, conversation: Conversation, shell: str) -> Reply:
    """Calls become `valuegym-tool NAME 'JSON'` commands; a final answer becomes the harness's
    submit command when its prompt names one (mini-swe-agent's marker), else stays text."""
    commands = [
        f"{SHELL_COMMAND} {shlex.quote(c.name)} {shlex.quote(c.arguments)}"
        for c in reply.tool_calls
    ]
    prompt = " ".join(m.content or "" for m in conversation.messages if m.role != "tool")
    if not commands and reply.text is not None and SUBMIT_MARKER in prompt:
        commands = [f"echo {SUBMIT_MARKER}; echo {shlex.quote(reply.text)}"]
    if not commands:
        return reply
    calls = [ScriptedCall(name=shell, arguments=json.dumps({"command": c})) for c in commands]
    return reply.model_copy(update={"text": None, "tool_calls": calls})


ENDPOINT_PREFIXES: dict[ModelApi, str] = {
    "chat": "scripted-",
    "responses": "scripted-responses-",
    "anthropic": "scripted-anthropic-",
}
"""Endpoint names `serve scripted` registers: `scripted-golden-a` speaks Chat Completions,
`scripted-responses-golden-a` the Responses API, `scripted-anthropic-golden-a` Anthropic's."""


def scripted_endpoint(policy: str, root_url: str, api: ModelApi = "chat") -> ModelEndpoint:
    base_url = root_url if api == "anthropic" else f"{root_url}/v1"
    return ModelEndpoint(
        name=f"{ENDPOINT_PREFIXES[api]}{policy}", base_url=base_url, model=policy, api=api
    )


def _sse(events: Iterator[str]) -> StreamingResponse:
    return StreamingResponse(events, media_type="text/event-stream")


class ScriptedServer:
    """The scripted server on a loopback port: `with ScriptedServer(tasks) as s: s.base_url`.

    Port 0 picks a free port. `start()` serves from a background thread (tests, the demo);
    `serve_forever()` serves from the calling thread until interrupted (`valuegym serve`).
    """

    def __init__(
        self,
        tasks: list[Task],
        policies: Mapping[str, Policy] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.app = ScriptedApp(tasks, load_policies() if policies is None else policies)
        self._loopback = LoopbackServer(self.app.starlette(), host=host, port=port)
        self.host = host
        self.port: int = self._loopback.port

    @property
    def root_url(self) -> str:
        return self._loopback.url

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL (Anthropic clients take `root_url`)."""
        return f"{self.root_url}/v1"

    def endpoint(self, policy: str, api: ModelApi = "chat") -> ModelEndpoint:
        """The named endpoint that plays `policy` over the `api` dialect."""
        return scripted_endpoint(policy, self.root_url, api)

    def start(self, timeout: float = 10.0) -> ScriptedServer:
        self._loopback.start(timeout)
        return self

    def serve_forever(self) -> None:
        self._loopback.serve_forever()

    def stop(self) -> None:
        self.app.close()
        self._loopback.stop()

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
