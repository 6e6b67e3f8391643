"""Settings of the server-backed sandboxes (process and docker), with environment overrides."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from envs.protocol import DEFAULT_MCP_NAME

DEFAULT_IMAGE = "valuegym-sandbox:latest"

SERVER_ENVIRONMENT = {"PYTHONHASHSEED": "0", "TZ": "UTC"}
"""Set in every sandbox server process (process and docker backends): environment code that
iterates a set, or reads local time, gives the same results on every run and every host."""

ENV_PREFIX = "VALUEGYM_SANDBOX_"
_LIST_FIELDS = {"env_modules": ",", "env_paths": os.pathsep, "release_dirs": os.pathsep}


class SandboxOptions(BaseModel):
    """How sandbox servers are started. Every field can be set from the environment as
    `VALUEGYM_SANDBOX_<FIELD>` (e.g. `VALUEGYM_SANDBOX_POOL_SIZE=4`); lists are comma
    separated (`env_paths`: separated like PATH)."""

    model_config = ConfigDict(extra="forbid")

    env_modules: list[str] = Field(
        default_factory=list, description="Extra modules whose environments the server hosts."
    )
    env_paths: list[Path] = Field(
        default_factory=list,
        description="Folders the extra modules are found in (mounted read-only in containers).",
    )
    release_dirs: list[Path] = Field(
        default_factory=list,
        description="Imported releases' environment folders; docker mounts each read-only at "
        "its own path, so release code runs only inside the container.",
    )
    lease_s: float = Field(default=900.0, gt=0, description="A session's idle lease.")
    idle_exit_s: float = Field(
        default=600.0, ge=0, description="A server with no session exits after this long idle."
    )
    request_timeout_s: float = Field(
        default=120.0, gt=0, description="The orchestrator's wait for one sandbox request."
    )
    call_timeout_s: float = Field(
        default=60.0, gt=0, description="The server's limit on one tool call (or finalize)."
    )
    max_request_bytes: int = Field(
        default=4 << 20,
        ge=1 << 20,
        description="The largest agent-plane request body a server accepts (413 beyond); "
        "tool-call arguments over 1 MiB are refused as invalid on every backend.",
    )
    max_inflight: int = Field(
        default=8, ge=1, description="Agent-plane requests one session may have in progress."
    )
    spare_workers: int = Field(
        default=2, ge=0, description="Session workers each server forks ahead of need."
    )
    startup_timeout_s: float = Field(default=60.0, gt=0)
    image: str = Field(default=DEFAULT_IMAGE, description="Docker: the sandbox image.")
    release_image: str | None = Field(
        default=None,
        description="Docker: the image for imported release tasks (the sandbox image plus the "
        "release's requirements); default: the sandbox image's tag + '-release'.",
    )
    pool_size: int = Field(default=1, ge=1, description="Docker: warm containers kept running.")
    memory: str = Field(default="512m", description="Docker: memory limit per container.")
    pids_limit: int = Field(default=256, ge=16, description="Docker: process limit per container.")
    cpus: float | None = Field(default=None, gt=0, description="Docker: CPU limit per container.")
    tmpfs_size: str = Field(default="64m", description="Docker: size of the writable /tmp.")
    shm_size: str = Field(default="16m", description="Docker: size of /dev/shm.")
    mcp_name: str = Field(
        default=DEFAULT_MCP_NAME, description="The name the MCP endpoint gives itself."
    )
    mcp_instructions: str | None = Field(
        default=None,
        description="Instructions the MCP endpoint sends agents; none by default, since they "
        "reach some harnesses' models and not others (set them for awareness experiments).",
    )

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **overrides: object
    ) -> SandboxOptions:
        environ = os.environ if environ is None else environ
        data: dict[str, object] = {}
        for name in cls.model_fields:
            raw = environ.get(ENV_PREFIX + name.upper())
            if raw is None:
                continue
            sep = _LIST_FIELDS.get(name)
            data[name] = [part for part in raw.split(sep) if part] if sep else raw
        return cls.model_validate({**data, **overrides})


def release_image_for(options: SandboxOptions) -> str:
    """The image imported release tasks run in under docker."""
    return options.release_image or f"{options.image}-release"
