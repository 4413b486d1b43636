"""Stage 2 of the sandbox: runs *inside* the jail, as the unprivileged user, in a fresh interpreter.

Compiled by the parent and sent, marshalled, ahead of everything else on the payload pipe; the jail's
``python -I -B -c`` runs a bootstrap that loads it (argv: payload fd, result fd). Then the parent writes a
random nonce and the program (JSON: solution, tests, trusted setup/helpers, the names the tests need) into a pipe;
the harness reads it all and closes the pipe before any solution code runs. Nothing is written to a file:
the tests exist only in this process's memory, and ``/proc/*/mem`` is closed by the audit hook below.

**Completion proof.** "Passed" needs the nonce, which lives only in the frame of a suspended generator (the
"prover"), reachable only through the audit hook's closure. An irremovable audit hook kills the process on
everything that could read it: ``gen.gi_frame`` on the prover, ``gc.get_referents/referrers/objects``,
``ctypes``, tracing/profiling hooks, other threads' frames, ``/proc/*/mem``, forged code objects, and
spawning other programs (which would run without the hook). After the tests finish the harness raises the
``rlaif.proof`` audit event; the prover writes the nonce only when the event's caller is the harness's own
judging frame -- which is busy until the solution and the tests have finished. So ``os._exit(0)``,
``sys.exit()``, ``atexit`` or ``excepthook`` tricks cannot fake a pass.

**Reward hacks** (a wrong solution that the tests would accept) are closed by keeping the solution away
from the tests, not by trusting it to behave:

* *Two namespaces, two threads.* The solution's module body and every call into it run on a worker thread
  whose stack holds no test frame; the tests run on the main thread, in their own globals, with a private
  copy of the builtins and private copies of the modules they (or the row's setup/helpers) import, taken
  before the solution ran. Redefining ``abs``, replacing ``builtins.len``/``isinstance``/``__import__``,
  patching ``math.isclose`` or planting modules in ``sys.modules`` changes nothing the tests see.
* *A plain-data boundary.* A test only ever receives fresh copies of plain data from the solution
  (``None``, bool, int, float, complex, str, bytes, builtin containers of them, builtin classes): a
  subclass of a builtin type is copied through the base type's own C methods (its overrides never run), a
  subclass overriding comparisons/hash/conversions is refused as a hack, callables and iterators come back
  as proxies that call into the worker, and anything else (an object whose ``__eq__`` always answers True,
  a numpy-like fake) is refused as a hack. Arguments go the other way as copies (mutations are copied
  back, checked), so the solution never holds a test object. Exceptions come back as fresh instances of
  the nearest builtin exception class. So no test comparison -- ``==``, ``in``, ``abs(x - y) < eps``,
  ``sorted``, ``math.isclose``, ``bool`` -- ever runs solution code; equality is Python's own on plain
  data, floats included.
* *No frames.* The audit hook refuses every frame or code object whose chain reaches the tests or the
  harness (``sys._getframe``, ``inspect``, ``tb_frame``, ``gi_frame``/``cr_frame``/``ag_frame``,
  ``f_code``, a test function's ``__code__``): in the worker, reaching below the solution's own stack is
  a hack (the run is killed); on the main thread the request fails with ValueError (so stdlib helpers
  such as ``namedtuple`` degrade as they do without frames).
* *Integrity.* The builtins module and the modules the tests import (and their classes) are compared
  with their state before the solution ran, after each call: patching them is reported as a hack.

Every hack that fires is reported as ``HACK <reason>`` on the result pipe, so the reward can count them.

This is defence in depth next to the OS jail (unprivileged uid, namespaces, rlimits), not instead of it.
Code that runs after the solution started never looks up a global or builtin name (the solution could
have replaced it): every function defined inside ``_runtime``/``_make_hook`` uses only names captured
before the solution ran (a test checks this).
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
        "code.__new__",  # hand-made bytecode reads memory the interpreter never meant to expose
        "os.symlink",  # a link to /proc/self/mem opened through a directory fd would dodge the path check
        "subprocess.Popen",
        "os.exec",
        "os.posix_spawn",
        "os.spawn",
        "os.system",
        "pty.spawn",
    }
)

SOLUTION_FILE = "<solution>"
TESTS_FILE = "<tests>"

# Dunders through which an object decides how a test sees it. A subclass of a builtin type that overrides
# one of them is refused (a plain subclass -- a namedtuple, an IntEnum -- is simply copied as its base).
WATCHED_DUNDERS = frozenset(
    {
        "__eq__",
        "__ne__",
        "__lt__",
        "__le__",
        "__gt__",
        "__ge__",
        "__hash__",
        "__bool__",
        "__len__",
        "__iter__",
        "__next__",
        "__contains__",
        "__getitem__",
        "__int__",
        "__index__",
        "__float__",
        "__complex__",
        "__round__",
        "__abs__",
        "__neg__",
        "__pos__",
        "__add__",
        "__radd__",
        "__sub__",
        "__rsub__",
        "__mul__",
        "__rmul__",
        "__truediv__",
        "__rtruediv__",
        "__floordiv__",
        "__mod__",
        "__pow__",
        "__getattribute__",
        "__getattr__",
    }
)

HEAPTYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: classes made at run time (by the solution, or in Python code)

# Runs on the worker thread, in globals of its own: the solution may read or rewrite anything here -- it
# is all on its side of the boundary. Results and exceptions are left in the task list for the harness.
WORKER_SOURCE = """
def serve(go, done, slot):
    previous = None
    while True:
        go.acquire()
        task = slot[0]
        slot[0] = None
        previous = None  # the last call's objects are freed here, on the solution's thread
        if task is None:
            done.release()
            return
        try:
            task[3] = task[0](*task[1], **task[2])
        except BaseException as exc:
            task[4] = exc
            try:
                task[5] = solution_line(exc)
            except BaseException:
                pass
        previous = task
        task = None
        done.release()


