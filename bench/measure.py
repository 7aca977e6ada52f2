"""Run one bench step in a child process and read its wall time and peak resident memory.

Each step is `python -m bench.steps <name> <json args>`; the child prints its result as one JSON
line at the end of stdout. os.wait4 returns the rusage of exactly that child, so the peak RSS
(ru_maxrss, KiB on Linux) is the step's own, not the maximum over every child of this process.
Output goes to temporary files rather than pipes: nothing can block while we wait on the pid.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


class StepFailed(RuntimeError):
    def __init__(self, message: str, wall_s: float = 0.0, peak_rss_mb: float = 0.0, exit_code: int | None = None):
        super().__init__(message)
        self.wall_s, self.peak_rss_mb, self.exit_code = wall_s, peak_rss_mb, exit_code


@dataclass
class StepResult:
    name: str
    wall_s: float
    peak_rss_mb: float
    output: dict = field(default_factory=dict)


def run_step(name: str, args: dict, label: str | None = None) -> StepResult:
    cmd = [sys.executable, "-m", "bench.steps", name, json.dumps(args, default=str)]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here; keep Popen consistent
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        tail = "\n".join(stderr.strip().splitlines()[-20:])
        raise StepFailed(f"step {label or name} failed (exit {proc.returncode}):\n{tail}", round(wall, 3),
                         round(usage.ru_maxrss / 1024, 1), proc.returncode)
    lines = [line for line in stdout.strip().splitlines() if line.startswith("{")]
    if not lines:
        raise StepFailed(f"step {label or name} printed no result")
    return StepResult(label or name, round(wall, 3), round(usage.ru_maxrss / 1024, 1), json.loads(lines[-1]))
