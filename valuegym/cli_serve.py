"""`valuegym serve`: start a model server and register it as a named endpoint for runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

serve_app = typer.Typer(
    help="Start model servers: the scripted policy server (demos, tests) or vLLM (GPU hosts).",
    no_args_is_help=True,
)
console = Console(stderr=True, soft_wrap=True)


def say(text: str, style: str | None = None) -> None:
    """Print to stderr as plain text: paths and errors may contain brackets rich would eat."""
    console.print(text, style=style, markup=False, highlight=False)


def _endpoints_path(explicit: Path | None) -> Path:
    from harnesses.models import DEFAULT_FILE, endpoints_file

    return endpoints_file(explicit) or DEFAULT_FILE


@serve_app.command()
def scripted(
    port: Annotated[int, typer.Option(help="Port on loopback; 0 picks a free one.")] = 8300,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    tasks: Annotated[
        list[str] | None,
        typer.Option("--tasks", help="'bundled' or a task file/folder the policies can play."),
    ] = None,
    endpoints: Annotated[Path | None, typer.Option(help="The endpoints file to update.")] = None,
    register: Annotated[
        bool,
        typer.Option(
            help="Write `scripted-<policy>`, `scripted-responses-<policy>` and "
            "`scripted-anthropic-<policy>` endpoints for every policy."
        ),
    ] = True,
) -> None:
    """Serve scripted policies (a stand-in model for demos and tests) until interrupted.

    Speaks the OpenAI Chat Completions and Responses APIs and Anthropic's Messages API (with
    count_tokens), streaming or not. The request's `model` names
    the policy: golden-a, golden-b, random, refuser, fault-malformed-args[:N],
    fault-unknown-tool[:N], fault-http-500[:N], fault-rate-limit[:N], fault-slow[:SECONDS].
    It measures nothing about any real model.
    """
    from harnesses.models import save_endpoint
    from harnesses.scripted.server import ENDPOINT_PREFIXES, ScriptedServer
    from valuegym.tasks import load_tasks, resolve_task_paths

    loaded, skipped = load_tasks(resolve_task_paths(tasks))
    for path, reason in skipped:
        say(f"skipping {path}: {reason}", "yellow")
    try:
        server = ScriptedServer(loaded, host=host, port=port)
    except OSError as exc:
        say(f"error: cannot listen on {host}:{port}: {exc.strerror}", style="red")
        raise typer.Exit(2) from None
    policies = server.app.policies
    say(
        f"scripted server on {server.base_url} with {len(loaded)} tasks; "
        f"policies: {', '.join(policies)}",
    )
    if register:
        path = _endpoints_path(endpoints)
        for policy in policies:
            for api in ENDPOINT_PREFIXES:
                save_endpoint(server.endpoint(policy, api), path)
        say(
            f"registered endpoints scripted-<policy> (chat), scripted-responses-<policy> and "
            f"scripted-anthropic-<policy> in {path}; try: valuegym run --out "
            "runs/react --harness react --model scripted-golden-a",
        )
    try:
        server.serve_forever()
    except KeyboardInterrupt:  # uvicorn shuts down cleanly, then re-raises the interrupt
        say("scripted server stopped")


@serve_app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def vllm(
    ctx: typer.Context,
    model: Annotated[str, typer.Option(help="Hugging Face model id or local path.")],
    served_model_name: Annotated[
        str | None, typer.Option(help="Name clients use; default: the id's last part.")
    ] = None,
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8000,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    tool_call_parser: Annotated[
        str | None, typer.Option(help="vLLM tool-call parser; default: by model family.")
    ] = None,
    chat_template: Annotated[str | None, typer.Option(help="A chat template file.")] = None,
    max_model_len: Annotated[int | None, typer.Option(help="Context length cap.")] = None,
    gpu_memory_utilization: Annotated[float | None, typer.Option(help="0-1.")] = None,
    tensor_parallel_size: Annotated[int | None, typer.Option(help="GPUs per model.")] = None,
    api_key_env: Annotated[
        str | None, typer.Option(help="Variable holding a key vLLM should require.")
    ] = None,
    endpoint_name: Annotated[
        str | None, typer.Option(help="Endpoint name to register; default: served name.")
    ] = None,
    endpoints: Annotated[Path | None, typer.Option(help="The endpoints file to update.")] = None,
    health_timeout: Annotated[
        float, typer.Option(help="Seconds to wait for /health (model download and load).")
    ] = 900.0,
    log: Annotated[Path | None, typer.Option(help="vLLM's log file.")] = None,
    dry_run: Annotated[bool, typer.Option(help="Print the command line and stop.")] = False,
) -> None:
    """Start vLLM with tool calling on, register it as an endpoint, serve until interrupted.

    Waits for /health before registering. Arguments after `--` go to `vllm serve` unchanged.
    """
    from pydantic import ValidationError

    from harnesses.models import save_endpoint
    from harnesses.vllm import VllmError, VllmOptions, VllmServer

    try:
        options = VllmOptions(
            model=model,
            served_model_name=served_model_name,
            host=host,
            port=port,
            tool_call_parser=tool_call_parser,
            chat_template=chat_template,
            max_model_len=max_model_len,
            gpu_memory_utilization=gpu_memory_utilization,
            tensor_parallel_size=tensor_parallel_size,
            api_key_env=api_key_env,
            extra_args=list(ctx.args),
        )
        command = options.command()
    except ValidationError as exc:
        first = exc.errors()[0]
        option = "-".join(map(str, first["loc"])).replace("_", "-")
        say(f"error: --{option}: {first['msg']}", style="red")
        raise typer.Exit(2) from None
    except VllmError as exc:
        say(f"error: {exc}", style="red")
        raise typer.Exit(2) from None
    typer.echo(" ".join(command))
    if dry_run:
        return
    server = VllmServer(options, log or Path(f"vllm-{options.served_name}.log"))
    try:
        server.start()
        say(f"waiting for {options.base_url}/health (log: {server.log_path})")
        server.wait_healthy(timeout_s=health_timeout)
        endpoint = options.endpoint(endpoint_name)
        path = _endpoints_path(endpoints)
        save_endpoint(endpoint, path)
        say(
            f"vLLM is serving {options.model} as {options.served_name} at {endpoint.base_url}; "
            f"registered endpoint {endpoint.name} in {path}. Try: valuegym run --out runs/vllm "
            f"--harness react --model {endpoint.name}",
        )
        code = server.wait()
    except VllmError as exc:
        say(f"error: {exc}", style="red")
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        code = 0
    finally:
        server.stop()
    raise typer.Exit(code)
