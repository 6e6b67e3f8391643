"""Named model endpoints: any OpenAI-compatible server (vLLM, the scripted server, a hosted API).

Endpoints live in a YAML file (`--endpoints`, `$VALUEGYM_ENDPOINTS`, or `valuegym.endpoints.yaml`
in the working folder). A file names the *environment variable* holding a key, never the key,
so configurations, journals and reports can be shared without leaking secrets.

    endpoints:
      local-qwen:
        base_url: http://127.0.0.1:8000/v1
        model: qwen
        api_key_env: VLLM_API_KEY
      gateway-claude:
        api: anthropic               # chat (default), responses or anthropic
        base_url: http://127.0.0.1:4000
        model: my-model
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, Field, ValidationError

DEFAULT_FILE = Path("valuegym.endpoints.yaml")
ENV_VAR = "VALUEGYM_ENDPOINTS"

ModelApi = Literal["chat", "responses", "anthropic"]
"""The wire protocol an endpoint speaks: OpenAI Chat Completions, OpenAI Responses, or Anthropic
Messages. Harnesses check it, so a harness never sends one dialect to a server of another."""


class ModelEndpoint(BaseModel):
    name: str
    base_url: str
    model: str
    api_key_env: str | None = Field(default=None, description="Name of the variable with the key.")
    api: ModelApi = Field(
        default="chat",
        description="The protocol it speaks; `base_url` is the OpenAI base URL (…/v1) for chat "
        "and responses, and the root an Anthropic client appends `/v1/messages` to for anthropic.",
    )

    def api_key(self) -> str:
        """The key from the environment; OpenAI clients need a string even for keyless servers."""
        if self.api_key_env:
            return os.environ.get(self.api_key_env, "")
        return "not-needed"

    def key_problem(self) -> str | None:
        """Why the key cannot be had (its variable is unset), said without the key; or None."""
        if self.api_key_env and not os.environ.get(self.api_key_env):
            return f"model endpoint {self.name!r}: ${self.api_key_env} (its API key) is not set"
        return None


class EndpointError(ValueError):
    pass


def endpoints_file(explicit: Path | None = None) -> Path | None:
    if explicit is not None:
        return explicit
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    return DEFAULT_FILE if DEFAULT_FILE.exists() else None


def load_endpoints(path: Path | None = None) -> dict[str, ModelEndpoint]:
    """Endpoints by name from the endpoints file (an empty mapping when there is none)."""
    path = endpoints_file(path)
    if path is None:
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise EndpointError(f"{path}: cannot read endpoints: {exc}") from exc
    entries = data.get("endpoints", {}) if isinstance(data, dict) else None
    if not isinstance(entries, dict):
        raise EndpointError(f"{path}: endpoints: expected a mapping of name -> endpoint")
    found = {}
    for name, body in entries.items():
        if body is not None and not isinstance(body, dict):
            raise EndpointError(
                f"{path}: endpoints.{name}: expected a mapping (base_url, model, ...), "
                f"got {type(body).__name__} {str(body)[:60]!r}"
            )
        try:
            found[name] = ModelEndpoint.model_validate({"name": name, **(body or {})})
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            raise EndpointError(f"{path}: endpoints.{name}.{field}: {first['msg']}") from exc
    return found


def resolve_endpoint(name: str, path: Path | None = None) -> ModelEndpoint:
    endpoints = load_endpoints(path)
    if name not in endpoints:
        where = endpoints_file(path) or "no endpoints file"
        known = ", ".join(endpoints) or "none"
        raise EndpointError(f"no model endpoint named {name!r} in {where}; known: {known}")
    return endpoints[name]


def save_endpoint(endpoint: ModelEndpoint, path: Path) -> None:
    """Add or replace one endpoint in a file, keeping the others (used by `serve`)."""
    data = {"endpoints": {}}
    if path.exists():
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {"endpoints": {}}
        data.setdefault("endpoints", {})
    data["endpoints"][endpoint.name] = endpoint.model_dump(exclude={"name"}, exclude_none=True)
    path.write_text(yaml.safe_dump(data, sort_keys=True), encoding="utf-8")


def node_endpoint(endpoint: ModelEndpoint | None) -> ModelEndpoint | None:
    """The run's endpoint as this machine's endpoints file defines it, if it does.

    A cluster node with its own model server (a vLLM per GPU node) names it like the driver
    does; its file must serve the same model, so the run's results stay comparable.
    """
    if endpoint is None:
        return None
    try:
        local = load_endpoints().get(endpoint.name)
    except EndpointError:
        return endpoint
    if local is None:
        return endpoint
    if local.model != endpoint.model:
        raise EndpointError(
            f"this node's endpoint {endpoint.name!r} serves model {local.model!r}, "
            f"but the run uses {endpoint.model!r}"
        )
    return local
