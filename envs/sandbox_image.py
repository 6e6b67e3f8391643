"""Building the sandbox image with no registry and no network inside the build.

1. Base image: `--base IMAGE` if given; otherwise `python:<host X.Y>-slim` when it is present or
   can be pulled; otherwise a base made here with `debootstrap --variant=minbase --include=python3`
   and `docker import`, tagged `valuegym-base:<suite>` and reused by later builds.
2. Wheels, made on the host: the sandbox server's dependencies pinned to the versions installed
   here (cached by that pin set) and valuegym itself (reproducible, so an unchanged source hits
   Docker's layer cache).
3. `docker build` of `docker/sandbox.Dockerfile` with `network_mode=none`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from importlib.metadata import PackageNotFoundError, distribution, version
from pathlib import Path

import docker
import docker.errors
from packaging.requirements import Requirement
from pydantic import BaseModel

from envs.docker_sandbox import RELEASE_LABEL, SOURCE_LABEL, docker_client
from envs.sandbox_options import DEFAULT_IMAGE

SERVER_PACKAGES = (
    "pydantic",
    "gymnasium",
    "jsonpatch",
    "pyyaml",
    "jsonschema",
    "mcp",
    "starlette",
    "uvicorn",
    "pyseccomp",
)
"""What the sandbox server imports (with their dependencies): the image holds only these."""

DEBIAN_SUITES = {"3.11": "bookworm", "3.13": "trixie"}
"""Debian suites whose `python3` matches a host Python, for debootstrap bases."""

DEFAULT_MIRROR = "http://deb.debian.org/debian"
BASE_TRIM = ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man")
"""What a debootstrap base does not need: package caches and documentation."""
DOCKERFILE = Path("docker") / "sandbox.Dockerfile"
PACKAGE_DIRS = ("valuegym", "envs", "harnesses", "judges", "trajectories")
REPRODUCIBLE_EPOCH = "315532800"  # 1980-01-01: wheel timestamps do not vary between builds

Log = Callable[[str], None]


class ImageError(RuntimeError):
    """The image could not be built; the message says what to do."""


class BuildResult(BaseModel):
    image: str
    image_id: str
    base: str
    base_made: bool
    seconds: float


def host_python() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def source_root() -> Path:
    """The valuegym source checkout this code runs from (the build packages it)."""
    root = Path(__file__).resolve().parent.parent
    if not (root / "pyproject.toml").is_file() or not (root / DOCKERFILE).is_file():
        raise ImageError(
            f"building the sandbox image needs a valuegym source checkout; {root} has no "
            f"pyproject.toml and {DOCKERFILE}"
        )
    return root


def source_fingerprint() -> str:
    """A digest of the code that runs inside the sandbox (the `envs` package's modules)."""
    digest = hashlib.sha256(version("valuegym").encode())
    package = Path(__file__).resolve().parent
    for path in sorted(package.rglob("*.py")):
        if path.is_file():
            digest.update(str(path.relative_to(package)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def server_requirements(roots: Iterable[str] = SERVER_PACKAGES) -> list[str]:
    """`name==version` for the server's packages and all their dependencies, as installed."""
    pins: dict[str, str] = {}
    done: set[tuple[str, str]] = set()
    stack = [(name, "") for name in roots]
    while stack:
        name, extra = stack.pop()
        if (_normal(name), extra) in done:
            continue
        done.add((_normal(name), extra))
        try:
            dist = distribution(name)
        except PackageNotFoundError as exc:
            raise ImageError(f"the sandbox server needs {name!r}, which is not installed") from exc
        pins[_normal(name)] = dist.version
        for line in dist.requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": extra}):
                stack.append((requirement.name, ""))
                stack.extend((requirement.name, e) for e in requirement.extras)
    return [f"{name}=={pins[name]}" for name in sorted(pins)]


def _run(command: list[str], what: str, env: dict[str, str] | None = None) -> None:
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise ImageError(f"{what} failed (exit {done.returncode}):\n{tail}")


def _pip_wheel(args: list[str], out: Path, what: str) -> None:
    env = {**os.environ, "SOURCE_DATE_EPOCH": REPRODUCIBLE_EPOCH, "PIP_NO_INPUT": "1"}
    command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out)]
    _run([*command, *args], what, env)


def dependency_wheels(cache: Path, log: Log) -> Path:
    """The server's pinned dependency wheels (plus pip), built once per pin set."""
    pins = [*server_requirements(), f"pip=={version('pip')}"]
    key = hashlib.sha256("\n".join([host_python(), *pins]).encode()).hexdigest()[:16]
    target = cache / f"deps-{key}"
    if (target / ".complete").exists():
        return target
    log(f"building {len(pins)} dependency wheels into {target}")
    staging = Path(tempfile.mkdtemp(prefix="deps-", dir=cache))
    _pip_wheel(pins, staging, "pip wheel (server dependencies)")
    (staging / ".complete").touch()
    try:
        staging.rename(target)
    except OSError:  # another build made the same set meanwhile
        shutil.rmtree(staging, ignore_errors=True)
        if not (target / ".complete").exists():
            raise
    return target


def app_wheel(out: Path) -> Path:
    """valuegym's own wheel, built from a clean copy of the sources (no stale build/ folder)."""
    root = source_root()
    src = out / "src"
    src.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(root / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in PACKAGE_DIRS:
        if (root / package).is_dir():
            shutil.copytree(root / package, src / package, ignore=ignore)
    wheels = out / "app"
    _pip_wheel([str(src)], wheels, "pip wheel (valuegym)")
    return wheels


def _image_exists(client: docker.DockerClient, tag: str) -> bool:
    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return True


def _try_pull(client: docker.DockerClient, image: str, log: Log) -> bool:
    repository, _, tag = image.partition(":")
    try:
        client.images.pull(repository, tag=tag or "latest")
    except docker.errors.DockerException as exc:
        log(f"cannot pull {image}: {str(exc).splitlines()[0][:160]}")
        return False
    return True


def make_base(client: docker.DockerClient, suite: str, mirror: str, log: Log) -> str:
    """`valuegym-base:<suite>`: a minimal Debian with python3 from debootstrap (kept once made)."""
    tag = f"valuegym-base:{suite}"
    if _image_exists(client, tag):
        return tag
    official = f"python:{host_python()}-slim"
    if shutil.which("debootstrap") is None:
        raise ImageError(
            f"no base image is available ({official} cannot be pulled and {tag} does not "
            "exist) and debootstrap is not installed to make one. Run one of: "
            f"`sudo apt-get install debootstrap && sudo valuegym sandbox build` (makes {tag} "
            f"once, offline after that); `docker pull {official}` where a registry is "
            "reachable, then `valuegym sandbox build`; or `valuegym sandbox build --base IMAGE` "
            f"with a local image that has Python {host_python()}"
        )
    if os.geteuid() != 0:
        raise ImageError(
            f"making the base image {tag} with debootstrap needs root: run "
            "`sudo valuegym sandbox build` once, or pass --base IMAGE"
        )
    log(f"making {tag} with debootstrap from {mirror} (once; later builds reuse it)")
    with tempfile.TemporaryDirectory(prefix="valuegym-base-") as tmp:
        root = Path(tmp) / "root"
        command = ["debootstrap", "--variant=minbase", "--include=python3", suite, str(root)]
        _run([*command, mirror], "debootstrap")
        for junk in BASE_TRIM:
            for path in (root / junk).glob("*"):
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()
        archive = Path(tmp) / "root.tar"
        _run(["tar", "-C", str(root), "-cf", str(archive), "."], "tar of the base")
        client.api.import_image_from_file(str(archive), repository="valuegym-base", tag=suite)
    return tag


def resolve_base(
    client: docker.DockerClient, base: str | None, suite: str | None, mirror: str, log: Log
) -> tuple[str, bool]:
    """The base image to build on, and whether it was made here."""
    if base:
        if _image_exists(client, base) or _try_pull(client, base, log):
            return base, False
        raise ImageError(f"base image {base!r} is neither present nor pullable")
    suite = suite or DEBIAN_SUITES.get(host_python())
    if suite and _image_exists(client, f"valuegym-base:{suite}"):
        return f"valuegym-base:{suite}", False
    official = f"python:{host_python()}-slim"
    if _image_exists(client, official) or _try_pull(client, official, log):
        return official, False
    if suite is None:
        raise ImageError(
            f"no Debian suite ships Python {host_python()} (the host's); pass --base IMAGE with "
            "that Python, or --suite"
        )
    return make_base(client, suite, mirror, log), True


def _docker_build(
    client: docker.DockerClient,
    context: Path,
    tag: str,
    buildargs: dict[str, str],
    log: Log,
    labels: dict[str, str] | None = None,
    hint: str = "",
) -> str:
    """Build `context/Dockerfile` with no network; the error names the step's output tail."""
    stream = client.api.build(
        path=str(context),
        dockerfile="Dockerfile",
        tag=tag,
        buildargs=buildargs,
        network_mode="none",
        rm=True,
        forcerm=True,
        decode=True,
        labels={SOURCE_LABEL: source_fingerprint(), **(labels or {})},
    )
    lines: list[str] = []
    for chunk in stream:
        if "error" in chunk:
            tail = "\n".join(lines[-15:])
            reason = chunk["error"].strip()
            raise ImageError(f"docker build of {tag} failed: {reason}{hint}\n{tail}")
        text = str(chunk.get("stream", "")).rstrip()
        if text:
            lines.append(text)
            if text.startswith("Step "):
                log(text)
    return str(client.images.get(tag).id)


def build_image(
    tag: str = DEFAULT_IMAGE,
    base: str | None = None,
    suite: str | None = None,
    mirror: str = DEFAULT_MIRROR,
    log: Log = lambda _: None,
    client: docker.DockerClient | None = None,
    cache: Path | None = None,
) -> BuildResult:
    """Build (or refresh) the sandbox image; fast when nothing changed (layer cache)."""
    started = time.monotonic()
    client = client or docker_client()
    root = source_root()
    cache = cache or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "valuegym"
    cache.mkdir(parents=True, exist_ok=True)
    previous = client.images.get(tag).id if _image_exists(client, tag) else None
    base_image, made = resolve_base(client, base, suite, mirror, log)
    log(f"base image: {base_image}")
    deps = dependency_wheels(cache, log)
    with (
        tempfile.TemporaryDirectory(prefix="valuegym-build-") as tmp,
        tempfile.TemporaryDirectory(prefix="valuegym-wheel-") as scratch,
    ):
        context = Path(tmp)
        wheels = context / "wheels"
        shutil.copytree(app_wheel(Path(scratch)), wheels / "app")
        (wheels / "deps").mkdir(parents=True)
        (wheels / "tools").mkdir()
        for wheel in deps.glob("*.whl"):
            if wheel.name.startswith("pip-"):
                shutil.copy2(wheel, wheels / "tools" / "pip.whl")
            else:
                os.link(wheel, wheels / "deps" / wheel.name)
        shutil.copy2(root / DOCKERFILE, context / "Dockerfile")
        image_id = _docker_build(
            client,
            context,
            tag,
            {"BASE_IMAGE": base_image},
            log,
            hint=f" (does {base_image} have Python {host_python()}, like the host?)",
        )
    if previous and previous != image_id:  # drop the superseded build unless a container uses it
        with contextlib.suppress(docker.errors.APIError):
            client.images.remove(previous)
    return BuildResult(
        image=tag,
        image_id=image_id,
        base=base_image,
        base_made=made,
        seconds=round(time.monotonic() - started, 2),
    )


RELEASE_DOCKERFILE = Path("docker") / "release.Dockerfile"


def release_requirements(release: Path) -> list[str]:
    """The requirements a release declares (its `requirements.txt`; none if it has none)."""
    path = release / "requirements.txt"
    if not path.is_file():
        return []
    lines = [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()]
    return [line for line in lines if line and not line.startswith("-")]


def release_wheels(requirements: list[str], cache: Path, log: Log) -> Path:
    """Wheels of the release's requirements and their dependencies, made once per set."""
    key = hashlib.sha256("\n".join([host_python(), *sorted(requirements)]).encode()).hexdigest()
    target = cache / f"release-{key[:16]}"
    if (target / ".complete").exists():
        return target
    log(f"building wheels of the release's {len(requirements)} requirements into {target}")
    staging = Path(tempfile.mkdtemp(prefix="release-", dir=cache))
    if requirements:
        env = {**os.environ, "SOURCE_DATE_EPOCH": REPRODUCIBLE_EPOCH, "PIP_NO_INPUT": "1"}
        command = [sys.executable, "-m", "pip", "wheel", "--quiet", "-w", str(staging)]
        _run([*command, *requirements], "pip wheel (the release's requirements)", env)
    (staging / ".complete").touch()
    try:
        staging.rename(target)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not (target / ".complete").exists():
            raise
    return target


def build_release_image(
    release: Path,
    sandbox_image: str,
    tag: str,
    log: Log = lambda _: None,
    client: docker.DockerClient | None = None,
    cache: Path | None = None,
) -> BuildResult:
    """The image imported tasks of `release` run in: `sandbox_image` plus the release's
    declared requirements, built with no network from wheels made here."""
    started = time.monotonic()
    client = client or docker_client()
    requirements = release_requirements(release)
    cache = cache or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "valuegym"
    cache.mkdir(parents=True, exist_ok=True)
    wheels = release_wheels(requirements, cache, log)
    with tempfile.TemporaryDirectory(prefix="valuegym-release-build-") as tmp:
        context = Path(tmp)
        (context / "wheels").mkdir()
        for wheel in wheels.glob("*.whl"):
            os.link(wheel, context / "wheels" / wheel.name)
        if not requirements:
            (context / "wheels" / "README").write_text("the release declares no requirements\n")
        dockerfile = (source_root() / RELEASE_DOCKERFILE).read_text()
        if not requirements:  # nothing to install: the layer only labels the image
            dockerfile = dockerfile.split("USER root")[0] + "USER 10001:10001\n"
        (context / "Dockerfile").write_text(dockerfile)
        image_id = _docker_build(
            client,
            context,
            tag,
            {"SANDBOX_IMAGE": sandbox_image},
            log,
            labels={RELEASE_LABEL: str(release.resolve())},
        )
    return BuildResult(
        image=tag,
        image_id=image_id,
        base=sandbox_image,
        base_made=False,
        seconds=round(time.monotonic() - started, 2),
    )
