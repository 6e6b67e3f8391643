"""The sandbox server: one process hosting many environment sessions.

The orchestrator drives it through the control plane (`/control/...`, server-wide control token);
agents reach only their own session through the agent plane (`/sessions/{id}/...`, HTTP JSON and
MCP, per-session agent token). Run it with `python -m envs.server`; the process and docker
sandbox backends start it for you.
"""
