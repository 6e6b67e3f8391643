"""Shared fixtures: the bundled suite, a small copy of one task to corrupt, and a CLI runner.

Tests that need Docker (they use the `docker_image` fixture) or are otherwise heavy carry the
`slow` marker; `pytest -m "not slow"` is the quick loop for local work.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from envs.task import Task, bundled_tasks_dir, find_task_files, load_task
from envs.values import bundled_value_systems, with_definitions

EXAMPLE = bundled_tasks_dir() / "hospital_ops" / "reserved-stepdown-bed.yaml"


@pytest.fixture(scope="session")
def bundled_tasks() -> list[Task]:
    systems = bundled_value_systems()
    return [with_definitions(load_task(p), systems) for p in find_task_files([bundled_tasks_dir()])]


@pytest.fixture
def example_data() -> dict:
    return copy.deepcopy(yaml.safe_load(EXAMPLE.read_text()))


@pytest.fixture
def example_task(example_data: dict) -> Task:
    return with_definitions(Task.model_validate(example_data), bundled_value_systems())


@pytest.fixture
def cli() -> CliRunner:
    return CliRunner()


def write_yaml(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def docker_or_skip():  # type: ignore[no-untyped-def]
    """A docker client; without Docker the test skips, or fails under VALUEGYM_REQUIRE_DOCKER=1."""
    import os

    from envs.docker_sandbox import docker_client
    from envs.remote import SandboxUnavailable

    try:
        return docker_client()
    except SandboxUnavailable as exc:
        if os.environ.get("VALUEGYM_REQUIRE_DOCKER") == "1":
            pytest.fail(f"VALUEGYM_REQUIRE_DOCKER=1 but {exc}")
        pytest.skip(f"Docker is not available: {exc}")


@pytest.fixture(scope="session")
def docker_image() -> str:
    """The sandbox image, built once per test session (cached layers make it quick).

    Without Docker the tests that need it skip, unless VALUEGYM_REQUIRE_DOCKER=1 (CI), where
    they fail instead.
    """
    import os

    from envs.sandbox_image import ImageError, build_image
    from envs.sandbox_options import SandboxOptions

    required = os.environ.get("VALUEGYM_REQUIRE_DOCKER") == "1"
    client = docker_or_skip()
    tag = SandboxOptions.from_env().image
    try:
        return build_image(tag=tag, client=client).image
    except ImageError as exc:  # Docker but no base image and no way to make one here
        message = (
            f"cannot build the sandbox image {tag} for the docker tests: {exc}. The other "
            "tests run without it: `pytest -m 'not slow'`"
        )
        if required:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that builds on the docker image is slow: mark it so the quick loop skips it."""
    for item in items:
        if "docker_image" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def release_image(docker_image: str) -> str:
    """The image for the test release's imported tasks: the sandbox image plus the release's
    requirements (python-dateutil), as `valuegym sandbox build --release` makes it."""
    from envs.sandbox_image import build_release_image
    from envs.sandbox_options import SandboxOptions, release_image_for

    release = Path(__file__).parent / "fixtures" / "avb_release"
    tag = release_image_for(SandboxOptions(image=docker_image))
    return build_release_image(release, docker_image, tag).image