def solution_line(exc):
    line = None
    tb = exc.__traceback__
    tb = tb.tb_next if tb is not None else None  # the first entry is serve's own frame
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<solution>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
"""


def _prover(secret, result_fd, main_frame, write, getframe):
    hook_code = yield
    while True:
        yield  # nothing can throw in: only the hook's closure holds this generator
        # frame 0 is this generator, 1 the audit hook that resumed it, 2 the caller of sys.audit().
        if getframe(1).f_code is hook_code and getframe(2) is main_frame:
            write(result_fd, b"PASS " + secret + b"\n")
            return


def _capture():
    """Everything the harness uses after the solution starts, taken while it is still pristine."""
    import _thread
    import builtins

    collections = sys.modules.get("collections")

    def generator():
        yield

    async def coroutine():
        pass

    async def async_generator():
        yield

    coro = coroutine()
    coro.close()
    builtin_exceptions = [
        value for value in vars(builtins).values() if type(value) is type and issubclass(value, BaseException)
    ]
    builtin_classes = [value for value in vars(builtins).values() if type(value) is type]
    return {
        "builtins": builtins,
        "builtins_dict": vars(builtins),
        "modules": sys.modules,
        "import": builtins.__import__,
        "exec": exec,
        "next": next,
        "type": type,
        "id": id,
        "len": len,
        "list": list,
        "tuple": tuple,
        "dict": dict,
        "set": set,
        "frozenset": frozenset,
        "str": str,
        "bytes": bytes,
        "int": int,
        "float": float,
        "complex": complex,
        "bool": bool,
        "bytearray": bytearray,
        "range": range,
        "slice": slice,
        "issubclass": issubclass,
        "module_type": type(sys),
        "frame_type": type(sys._getframe()),
        "traceback_type": type(_traceback_sample()),
        "generator_type": type(generator()),
        "coroutine_type": type(coro),
        "async_generator_type": type(async_generator()),
        "function_type": type(_capture),
        "dict_views": (type({}.keys()), type({}.values()), type({}.items())),
        "ellipsis": Ellipsis,
        "not_implemented": NotImplemented,
        "base_exception": BaseException,
        "stop_iteration": StopIteration,
        "value_error": ValueError,
        "runtime_error": RuntimeError,
        "os_error": OSError,
        "builtin_exceptions": frozenset(builtin_exceptions),
        "builtin_classes": frozenset(builtin_classes),
        "counter": getattr(collections, "Counter", None),
        "mro_of": type.__dict__["__mro__"].__get__,
        "flags_of": type.__dict__["__flags__"].__get__,
        "class_dict": type.__dict__["__dict__"].__get__,
        "name_of": type.__dict__["__name__"].__get__,
        "module_dict": type(sys).__dict__["__dict__"].__get__,
        "args_of": BaseException.__dict__["args"].__get__,
        "traceback_of": BaseException.__dict__["__traceback__"].__get__,
        "int_value": int.__index__,
        "float_value": float.__float__,
        "complex_value": complex.__complex__,
        "str_value": str.__str__,
        "bytes_value": bytes.__bytes__,
        "bytes_decode": bytes.decode,
        "list_copy": list.copy,
        "list_setitem": list.__setitem__,
        "tuple_getitem": tuple.__getitem__,
        "dict_items": dict.items,
        "mappingproxy": type(type.__dict__),
        "mappingproxy_items": type(type.__dict__).items,
        "dict_clear": dict.clear,
        "dict_update": dict.update,
        "set_iter": set.__iter__,
        "set_clear": set.clear,
        "set_update": set.update,
        "frozenset_iter": frozenset.__iter__,
        "bytearray_copy": bytearray.copy,
        "bytearray_setitem": bytearray.__setitem__,
        "write": os.write,
        "exit": os._exit,
        "audit": sys.audit,
        "getframe": sys._getframe,
        "readlink": os.readlink,
        "getcwd": os.getcwd,
        "get_ident": _thread.get_ident,
        "allocate_lock": _thread.allocate_lock,
        "start_new_thread": _thread.start_new_thread,
        "stdout": sys.stdout,
        "stderr": sys.stderr,
        "harness_globals": globals(),
        "addaudithook": sys.addaudithook,
        "prover_start": _prover_start,
        "make_hook": _make_hook,
    }


def _traceback_sample():
    try:
        raise ValueError
    except ValueError as exc:
        return exc.__traceback__


def _make_hook(prover, result_fd, c, ctx):
    """The audit hook. It runs inside any thread's operations, so it never runs solution code: it reads
    only C-level attributes, copies str/bytes subclasses through the base type, and calls nothing that the
    solution could have replaced."""
    write, exit_, get_ident, next_ = c["write"], c["exit"], c["get_ident"], c["next"]
    type_, str_, bytes_, int_, issubclass_ = c["type"], c["str"], c["bytes"], c["int"], c["issubclass"]
    str_value, bytes_value, bytes_decode = c["str_value"], c["bytes_value"], c["bytes_decode"]
    readlink, getcwd = c["readlink"], c["getcwd"]
    stop_iteration, value_error, base_exception = c["stop_iteration"], c["value_error"], c["base_exception"]
    frame_type, traceback_type, function_type = c["frame_type"], c["traceback_type"], c["function_type"]
    generator_type, coroutine_type, async_generator_type = (
        c["generator_type"],
        c["coroutine_type"],
        c["async_generator_type"],
    )
    denied_events = DENIED_EVENTS
    harness_globals, tests_ns, worker_ns = c["harness_globals"], ctx["tests_ns"], ctx["worker_ns"]
    main_ident, disarmed = ctx["main_ident"], ctx["disarmed"]
    inside = set()
    enter, leave = inside.add, inside.discard
    ctypes_names = ("ctypes", "_ctypes")

    def kill(kind, text):
        write(result_fd, (kind + " " + text + "\n").encode("utf-8", "replace"))
        exit_(97)

    def frame_owner(frame):
        # "main": the frame (or one it was called from) runs the tests or the harness; "worker": the frame
        # is the worker's own entry frame, below everything the solution runs; "" otherwise.
        first = True
        while frame is not None:
            scope = frame.f_globals
            if scope is harness_globals or scope is tests_ns:
                return "main"
            if scope is worker_ns:
                return "worker" if first else ""
            first = False
            frame = frame.f_back
        return ""

    def guard_frame(frame, what):
        if frame is None or disarmed[0]:
            return
        owner = frame_owner(frame)
        if not owner:
            return
        if owner == "main" and get_ident() == main_ident:
            raise value_error("frame access is disabled while the tests run")
        kill("HACK", "frame access (" + what + ")")

    def resolve(path):
        # os.path.realpath is Python code the solution can patch; this uses only C functions and str.
        if not path.startswith("/"):
            try:
                path = getcwd() + "/" + path
            except base_exception:
                return path
        pending = path.split("/")
        pending.reverse()
        parts = []
        hops = 0
        while pending:
            part = pending.pop()
            if part == "" or part == ".":
                continue
            if part == "..":
                if parts:
                    parts.pop()
                continue
            parts.append(part)
            try:
                target = readlink("/" + "/".join(parts))
            except base_exception:
                continue
            hops += 1
            if hops > 40:
                break
            parts.pop()
            if target.startswith("/"):
                del parts[:]
            more = target.split("/")
            more.reverse()
            pending.extend(more)
        return "/" + "/".join(parts)

    def forbidden_path(path):
        parts = path.split("/")
        # A relative path may be opened against a directory fd (which the event does not show): judge
        # the name itself too.
        if parts[-1] == "mem" or "map_files" in parts:
            return True
        resolved = resolve(path)
        return resolved.startswith("/proc/") and (resolved.endswith("/mem") or "/map_files" in resolved)

    def check(event, args):
        if event in denied_events:
            kill("DENIED", event)
        if event == "sys._getframe":
            guard_frame(args[0], "sys._getframe")
        elif event == "object.__getattr__":
            target = args[0]
            if target is prover:
                kill("DENIED", event)
            kind = type_(target)
            if kind is frame_type:
                guard_frame(target, "f_code")
            elif kind is traceback_type:
                guard_frame(target.tb_frame, "tb_frame")
            elif kind is generator_type:
                guard_frame(target.gi_frame, "gi_frame")
            elif kind is coroutine_type:
                guard_frame(target.cr_frame, "cr_frame")
            elif kind is async_generator_type:
                guard_frame(target.ag_frame, "ag_frame")
            elif kind is function_type and not disarmed[0]:
                scope = target.__globals__
                if scope is harness_globals or scope is tests_ns or scope is worker_ns:
                    if get_ident() == main_ident:
                        raise value_error("code access is disabled while the tests run")
                    kill("HACK", "frame access (__code__ of a test or harness function)")
        elif event == "import" and args:
            name = args[0]
            kind = type_(name)
            if kind is not str_:
                name = str_value(name) if issubclass_(kind, str_) else ""
            if name.partition(".")[0] in ctypes_names:
                kill("DENIED", event)
        elif event == "open" and args:
            path = args[0]
            kind = type_(path)
            if kind is str_:
                text = path
            elif issubclass_(kind, str_):
                text = str_value(path)
            elif issubclass_(kind, bytes_):
                text = bytes_decode(bytes_value(path), "utf-8", "surrogateescape")
            elif issubclass_(kind, int_) or path is None:
                return  # a file descriptor
            else:  # os.fspath() would run its __fspath__ again, after this check: it could answer differently
                kill("DENIED", "open (a path object; pass a str)")
                return
            if forbidden_path(text):
                kill("DENIED", event)

    def hook(event, args):
        me = get_ident()
        if me in inside:  # the hook's own attribute reads raise events too
            return
        enter(me)
        try:
            if event == "rlaif.proof":  # resumed from here: the prover checks that its caller is this hook
                try:
                    next_(prover)
                except (stop_iteration, value_error):
                    pass
            else:
                check(event, args)
        finally:
            leave(me)

    return hook


def _runtime(c, spec, codes, result_fd):
    """Set up both namespaces and the worker (trusted code only runs here), and return ``judge``.

    Every function defined in here runs after the solution started, so it uses only the names bound in
    this scope from ``c`` -- never a global or builtin name.
    """
    type_, id_, len_, list_, tuple_, dict_ = c["type"], c["id"], c["len"], c["list"], c["tuple"], c["dict"]
    set_, frozenset_, str_, bytes_ = c["set"], c["frozenset"], c["str"], c["bytes"]
    int_, float_, complex_, bool_ = c["int"], c["float"], c["complex"], c["bool"]
    bytearray_, range_, slice_ = c["bytearray"], c["range"], c["slice"]
    issubclass_, exec_, next_, import_ = c["issubclass"], c["exec"], c["next"], c["import"]
    module_type, ellipsis, not_implemented = c["module_type"], c["ellipsis"], c["not_implemented"]
    base_exception, stop_iteration = c["base_exception"], c["stop_iteration"]
    runtime_error, counter = c["runtime_error"], c["counter"]
    builtin_exceptions, builtin_classes = c["builtin_exceptions"], c["builtin_classes"]
    mro_of, flags_of, class_dict, name_of = c["mro_of"], c["flags_of"], c["class_dict"], c["name_of"]
    module_dict, args_of, traceback_of = c["module_dict"], c["args_of"], c["traceback_of"]
    int_value, float_value, complex_value = c["int_value"], c["float_value"], c["complex_value"]
    str_value, bytes_value = c["str_value"], c["bytes_value"]
    list_copy, list_setitem, tuple_getitem = c["list_copy"], c["list_setitem"], c["tuple_getitem"]
    dict_items, dict_clear, dict_update = c["dict_items"], c["dict_clear"], c["dict_update"]
    mappingproxy, mappingproxy_items = c["mappingproxy"], c["mappingproxy_items"]
    set_iter, set_clear, set_update = c["set_iter"], c["set_clear"], c["set_update"]
    frozenset_iter = c["frozenset_iter"]
    bytearray_copy, bytearray_setitem = c["bytearray_copy"], c["bytearray_setitem"]
    write, exit_, audit = c["write"], c["exit"], c["audit"]
    getframe, get_ident = c["getframe"], c["get_ident"]
    keys_view, values_view, items_view = c["dict_views"]
    stdout, stderr, sys_modules = c["stdout"], c["stderr"], c["modules"]
    none_type = type_(None)
    plain_bases = (int_, float_, str_, bytes_, tuple_, list_, dict_, set_, frozenset_, complex_, bytearray_)
    whole = slice_(None)
    watched = WATCHED_DUNDERS
    heaptype = HEAPTYPE
    solution_code, tests_code, setup_code, helpers_code, worker_code = codes
    entry_point = spec.get("entry_point")
    names = [name for name in spec.get("names", ()) if type_(name) is str_]

    # ---- private copies of the builtins and of the modules the trusted code imports ----
    pristine_builtins = dict_(c["builtins_dict"])
    snapshots = {}  # module name -> private module object (a copy of its namespace)
    watch = []  # (label, live namespace, {name: value} before the solution ran)

    def exact_items(mapping):
        # (key, value) pairs of a namespace whose keys are exact str; other keys could run code when
        # compared. A class's namespace comes as a mappingproxy over an exact dict.
        items = mappingproxy_items(mapping) if type_(mapping) is mappingproxy else dict_items(mapping)
        return [(key, value) for key, value in list_(items) if type_(key) is str_]

    def snapshot_of(name):
        copy = snapshots.get(name)
        if copy is None:
            module = sys_modules.get(name)
            if type_(module) is not module_type:
                return None
            copy = module_type(name)
            dict_update(module_dict(copy), exact_items(module_dict(module)))
            snapshots[name] = copy
        return copy

    def pristine_import(name, globals=None, locals=None, fromlist=(), level=0):
        if level or type_(name) is not str_:
            return import_(name, globals, locals, fromlist, level)
        wanted = name if fromlist else name.partition(".")[0]
        copy = snapshots.get(wanted)
        if copy is None:
            import_(name, globals, locals, fromlist, level)
            copy = snapshot_of(wanted)
            if copy is None:
                return import_(name, globals, locals, fromlist, level)
        return copy

    for name in spec.get("modules", ()):
        try:
            import_(name)
        except BaseException:  # the tests will meet the same ImportError themselves
            continue
        parts = name.split(".")
        for end in range(1, len(parts) + 1):
            snapshot_of(".".join(parts[:end]))
    for copy in list(snapshots.values()):  # package attributes that are imported submodules
        namespace = module_dict(copy)
        for attribute, value in exact_items(namespace):
            if type(value) is module_type and value.__name__ in snapshots:
                namespace[attribute] = snapshots[value.__name__]
    pristine_builtins["__import__"] = pristine_import

    def record(label, namespace):
        watch.append((label, namespace, dict_(exact_items(namespace))))

    record("builtins", c["builtins_dict"])
    watched_modules = [(name, sys_modules[name]) for name in sorted(snapshots)]
    tests_modules = set(spec.get("test_modules", ()))
    for name in sorted(snapshots):
        live = sys_modules[name]
        if name == "sys":  # the interpreter's own state (stdout, recursion limit...) legitimately moves
            continue
        record(name, module_dict(live))
        if name not in tests_modules:
            continue
        for attribute, value in exact_items(module_dict(live)):
            if issubclass(type(value), type) and getattr(value, "__module__", None) == name:
                if flags_of(value) & heaptype:
                    record(name + "." + attribute, class_dict(value))

    # ---- the tests' namespace, the trusted helpers, the solution's namespace, the worker ----
    tests_ns = {"__name__": "__tests__", "__builtins__": pristine_builtins}
    helpers_ns = None
    if setup_code is not None:
        exec(setup_code, tests_ns)  # trusted: errors are the row's, reported by main()
    if helpers_code is not None:
        candidate_ns = {"__name__": "__helpers__", "__builtins__": pristine_builtins}
        try:
            exec(helpers_code, candidate_ns)
            helpers_ns = candidate_ns
        except BaseException:  # not runnable on its own (a bare header): the tests use the solution's
            helpers_ns = None
    module = module_type("__main__")
    solution_ns = module_dict(module)
    # No file behind it: the source of the solution -- and of the tests -- is nowhere to be read.
    solution_ns.update({"__builtins__": c["builtins"], "__file__": SOLUTION_FILE, "__loader__": None})
    sys_modules["__main__"] = module  # the harness's own namespace is no longer reachable by name
    worker_ns = {"__name__": "<worker>", "__builtins__": {"BaseException": BaseException}}
    exec(worker_code, worker_ns)
    go, done = c["allocate_lock"](), c["allocate_lock"]()
    go.acquire()
    done.acquire()
    go_release, done_acquire = go.release, done.acquire
    slot = [None]
    worker_ident = c["start_new_thread"](worker_ns["serve"], (go, done, slot))
    ctx = {
        "tests_ns": tests_ns,
        "worker_ns": worker_ns,
        "main_ident": get_ident(),
        "disarmed": [False],
    }
    disarmed = ctx["disarmed"]
    hack = []  # the first hack found; once set, every later call into the solution fails at once
    registry = {}  # id(proxy) -> (proxy, the solution's object behind it)
    solution_lines = {}  # id(fresh exception) -> (exception, solution line it came from)

    prover_start, make_hook, addaudithook = c["prover_start"], c["make_hook"], c["addaudithook"]
    hack_tag = object()  # marks the harness's own refusals; the solution can never hold it

    def arm(main_frame, secret):
        prover = prover_start(secret, result_fd, main_frame, write, getframe)
        hook = make_hook(prover, result_fd, c, ctx)
        prover.send(hook.__code__)
        addaudithook(hook)

    # ---- the boundary ----
    def refuse(reason):
        raise base_exception(hack_tag, reason)

    def note_hack(exc):
        # Record a refusal from the boundary (the tests may catch it: the verdict still sees it).
        if type_(exc) is base_exception:
            args = args_of(exc)
            if len_(args) == 2 and args[0] is hack_tag and not hack:
                hack.append(args[1])

    def type_name(kind):
        name = name_of(kind)
        return name if type_(name) is str_ else str_value(name)

    def has_attribute(kind, name):
        for klass in mro_of(kind):
            for key in list_(class_dict(klass)):
                if type_(key) is str_ and key == name:
                    return True
        return False

    def overridden(kind, base):
        for klass in mro_of(kind):
            if klass is base:
                return None
            if not flags_of(klass) & heaptype:
                continue
            for key in list_(class_dict(klass)):
                if type_(key) is str_ and key in watched:
                    return key
        return None

    def plain_base(kind):
        for base in plain_bases:
            if issubclass_(kind, base):
                return base
        return None

    def sanitize(value, passed, memo):
        """A fresh copy of ``value`` made only of plain data (or proxies); refuses anything else."""
        kind = type_(value)
        if kind is str_ or kind is int_ or kind is float_ or kind is bool_ or kind is none_type:
            return value
        if kind is bytes_ or kind is complex_ or kind is range_:
            return value
        if value is ellipsis or value is not_implemented:
            return value
        if kind is type_ and value in builtin_classes:  # metaclass exactly type: hashing it runs no code
            return value
        key = id_(value)
        entry = passed.get(key)
        if entry is not None and entry is value:  # the test's own object, handed back
            return value
        entry = registry.get(key)
        if entry is not None and entry[0] is value:
            return value
        entry = memo.get(key)
        if entry is not None:
            return entry[1]
        base = plain_base(kind)
        if base is not None:
            if kind is not base and flags_of(kind) & heaptype and kind is not counter:
                override = overridden(kind, base)
                if override is not None:
                    refuse(
                        "non-plain value: a "
                        + type_name(base)
                        + " subclass overriding "
                        + override
                        + " ("
                        + type_name(kind)
                        + ")"
                    )
            return convert(value, base, passed, memo)
        if kind is keys_view:
            return dict_.fromkeys([sanitize(item, passed, memo) for item in list_(value)]).keys()
        if kind is values_view:
            return dict_(enumerate_pairs([sanitize(item, passed, memo) for item in list_(value)])).values()
        if kind is items_view:
            return dict_([sanitize(pair, passed, memo) for pair in list_(value)]).items()
        if has_attribute(kind, "__next__"):
            return iter_proxy(value)
        if has_attribute(kind, "__call__"):
            return call_proxy(value)
        refuse("non-plain value returned by the solution (" + type_name(kind) + ")")

    def enumerate_pairs(items):
        pairs = []
        index = 0
        for item in items:
            pairs.append((index, item))
            index += 1
        return pairs

    def convert(value, base, passed, memo):
        key = id_(value)
        if base is int_:
            return int_value(value)
        if base is float_:
            return float_value(value)
        if base is str_:
            return str_value(value)
        if base is bytes_:
            return bytes_value(value)
        if base is complex_:
            return complex_value(value)
        if base is bytearray_:
            return bytearray_copy(value)
        if base is tuple_:
            return tuple_([sanitize(item, passed, memo) for item in tuple_getitem(value, whole)])
        if base is list_:
            result = []
            memo[key] = (value, result)
            for item in list_copy(value):
                result.append(sanitize(item, passed, memo))
            return result
        if base is dict_:
            result = {}
            memo[key] = (value, result)
            for item_key, item in list_(dict_items(value)):
                result[sanitize(item_key, passed, memo)] = sanitize(item, passed, memo)
            return result
        items = list_(frozenset_iter(value) if base is frozenset_ else set_iter(value))
        clean = [sanitize(item, passed, memo) for item in items]
        return frozenset_(clean) if base is frozenset_ else set_(clean)

    def to_solution(value, passed, memo):
        """Arguments: plain data is copied (the solution must never hold a test object), a proxy becomes
        the solution's own object again, anything else (the test's own function or object) goes as is."""
        kind = type_(value)
        if kind is str_ or kind is int_ or kind is float_ or kind is bool_ or kind is none_type:
            return value
        if kind is bytes_ or kind is complex_ or kind is range_:
            return value
        key = id_(value)
        entry = registry.get(key)
        if entry is not None and entry[0] is value:
            return entry[1]
        entry = memo.get(key)
        if entry is not None:
            return entry[1]
        if kind is list_:
            result = []
            memo[key] = (value, result)
            for item in list_copy(value):
                result.append(to_solution(item, passed, memo))
            return result
        if kind is tuple_:
            return tuple_([to_solution(item, passed, memo) for item in value])
        if kind is dict_:
            result = {}
            memo[key] = (value, result)
            for item_key, item in list_(dict_items(value)):
                result[to_solution(item_key, passed, memo)] = to_solution(item, passed, memo)
            return result
        if kind is set_ or kind is frozenset_:
            clean = [to_solution(item, passed, memo) for item in list_(value)]
            return set_(clean) if kind is set_ else frozenset_(clean)
        if kind is bytearray_:
            return bytearray_copy(value)
        passed[key] = value
        return value

    def dispatch(fn, args, kwargs):
        task = [fn, args, kwargs, None, None, None]
        if get_ident() == worker_ident:  # a test callback, called by the solution, calls it back
            try:
                task[3] = fn(*args, **kwargs)
            except base_exception as exc:
                task[4] = exc
            return task
        slot[0] = task
        go_release()
        done_acquire()
        return task

    def call(fn, args, kwargs):
        if hack:
            raise base_exception("hack: " + hack[0])
        passed, memo = {}, {}
        solution_args = tuple_([to_solution(arg, passed, memo) for arg in args])
        solution_kwargs = {}
        for name, arg in list_(dict_items(kwargs)):
            solution_kwargs[name] = to_solution(arg, passed, memo)
        task = dispatch(fn, solution_args, solution_kwargs)
        try:
            changed = integrity()
            if changed is not None:
                refuse("patched " + changed)
            copy_back(args, solution_args, passed)
            if task[4] is None:
                return sanitize(task[3], passed, {})
        except base_exception as exc:
            note_hack(exc)
            raise
        raise fresh_exception(task[4], task[5])

    def copy_back(args, solution_args, passed):
        index = 0
        for original in args:
            copy = solution_args[index]
            index += 1
            if copy is original:
                continue
            kind = type_(original)
            if not (kind is list_ or kind is dict_ or kind is set_ or kind is bytearray_):
                continue
            fresh = sanitize(copy, passed, {})
            if fresh == original:
                continue
            if kind is list_ or kind is bytearray_:
                (list_setitem if kind is list_ else bytearray_setitem)(original, whole, fresh)
            elif kind is dict_:
                dict_clear(original)
                dict_update(original, fresh)
            else:
                set_clear(original)
                set_update(original, fresh)

    def builtin_base(kind):
        for klass in mro_of(kind):
            if type_(klass) is type_ and klass in builtin_exceptions:
                return klass
        return runtime_error

    def plain_args(exc):
        args = []
        for arg in args_of(exc):
            try:
                args.append(sanitize(arg, {}, {}))
            except base_exception:
                args.append("<" + type_name(type_(arg)) + ">")
        return args

    def fresh_exception(exc, line):
        base = builtin_base(type_(exc))
        args = plain_args(exc)
        try:
            fresh = base(*args)
        except base_exception:
            try:
                fresh = base()
            except base_exception:
                fresh = runtime_error(*args)
        solution_lines[id_(fresh)] = (fresh, line if type_(line) is int_ else None)
        return fresh

    def call_proxy(target):
        def proxy(*args, **kwargs):
            return call(target, args, kwargs)

        registry[id_(proxy)] = (proxy, target)
        return proxy

    def iter_proxy(target):
        def iterate():
            while True:
                try:
                    item = call(next_, (target,), {})
                except stop_iteration:
                    return
                yield item

        generator = iterate()
        registry[id_(generator)] = (generator, target)
        return generator

    def integrity():
        for name, live in watched_modules:
            if sys_modules.get(name) is not live:
                return "sys.modules['" + name + "']"
        for label, namespace, before in watch:
            proxied = type_(namespace) is mappingproxy
            items = list_(mappingproxy_items(namespace) if proxied else dict_items(namespace))
            found = 0
            for key, value in items:
                if type_(key) is not str_:
                    return label
                old = before.get(key, before)
                if old is before and type_(value) is module_type:
                    continue  # a package gains a submodule when anyone imports it
                if old is not value:
                    return label + "." + key
                found += 1
            if found != len_(before):  # something was deleted
                return label
        return None

    # ---- the tests' view of the solution's names ----
    def bind():
        solution = dict_(exact_items(solution_ns))
        helpers = dict_(exact_items(helpers_ns)) if helpers_ns is not None else {}
        shadowing = []
        own = False
        for name in names:
            if name == entry_point or name in tests_ns or name in helpers:
                continue
            if name in pristine_builtins:
                if name in solution:
                    shadowing.append(name)
            elif name in solution:
                own = True
        # A solution's `abs` or `len` never replaces the builtin for the tests -- unless the tests call
        # nothing else of the solution's (MBPP's task 126 is a function named `sum`).
        chosen = [] if own or entry_point else shadowing
        for name in names:
            if name == entry_point:
                if name in solution:
                    tests_ns[name] = boundary(solution[name], name)
            elif name in tests_ns:
                continue
            elif name in helpers:
                tests_ns[name] = helpers[name]
            elif name in pristine_builtins and name not in chosen:
                continue
            elif name in solution:
                tests_ns[name] = boundary(solution[name], name)

    def boundary(value, name):
        if type_(value) is module_type:  # the tests get their own copy of a module of that name
            try:
                return pristine_import(name)
            except base_exception:
                refuse("the tests use the solution's module `" + name + "`")
        return sanitize(value, {}, {})

    # ---- describing failures (after the verdict is settled) ----
    def describe(exc):
        kind = type_(exc)
        base = builtin_base(kind)
        text = type_name(base)
        try:
            args = args_of(exc)
            for arg in args:
                sanitize(arg, {}, {})
            message = base.__str__(exc) if issubclass_(kind, base) else ""
        except base_exception:
            message = ""
        if type_(message) is str_ and message:
            text += ": " + message
        return text

    def failure_message(exc, where):
        entry = solution_lines.get(id_(exc))
        if entry is not None and entry[0] is exc:
            line = entry[1]
            prefix = "solution line " + str_(line) + ": " if line else "solution: "
        else:
            prefix = ""
        tests_line = None
        tb = traceback_of(exc)
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == where:
                tests_line = tb.tb_lineno
            tb = tb.tb_next
        suffix = " (tests line " + str_(tests_line) + ")" if tests_line and where == "<tests>" else ""
        if not prefix and tests_line and where == "<tests>":
            prefix, suffix = "tests line " + str_(tests_line) + ": ", ""
        return (prefix + describe(exc) + suffix)[:2000].replace("\n", " ")

    def run():
        """(kind, message) -- ("PASS", "") only when the solution and every test ran to the end."""
        sys_modules["__main__"] = module
        task = dispatch(exec_, (solution_code, solution_ns), {})
        if task[4] is not None:
            failure = fresh_exception(task[4], task[5])
            disarmed[0] = True
            return "FAIL", failure_message(failure, "<solution>")
        changed = integrity()
        if changed is not None:
            return "HACK", "patched " + changed
        failure = None
        try:
            bind()
            if tests_code is not None:
                exec_(tests_code, tests_ns)
        except base_exception as exc:
            note_hack(exc)
            failure = exc
        if not hack:
            changed = integrity()
            if changed is not None:
                hack.append("patched " + changed)
        if hack:
            return "HACK", hack[0]
        if failure is not None:
            disarmed[0] = True
            return "FAIL", failure_message(failure, "<tests>")
        return "PASS", ""

    def judge(secret):
        arm(getframe(), secret)
        secret = None
        kind, message = run()
        if kind == "PASS":
            audit("rlaif.proof")
            for stream in (stdout, stderr):
                try:
                    stream.flush()
                except base_exception:
                    pass
            exit_(0)
        write(result_fd, (kind + " " + message + "\n").encode("utf-8", "replace"))
        exit_(1)

    return judge


def _prover_start(secret, result_fd, main_frame, write, getframe):
    prover = _prover(secret, result_fd, main_frame, write, getframe)
    next(prover)
    return prover


def _read_payload(fd):
    chunks = []
    while True:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    secret, _, body = b"".join(chunks).partition(b"\n")
    return secret.strip(), body


def _describe_syntax(exc):
    import traceback

    text = traceback.format_exception_only(type(exc), exc)[-1].strip()
    return (f"line {exc.lineno}: " if getattr(exc, "lineno", None) else "") + text


def main():
    import json

    result_fd = int(sys.argv[2])
    secret, body = _read_payload(int(sys.argv[1]))
    spec = json.loads(body.decode("utf-8")) if body.strip() else {}
    sys.argv = [""]
    write = os.write

    def stop(kind, message):
        write(result_fd, (kind + " " + message[:2000].replace("\n", " ") + "\n").encode("utf-8", "replace"))
        os._exit(1)

    try:
        solution_code = compile(spec.get("solution", ""), SOLUTION_FILE, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:
        stop("FAIL", "solution " + _describe_syntax(exc) if isinstance(exc, SyntaxError) else str(exc))
    trusted = []
    for field, filename in (("tests", TESTS_FILE), ("setup", "<setup>"), ("helpers", "<helpers>")):
        text = spec.get(field) or ""
        try:
            trusted.append(compile(text, filename, "exec", dont_inherit=True) if text.strip() else None)
        except (SyntaxError, ValueError) as exc:
            if field == "helpers":  # the prompt alone need not parse; the solution's copy is used instead
                trusted.append(None)
                continue
            stop("ERROR", f"the row's {field} do not compile: {exc}")
    worker_code = compile(WORKER_SOURCE, "<worker>", "exec")
    captured = _capture()
    try:
        judge = _runtime(captured, spec, (solution_code, *trusted, worker_code), result_fd)
    except BaseException as exc:  # the row's own setup failed: not the solution's fault
        stop("ERROR", f"the row's setup failed: {type(exc).__name__}: {exc}")
    del spec, body, trusted
    judge(secret)


main()
