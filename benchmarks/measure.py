"""Measuring a command in its own process: peak RSS and CPU seconds, sampled from /proc.

`ru_maxrss` from `wait4` is no use for a child of a large process: Linux carries the parent's
high-water mark across fork and exec, so every child "peaks" at least at its parent's size.
VmHWM in /proc is the child's own address space's peak, reset at exec.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


class ProcessWatch:
    """Peak RSS (VmHWM) and CPU seconds of one live process, sampled until it exits."""

    def __init__(self, pid: int, every_s: float = 0.2) -> None:
        self.pid = pid
        self.peak_kb = 0
        self.cpu_s = 0.0
        self._every = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def sample(self) -> None:
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                self.peak_kb = max(self.peak_kb, int(line.split()[1]))
        fields = stat.rsplit(")", 1)[1].split()
        self.cpu_s = (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime

    def _loop(self) -> None:
        while not self._stop.wait(self._every):
            self.sample()

    def stop(self) -> None:
        self.sample()
        self._stop.set()
        self._thread.join()
