"""`serve vllm` builds the right command line, waits for health, and fails clearly.

vLLM is not installed here (no GPU): a fake `vllm` executable on PATH records its command line
and environment and serves `/health`, answering 503 a configurable number of times first.
"""

from __future__ import annotations

import json
import socket
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from harnesses.models import load_endpoints
from harnesses.vllm import VllmError, VllmOptions, VllmServer, tool_call_parser_for
from valuegym.cli import app

FAKE_VLLM = textwrap.dedent(
    """\
    #!{python}
    import http.server, json, os, sys
    argv = sys.argv[1:]
    record = os.environ["FAKE_VLLM_RECORD"]
    with open(record, "w") as f:
        json.dump({{"argv": argv, "key": os.environ.get("VLLM_API_KEY")}}, f)
    mode = os.environ.get("FAKE_VLLM_MODE", "ok")
    if mode == "crash":
        print("loading weights...", flush=True)
        print("torch.OutOfMemoryError: CUDA out of memory", file=sys.stderr, flush=True)
        sys.exit(3)
    unhealthy = int(os.environ.get("FAKE_VLLM_UNHEALTHY", "0"))
    polls = []

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            polls.append(self.path)
            healthy = mode == "ok" and len(polls) > unhealthy
            self.send_response(200 if healthy else 503)
            self.end_headers()
            with open(record + ".polls", "w") as f:
                f.write(str(len(polls)))
            if healthy and os.environ.get("FAKE_VLLM_EXIT_WHEN_HEALTHY"):
                self.server.shutdown_after = True

        def log_message(self, *args):
            pass

    port = int(argv[argv.index("--port") + 1])
    server = http.server.HTTPServer(("127.0.0.1", port), Health)
    server.shutdown_after = False
    while not server.shutdown_after:
        server.handle_request()
    """
)


