"""A real OpenAI-compatible server for tests: llama.cpp's server (via xllamacpp) on the embedded SmolLM2 GGUF.

Why a real server and not a mock: the point of the ``openai`` backend is talking to servers we did not write --
their JSON shapes, their log-prob format, their behaviour under parallel load. xllamacpp embeds llama.cpp's own
HTTP server (the same code as ``llama-server``; started by :class:`rlaif.models.llamacpp.LlamaCppServer`), loads the 135M Q4 model in about a second on CPU, and needs no
network. ``xllamacpp.Server(params)`` starts the HTTP listener itself; ``port = 0`` picks a free port and
``listening_address`` reports it. Dropping the last reference stops it (its destructor joins the main loop).

Also here: :class:`FaultProxy`, an HTTP proxy between rlaif and the real server that injects failures
(429 with Retry-After, 500, hangs, dropped connections, malformed JSON, 401 echoing the key) on a deterministic
schedule, and records what actually went through, so tests can count tries and check results line up.
"""

from __future__ import annotations

import gc
import itertools
import json
import threading
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from rlaif.models.llamacpp import LlamaCppServer, resolve_gguf

PARALLEL_SLOTS = 8


def start_llamacpp_server(
    gguf: Path | None = None, parallel: int = PARALLEL_SLOTS, n_ctx: int = 8192, threads: int = 1
) -> LlamaCppServer:
    """llama.cpp's HTTP server in-process on 127.0.0.1, a free port (rlaif's own LlamaCppServer, 1 thread)."""
    return LlamaCppServer(gguf or resolve_gguf("embedded"), parallel=parallel, n_ctx=n_ctx, threads=threads)


_SERVE = """
import sys, time
from rlaif.models.llamacpp import LlamaCppServer, resolve_gguf
server = LlamaCppServer(resolve_gguf("embedded"), parallel=int(sys.argv[1]), n_ctx=int(sys.argv[2]), threads=1)
print(server.base_url, flush=True)
while True:
    time.sleep(3600)
"""


class LlamaCppProcess:
    """llama.cpp's server in a child process, so a test can kill it for real (SIGKILL: no goodbye, sockets reset)."""

    def __init__(self, parallel: int = 4, n_ctx: int = 4096):
        import os
        import subprocess
        import sys

        root = str(Path(__file__).resolve().parent.parent)
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
        }
        self.process = subprocess.Popen(
            [sys.executable, "-c", _SERVE, str(parallel), str(n_ctx)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=root,
            env=env,
        )
        line = self.process.stdout.readline().strip() if self.process.stdout else ""
        if not line.startswith("http"):
            self.kill()
            raise RuntimeError(f"llama.cpp server process did not start (said {line!r})")
        self.base_url = line

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)


@pytest.fixture
def llamacpp_processes() -> Iterator[Any]:
    """``llamacpp_processes(n) -> [LlamaCppProcess]``: n servers of the embedded GGUF, each in its own process."""
    started: list[LlamaCppProcess] = []

    def make(n: int, **options: Any) -> list[LlamaCppProcess]:
        for _ in range(n):
            started.append(LlamaCppProcess(**options))
        return started[-n:]

    yield make
    for process in started:
        process.kill()


@pytest.fixture(scope="session")
def llamacpp_server() -> Iterator[LlamaCppServer]:
    """One llama.cpp server for the whole session (8 slots, unified 8k KV cache), stopped at the end."""
    server = start_llamacpp_server()
    try:
        yield server
    finally:
        server.close()
        del server
        gc.collect()


# --------------------------------------------------------------------------------------------------------------
# fault injection
# --------------------------------------------------------------------------------------------------------------
class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timeout, cancelled batch) breaks the pipe; that is expected here."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


FAULTS = (
    "ok",
    "429",
    "500",
    "hang",
    "drop",
    "malformed",
    "401",
    "400-logprobs",
    "no-logprobs",
    "canned",
    "no-choices",
)

