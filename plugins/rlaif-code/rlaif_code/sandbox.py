"""Run untrusted Python in a jail and learn whether it ran to the end.

Model-written code is hostile until proven otherwise. Each run gets:

* a separate process in a new session, a fresh temp dir as cwd, ``python -I -B``, stdin closed, a scrubbed
  environment (nothing from the parent's -- no API keys or tokens), stdout/stderr captured and capped;
* rlimits on CPU time, address space, file size, open files and processes (and no core dumps);
* when running as root: new network/mount/PID/IPC/UTS namespaces (no network, not even loopback; private
  size-capped tmpfs for /tmp; every leftover process dies with the namespace's PID 1) and a drop to an
  unprivileged per-slot uid/gid with no supplementary groups. RLIMIT_NPROC does not bind root and root can
  read or delete anything, so the drop is what makes the other limits mean something. Per-slot uids keep
  concurrent runs from signalling each other and let the parent sweep up strays by uid;
* a wall-clock deadline enforced by the parent, which kills the whole process group (and, as root, every
  process of the slot's uid);
* a completion proof (see ``_harness.py``): "passed" requires a per-run random nonce that the harness only
  emits after the program and its tests ran to completion, so exiting 0 early does not pass;
* for a :class:`~rlaif_code.programs.TestProgram`, tests kept apart from the solution (see ``_harness.py``):
  their own namespace and thread, private builtins and modules, plain data only across the boundary, no
  frames -- a wrong solution that games the tests fails with ``hack`` set to the guard that fired. The
  program travels through a pipe and is compiled from memory: no file in the jail holds the tests.

What could not be applied on this machine is reported in :attr:`SandboxResult.isolation` -- never silently.
"""

from __future__ import annotations

import json
import marshal
import os
import queue
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlaif_code.programs import TestProgram

_HERE = Path(__file__).parent
LAUNCHER_SOURCE = (_HERE / "_launcher.py").read_text(encoding="utf-8")
HARNESS_SOURCE = (_HERE / "_harness.py").read_text(encoding="utf-8")
# Compiling the harness takes ~13 ms, so it is compiled once here and sent (marshalled: the jail runs this
# very interpreter) ahead of the payload; the jail's `python -c` only runs this bootstrap.
HARNESS_CODE = marshal.dumps(compile(HARNESS_SOURCE, "<harness>", "exec"))
HARNESS_BOOTSTRAP = (
    "import marshal, os, sys\n"
    "size = int.from_bytes(os.read(int(sys.argv[1]), 8), 'big')\n"
    "code = b''\n"
    "while len(code) < size:\n"
    "    chunk = os.read(int(sys.argv[1]), size - len(code))\n"
    "    if not chunk:\n"
    "        raise SystemExit('truncated harness')\n"
    "    code += chunk\n"
    "del size, chunk\n"
    "exec(marshal.loads(code))\n"
)

UID_BASE = 2_000_000_000
"""Sandbox uids are UID_BASE + (pid % 20000) * 64 + slot: unused by real accounts, distinct per worker slot
and (very probably) per host process, so one run cannot signal or read another's processes."""

MAX_SLOTS = 64
STREAM_CAP = 16 * 1024
RESULT_CAP = 4 * 1024


@dataclass(frozen=True)
class Limits:
    """Resource limits for one run. ``timeout`` is wall-clock seconds, enforced by the parent."""

    timeout: float = 10.0
    cpu_seconds: int = 10
    memory_mb: int = 1024
    file_size_mb: int = 16
    open_files: int = 64
    processes: int = 32
    tmpfs_mb: int = 64

    def rlimits(self) -> dict[str, int]:
        return {
            "RLIMIT_CPU": self.cpu_seconds,
            "RLIMIT_AS": self.memory_mb * 1024 * 1024,
            "RLIMIT_FSIZE": self.file_size_mb * 1024 * 1024,
            "RLIMIT_NOFILE": self.open_files,
            "RLIMIT_NPROC": self.processes,
            "RLIMIT_CORE": 0,
        }


@dataclass
class SandboxResult:
    """``status`` is passed / failed / timeout / error; ``message`` says why in one line.

    ``hack`` names the guard that fired when the program tried to game the tests or the sandbox
    ("frame access (sys._getframe)", "non-plain value returned by the solution (Anything)",
    "patched builtins.len", "forbidden operation: gc.get_objects"...), else None -- so callers can count
    attempts separately from honest failures.
    """

    status: str
    message: str
    returncode: int | None = None
    stdout: str = ""
    stderr: str = ""
    duration: float = 0.0
    isolation: dict[str, Any] = field(default_factory=dict)
    hack: str | None = None

    @property
    def missing_isolation(self) -> list[str]:
        """Names of isolation measures that were not applied in this run."""
        return [name for name, ok in self.isolation.get("applied", {}).items() if not ok]


