"""Stage 2 of the sandbox: runs *inside* the jail, as the unprivileged user, in a fresh interpreter.

Passed to ``python -I -B -c`` as source text (argv: nonce fd, result fd, program path). It proves to the
parent that the program's code -- tests included -- ran to the end, so ``os._exit(0)``, ``sys.exit()``, an
``atexit`` or ``excepthook`` trick cannot fake a pass:

* The parent writes a random nonce into a pipe; the harness reads it and closes the pipe *before* the program
  runs. It never appears in argv, environment, files or the program text.
* The nonce lives only in the frame of a suspended generator (the "prover"), reachable only through the
  audit hook's closure. An irremovable audit hook kills the process on everything that could read it:
  ``gen.gi_frame`` on the prover, ``gc.get_referents/referrers/objects``, ``ctypes``, tracing/profiling hooks,
  other threads' frames, ``/proc/*/mem``, and spawning other programs (which would run without the hook).
* After ``exec`` returns normally the harness raises the ``rlaif.proof`` audit event; the prover writes the
  nonce only when the event's caller is the harness's own frame -- which is busy inside ``exec`` until the
  program (tests included) has finished. Any exception or ``SystemExit`` from the program is a failure.

This is defence in depth next to the OS jail (unprivileged uid, namespaces, rlimits), not instead of it.
"""

import os
import sys

DENIED_EVENTS = frozenset(
    {
        "gc.get_objects",
        "gc.get_referrers",
        "gc.get_referents",
        "sys.settrace",
        "sys.setprofile",
        "sys._current_frames",
        "sys._current_exceptions",
        "sys.addaudithook",
        "sys.monitoring.register_callback",
        "ctypes.dlopen",
        "ctypes.dlsym",
        "ctypes.cdata",
        "ctypes.addressof",
        "ctypes.string_at",
        "ctypes.wstring_at",
        "ctypes.call_function",
        "ctypes.get_errno",
        "ctypes.set_errno",
        "subprocess.Popen",
        "os.exec",
        "os.posix_spawn",
        "os.spawn",
        "os.system",
        "pty.spawn",
    }
)


def _prover(secret, result_fd, main_frame, write, getframe):
    hook_code = yield
    while True:
        try:
            yield
        except GeneratorExit:
            return
        except BaseException:  # a thrown-in exception must not carry this frame out in a traceback
            continue
        # frame 0 is this generator, 1 the audit hook that resumed it, 2 the caller of sys.audit().
        if getframe(1).f_code is hook_code and getframe(2) is main_frame:
            write(result_fd, b"PASS " + secret + b"\n")
            return


def _make_hook(prover, result_fd, write, exit_, realpath):
    def hook(event, args):
        if event == "rlaif.proof":
            try:
                next(prover)
            except (StopIteration, ValueError):
                pass
            return
        denied = event in DENIED_EVENTS
        if event == "object.__getattr__" and args and args[0] is prover:
            denied = True
        elif event == "import" and args and str(args[0]).split(".")[0] in ("ctypes", "_ctypes"):
            denied = True
        elif event == "open" and args and isinstance(args[0], (str, bytes)):
            path = realpath(os.fsdecode(args[0]))
            denied = path.startswith("/proc/") and (path.endswith("/mem") or "/map_files" in path)
        if denied:
            write(result_fd, b"DENIED " + event.encode("ascii", "replace") + b"\n")
            exit_(97)

    return hook


def _arm(nonce_fd, result_fd, main_frame):
    secret = os.read(nonce_fd, 256).strip()
    os.close(nonce_fd)
    prover = _prover(secret, result_fd, main_frame, os.write, sys._getframe)
    next(prover)
    hook = _make_hook(prover, result_fd, os.write, os._exit, os.path.realpath)
    prover.send(hook.__code__)
    sys.addaudithook(hook)


def _describe(exc):
    import traceback

    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "program.py":
            line = tb.tb_lineno
        tb = tb.tb_next
    text = traceback.format_exception_only(type(exc), exc)[-1].strip()
    return (f"line {line}: " if line else "") + text


def main():
    nonce_fd, result_fd, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    write = os.write
    with open(path, encoding="utf-8") as handle:
        source = handle.read()
    try:
        code = compile(source, "program.py", "exec")
    except SyntaxError as exc:
        write(result_fd, ("FAIL " + _describe(exc) + "\n").encode("utf-8", "replace"))
        os._exit(1)
    # Captured before the program runs: it may replace os._exit or sys.audit to fake the failure path.
    exit_, audit = os._exit, sys.audit
    _arm(nonce_fd, result_fd, sys._getframe())
    namespace = {"__name__": "__main__", "__builtins__": __builtins__, "__file__": path}
    try:
        exec(code, namespace)
    except BaseException as exc:  # SystemExit included: leaving early is not passing
        try:
            message = _describe(exc)
        except BaseException:
            message = type(exc).__name__
        write(result_fd, ("FAIL " + message[:2000].replace("\n", " ") + "\n").encode("utf-8", "replace"))
        exit_(1)
    else:  # only reachable when the program, tests included, ran to its end
        audit("rlaif.proof")
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:
                pass
        exit_(0)
    exit_(1)


main()
