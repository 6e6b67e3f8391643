"""`valuegym sandbox ...`: build the sandbox image and clean up leaked containers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from envs.sandbox_options import DEFAULT_IMAGE

sandbox_app = typer.Typer(
    help="Build the docker sandbox image and remove leaked sandbox containers.",
    no_args_is_help=True,
)
console = Console(stderr=True)


def sandbox_problem(kind: str) -> str | None:
    """Why the `kind` sandbox cannot run episodes here, checked before a run starts (so a missing
    image fails the command instead of turning every episode into an error record)."""
    if kind != "docker":
        return None
    from envs.docker_sandbox import check_docker
    from envs.remote import SandboxError
    from envs.sandbox_options import SandboxOptions

    try:
        check_docker(SandboxOptions.from_env())
    except SandboxError as exc:
        return str(exc)
    return None


@sandbox_app.command()
def build(
    tag: Annotated[
        str | None,
        typer.Option(
            help="Tag of the image to build (default: $VALUEGYM_SANDBOX_IMAGE, else "
            f"{DEFAULT_IMAGE})."
        ),
    ] = None,
    base: Annotated[
        str | None,
        typer.Option(help="Base image with the host's Python (default: see the README)."),
    ] = None,
    suite: Annotated[
        str | None, typer.Option(help="Debian suite for a debootstrap base (default: by Python).")
    ] = None,
    mirror: Annotated[str | None, typer.Option(help="Debian mirror for debootstrap.")] = None,
    release: Annotated[
        Path | None,
        typer.Option(
            help="Also build the image for this Agent-ValueBench release's imported tasks: the "
            "sandbox image plus the release's requirements.txt (tag: the sandbox tag + "
            "'-release', or $VALUEGYM_SANDBOX_RELEASE_IMAGE)."
        ),
    ] = None,
) -> None:
    """Build the sandbox image offline (making a debootstrap base first if none can be pulled)."""
    from envs.remote import SandboxError
    from envs.sandbox_image import DEFAULT_MIRROR, ImageError, build_image, build_release_image
    from envs.sandbox_options import SandboxOptions, release_image_for

    def log(line: str) -> None:
        console.print(line, highlight=False, style="dim")

    options = SandboxOptions.from_env(**({"image": tag} if tag else {}))
    try:
        results = [
            build_image(
                tag=options.image,
                base=base,
                suite=suite,
                mirror=mirror or DEFAULT_MIRROR,
                log=log,
            )
        ]
        if release is not None:
            if not (release / "environment").is_dir():
                raise ImageError(f"--release {release}: no environment/ folder (not a release)")
            release_tag = release_image_for(options)
            results.append(build_release_image(release, options.image, release_tag, log))
    except (ImageError, SandboxError) as exc:
        console.print(f"error: {exc}", style="red", highlight=False)
        raise typer.Exit(1) from None
    for result in results:
        made = " (base made with debootstrap)" if result.base_made else ""
        console.print(
            f"built {result.image} ({result.image_id[:19]}) on {result.base}{made} "
            f"in {result.seconds:.1f} s",
            style="bold green",
            highlight=False,
        )


@sandbox_app.command()
def prune(
    everything: Annotated[
        bool, typer.Option("--all", help="Remove every sandbox container, in use or not, anyone's.")
    ] = False,
) -> None:
    """Remove your leaked sandbox containers: exited ones and those whose orchestrator is gone.

    Only containers this user's orchestrators started on this host are touched (their
    `valuegym.owner` label names host, user, process and its start time); --all removes
    every valuegym sandbox container, anyone's.
    """
    from envs.docker_sandbox import prune_containers
    from envs.remote import SandboxError

    try:
        pruned = prune_containers(everything=everything)
    except SandboxError as exc:
        console.print(f"error: {exc}", style="red", highlight=False)
        raise typer.Exit(1) from None
    for container in pruned:
        console.print(f"removed {container.name}: {container.reason}", highlight=False)
    console.print(f"{len(pruned)} sandbox containers removed", style="bold", highlight=False)