class _Slots:
    """Hands out worker slots (and so uids) to concurrent runs in this process."""

    def __init__(self) -> None:
        self._free: queue.Queue[int] = queue.Queue()
        for slot in range(MAX_SLOTS):
            self._free.put(slot)

    def acquire(self) -> int:
        return self._free.get()

    def release(self, slot: int) -> None:
        self._free.put(slot)


_SLOTS = _Slots()


def sandbox_uid(slot: int) -> int:
    return UID_BASE + (os.getpid() % 20000) * MAX_SLOTS + slot


def processes_of_uid(uid: int | set[int], include_zombies: bool = False) -> list[int]:
    """PIDs of live processes whose real, effective or saved uid is ``uid`` (or in the set), from /proc.

    Zombies (exited, waiting to be reaped) run no code and hold no resources but a PID; they are left out
    unless ``include_zombies``.
    """
    wanted = {str(u) for u in uid} if isinstance(uid, set) else {str(uid)}
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status", encoding="ascii", errors="replace") as handle:
                zombie = False
                for line in handle:
                    if line.startswith("State:"):
                        zombie = line.split()[1] in ("Z", "X")
                    elif line.startswith("Uid:"):
                        if wanted.intersection(line.split()[1:4]) and (include_zombies or not zombie):
                            pids.append(int(entry))
                        break
        except OSError:
            continue
    return pids


