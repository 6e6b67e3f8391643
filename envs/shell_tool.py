"""`valuegym-tool`: the session's tools as one shell command, for agents whose only tool is a shell.

    valuegym-tool                      # the tools this session allows, with their parameters
    valuegym-tool get_patient '{"patient_id": "P-1"}'

It calls the session's agent plane (`POST {agent url}/call`) and prints the result in the same
JSON shape every other harness sees; the exit status is 0 when the result is `ok`, 1 when not.
Where to call comes from the environment: `VALUEGYM_AGENT_URL` (the session's agent URL),
`VALUEGYM_AGENT_TOKEN`, and, inside a sandbox container, `VALUEGYM_AGENT_SOCKET` (the server's
Unix socket; the URL's host is then ignored). Standard library only, so it runs in the sandbox
image as it is.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import sys
from urllib.parse import urlsplit

URL_ENV = "VALUEGYM_AGENT_URL"
TOKEN_ENV = "VALUEGYM_AGENT_TOKEN"
SOCKET_ENV = "VALUEGYM_AGENT_SOCKET"
TIMEOUT_S = 120.0


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("sandbox", timeout=TIMEOUT_S)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(TIMEOUT_S)
        self.sock.connect(self._path)


def _request(method: str, suffix: str, body: object = None) -> tuple[int, str]:
    url, token = os.environ.get(URL_ENV, ""), os.environ.get(TOKEN_ENV, "")
    if not url or not token:
        raise SystemExit(f"valuegym-tool: set {URL_ENV} and {TOKEN_ENV} (the agent plane)")
    parts = urlsplit(url)
    where = os.environ.get(SOCKET_ENV)
    if where:
        connection: http.client.HTTPConnection = _UnixConnection(where)
    else:
        connection = http.client.HTTPConnection(parts.netloc, timeout=TIMEOUT_S)
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    payload = None if body is None else json.dumps(body)
    try:
        connection.request(method, f"{parts.path}{suffix}", body=payload, headers=headers)
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", errors="replace")
    except OSError as exc:
        raise SystemExit(f"valuegym-tool: cannot reach the session ({exc})") from None
    finally:
        connection.close()


def _listing() -> str:
    status, text = _request("GET", "/tools")
    if status != 200:
        raise SystemExit(f"valuegym-tool: HTTP {status}: {text[:300]}")
    lines = ["usage: valuegym-tool TOOL 'JSON ARGUMENTS'", "", "tools:"]
    for spec in json.loads(text):
        lines.append(f"  {spec['name']}: {spec['description'].strip().splitlines()[0]}")
        lines.append(f"    parameters: {json.dumps(spec['parameters'], separators=(',', ':'))}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help", "--list"):
        print(_listing())
        return 0
    tool, raw = args[0], " ".join(args[1:]).strip() or "{}"
    try:
        arguments: object = json.loads(raw)
    except json.JSONDecodeError:
        arguments = raw  # sent as it is: the environment logs it and says what is wrong
    body = {"tool": tool, "arguments": arguments}
    status, text = _request("POST", "/call?view=agent", body)  # the text every harness shows
    if status != 200:
        print(f"valuegym-tool: HTTP {status}: {text[:300]}", file=sys.stderr)
        return 2
    print(text)
    return 0 if json.loads(text).get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
