"""The `claude-code` harness: the real Claude Code CLI, reaching the tools over MCP.

The CLI comes from the `claude-agent-sdk` wheel (`pip install 'valuegym[claude-code]'`; or
`$VALUEGYM_CLAUDE_CLI`, or `claude` on PATH). Each episode gets a private config dir, home and
working dir, an environment holding none of the caller's `ANTHROPIC_*`/`CLAUDE_*` variables, the
endpoint's base URL and model, and exactly one MCP server: the session's endpoint with its agent
token (`--strict-mcp-config`). Claude Code's own tools are off (`--tools ""`), so the agent can
act only through the environment; with skills, the `Skill` tool is on and the skills are files in
`.claude/skills/` of the working dir (`claude-code`) or inlined in the prompt
(`claude-code-inline-skills`), so the two ways of giving a skill can be compared.

The CLI's stream-json output becomes the trajectory's messages (tool names mapped back from
`mcp__<server>__<tool>`). The episode fails with the reason unless the MCP server reports
`connected`, ends `max_steps` at the session's first budget refusal (the CLI is stopped there),
and `timeout` at the deadline, the CLI's process group killed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePath, PurePosixPath
from typing import Any

from envs.remote import SandboxError, SandboxUnavailable
from harnesses.base import EpisodeContext, HarnessResult, require_model
from harnesses.harness_sandbox import BOX_ROOT, HarnessBox, HostProcess, Process
from harnesses.models import ModelEndpoint
from harnesses.prompts import base_system_prompt, system_prompt
from harnesses.skills import Skill
from trajectories.schema import EpisodeStatus, Message, MessageToolCall, Usage

CLI_ENV = "VALUEGYM_CLAUDE_CLI"
PASSED_THROUGH = ("PATH", "LANG", "LC_ALL", "TZ", "SSL_CERT_FILE", "SSL_CERT_DIR")
PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "no_proxy")
QUIET = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_ERROR_REPORTING": "1",
    # Print mode connects MCP servers in the background by default, so on a loaded machine the
    # first model request could go out before the session's tools are offered; wait for them.
    "MCP_CONNECTION_NONBLOCKING": "0",
}
BOX_CLI = "/opt/valuegym/bin/claude"


class CliMissing(RuntimeError):
    pass


def claude_cli() -> str:
    """The Claude Code executable: `$VALUEGYM_CLAUDE_CLI`, the SDK wheel's, or `claude`."""
    explicit = os.environ.get(CLI_ENV)
    if explicit:
        return explicit
    with contextlib.suppress(ImportError):
        import claude_agent_sdk

        bundled = Path(claude_agent_sdk.__file__).parent / "_bundled" / "claude"
        if bundled.is_file():
            return str(bundled)
    found = shutil.which("claude")
    if found:
        return found
    raise CliMissing(
        "the claude-code harness needs the Claude Code CLI: pip install 'valuegym[claude-code]' "
        f"(it ships in the claude-agent-sdk wheel), or set ${CLI_ENV}"
    )


def cli_version(cli: str) -> str:
    done = subprocess.run([cli, "--version"], capture_output=True, text=True, timeout=60)
    return done.stdout.strip().split(" ")[0] or done.stdout.strip()


def install_skills(work: Path, skills: list[Skill]) -> None:
    """Each skill as `.claude/skills/<name>/SKILL.md` plus its reference files."""
    for skill in skills:
        folder = work / ".claude" / "skills" / skill.name
        folder.mkdir(parents=True, exist_ok=True)
        front = json.dumps({"name": skill.name, "description": skill.description})
        (folder / "SKILL.md").write_text(f"---\n{front}\n---\n\n{skill.body}\n", encoding="utf-8")
        source = Path(skill.path)
        for name in skill.references:
            target = folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if name in skill.reference_texts:
                target.write_text(skill.reference_texts[name], encoding="utf-8")
            elif (source / name).is_file():
                shutil.copyfile(source / name, target)


def episode_environment(
    root: PurePath, model: ModelEndpoint, inherit: bool = True
) -> dict[str, str]:
    """A clean environment: nothing of the caller's Anthropic or Claude settings leaks in
    (`inherit`: PATH, locale and proxies from the host; off in a harness container)."""
    env = {}
    if inherit:
        env = {k: os.environ[k] for k in (*PASSED_THROUGH, *PROXY_VARIABLES) if k in os.environ}
        env.setdefault("PATH", os.defpath)
    env.update(QUIET)
    env.update(
        HOME=str(root / "home"),
        CLAUDE_CONFIG_DIR=str(root / "config"),
        TMPDIR=str(root / "tmp"),
        ANTHROPIC_BASE_URL=model.base_url,
        ANTHROPIC_API_KEY=model.api_key(),
        ANTHROPIC_MODEL=model.model,
        ANTHROPIC_SMALL_FAST_MODEL=model.model,
    )
    return env


