"""Hostile programs: each must be contained, score 0, leave no process behind and leave the host untouched.

Every program here is written so that it would *pass* if the containment it probes were missing, so these
tests fail loudly when a protection stops working.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
from pathlib import Path

import pytest
from rlaif_code.sandbox import Limits, SandboxResult, all_sandbox_uids, processes_of_uid, run_python

IS_ROOT = os.geteuid() == 0
FAST = Limits(timeout=3, cpu_seconds=3)
SECRET = "sk-rlaif-fake-secret-0123456789"


def run(program: str, limits: Limits = FAST, check_leftovers: bool = True) -> SandboxResult:
    result = run_python(textwrap.dedent(program), limits)
    if check_leftovers:
        assert not processes_of_uid(all_sandbox_uids()), "a sandboxed process survived the run"
    return result


def assert_contained(result: SandboxResult, *statuses: str) -> None:
    assert result.status in (statuses or ("failed",)), (result.status, result.message, result.stderr[-500:])
    assert result.status != "passed"


@pytest.fixture(autouse=True)
def no_leftover_temp_dirs():
    before = set(Path(tempfile.gettempdir()).glob("rlaif-sandbox-*"))
    yield
    assert set(Path(tempfile.gettempdir()).glob("rlaif-sandbox-*")) <= before


def test_a_well_behaved_program_passes_and_reports_isolation():
    result = run("assert sum(range(10)) == 45\nprint('ok')")
    assert (result.status, result.stdout) == ("passed", "ok\n")
    applied = result.isolation["applied"]
    assert applied["rlimits"]
    if IS_ROOT:
        assert applied["privilege_drop"] and applied["pid_namespace"] and applied["tmpfs"]


def test_a_virtualenv_python_under_tmp_still_runs(tmp_path, monkeypatch):
    """A venv's python is a symlink, often under /tmp, which the sandbox hides behind a fresh tmpfs."""
    link = tmp_path / "venv" / "bin" / "python"
    link.parent.mkdir(parents=True)
    link.symlink_to(os.path.realpath(sys.executable))
    monkeypatch.setattr(sys, "executable", str(link))
    result = run("print('ok')")
    assert (result.status, result.stdout) == ("passed", "ok\n"), result.message


@pytest.mark.parametrize(
    "program",
    [
        "import os; os._exit(0)",
        "import sys; sys.exit(0)",
        "raise SystemExit",
        "import atexit, os\natexit.register(lambda: os.write(1, b'PASS x'))\nraise SystemExit(0)",
        "import sys, os\nsys.excepthook = lambda *a: os._exit(0)\nassert False",
        "import os\nos._exit = lambda code: None\nraise ValueError('fall through the failure path')",
        "import sys\nsys.audit('rlaif.proof')\nimport os; os._exit(0)",
        "import sys\nsys._getframe(1).f_locals.clear()\nsys.audit('rlaif.proof')\nimport os; os._exit(0)",
        "import os\nfor fd in range(3, 20):\n    try: os.write(fd, b'PASS 00\\n')\n    except OSError: pass\nos._exit(0)",
        "import gc\nprint([o for o in gc.get_objects() if isinstance(o, bytes)])\nimport os; os._exit(0)",
        "import ctypes\nimport os; os._exit(0)",
        "import sys\nsys.settrace(lambda *a: None)\nimport os; os._exit(0)",
        "import threading, os\nthreading.Thread(target=lambda: os._exit(0)).start()\nimport time; time.sleep(5)",
    ],
    ids=[
        "os._exit",
        "sys.exit",
        "SystemExit",
        "atexit",
        "excepthook",
        "patched-_exit",
        "forged-audit",
        "frame-locals",
        "forged-result-fd",
        "gc-scan",
        "ctypes",
        "settrace",
        "thread-exit",
    ],
)
def test_early_exit_and_forgery_tricks_do_not_pass(program):
    assert_contained(run(program))


def test_hidden_nonce_generator_frame_is_out_of_reach():
    program = """
        import sys
        frame = sys._getframe(1)           # the harness frame: must hold no secret
        assert not any(isinstance(v, bytes) for v in frame.f_locals.values())
        for value in list(frame.f_globals.values()):
            if hasattr(value, "gi_frame"):
                value.gi_frame
        raise SystemExit(0)
    """
    assert_contained(run(program))


def test_infinite_loop_times_out():
    assert_contained(run("while True:\n    pass"), "timeout", "failed")


def test_fork_bomb_is_bounded_and_cleaned_up():
    program = """
        import os, time
        for i in range(300):
            if os.fork() == 0:
                time.sleep(60)
                os._exit(0)
    """
    result = run(program, Limits(timeout=5, cpu_seconds=5, processes=16))
    assert_contained(result, "failed")
    assert "BlockingIOError" in result.message or "Resource temporarily unavailable" in result.message


def test_memory_hog_hits_the_address_space_limit():
    result = run("x = bytearray(6 * 1024 ** 3)\nx[-1] = 1", Limits(timeout=5, memory_mb=512))
    assert_contained(result)
    assert "MemoryError" in result.message


