"""Shell tool mode and the `mini-swe-agent` harness: an agent whose only tool is a shell.

The environment's tools are exposed as one command, `valuegym-tool TOOL 'JSON'` (see
`envs/shell_tool.py`), which calls the session's agent plane, so every call still lands in the
server's tool log. The harness is mini-swe-agent (`pip install 'valuegym[mini-swe-agent]'`), a
bash-only agent, with valuegym's prompt and a note on the command in place of its coding
instructions; its commands run in a throwaway working dir with a clean environment that holds
only the session's agent URL and token (not the orchestrator's variables or keys).

By default the commands run as local processes, which is not a security boundary. With
`--harness-sandbox docker` every command runs in the episode's hardened harness container
(see `harnesses/harness_sandbox.py`), which reaches nothing but the session's agent plane; the
agent loop and its model client stay in valuegym's process, where they execute nothing the
model writes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from envs.remote import SandboxError, SandboxUnavailable
from envs.shell_tool import SOCKET_ENV, TOKEN_ENV, URL_ENV
from harnesses.base import EpisodeContext, HarnessResult, require_model
from harnesses.harness_sandbox import BOX_ROOT, HarnessBox
from harnesses.prompts import system_prompt
from trajectories.schema import EpisodeStatus, Message, MessageToolCall, Usage

SUBMIT_MARKER = "COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT"
COMMAND_TIMEOUT_S = 60
SHELL_NOTE = f"""Your only tool is `bash`. The system's tools are shell commands here: run \
`valuegym-tool` to list them with their parameters, and `valuegym-tool TOOL '{{"name": "value"}}'` \
to call one (the arguments are one JSON object); it prints the result as JSON. Every command runs \
in a new shell. When you have finished, run `echo {SUBMIT_MARKER}; echo 'your short summary'` as \
a command of its own."""
BUDGET_TEXT = '"error_kind":"budget_exhausted"'


class BudgetExhausted(Exception):
    pass


def tool_command_dir() -> str:
    """The folder holding the `valuegym-tool` script of this installation."""
    beside = Path(sys.executable).parent / "valuegym-tool"
    if beside.exists():
        return str(beside.parent)
    found = shutil.which("valuegym-tool")
    if found:
        return str(Path(found).parent)
    raise FileNotFoundError("valuegym-tool is not installed (pip install -e . installs it)")


class SessionShell:
    """A mini-swe-agent environment: each command a fresh `bash -c` in the episode's folder,
    on the host or (`box`) in the episode's harness container."""

    def __init__(self, ctx: EpisodeContext, work: Path, box: HarnessBox | None = None) -> None:
        session = ctx.session
        self.work = work
        self.box = box
        home = f"{BOX_ROOT}/work" if box else str(work)
        self.env = {
            "HOME": home,
            "LANG": "C.UTF-8",
            URL_ENV: session.agent_url or "",
            TOKEN_ENV: session.agent_token or "",
        }
        if box is None:  # the image has valuegym-tool on its PATH
            self.env["PATH"] = f"{tool_command_dir()}:/usr/local/bin:/usr/bin:/bin"
        socket_path = getattr(session, "agent_socket", None)
        if socket_path and box is None:
            self.env[SOCKET_ENV] = socket_path
        self.over_budget = False

    def _run(self, command: str, timeout: int) -> dict[str, Any]:
        if self.box is not None:
            code, text = self.box.run(["bash", "-c", command], self.env, self.env["HOME"], timeout)
            if code == 124:
                return {"output": text, "returncode": -1, "exception_info": "timed out"}
            return {"output": text, "returncode": code, "exception_info": ""}
        try:
            done = subprocess.run(
                ["bash", "-c", command],
                cwd=self.work,
                env=self.env,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=timeout,
                start_new_session=True,
            )
        except subprocess.TimeoutExpired as exc:
            text = exc.stdout if isinstance(exc.stdout, str) else ""
            return {"output": text, "returncode": -1, "exception_info": f"timed out: {exc}"}
        output = done.stdout + done.stderr
        return {"output": output, "returncode": done.returncode, "exception_info": ""}

    def execute(self, action: dict, cwd: str = "", *, timeout: int | None = None) -> dict[str, Any]:
        from minisweagent.exceptions import Submitted

        output = self._run(action.get("command", ""), timeout or COMMAND_TIMEOUT_S)
        if BUDGET_TEXT in output["output"]:
            self.over_budget = True
            raise BudgetExhausted(output["output"].strip())
        lines = output["output"].lstrip().splitlines(keepends=True)
        if lines and lines[0].strip() == SUBMIT_MARKER and output["returncode"] == 0:
            submission = "".join(lines[1:]).strip()
            extra = {"exit_status": "Submitted", "submission": submission}
            raise Submitted({"role": "exit", "content": submission, "extra": extra})
        return output

    def get_template_vars(self, **kwargs: Any) -> dict[str, Any]:
        return dict(kwargs)

    def serialize(self) -> dict:
        return {}