def _kill_uid(uid: int, deadline: float = 5.0) -> None:
    """SIGKILL every process of the sandbox uid until none runs (a fork bomb may spawn while we sweep)."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        pids = processes_of_uid(uid)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.01)


def _scrubbed_env() -> dict[str, str]:
    # Built from scratch, never filtered from os.environ: a denylist always misses some secret's name.
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}


def run_python(program: str | TestProgram, limits: Limits | None = None) -> SandboxResult:
    """Run ``program`` in the sandbox; thread-safe, blocks until done or timed out.

    A plain string is run as one module (it passes when it runs to its end); a :class:`TestProgram` runs
    its solution, then its tests apart from it (it passes when every test ran and passed).
    """
    if isinstance(program, str):
        program = TestProgram(solution=program, tests="")
    limits = limits or Limits()
    slot = _SLOTS.acquire()
    try:
        return _run(program, limits, slot)
    finally:
        _SLOTS.release(slot)


def _run(program: TestProgram, limits: Limits, slot: int) -> SandboxResult:
    is_root = os.geteuid() == 0
    uid = sandbox_uid(slot) if is_root else None
    workdir = Path(tempfile.mkdtemp(prefix="rlaif-sandbox-"))
    nonce = secrets.token_hex(16).encode()
    nonce_r, nonce_w = os.pipe()
    result_r, result_w = os.pipe()
    started = time.monotonic()
    process: subprocess.Popen | None = None
    # The harness's code, the nonce, then the program: all read from the pipe before the solution runs.
    payload = b"".join(
        (
            len(HARNESS_CODE).to_bytes(8, "big"),
            HARNESS_CODE,
            nonce,
            b"\n",
            json.dumps(program.payload()).encode("utf-8"),
        )
    )
    try:
        config = {
            "workdir": str(workdir),
            # resolved here: inside the sandbox /tmp is a fresh tmpfs, so a venv's python symlink (often under
            # /tmp or another hidden path) could no longer be followed there
            "executable": os.path.realpath(sys.executable),
            "prefix": sys.base_prefix,
            "uid": uid,
            "gid": uid,
            "limits": limits.rlimits(),
            "tmpfs_mb": limits.tmpfs_mb,
            "nonce_fd": nonce_r,
            "result_fd": result_w,
            "harness": HARNESS_BOOTSTRAP,
            "env": _scrubbed_env(),
        }
        process = subprocess.Popen(
            [sys.executable, "-I", "-B", "-c", LAUNCHER_SOURCE, json.dumps(config)],
            cwd=workdir,
            env=_scrubbed_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(nonce_r, result_w),
            start_new_session=True,
            close_fds=True,
        )
        os.close(nonce_r)
        os.close(result_w)
        nonce_r = result_w = -1
        os.set_blocking(nonce_w, False)  # a program bigger than the pipe is fed as the harness reads it
        streams, timed_out = _collect(process, result_r, started + limits.timeout, nonce_w, payload)
        nonce_w = -1  # closed by _collect
        returncode = process.returncode
    finally:
        # Kill the unprivileged processes first: the root launcher then reaps its child and exits normally,
        # so nothing is left as an orphaned zombie. The group kill catches the rest (and the non-root case).
        if uid is not None:
            _kill_uid(uid)
        if process is not None:
            if uid is not None:
                try:
                    process.wait(timeout=2)
                except subprocess.TimeoutExpired:
                    pass
            _kill_group(process)
        for fd in (nonce_r, nonce_w, result_w, result_r):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        shutil.rmtree(workdir, ignore_errors=True)
    duration = time.monotonic() - started
    stdout, stderr, result_head, result_tail = streams
    isolation = _isolation(result_head)
    status, message, hack = _verdict(nonce, result_tail, returncode, timed_out, limits)
    return SandboxResult(status, message, returncode, stdout, stderr, duration, isolation, hack)


def _collect(
    process: subprocess.Popen, result_r: int, deadline: float, payload_w: int, payload: bytes
) -> tuple[tuple[str, str, str, str], bool]:
    """Feed the payload pipe (then close it) and drain stdout, stderr and the result pipe until EOF or the
    deadline; keep capped heads/tails. ``payload_w`` is non-blocking and always closed on return."""
    assert process.stdout is not None and process.stderr is not None
    heads = {"stdout": bytearray(), "stderr": bytearray(), "result": bytearray()}
    tail = bytearray()
    selector = selectors.DefaultSelector()
    selector.register(process.stdout.fileno(), selectors.EVENT_READ, "stdout")
    selector.register(process.stderr.fileno(), selectors.EVENT_READ, "stderr")
    selector.register(result_r, selectors.EVENT_READ, "result")
    pending = memoryview(payload)
    selector.register(payload_w, selectors.EVENT_WRITE, "payload")
    open_streams = 3
    timed_out = False
    exited_at: float | None = None
    while open_streams:
        now = time.monotonic()
        if now >= deadline:
            timed_out = process.poll() is None or exited_at is None
            break
        if process.poll() is not None:
            exited_at = exited_at or now
            if now - exited_at > 1.0:  # a stray holds a pipe open after the program ended
                break
        for key, _ in selector.select(timeout=min(0.1, max(0.0, deadline - now))):
            if key.data == "payload":
                try:
                    pending = pending[os.write(payload_w, pending) :]
                except BlockingIOError:
                    continue
                except OSError:  # the harness is gone (setup failed): nothing more to feed
                    pending = pending[:0]
                if not pending:
                    selector.unregister(payload_w)
                    os.close(payload_w)
                    payload_w = -1
                continue
            chunk = os.read(key.fd, 65536)
            if not chunk:
                selector.unregister(key.fd)
                open_streams -= 1
                continue
            head = heads[key.data]
            cap = RESULT_CAP if key.data == "result" else STREAM_CAP
            if len(head) < cap:
                head.extend(chunk[: cap - len(head)])
            if key.data == "result":
                tail.extend(chunk)
                del tail[:-RESULT_CAP]
    selector.close()
    if payload_w >= 0:
        os.close(payload_w)
    if not timed_out:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            timed_out = True
    decode = lambda data: bytes(data).decode("utf-8", "replace")  # noqa: E731
    return (
        decode(heads["stdout"]),
        decode(heads["stderr"]),
        decode(heads["result"]),
        decode(tail),
    ), timed_out


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()


def _isolation(result_head: str) -> dict[str, Any]:
    for line in result_head.splitlines():
        if line.startswith("ISOLATION "):
            try:
                return json.loads(line[len("ISOLATION ") :])
            except json.JSONDecodeError:
                break
    return {}


_SIGNAL_HINTS = {
    signal.SIGXCPU: "CPU time limit",
    signal.SIGXFSZ: "file size limit",
    signal.SIGKILL: "killed",
    signal.SIGSEGV: "segmentation fault",
}


def _verdict(
    nonce: bytes, result_tail: str, returncode: int | None, timed_out: bool, limits: Limits
) -> tuple[str, str, str | None]:
    """(status, message, hack) from the result pipe's last lines, the exit code and the deadline."""
    lines = result_tail.splitlines()
    if f"PASS {nonce.decode()}" in lines and returncode == 0 and not timed_out:
        return "passed", "all tests passed", None
    if timed_out:
        return "timeout", f"exceeded the {limits.timeout:g}s wall-clock limit", None
    for line in reversed(lines):
        if line.startswith("SETUP-ERROR "):
            return "error", "sandbox setup failed: " + line[len("SETUP-ERROR ") :], None
        if line.startswith("ERROR "):
            return "error", line[len("ERROR ") :][:500], None
        if line.startswith("HACK "):
            reason = line[len("HACK ") :][:300]
            return "failed", "hack: " + reason, reason
        if line.startswith("DENIED "):
            reason = "forbidden operation: " + line[len("DENIED ") :][:300]
            return "failed", reason, reason
        if line.startswith("FAIL "):
            return "failed", line[len("FAIL ") :][:500], None
    if returncode is not None and returncode > 128:
        sig = returncode - 128
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        hint = _SIGNAL_HINTS.get(sig)
        return "failed", f"killed by {name}" + (f" ({hint})" if hint else ""), None
    if returncode == 0:
        return "failed", "exited before the tests finished (no completion proof)", None
    return "failed", f"exited with code {returncode}", None


def all_sandbox_uids() -> set[int]:
    """Every uid this process may hand to a sandbox run (for leak checks)."""
    return {sandbox_uid(slot) for slot in range(MAX_SLOTS)}


__all__ = ["Limits", "SandboxResult", "all_sandbox_uids", "processes_of_uid", "run_python", "sandbox_uid"]