def test_big_file_hits_the_file_size_limit():
    program = "with open('big', 'wb') as f:\n    for _ in range(64):\n        f.write(b'0' * 2 ** 20)"
    result = run(program, Limits(timeout=5, file_size_mb=8))
    assert_contained(result)
    assert "SIGXFSZ" in result.message or "File too large" in result.message


@pytest.mark.skipif(not IS_ROOT, reason="the private size-capped tmpfs needs root (mount namespace)")
def test_many_files_fill_only_the_private_tmpfs():
    program = "for i in range(40):\n    with open(f'f{i}', 'wb') as f:\n        f.write(b'0' * 4 * 2 ** 20)"
    result = run(program, Limits(timeout=10, file_size_mb=8, tmpfs_mb=32))
    assert_contained(result)
    assert "No space left" in result.message


def test_environment_secrets_never_reach_the_program(monkeypatch):
    monkeypatch.setenv("RLAIF_FAKE_SECRET", SECRET)
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    victim = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(30)"], env={**os.environ, "RLAIF_FAKE_SECRET": SECRET}
    )
    try:
        program = f"""
            import os
            print(sorted(os.environ))
            leaked = [k for k, v in os.environ.items() if {SECRET!r} in v]
            for pid in [p for p in os.listdir('/proc') if p.isdigit()]:
                try:
                    if {SECRET!r}.encode() in open(f'/proc/{{pid}}/environ', 'rb').read():
                        leaked.append(pid)
                except OSError:
                    pass
            assert leaked, 'no secret found'
        """
        result = run(program)
    finally:
        victim.kill()
        victim.wait()
    assert_contained(result)
    assert SECRET not in result.stdout and "OPENAI_API_KEY" not in result.stdout
    assert "no secret found" in result.message


def test_etc_shadow_is_unreadable():
    result = run("print(open('/etc/shadow').read())")
    assert_contained(result)
    assert "root:" not in result.stdout


@pytest.mark.skipif(not IS_ROOT, reason="protecting root-owned files needs the privilege drop")
def test_files_outside_the_sandbox_survive():
    # One canary under the temp dir (hidden by the private tmpfs) and one elsewhere (visible, read-only).
    outside = Path(tempfile.mkdtemp(prefix=".canary-", dir=Path(__file__).parent))
    inside = Path(tempfile.mkdtemp(prefix="rlaif-canary-"))
    try:
        canaries = [outside / "canary.txt", inside / "canary.txt"]
        for canary in canaries:
            canary.write_text("alive")
            canary.chmod(0o644)
        outside.chmod(0o755)
        program = f"""
            import os, shutil
            removed = 0
            for path in {[str(c) for c in canaries]!r}:
                for attempt in (os.remove, lambda p: open(p, 'w').write('pwned'),
                                lambda p: shutil.rmtree(os.path.dirname(p))):
                    try:
                        attempt(path)
                        removed += 1
                    except OSError:
                        pass
            assert removed, 'could not touch any canary'
        """
        result = run(program)
        assert_contained(result)
        assert [c.read_text() for c in canaries] == ["alive", "alive"]
    finally:
        for directory in (outside, inside):
            for child in directory.iterdir():
                child.unlink()
            directory.rmdir()


def test_no_network_connection_reaches_a_local_listener():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    connections: list = []

    def accept() -> None:
        try:
            connections.append(listener.accept())
        except OSError:
            pass

    thread = threading.Thread(target=accept)
    thread.start()
    try:
        program = f"""
            import socket
            s = socket.create_connection(("127.0.0.1", {port}), timeout=2)
            s.sendall(b"exfiltrated")
        """
        result = run(program)
    finally:
        thread.join()
        listener.close()
    if not result.isolation["applied"]["network_namespace"]:
        pytest.skip("this host allows no network namespace; result message says so: " + result.message)
    assert_contained(result)
    assert connections == []


@pytest.mark.skipif(not IS_ROOT, reason="without the privilege drop the program could signal our processes")
def test_killing_the_parent_or_bystanders_fails_and_harms_nothing():
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        program = f"""
            import os, signal
            for target in (os.getppid(), {bystander.pid}, {os.getpid()}, -1):
                try:
                    os.kill(target, signal.SIGKILL)
                except OSError:
                    pass
            os.kill({bystander.pid}, signal.SIGKILL)
        """
        result = run(program)
        assert_contained(result)
        assert bystander.poll() is None, "the bystander process was killed"
    finally:
        bystander.kill()
        bystander.wait()


def test_stdout_flood_is_capped_and_times_out():
    result = run("import sys\nwhile True:\n    sys.stdout.write('x' * 65536)")
    assert_contained(result, "timeout", "failed")
    assert len(result.stdout) <= 16 * 1024


def test_parallel_runs_do_not_interfere():
    from concurrent.futures import ThreadPoolExecutor

    programs = [f"assert {i} * 2 == {i * 2}" if i % 2 else "raise SystemExit(0)" for i in range(8)]
    with ThreadPoolExecutor(4) as pool:
        statuses = [r.status for r in pool.map(lambda p: run(p, check_leftovers=False), programs)]
    assert not processes_of_uid(all_sandbox_uids())
    assert statuses == ["failed" if i % 2 == 0 else "passed" for i in range(8)]


def test_parent_signal_handlers_are_untouched():
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
