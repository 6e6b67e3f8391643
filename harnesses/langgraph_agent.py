"""The `langgraph` harness: a LangGraph agent graph over LangChain's `ChatOpenAI`.

The graph is the classic agent loop, `agent -> tools -> agent`, built explicitly rather than
from a prebuilt so that tool calls go straight to the session (the sandbox validates and logs
them, exactly as for `react`) and every way an episode can end is a state of the graph, not an
exception that would lose the transcript.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, TypedDict

from langchain_core.messages import (
    AIMessage,
    AnyMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_openai import ChatOpenAI
from langgraph.errors import GraphRecursionError
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

from harnesses.base import EpisodeContext, HarnessResult, require_model
from harnesses.prompts import system_prompt, tool_definitions
from harnesses.react import episode_deadline
from harnesses.retry import ModelCallFailed, ModelCallTimeout, call_model
from harnesses.tool_loop import Ending, ToolLoop
from trajectories.schema import Message, MessageToolCall, Usage


class AgentState(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]
    ending: Ending | None


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(
        part if isinstance(part, str) else str(part.get("text", ""))
        for part in content or []
        if isinstance(part, str) or part.get("type") == "text"
    )


def tool_calls_of(message: AIMessage) -> list[MessageToolCall]:
    """Valid and malformed calls of a model turn, with the arguments as text."""
    calls = [
        MessageToolCall(id=c["id"] or "", name=c["name"], arguments=json.dumps(c["args"]))
        for c in message.tool_calls
    ]
    calls += [
        MessageToolCall(id=c["id"] or "", name=c["name"] or "", arguments=c["args"] or "")
        for c in message.invalid_tool_calls
    ]
    return calls


def to_trajectory(messages: list[AnyMessage]) -> list[Message]:
    converted = []
    for m in messages:
        if isinstance(m, SystemMessage):
            converted.append(Message(role="system", content=_text(m.content)))
        elif isinstance(m, HumanMessage):
            converted.append(Message(role="user", content=_text(m.content)))
        elif isinstance(m, AIMessage):
            converted.append(
                Message(
                    role="assistant",
                    content=_text(m.content) or None,
                    tool_calls=tool_calls_of(m),
                )
            )
        elif isinstance(m, ToolMessage):
            converted.append(
                Message(role="tool", tool_call_id=m.tool_call_id, content=_text(m.content))
            )
    return converted


def build_graph(ctx: EpisodeContext, chat: Any, deadline: float, usage: Usage) -> Any:
    """The compiled agent graph for one episode (it closes over the episode's session)."""
    loop = ToolLoop(ctx)

    def agent(state: AgentState) -> dict[str, Any]:
        try:
            reply = call_model(
                lambda timeout: chat.invoke(state["messages"], timeout=timeout), deadline
            )
        except ModelCallTimeout as exc:
            return {"ending": Ending("timeout", str(exc))}
        except ModelCallFailed as exc:
            return {"ending": Ending("error", str(exc))}
        except Exception as exc:
            return {"ending": Ending("error", f"{type(exc).__name__}: {exc}")}
        usage.requests += 1
        if reply.usage_metadata:
            usage.prompt_tokens += reply.usage_metadata["input_tokens"]
            usage.completion_tokens += reply.usage_metadata["output_tokens"]
        return {"messages": [reply]}

    def tools(state: AgentState) -> dict[str, Any]:
        try:
            results, ending = loop.run_turn(tool_calls_of(state["messages"][-1]))
        except Exception as exc:  # a broken session ends the episode, with its transcript
            return {"ending": Ending("error", f"tool call failed: {type(exc).__name__}: {exc}")}
        tool_messages = [
            ToolMessage(content=r.content or "", tool_call_id=r.tool_call_id or "") for r in results
        ]
        return {"messages": tool_messages, "ending": ending}

    def after_agent(state: AgentState) -> str:
        last = state["messages"][-1]
        if state.get("ending") or not isinstance(last, AIMessage):
            return END
        return "tools" if last.tool_calls or last.invalid_tool_calls else END

    def after_tools(state: AgentState) -> str:
        return END if state.get("ending") else "agent"

    graph = StateGraph(AgentState)
    graph.add_node("agent", agent)
    graph.add_node("tools", tools)
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", after_agent, ["tools", END])
    graph.add_conditional_edges("tools", after_tools, ["agent", END])
    return graph.compile()


def langgraph_agent(ctx: EpisodeContext) -> HarnessResult:
    """Runs a LangGraph agent with `ChatOpenAI` until the model answers without a tool call."""
    model = require_model(ctx)
    if isinstance(model, HarnessResult):
        return model
    deadline = episode_deadline(ctx)
    sync, asynchronous = ctx.clients.openai(model), ctx.clients.async_openai(model)
    chat = ChatOpenAI(
        model=model.model,
        base_url=model.base_url,
        api_key=model.api_key(),
        temperature=ctx.config.temperature,
        seed=ctx.seed,
        max_retries=0,  # retries and timeouts are deadline-aware in call_model
        root_client=sync,  # the run's shared clients: no new connection pool per episode
        client=sync.chat.completions,
        root_async_client=asynchronous,
        async_client=asynchronous.chat.completions,
    )
    tools = tool_definitions(ctx)
    bound = chat.bind_tools(tools) if tools else chat
    usage = Usage()
    opening: list[AnyMessage] = [
        SystemMessage(content=system_prompt(ctx)),
        HumanMessage(content=ctx.prompt),
    ]
    state: dict[str, Any] = {"messages": opening, "ending": None}
    graph = build_graph(ctx, bound, deadline, usage)
    limits = {"recursion_limit": 2 * ctx.max_steps + 10}
    try:
        # streaming the state keeps the latest transcript even if the graph itself fails
        for latest in graph.stream(dict(state), config=limits, stream_mode="values"):
            state = latest
        ending: Ending | None = state.get("ending")
    except GraphRecursionError:
        ending = Ending("max_steps", "stopped at LangGraph's recursion limit")
    except Exception as exc:
        ending = Ending("error", f"{type(exc).__name__}: {exc}")
    messages = to_trajectory(state["messages"])
    if ending is not None:
        return HarnessResult(
            status=ending.status, messages=messages, error=ending.reason, usage=usage
        )
    answer = messages[-1].content if messages and messages[-1].role == "assistant" else None
    return HarnessResult(
        status="finished", messages=messages, final_answer=answer or "", usage=usage
    )
