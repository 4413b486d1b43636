"""Stage 1 of the sandbox: trusted setup, run by the parent's interpreter as ``python -I -c`` (source text).

It starts in a new session (the parent passes ``start_new_session=True``) and, with the privileges it has:

1. ``unshare`` new network, mount, PID, IPC and UTS namespaces (root), or a user + network namespace
   (unprivileged, where the kernel allows it) -- the program gets no network at all, not even loopback;
2. mounts size-capped tmpfs over /tmp, /var/tmp and /dev/shm (disk cannot be filled; the host's temp files
   are hidden) and bind-mounts the Python installation read-only where the unprivileged user can reach it
   (a pyenv under /root is otherwise unreadable to it);
3. forks: the child (PID 1 of the new PID namespace, so when it exits the kernel kills every process the
   program left behind) sets rlimits, drops to the sandbox uid/gid with no supplementary groups, and
   ``execve``s the harness (stage 2) with a scrubbed environment;
4. waits and exits with the child's status (128 + signal for a signal death).

Before forking it writes one ``ISOLATION {json}`` line on the result pipe saying what was applied, so the
parent can report honestly when, say, the network namespace was not available.
"""

import ctypes
import json
import os
import resource
import stat
import sys

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 32, 4096, 16384, 1 << 18

config = json.loads(sys.argv[1])
result_fd = config["result_fd"]
libc = ctypes.CDLL(None, use_errno=True)
applied = {
    "network_namespace": False,
    "pid_namespace": False,
    "mount_namespace": False,
    "tmpfs": False,
    "privilege_drop": False,
    "rlimits": True,
}
notes = []


def unshare(flags):
    if libc.unshare(flags) == 0:
        return True
    notes.append(f"unshare({flags:#x}) failed: {os.strerror(ctypes.get_errno())}")
    return False


def mount(source, target, fstype, flags, data):
    if (
        libc.mount(
            source and source.encode(),
            target.encode(),
            fstype and fstype.encode(),
            flags,
            data and data.encode(),
        )
        != 0
    ):
        raise OSError(ctypes.get_errno(), f"mount {target}: {os.strerror(ctypes.get_errno())}")


def world_traversable(path):
    path = os.path.realpath(path)
    while True:
        if not os.stat(path).st_mode & stat.S_IXOTH:
            return False
        parent = os.path.dirname(path)
        if parent == path:
            return True
        path = parent


is_root = os.geteuid() == 0
workdir = config["workdir"]  # empty: the program reaches the harness through a pipe, never a file
executable = config["executable"]
env = dict(config["env"])
if is_root:
    if unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS):
        applied.update(network_namespace=True, pid_namespace=True, mount_namespace=True)
    else:
        applied["network_namespace"] = unshare(CLONE_NEWNET)
        applied["mount_namespace"] = unshare(CLONE_NEWNS)
        applied["pid_namespace"] = unshare(CLONE_NEWPID)
else:
    applied["network_namespace"] = unshare(CLONE_NEWUSER | CLONE_NEWNET)
    notes.append("not root: the program runs as the calling user (no privilege drop)")

if applied["mount_namespace"]:
    try:
        mount(None, "/", None, MS_REC | MS_PRIVATE, None)
        prefix = config["prefix"]
        bind_python = config["uid"] is not None and not world_traversable(executable)
        size = config["tmpfs_mb"]
        mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"size={size}m,mode=0755")
        for shared in ("/var/tmp", "/dev/shm"):
            if os.path.isdir(shared):
                mount("tmpfs", shared, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
        if bind_python:
            os.mkdir("/tmp/python", 0o755)
            mount(prefix, "/tmp/python", None, MS_BIND | MS_REC, None)
            mount(None, "/tmp/python", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, None)
            executable = "/tmp/python/" + os.path.relpath(os.path.realpath(executable), prefix)
            env["LD_LIBRARY_PATH"] = "/tmp/python/lib"
        workdir = "/tmp/work"
        os.mkdir(workdir, 0o700)
        applied["tmpfs"] = True
    except OSError as exc:
        notes.append(f"mount setup failed: {exc}")
        workdir = config["workdir"]

uid, gid = config["uid"], config["gid"]
if is_root and uid is not None:
    os.chown(workdir, uid, gid)
env["HOME"] = env["TMPDIR"] = workdir

limits = config["limits"]
applied["privilege_drop"] = is_root and uid is not None
report = {"applied": applied, "notes": notes}
os.write(result_fd, ("ISOLATION " + json.dumps(report) + "\n").encode())

pid = os.fork()
if pid == 0:
    try:
        for name, value in limits.items():
            resource.setrlimit(getattr(resource, name), (value, value))
        os.chdir(workdir)
        if is_root and uid is not None:
            os.setgroups([])
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
        os.execve(
            executable,
            [
                executable,
                "-I",
                "-B",
                "-c",
                config["harness"],
                str(config["nonce_fd"]),
                str(result_fd),
            ],
            env,
        )
    except BaseException as exc:
        os.write(result_fd, f"SETUP-ERROR {type(exc).__name__}: {exc}\n".encode())
        os._exit(98)
os.close(config["nonce_fd"])
os.close(result_fd)
while True:
    try:
        _, status = os.waitpid(pid, 0)
        break
    except InterruptedError:
        continue
code = os.waitstatus_to_exitcode(status)
os._exit(128 - code if code < 0 else code)