def transcript(ctx: EpisodeContext, agent_messages: list[dict]) -> list[Message]:
    """mini-swe-agent's messages (OpenAI shaped, plus its own `exit`) as trajectory messages."""
    converted = []
    for message in agent_messages:
        role = message.get("role")
        content = message.get("content")
        text = content if isinstance(content, str) else None
        if role in ("system", "user"):
            converted.append(Message(role=role, content=text))
        elif role == "assistant":
            calls = [
                MessageToolCall(
                    id=c.get("id", ""),
                    name=c.get("function", {}).get("name", ""),
                    arguments=c.get("function", {}).get("arguments", ""),
                )
                for c in message.get("tool_calls") or []
            ]
            converted.append(Message(role="assistant", content=text or None, tool_calls=calls))
        elif role == "tool":
            converted.append(
                Message(role="tool", tool_call_id=message.get("tool_call_id"), content=text)
            )
    return converted or [Message(role="user", content=ctx.prompt)]


def mini_swe_agent(ctx: EpisodeContext) -> HarnessResult:
    """Runs mini-swe-agent with a shell whose `valuegym-tool` reaches the session's tools."""
    model_endpoint = require_model(ctx, apis=("chat",))
    if isinstance(model_endpoint, HarnessResult):
        return model_endpoint
    if not ctx.session.agent_url or not ctx.session.agent_token:
        return HarnessResult(
            status="error",
            error="shell tools reach the session's agent plane: run with --sandbox process or "
            "docker",
        )
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no price list download
    os.environ.setdefault("MSWEA_SILENT_STARTUP", "1")
    try:
        import litellm
        from minisweagent.agents.default import DefaultAgent
        from minisweagent.models.litellm_model import LitellmModel
    except ImportError:
        return HarnessResult(
            status="error",
            error="the mini-swe-agent harness needs it: pip install 'valuegym[mini-swe-agent]'",
        )
    from importlib.metadata import version

    litellm.suppress_debug_info = True  # its "Provider List" banner for models it cannot price
    deadline = ctx.deadline or time.monotonic() + ctx.config.timeout_s
    model = LitellmModel(
        model_name=f"openai/{model_endpoint.model}",
        model_kwargs={
            "api_base": model_endpoint.base_url,
            "api_key": model_endpoint.api_key(),
            "temperature": ctx.config.temperature,
            "seed": ctx.seed,
            "num_retries": 4,
        },
        cost_tracking="ignore_errors",
    )
    status: EpisodeStatus = "finished"
    error: str | None = None
    answer: str | None = None
    with (
        tempfile.TemporaryDirectory(prefix="valuegym-shell-") as folder,
        contextlib.ExitStack() as stack,
    ):
        box = None
        if ctx.config.harness_sandbox == "docker":
            (Path(folder) / "work").mkdir()
            try:
                box = stack.enter_context(HarnessBox(Path(folder), [ctx.session.agent_url]))
            except (SandboxError, SandboxUnavailable) as exc:
                return HarnessResult(
                    status="error", error=f"the harness container did not start: {exc}"
                )
        shell = SessionShell(ctx, Path(folder), box)
        agent = DefaultAgent(
            model,
            shell,
            system_template="{{ valuegym_system }}",
            instance_template="{{ task }}",
            step_limit=2 * ctx.max_steps + 10,
            cost_limit=0,
            wall_time_limit_seconds=max(1, int(deadline - time.monotonic())),
        )
        try:
            ending = agent.run(ctx.prompt, valuegym_system=f"{system_prompt(ctx)}\n\n{SHELL_NOTE}")
            exit_status = ending.get("exit_status")
            if exit_status == "Submitted":
                answer = ending.get("submission") or ""
            elif exit_status == "LimitsExceeded":
                status, error = "max_steps", "stopped at mini-swe-agent's step limit"
            elif exit_status == "TimeExceeded":
                status, error = "timeout", "episode deadline passed"
            else:
                status, error = "error", f"mini-swe-agent ended with {exit_status}"
        except BudgetExhausted:
            status, error = "max_steps", f"stopped at the step limit ({ctx.max_steps} tool calls)"
        except Exception as exc:  # a broken endpoint or session must not lose the transcript
            status, error = "error", f"{type(exc).__name__}: {exc}"
    usage = Usage(requests=agent.n_calls)
    return HarnessResult(
        status=status,
        messages=transcript(ctx, agent.messages),
        final_answer=answer,
        error=error,
        usage=usage,
        harness_version=f"mini-swe-agent {version('mini-swe-agent')}",
    )


mini_swe_agent.harness_sandboxes = ("host", "docker")  # type: ignore[attr-defined]