@pytest.fixture
def fake_vllm(tmp_path, monkeypatch) -> Path:
    """Puts a fake `vllm` first on PATH; returns the file it records its invocation in."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "vllm"
    script.write_text(FAKE_VLLM.format(python=sys.executable))
    script.chmod(0o755)
    record = tmp_path / "record.json"
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setenv("FAKE_VLLM_RECORD", str(record))
    return record


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    ("model", "parser"),
    [
        ("Qwen/Qwen2.5-7B-Instruct", "hermes"),
        ("Qwen/Qwen3-Coder-30B-A3B-Instruct", "qwen3_coder"),
        ("meta-llama/Llama-3.1-8B-Instruct", "llama3_json"),
        ("meta-llama/Llama-4-Scout-17B-16E-Instruct", "llama4_pythonic"),
        ("mistralai/Mistral-7B-Instruct-v0.3", "mistral"),
        ("ibm-granite/granite-3.3-8b-instruct", "granite"),
        ("openai/gpt-oss-20b", "openai"),
    ],
)
def test_tool_call_parser_follows_the_model_family(model, parser):
    assert tool_call_parser_for(model) == parser


def test_command_line_has_tool_calling_prefix_caching_name_and_port():
    options = VllmOptions(
        model="Qwen/Qwen2.5-7B-Instruct",
        port=8123,
        max_model_len=16384,
        extra_args=["--seed", "1"],
    )
    argv = options.command()
    assert argv[:3] == ["vllm", "serve", "Qwen/Qwen2.5-7B-Instruct"]
    pairs = dict(zip(argv[3::2], argv[4::2], strict=False))
    assert "--enable-auto-tool-choice" in argv and "--enable-prefix-caching" in argv
    assert argv[argv.index("--tool-call-parser") + 1] == "hermes"
    assert argv[argv.index("--served-model-name") + 1] == "qwen2.5-7b-instruct"
    assert argv[argv.index("--port") + 1] == "8123" and pairs.get("--host") == "127.0.0.1"
    assert argv[argv.index("--max-model-len") + 1] == "16384" and argv[-2:] == ["--seed", "1"]
    overridden = VllmOptions(model="my/finetune", tool_call_parser="pythonic").command()
    assert overridden[overridden.index("--tool-call-parser") + 1] == "pythonic"
    with pytest.raises(VllmError, match="pass --tool-call-parser"):
        VllmOptions(model="my/finetune").command()


def test_launcher_waits_for_health_and_passes_the_key_in_the_environment(
    fake_vllm, tmp_path, monkeypatch
):
    monkeypatch.setenv("FAKE_VLLM_UNHEALTHY", "2")
    monkeypatch.setenv("MY_VLLM_KEY", "sk-vllm-778")
    options = VllmOptions(
        model="Qwen/Qwen2.5-0.5B-Instruct", port=free_port(), api_key_env="MY_VLLM_KEY"
    )
    server = VllmServer(options, tmp_path / "vllm.log")
    server.start()
    try:
        server.wait_healthy(timeout_s=30, poll_s=0.05)
        polls = int(Path(f"{fake_vllm}.polls").read_text())
    finally:
        server.stop()
    recorded = json.loads(fake_vllm.read_text())
    assert polls == 3  # two 503s, then healthy
    assert recorded["argv"] == options.command()[1:]
    assert recorded["key"] == "sk-vllm-778" and "sk-vllm-778" not in recorded["argv"]
    endpoint = options.endpoint()
    assert endpoint.base_url == f"http://127.0.0.1:{options.port}/v1"
    assert (endpoint.model, endpoint.api_key_env) == ("qwen2.5-0.5b-instruct", "MY_VLLM_KEY")


def test_serve_vllm_registers_the_endpoint(fake_vllm, tmp_path, cli, monkeypatch):
    monkeypatch.setenv("FAKE_VLLM_EXIT_WHEN_HEALTHY", "1")  # the fake stops once checked
    endpoints = tmp_path / "endpoints.yaml"
    endpoints.write_text(yaml.safe_dump({"endpoints": {"other": {"base_url": "x", "model": "y"}}}))
    port = free_port()
    result = cli.invoke(
        app,
        [
            "serve",
            "vllm",
            "--model",
            "meta-llama/Llama-3.1-8B-Instruct",
            "--port",
            str(port),
            "--endpoint-name",
            "llama",
            "--endpoints",
            str(endpoints),
            "--log",
            str(tmp_path / "vllm.log"),
            "--",
            "--max-num-seqs",
            "8",
        ],
    )
    assert result.exit_code == 0, result.output
    argv = json.loads(fake_vllm.read_text())["argv"]
    assert argv[argv.index("--tool-call-parser") + 1] == "llama3_json"
    assert argv[-2:] == ["--max-num-seqs", "8"]
    found = load_endpoints(endpoints)
    assert set(found) == {"other", "llama"}
    assert found["llama"].base_url == f"http://127.0.0.1:{port}/v1"
    assert found["llama"].model == "llama-3.1-8b-instruct"
    assert "registered endpoint llama" in result.output


def test_a_vllm_that_dies_at_start_is_reported_with_its_log(fake_vllm, tmp_path, cli, monkeypatch):
    monkeypatch.setenv("FAKE_VLLM_MODE", "crash")
    result = cli.invoke(
        app,
        [
            "serve",
            "vllm",
            "--model",
            "Qwen/Qwen2.5-72B-Instruct",
            "--port",
            str(free_port()),
            "--endpoints",
            str(tmp_path / "endpoints.yaml"),
            "--log",
            str(tmp_path / "vllm.log"),
        ],
    )
    assert result.exit_code == 1
    assert "vLLM exited with code 3 before it became healthy" in result.output
    assert "CUDA out of memory" in result.output
    assert not (tmp_path / "endpoints.yaml").exists()


def test_an_unhealthy_vllm_times_out_and_is_stopped(fake_vllm, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_VLLM_MODE", "unhealthy")
    server = VllmServer(VllmOptions(model="Qwen/Qwen2.5-7B", port=free_port()), tmp_path / "log")
    server.start()
    with pytest.raises(VllmError, match=r"did not answer 200 on .*/health within"):
        server.wait_healthy(timeout_s=0.5, poll_s=0.05)
    assert server.wait() != 0  # stopped by the launcher, not left running


def test_missing_vllm_says_how_to_get_it(tmp_path, cli, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    result = cli.invoke(app, ["serve", "vllm", "--model", "Qwen/Qwen2.5-7B-Instruct"])
    assert result.exit_code == 1
    assert "'vllm' was not found on PATH" in result.output
    assert "valuegym[vllm]" in result.output


def test_compose_file_starts_vllm_with_the_launchers_tool_calling_flags():
    compose = yaml.safe_load(
        (Path(__file__).resolve().parents[2] / "docker" / "compose.vllm.yaml").read_text()
    )
    service = compose["services"]["vllm"]
    flags = {arg.split("=")[0] for arg in service["command"]}
    launcher = {a for a in VllmOptions(model="Qwen/Qwen2.5-7B-Instruct").command() if a[:2] == "--"}
    assert {"--enable-auto-tool-choice", "--tool-call-parser", "--enable-prefix-caching"} <= flags
    assert launcher - {"--host", "--port"} <= flags
    assert service["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    assert service["ports"][0].startswith("127.0.0.1:")
