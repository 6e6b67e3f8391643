"""Launching a vLLM server with tool calling on, and registering it as a model endpoint.

`valuegym serve vllm --model ID` builds the `vllm serve` command line (auto tool choice with the
parser for the model's family, prefix caching, a served model name, a port), starts it, waits
for `/health`, then writes the endpoint to the endpoints file so `valuegym run --model NAME`
can use it. vLLM itself is an optional extra for GPU hosts (`pip install 'valuegym[vllm]'`).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import time
from collections import deque
from pathlib import Path

import httpx
from pydantic import BaseModel, Field

from harnesses.models import ModelEndpoint

# Model-family patterns (matched against the model id, case-insensitively) and the vLLM
# tool-call parser for each; the first match wins, so specific patterns come first.
TOOL_CALL_PARSERS: tuple[tuple[str, str], ...] = (
    (r"qwen3[-_.]?coder", "qwen3_coder"),
    (r"qwen|qwq|hermes", "hermes"),
    (r"llama[-_.]?4", "llama4_pythonic"),
    (r"llama[-_.]?3", "llama3_json"),
    (r"mistral|mixtral|ministral|codestral|devstral|magistral", "mistral"),
    (r"granite-20b-functioncalling", "granite-20b-fc"),
    (r"granite", "granite"),
    (r"internlm", "internlm"),
    (r"jamba", "jamba"),
    (r"xlam", "xlam"),
    (r"phi-?4-mini", "phi4_mini_json"),
    (r"deepseek-v3\.1", "deepseek_v31"),
    (r"deepseek", "deepseek_v3"),
    (r"gpt-oss", "openai"),
    (r"glm-?4\.[56]", "glm45"),
    (r"kimi-k2", "kimi_k2"),
    (r"minimax", "minimax"),
)
LOG_TAIL_LINES = 20


class VllmError(RuntimeError):
    """vLLM could not be started or did not become healthy; the message says why."""


def tool_call_parser_for(model: str) -> str:
    for pattern, parser in TOOL_CALL_PARSERS:
        if re.search(pattern, model, re.IGNORECASE):
            return parser
    raise VllmError(
        f"no tool-call parser is known for model {model!r}; pass --tool-call-parser "
        "(see vLLM's tool calling documentation for the parser of your model's family)"
    )


class VllmOptions(BaseModel):
    """What `serve vllm` was asked for; turned into one `vllm serve` command line."""

    model: str = Field(min_length=1, description="A Hugging Face id or a local path.")
    served_model_name: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    tool_call_parser: str | None = None
    chat_template: str | None = None
    max_model_len: int | None = None
    gpu_memory_utilization: float | None = Field(default=None, gt=0, le=1)
    tensor_parallel_size: int | None = Field(default=None, ge=1)
    api_key_env: str | None = Field(
        default=None, description="Variable holding the key vLLM should require (VLLM_API_KEY)."
    )
    extra_args: list[str] = Field(default_factory=list)
    executable: str = "vllm"

    @property
    def served_name(self) -> str:
        return self.served_model_name or self.model.rstrip("/").split("/")[-1].lower()

    @property
    def parser(self) -> str:
        return self.tool_call_parser or tool_call_parser_for(self.model)

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"

    def command(self) -> list[str]:
        """The `vllm serve` argv. The API key is passed in the environment, never here."""
        argv = [
            self.executable,
            "serve",
            self.model,
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--served-model-name",
            self.served_name,
            "--enable-auto-tool-choice",
            "--tool-call-parser",
            self.parser,
            "--enable-prefix-caching",
        ]
        optional = {
            "--chat-template": self.chat_template,
            "--max-model-len": self.max_model_len,
            "--gpu-memory-utilization": self.gpu_memory_utilization,
            "--tensor-parallel-size": self.tensor_parallel_size,
        }
        for flag, value in optional.items():
            if value is not None:
                argv += [flag, str(value)]
        return argv + self.extra_args

    def endpoint(self, name: str | None = None) -> ModelEndpoint:
        return ModelEndpoint(
            name=name or self.served_name,
            base_url=f"{self.base_url}/v1",
            model=self.served_name,
            api_key_env=self.api_key_env,
        )


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            return "".join(deque(handle, maxlen=lines)).rstrip()
    except OSError:
        return "(no log)"


class VllmServer:
    """One vLLM process: `start()`, `wait_healthy()`, then `wait()` or `stop()`.

    Its output goes to `log_path`, whose last lines are quoted when it fails to start.
    """

    def __init__(self, options: VllmOptions, log_path: Path) -> None:
        self.options = options
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        executable = shutil.which(self.options.executable)
        if executable is None:
            raise VllmError(
                f"{self.options.executable!r} was not found on PATH; on a GPU host install it "
                "with `pip install 'valuegym[vllm]'`, or run docker/compose.vllm.yaml"
            )
        env = dict(os.environ)
        if self.options.api_key_env:
            key = os.environ.get(self.options.api_key_env)
            if not key:
                raise VllmError(f"--api-key-env: ${self.options.api_key_env} is not set")
            env["VLLM_API_KEY"] = key
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                [executable, *self.options.command()[1:]],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
            )

    def wait_healthy(self, timeout_s: float = 900.0, poll_s: float = 1.0) -> None:
        """Poll `/health` until it answers 200; fail clearly if vLLM exits or time runs out."""
        if self._process is None:
            raise VllmError("vLLM was not started")
        url = f"{self.options.base_url}/health"
        deadline = time.monotonic() + timeout_s
        with httpx.Client(timeout=min(5.0, timeout_s)) as client:
            while True:
                code = self._process.poll()
                if code is not None:
                    raise VllmError(
                        f"vLLM exited with code {code} before it became healthy; "
                        f"the end of its log ({self.log_path}):\n{_tail(self.log_path)}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(url).status_code == 200:
                        return
                if time.monotonic() >= deadline:
                    self.stop()
                    raise VllmError(
                        f"vLLM did not answer 200 on {url} within {timeout_s:.0f}s; "
                        f"the end of its log ({self.log_path}):\n{_tail(self.log_path)}"
                    )
                time.sleep(poll_s)

    def wait(self) -> int:
        return self._process.wait() if self._process else 0

    def stop(self, grace_s: float = 30.0) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
