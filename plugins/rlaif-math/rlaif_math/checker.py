"""math-verify in killable worker processes, with our own per-check deadline.

math-verify guards sympy with ``signal.alarm``, which raises off the main thread -- and TRL, the CLI's
thread pool and web servers call rewards off the main thread. So its timeout is disabled in the worker and
the parent enforces a wall-clock deadline instead: a check that overruns gets its worker killed (sympy can
spin in C code that no in-process timeout interrupts) and a fresh worker takes its place.
"""

from __future__ import annotations

import json
import os
import queue
import select
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

WORKER = Path(__file__).with_name("_worker.py")


@dataclass(frozen=True)
class CheckResult:
    status: str  # "passed" | "failed" | "timeout" | "error"
    detail: str = ""


class _Worker:
    """One checker process; used by one thread at a time."""

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None

    def _start(self) -> subprocess.Popen:
        if self.process is None or self.process.poll() is not None:
            self.process = subprocess.Popen(
                [sys.executable, str(WORKER)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                bufsize=1,
            )
        return self.process

    def check(self, gold: str, pred: str, timeout: float, startup_grace: float) -> CheckResult:
        fresh = self.process is None or self.process.poll() is not None
        process = self._start()
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(json.dumps({"gold": gold, "pred": pred}) + "\n")
            process.stdin.flush()
        except (BrokenPipeError, OSError):
            self.kill()
            return CheckResult("error", "checker process died")
        # The first check in a fresh worker also pays for importing sympy/math-verify.
        deadline = time.monotonic() + timeout + (startup_grace if fresh else 0.0)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill()
                return CheckResult("timeout", f"check exceeded {timeout:g}s")
            ready, _, _ = select.select([process.stdout], [], [], remaining)
            if ready:
                break
        line = process.stdout.readline()
        if not line:
            self.kill()
            return CheckResult("error", "checker process died")
        reply = json.loads(line)
        if "error" in reply:
            return CheckResult("error", reply["error"])
        detail = f"gold={reply['gold'][:1]} pred={reply['pred'][:1]}"
        return CheckResult("passed" if reply["ok"] else "failed", detail)

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


class CheckerPool:
    """A fixed number of worker processes shared by any number of calling threads."""

    def __init__(self, workers: int = 2, timeout: float = 5.0, startup_grace: float = 30.0):
        self.timeout = timeout
        self.startup_grace = startup_grace
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._all = [_Worker() for _ in range(max(1, workers))]
        for worker in self._all:
            self._idle.put(worker)
        self._lock = threading.Lock()

    def check(self, gold: str, pred: str) -> CheckResult:
        worker = self._idle.get()
        try:
            return worker.check(gold, pred, self.timeout, self.startup_grace)
        finally:
            self._idle.put(worker)

    def check_many(self, pairs: list[tuple[str, str]]) -> list[CheckResult]:
        if len(pairs) <= 1 or len(self._all) == 1:
            return [self.check(g, p) for g, p in pairs]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=len(self._all)) as pool:
            return list(pool.map(lambda pair: self.check(*pair), pairs))

    def close(self) -> None:
        for worker in self._all:
            worker.kill()

    def __del__(self) -> None:  # best effort: do not leave checker processes behind
        try:
            self.close()
        except Exception:
            pass


def default_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))