def command(
    cli: str, model: ModelEndpoint, mcp_config: PurePath, mcp_name: str, prompt: str, skills: bool
) -> list[str]:
    tools = "Skill" if skills else ""
    allowed = f"mcp__{mcp_name}" + (",Skill" if skills else "")
    return [
        cli,
        "--print",
        "--output-format",
        "stream-json",
        "--verbose",
        "--model",
        model.model,
        "--strict-mcp-config",
        "--mcp-config",
        str(mcp_config),
        "--tools",
        tools,
        "--allowedTools",
        allowed,
        "--permission-mode",
        "dontAsk",
        "--setting-sources",
        "project",
        "--no-session-persistence",
        "--append-system-prompt",
        prompt,
    ]


@dataclass
class StreamReader:
    """Turns stream-json events into trajectory messages, watching for the ends that matter."""

    mcp_name: str
    messages: list[Message]
    usage: Usage = field(default_factory=Usage)
    version: str | None = None
    connected: bool | None = None
    mcp_problem: str = ""
    over_budget: bool = False
    result: dict[str, Any] | None = None
    _message_ids: list[str] = field(default_factory=list)

    def tool_name(self, name: str) -> str:
        return name.removeprefix(f"mcp__{self.mcp_name}__")

    def feed(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "system" and event.get("subtype") == "init":
            self._init(event)
        elif kind == "assistant":
            self._assistant(event.get("message") or {})
        elif kind == "user":
            self._tool_results(event.get("message") or {})
        elif kind == "result":
            self.result = event

    def _init(self, event: dict[str, Any]) -> None:
        self.version = event.get("claude_code_version")
        servers = {s.get("name"): s for s in event.get("mcp_servers") or []}
        status = (servers.get(self.mcp_name) or {}).get("status", "missing")
        self.connected = status == "connected"
        if not self.connected:
            detail = (servers.get(self.mcp_name) or {}).get("error")
            self.mcp_problem = (
                f"the session's MCP endpoint did not connect (Claude Code reports MCP server "
                f"{self.mcp_name!r} {status}{f': {detail}' if detail else ''})"
            )

    def _assistant(self, message: dict[str, Any]) -> None:
        text = "".join(
            b.get("text", "") for b in message.get("content", []) if b.get("type") == "text"
        )
        calls = [
            MessageToolCall(
                id=b.get("id", ""),
                name=self.tool_name(b.get("name", "")),
                arguments=json.dumps(b.get("input"), sort_keys=True),
            )
            for b in message.get("content", [])
            if b.get("type") == "tool_use"
        ]
        message_id = message.get("id") or ""
        last = self.messages[-1] if self.messages else None
        if message_id and self._message_ids and self._message_ids[-1] == message_id and last:
            last.content = (last.content or "") + text or None  # one message, several events
            last.tool_calls.extend(calls)
            return
        self._message_ids.append(message_id)
        self.usage.requests += 1
        self.messages.append(Message(role="assistant", content=text or None, tool_calls=calls))

    def _tool_results(self, message: dict[str, Any]) -> None:
        content = message.get("content")
        if not isinstance(content, list):
            return
        for block in content:
            if block.get("type") != "tool_result":
                continue
            body = block.get("content")
            if isinstance(body, list):
                body = "".join(p.get("text", "") for p in body if p.get("type") == "text")
            text = str(body or "")
            self.over_budget = self.over_budget or '"error_kind":"budget_exhausted"' in text
            self.messages.append(
                Message(role="tool", tool_call_id=block.get("tool_use_id"), content=text)
            )

    def finish_usage(self) -> None:
        usage = (self.result or {}).get("usage") or {}
        self.usage.prompt_tokens = int(usage.get("input_tokens") or 0)
        self.usage.completion_tokens = int(usage.get("output_tokens") or 0)


def _lines(stream: Iterable[str]) -> Iterator[dict[str, Any]]:
    for line in stream:
        with contextlib.suppress(json.JSONDecodeError):
            event = json.loads(line)
            if isinstance(event, dict):
                yield event


def run_cli(ctx: EpisodeContext, inline_skills: bool) -> HarnessResult:
    model = require_model(ctx, apis=("anthropic",))
    if isinstance(model, HarnessResult):
        return model
    session = ctx.session
    if not session.mcp_url or not session.agent_token:
        return HarnessResult(
            status="error",
            error="claude-code reaches the tools over MCP: run it with --sandbox process or docker",
        )
    try:
        cli = claude_cli()
    except CliMissing as exc:
        return HarnessResult(status="error", error=str(exc))
    prompt = system_prompt(ctx) if inline_skills else base_system_prompt(ctx)
    messages = [
        Message(role="system", content=f"(appended to Claude Code's own system prompt)\n{prompt}"),
        Message(role="user", content=ctx.prompt),
    ]
    reader = StreamReader(mcp_name=session.mcp_name, messages=messages)
    deadline = ctx.deadline or time.monotonic() + ctx.config.timeout_s
    with tempfile.TemporaryDirectory(prefix="valuegym-claude-") as folder:
        root = Path(folder)
        for sub in ("home", "config", "tmp", "work"):
            (root / sub).mkdir()
        file_skills = bool(ctx.skills) and not inline_skills
        if file_skills:
            install_skills(root / "work", ctx.skills)
        mcp_config = root / "mcp.json"
        server = {
            "type": "http",
            "url": session.mcp_url,
            "headers": {"Authorization": f"Bearer {session.agent_token}"},
        }
        mcp_config.write_text(json.dumps({"mcpServers": {session.mcp_name: server}}))
        mcp_config.chmod(0o600)  # it holds the agent token
        name = session.mcp_name
        if ctx.config.harness_sandbox == "docker":
            inside = PurePosixPath(BOX_ROOT)
            argv = command(BOX_CLI, model, inside / "mcp.json", name, prompt, file_skills)
            status, error = _in_box(
                cli, root, argv, model, session.mcp_url, ctx.prompt, reader, deadline
            )
        else:
            argv = command(cli, model, mcp_config, name, prompt, file_skills)
            env = episode_environment(root, model)
            process = HostProcess(argv, root / "work", env, ctx.prompt, root / "stderr.log")
            status, error = _drive(process, reader, deadline)
    reader.finish_usage()
    answer = (reader.result or {}).get("result") if status == "finished" else None
    if (
        status == "finished"
        and answer is not None
        and not (messages[-1].role == "assistant" and messages[-1].content == answer)
    ):
        messages.append(Message(role="assistant", content=answer))
    return HarnessResult(
        status=status,
        messages=messages,
        final_answer=answer,
        error=error,
        usage=reader.usage,
        harness_version=f"claude-code {reader.version}" if reader.version else None,
    )


def _in_box(
    cli: str,
    root: Path,
    argv: list[str],
    model: ModelEndpoint,
    mcp_url: str,
    user_prompt: str,
    reader: StreamReader,
    deadline: float,
) -> tuple[EpisodeStatus, str | None]:
    """The CLI in a hardened harness container that reaches only the model and the agent
    plane; the prompt reaches its stdin from a file in the episode folder."""
    inside = PurePosixPath(BOX_ROOT)
    (root / "prompt.txt").write_text(user_prompt, encoding="utf-8")
    env = episode_environment(inside, model, inherit=False)
    stdin = f'exec "$0" "$@" < {inside / "prompt.txt"}'
    try:
        box = HarnessBox(root, [model.base_url, mcp_url], files={cli: BOX_CLI})
    except (SandboxError, SandboxUnavailable) as exc:
        return "error", f"the harness container did not start: {exc}"
    with box:
        process = box.start(["/bin/sh", "-c", stdin, *argv], env, str(inside / "work"))
        return _drive(process, reader, deadline)


def _drive(
    process: Process, reader: StreamReader, deadline: float
) -> tuple[EpisodeStatus, str | None]:
    """Run the CLI to its end; the episode's status and, unless finished, the reason."""
    timed_out = threading.Event()

    def expire() -> None:
        timed_out.set()
        process.kill()

    timer = threading.Timer(max(0.0, deadline - time.monotonic()), expire)
    timer.start()
    returncode = None
    try:
        for event in _lines(process.lines()):
            reader.feed(event)
            if reader.connected is False or reader.over_budget:
                process.kill()
                break
        returncode = process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        timer.cancel()
        if returncode is None:
            process.kill()
    tail = process.stderr_tail()
    if reader.connected is False:
        return "error", reader.mcp_problem
    if reader.over_budget:
        return "max_steps", "stopped at the step limit (the session refused a call for the budget)"
    if timed_out.is_set():
        return "timeout", "episode deadline passed; the Claude Code process was killed"
    result = reader.result
    if result is None:
        return "error", f"Claude Code exited with status {returncode} without a result" + (
            f"; its stderr ends: {tail}" if tail else ""
        )
    if result.get("is_error") or result.get("subtype") != "success":
        api = result.get("api_error_status")
        why = result.get("result") or result.get("subtype") or "error"
        return "error", f"Claude Code ended with {result.get('subtype')}: {why}" + (
            f" (model endpoint HTTP {api})" if api else ""
        )
    if reader.connected is None:
        return "error", "Claude Code never reported its MCP servers"
    return "finished", None


def claude_code(ctx: EpisodeContext) -> HarnessResult:
    """Claude Code with the skills as files in `.claude/skills/` (the `Skill` tool on)."""
    return run_cli(ctx, inline_skills=False)


def claude_code_inline_skills(ctx: EpisodeContext) -> HarnessResult:
    """Claude Code with the skills inlined in the appended system prompt, as react does."""
    return run_cli(ctx, inline_skills=True)


claude_code.harness_sandboxes = ("host", "docker")  # type: ignore[attr-defined]
claude_code_inline_skills.harness_sandboxes = ("host", "docker")  # type: ignore[attr-defined]