CANNED = {
    "id": "chatcmpl-canned",
    "object": "chat.completion",
    "created": 0,
    "model": "canned",
    "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "canned"}}],
    "usage": {"prompt_tokens": 30, "completion_tokens": 1, "total_tokens": 31},
}


class FaultProxy:
    """A threaded HTTP proxy that fails requests on a schedule and forwards the rest to ``upstream``.

    ``schedule`` is cycled over incoming requests in arrival order: the n-th request gets
    ``schedule[n % len(schedule)]``. With ``per_prompt=True`` each prompt (last user message) walks the schedule
    on its own instead, starting at an offset fixed by the prompt's CRC32: its k-th try gets
    ``schedule[(offset + k) % len(schedule)]`` -- the same faults however requests interleave, so a test can
    predict exactly how many retries a batch needs. Faults:

    - ``429``: Too Many Requests with ``Retry-After: <retry_after>``;
    - ``500``: an internal server error with a JSON error body;
    - ``hang``: reads the request, then sends nothing for ``hang_seconds`` (past the client's timeout) and closes;
    - ``drop``: closes the connection without a response;
    - ``malformed``: 200 with ``application/json`` that is not JSON;
    - ``no-choices``: 200 with valid JSON but an empty ``choices`` list;
    - ``401``: an auth error whose body echoes the Authorization header (a worst-case server leaking the key);
    - ``400-logprobs``: a 400 saying log-probs are unsupported (what OpenAI says for reasoning models);
    - ``no-logprobs``: forwards, then deletes ``logprobs`` from the reply (servers that ignore the parameter);
    - ``canned``: answers at once with :data:`CANNED` (31 tokens of usage) -- for tests of pacing, not models.

    ``log`` records ``(fault, last user message)`` per request; ``answers`` maps the last user message of every
    forwarded request to the content the real server answered, so tests can check results are aligned.
    ``max_in_flight`` is the most requests the proxy was handling at once: a request counts from its arrival until
    its reply starts to go out (counting to the end of the write would race the client, which may send its next
    request as soon as it has read the reply, before this thread has finished).
    """

    def __init__(
        self,
        upstream: str,
        schedule: Sequence[str] = ("ok",),
        hang_seconds: float = 3.0,
        retry_after: str = "0",
        per_prompt: bool = False,
    ):
        unknown = set(schedule) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown faults {unknown}")
        self.upstream = upstream.rstrip("/")
        self.schedule = list(schedule)
        self.hang_seconds = hang_seconds
        self.retry_after = retry_after
        self.per_prompt = per_prompt
        self._tries: dict[str, int] = {}
        self.log: list[tuple[str, str]] = []
        self.arrivals: list[float] = []  # time.monotonic() of each POST, in log order
        self.answers: dict[str, list[str]] = {}
        self._counter = itertools.count()
        self._lock = threading.Lock()
        self._release = threading.Event()
        self.in_flight = 0
        self.max_in_flight = 0
        self._counted = threading.local()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # one request per connection: simple and robust

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                proxy._forward(self, None)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                proxy._handle(self, body)

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, name="fault-proxy", daemon=True
        )
        self.thread.start()

    def offset(self, key: str) -> int:
        """Where prompt ``key`` starts in the schedule (per_prompt mode)."""
        return zlib.crc32(key.encode()) % len(self.schedule)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def set_schedule(self, schedule: Sequence[str]) -> None:
        """Switch faults mid-test (e.g. the server "goes down for good" after some work is saved)."""
        with self._lock:
            self.schedule = list(schedule)

    def counts(self) -> dict[str, int]:
        with self._lock:
            result: dict[str, int] = {}
            for fault, _ in self.log:
                result[fault] = result.get(fault, 0) + 1
            return result

    def close(self) -> None:
        self._release.set()  # wake hung handlers
        self.server.shutdown()
        self.server.server_close()

    # -- handling ----------------------------------------------------------------------------------------------
    def _handle(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        try:
            messages = json.loads(body or b"{}").get("messages") or [{}]
            key = str(messages[-1].get("content", ""))
        except (ValueError, AttributeError):
            key = ""
        with self._lock:
            if self.per_prompt:
                tries = self._tries.get(key, 0)
                self._tries[key] = tries + 1
                fault = self.schedule[(self.offset(key) + tries) % len(self.schedule)]
            else:
                fault = self.schedule[next(self._counter) % len(self.schedule)]
            self.log.append((fault, key))
            self.arrivals.append(time.monotonic())
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self._counted.active = True
        try:
            self._inject(handler, body, key, fault)
        finally:
            self._answering()

    def _answering(self) -> None:
        """This thread's request stops counting as in flight (once): its reply is about to be written."""
        if getattr(self._counted, "active", False):
            self._counted.active = False
            with self._lock:
                self.in_flight -= 1

    def _inject(self, handler: BaseHTTPRequestHandler, body: bytes, key: str, fault: str) -> None:
        if fault == "ok":
            self._forward(handler, body, key)
        elif fault == "no-logprobs":
            self._forward(handler, body, key, strip_logprobs=True)
        elif fault == "no-choices":
            self._reply(handler, 200, {**CANNED, "choices": []})
        elif fault == "canned":
            self._reply(handler, 200, CANNED)
        elif fault == "400-logprobs":
            message = "logprobs are not supported with this model"
            self._reply(handler, 400, {"error": {"message": message, "type": "invalid_request_error"}})
        elif fault == "429":
            self._reply(
                handler, 429, {"error": {"message": "slow down", "type": "rate_limit"}}, self.retry_after
            )
        elif fault == "500":
            self._reply(handler, 500, {"error": {"message": "injected failure", "type": "server_error"}})
        elif fault == "401":
            echoed = handler.headers.get("Authorization", "")
            self._reply(handler, 401, {"error": {"message": f"invalid key in '{echoed}'", "type": "auth"}})
        elif fault == "hang":
            self._release.wait(self.hang_seconds)
            handler.close_connection = True
        elif fault == "drop":
            handler.close_connection = True
        elif fault == "malformed":
            raw = b'{"choices": [{"message": {"content": "trunc'
            self._answering()
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(raw)))
            handler.end_headers()
            handler.wfile.write(raw)

    def _reply(
        self, handler: BaseHTTPRequestHandler, status: int, payload: Any, retry_after: str | None = None
    ):
        raw = json.dumps(payload).encode()
        self._answering()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(raw)))
        if retry_after is not None:
            handler.send_header("Retry-After", retry_after)
        handler.end_headers()
        handler.wfile.write(raw)

    def _forward(
        self,
        handler: BaseHTTPRequestHandler,
        body: bytes | None,
        key: str | None = None,
        strip_logprobs: bool = False,
    ) -> None:
        request = urllib.request.Request(
            self.upstream + handler.path,
            data=body,
            method=handler.command,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        if key is not None and status == 200:
            try:
                content = json.loads(raw)["choices"][0]["message"]["content"]
            except (ValueError, KeyError, IndexError, TypeError):
                content = None
            if content is not None:
                with self._lock:
                    self.answers.setdefault(key, []).append(content.strip())
            if strip_logprobs:
                payload = json.loads(raw)
                for choice in payload.get("choices", []):
                    choice.pop("logprobs", None)
                raw = json.dumps(payload).encode()
        self._answering()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(raw)))
        handler.end_headers()
        handler.wfile.write(raw)


@pytest.fixture
def fault_proxy(llamacpp_server: LlamaCppServer) -> Iterator[Any]:
    """``fault_proxy(schedule, **options) -> FaultProxy`` in front of the session's llama.cpp server."""
    proxies: list[FaultProxy] = []

    def make(schedule: Sequence[str] = ("ok",), **options: Any) -> FaultProxy:
        proxy = FaultProxy(llamacpp_server.url, schedule, **options)
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        proxy.close()
