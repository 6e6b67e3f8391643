"""A test-only environment for fault tests: tools that print a lot, or take their time.

Hosted by the fault tests (`--env-module fault_probe --env-path tests/sandbox_envs`).
"""

from __future__ import annotations

import sys
import time

from envs.sdk import StateModel, ToolEnv, tool


class FaultState(StateModel):
    notes: dict[str, str] = {}


class FaultProbe(ToolEnv):
    name = "fault_probe"
    description = "A probe whose tools print to stdout/stderr or wait, to exercise the sandbox."
    State = FaultState

    @tool
    def write_note(self, key: str, text: str) -> dict:
        """Store a note in the environment's state.

        Args:
            key: The note's name.
            text: What to store.
        """
        self.state["notes"][key] = text
        return {"key": key}

    @tool
    def shout(self, kb: int) -> dict:
        """Print `kb` kilobytes to stdout and to stderr (as chatty environment code does).

        Args:
            kb: How many kilobytes to print to each stream.
        """
        line = "x" * 1023 + "\n"
        for _ in range(kb):
            sys.stdout.write(line)
            sys.stderr.write(line)
        sys.stdout.flush()
        sys.stderr.flush()
        return {"printed_kb": kb}

    @tool
    def pause(self, seconds: float) -> dict:
        """Wait before answering (a slow environment).

        Args:
            seconds: How long to wait.
        """
        time.sleep(seconds)
        return {"waited": seconds}
