"""Fixtures for the model layer: a scripted server on loopback and an endpoints file for it."""

from __future__ import annotations

from pathlib import Path

import pytest

from harnesses.models import ModelEndpoint, save_endpoint
from harnesses.scripted.server import ENDPOINT_PREFIXES, ScriptedServer


@pytest.fixture(scope="session")
def scripted(bundled_tasks):
    """One scripted server with the bundled suite for the whole session (it is stateless)."""
    with ScriptedServer(bundled_tasks) as server:
        yield server


@pytest.fixture(scope="session")
def endpoints(scripted, tmp_path_factory) -> Path:
    """An endpoints file naming `scripted-<policy>` for every policy the tests use."""
    path = tmp_path_factory.mktemp("endpoints") / "endpoints.yaml"
    policies = [
        "golden-a",
        "golden-b",
        "random",
        "refuser",
        "endless",
        "fault-malformed-args",
        "fault-malformed-args:1",
        "fault-unknown-tool",
        "fault-http-500",
        "fault-http-500:2",
        "fault-rate-limit:2",
        "fault-slow:30",
    ]
    for policy in policies:
        for api in ENDPOINT_PREFIXES:
            save_endpoint(scripted.endpoint(policy, api), path)
    save_endpoint(
        ModelEndpoint(
            name="keyed",
            base_url=scripted.base_url,
            model="golden-b",
            api_key_env="VALUEGYM_TEST_KEY",
        ),
        path,
    )
    return path
