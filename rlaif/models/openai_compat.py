"""Any OpenAI-compatible chat server (OpenAI, vLLM, SGLang, llama.cpp, Ollama, TGI) as a batched chat model.

Why this exists: a policy sampler, critic or judge that lives behind an HTTP endpoint lets rlaif use a model far
bigger than the training machine can hold, or a fast serving engine (vLLM, SGLang) for sampling. The
:class:`~rlaif.protocols.ChatModel` interface is synchronous and batched; this backend fans a batch out as
concurrent async requests and collects the replies in input order.

Robustness is the point, because a long run makes thousands of requests and some *will* fail:

- bounded concurrency (``max_concurrency``) so a batch of 10,000 prompts does not open 10,000 sockets;
- our own retry loop (exponential backoff with jitter; ``Retry-After`` honoured, capped) on 429, 5xx, timeouts,
  dropped connections and malformed responses. The ``openai`` client's own retries are switched off
  (``max_retries=0``) so the two never multiply;
- optional requests-per-minute / tokens-per-minute limits (token buckets), for hosted APIs with quotas;
- a total per-request deadline (``timeout``), enforced with :func:`asyncio.wait_for` as well as the HTTP client's
  timeout, because a server that trickles bytes never trips a read timeout;
- when a request's retry budget is spent, :class:`~rlaif.errors.RlaifError` names the server, the last error and
  the number of tries -- never the API key;
- several servers for one role (``base_url: [url1, url2]``): least-loaded routing, a failing server taken out and
  probed back in, retries moved to a healthy one, usage per server (:mod:`rlaif.models.endpoints`).

The API key is read from an environment variable (``api_key_env``) at construction and kept only inside the
HTTP client. It is never part of ``repr()``, :meth:`usage_stats`, log records we emit, or error text (exception
messages from the server are scrubbed of it, in case a server echoes it back).

Sync from anywhere: the async machinery runs on a private event loop in a daemon thread, so :meth:`generate` works
from plain scripts, from worker threads, and from code that already runs an event loop (Jupyter, an async app).
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import math
import os
import random
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timezone
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from rlaif.errors import RlaifError
from rlaif.models.endpoints import Endpoint, EndpointSet, redact_url, url_list
from rlaif.options import UNSET, option
from rlaif.protocols import Conversation, GenerationParams

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_BASE_URL = "https://api.openai.com/v1"
LOCAL_DUMMY_KEY = "sk-no-key-required"
"""Sent to local servers when no key is configured: the ``openai`` client insists on *some* key."""

TOP_LOGPROBS = 20
"""The most alternatives OpenAI's API returns per position; vLLM, SGLang and llama.cpp accept it too."""

RETRYABLE_STATUS = frozenset({408, 409, 425, 429})
"""Besides every 5xx: request timeout, conflict (OpenAI uses it for transient lock errors), too early, rate limit."""


@dataclass(kw_only=True)
class OpenAIOptions:
    """Options of the openai backend: the arguments of ``OpenAIChatModel`` a config may set."""

    base_url: str | list[str] | None = option(
        UNSET,
        "server URL ending in /v1 (default: $OPENAI_BASE_URL, else https://api.openai.com/v1), or a list of "
        "URLs of servers of the same model: each request goes to the least-loaded one, a failing one is taken "
        "out and probed back in, retries move to a healthy one, usage is counted per server",
        minItems=1,
    )
    api_key_env: str = option(
        "OPENAI_API_KEY",
        "name of the environment variable holding the API key (optional for local servers). "
        "The key itself never goes in a config file.",
    )
    max_concurrency: int = option(8, "requests in flight (per server when base_url lists several)", minimum=1)
    requests_per_minute: float | None = option(
        UNSET, "client-side request rate limit (default: none)", exclusiveMinimum=0
    )
    tokens_per_minute: float | None = option(
        UNSET,
        "client-side token rate limit, counted from a rough estimate (default: none)",
        exclusiveMinimum=0,
    )
    timeout: float = option(120.0, "seconds per request try", exclusiveMinimum=0)
    max_retries: int = option(6, "retries per request", minimum=0)
    backoff_base: float = option(0.5, "first retry delay, seconds", minimum=0)
    backoff_max: float = option(30.0, "longest retry delay, seconds", minimum=0)
    retry_after_max: float = option(
        60.0, "longest wait a server's Retry-After (or retry-after-ms) header may ask for, seconds", minimum=0
    )
    logprobs: Literal["auto", True, False, "true", "false"] = option(
        "auto", "auto: use label log-probs when the server gives them, else judges parse text"
    )
    extra_body: dict[str, Any] = option({}, "extra JSON fields sent with every request (e.g. top_k)")
    endpoint_cooldown: float = option(
        5.0,
        "with several base_url servers: seconds a server that failed (connection error, timeout, 5xx) stays out "
        "before it is probed (GET /models); doubles while it keeps failing, up to endpoint_cooldown_max",
        exclusiveMinimum=0,
    )
    endpoint_cooldown_max: float = option(
        60.0, "the longest cool-down of a failing server, seconds", exclusiveMinimum=0
    )


# --------------------------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------------------------
def is_local_url(url: str) -> bool:
    """True for loopback hosts: there a missing API key is normal (llama.cpp, vLLM without --api-key)."""
    host = (urlsplit(url).hostname or "").lower()
    return (
        host in {"localhost", "127.0.0.1", "::1", "0.0.0.0"}
        or host.startswith("127.")
        or host.endswith(".local")
    )


def parse_retry_after(value: str | None, now: float | None = None, cap: float = 60.0) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date; capped; None if unusable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = when.timestamp() - (time.time() if now is None else now)
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), cap)


def _logsumexp(values: Sequence[float]) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(value - top) for value in values))


def map_label_logprobs(top_logprobs: Sequence[tuple[str, float]], labels: Sequence[str]) -> dict[str, float]:
    """Label -> log-prob from the first generated position's top alternatives.

    Tokens are compared after stripping whitespace, so ``"A"`` and ``" A"`` both count for label ``A`` (their
    probabilities are added: either spelling starts the same answer). A label missing from the list gets a
    *floor*: half of the smallest probability we can bound it by -- the least likely listed token (the list is the
    top-k, so an absent token is less likely than all of them) or the probability mass left unlisted, whichever is
    smaller -- i.e. ``min(min_listed, log(1 - sum(listed))) - log(2)``. A finite floor keeps the ranking right
    (an absent label is always below every listed one) without a ``-inf`` that would make a judge's softmax
    certain of the other label.
    """
    wanted = {label.strip(): label for label in labels}
    found: dict[str, list[float]] = {}
    listed: list[float] = []
    for token, logprob in top_logprobs:
        if logprob is None or not math.isfinite(logprob):
            continue
        listed.append(logprob)
        key = token.strip()
        if key in wanted:
            found.setdefault(wanted[key], []).append(logprob)
    remaining = 1.0 - sum(math.exp(value) for value in listed)
    bound = min(listed) if listed else 0.0
    if remaining > 0:
        bound = min(bound, math.log(remaining))
    elif listed:
        bound = min(listed)
    floor = bound - math.log(2.0)
    return {label: (_logsumexp(found[label]) if label in found else floor) for label in labels}


class _TokenBucket:
    """A token bucket refilled continuously at ``per_minute / 60`` per second, holding one second's worth.

    One second of burst, not a minute's: a full minute's quota sent at once is what trips servers that measure
    over shorter windows. A request larger than the bucket waits for a full bucket and may drive it negative
    (it is still sent; the debt delays the next ones). Used from the private event loop only.
    """

    def __init__(self, per_minute: float, clock: Callable[[], float] = time.monotonic):
        self.rate = float(per_minute) / 60.0
        self.capacity = max(1.0, self.rate)
        self.level = self.capacity
        self.clock = clock
        self.updated = clock()
        self.lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self.clock()
        self.level = min(self.capacity, self.level + (now - self.updated) * self.rate)
        self.updated = now

    async def acquire(self, amount: float) -> float:
        """Wait until ``amount`` is available (at most a full bucket) and take it; returns seconds waited."""
        need = min(float(amount), self.capacity)
        waited = 0.0
        async with self.lock:  # first come, first served
            while True:
                self._refill()
                if self.level >= need:
                    self.level -= float(amount)
                    return waited
                delay = (need - self.level) / self.rate
                waited += delay
                await asyncio.sleep(delay)

    def adjust(self, amount: float) -> None:
        """Correct an estimate after the fact (positive: used more than reserved)."""
        self._refill()
        self.level -= amount


class _LoopThread:
    """A private asyncio loop in a daemon thread: sync callers submit coroutines and block on the result."""

    def __init__(self, name: str):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coroutine: Awaitable[T]) -> T:
        if threading.current_thread() is self.thread:
            raise RuntimeError(
                "OpenAIChatModel's sync methods cannot be called from its own event loop thread"
            )
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)  # type: ignore[arg-type]
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    def stop(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        if threading.current_thread() is not self.thread:
            self.thread.join(timeout=5)
        if not self.thread.is_alive():
            self.loop.close()


class _Secret:
    """Holds the API key so that ``vars(model)``, debuggers and accidental dumps show ``***``, not the key."""

    __slots__ = ("value",)

    def __init__(self, value: str):
        self.value = value

    def __repr__(self) -> str:
        return "***"

    __str__ = __repr__


class RequestFailed(RlaifError):
    """A request that did not succeed; ``status`` is the last HTTP status (None for timeouts, dropped connections)."""

    def __init__(self, message: str, status: int | None, tries: int, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.status = status
        self.tries = tries


class _Failure(Exception):
    """One failed try, classified: ``kind`` is a usage-stats counter name, ``retryable`` says whether to try again."""

    def __init__(
        self, kind: str, detail: str, retryable: bool, status: int | None = None, wait: float | None = None
    ):
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.retryable = retryable
        self.status = status
        self.wait = wait


class _LogprobsUnsupported(Exception):
    """The server answered, but not with usable log-probs (error naming logprobs, or missing/malformed field)."""


# --------------------------------------------------------------------------------------------------------------
# the backend
# --------------------------------------------------------------------------------------------------------------
class OpenAIChatModel:
    """A chat model served over the OpenAI chat-completions API. See the module docstring for the why."""

    def __init__(
        self,
        model: str,
        *,
        base_url: str | Sequence[str] | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        max_concurrency: int = 8,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        timeout: float = 120.0,
        max_retries: int = 6,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        retry_after_max: float = 60.0,
        logprobs: str | bool = "auto",
        extra_body: dict[str, Any] | None = None,
        name: str | None = None,
        endpoint_cooldown: float = 5.0,
        endpoint_cooldown_max: float = 60.0,
    ):
        if not model:
            raise RlaifError(
                "openai model spec needs a model name: 'openai:<model>', e.g. 'openai:gpt-4o-mini'"
            )
        self.model = model
        self.name = name or f"openai:{model}"
        urls = url_list(base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL)
        self.base_urls = [redact_url(url) for url in urls]
        self.base_url = ", ".join(self.base_urls)
        self.api_key_env = api_key_env
        key = os.environ.get(api_key_env) or None
        if key is None:
            if not all(is_local_url(url) for url in urls):
                raise RlaifError(
                    f"model '{self.name}' at {self.base_url} needs an API key, and environment variable "
                    f"{api_key_env} is not set",
                    hint=f"Export {api_key_env}=... (or set the model option api_key_env to the variable that holds "
                    "the key). Keys are never read from config files.",
                )
            key = LOCAL_DUMMY_KEY
        self._api_key = _Secret(key)
        self._secrets = (self._api_key,) if key != LOCAL_DUMMY_KEY else ()
        self.max_concurrency = max(1, int(max_concurrency))
        self._endpoints = EndpointSet(
            urls, self.max_concurrency, cooldown=endpoint_cooldown, cooldown_max=endpoint_cooldown_max
        )
        self.requests_per_minute = requests_per_minute
        self.tokens_per_minute = tokens_per_minute
        self.timeout = float(timeout)
        self.max_retries = max(0, int(max_retries))
        self.backoff_base = float(backoff_base)
        self.backoff_max = float(backoff_max)
        self.retry_after_max = float(retry_after_max)
        mode = str(logprobs).lower()
        if mode not in {"auto", "true", "false"}:
            raise RlaifError(
                f"model '{self.name}': option logprobs must be auto, true or false, not {logprobs!r}"
            )
        self.logprobs_mode = mode
        self.extra_body = dict(extra_body or {})
        self._logprobs_supported: bool | None = None if mode == "auto" else mode == "true"
        self._warned_logprobs = False
        self._random = random.Random()
        self._stats_lock = threading.Lock()
        self._stats: dict[str, int] = dict.fromkeys(
            (
                "requests",
                "retries",
                "failures",
                "prompt_tokens",
                "completion_tokens",
                "rate_limited",
                "server_errors",
                "timeouts",
                "connection_errors",
                "malformed",
                "client_errors",
            ),
            0,
        )
        self._runner: _LoopThread | None = None
        self._client: Any = None
        self._slot_freed: asyncio.Event | None = None
        self._probes: set[asyncio.Task] = set()
        self._request_bucket: _TokenBucket | None = None
        self._token_bucket: _TokenBucket | None = None
        self._runner_lock = threading.Lock()

    # -- presentation: never the key -----------------------------------------------------------------------------
    def __repr__(self) -> str:
        return (
            f"OpenAIChatModel(name={self.name!r}, base_url={self.base_url!r}, api_key_env={self.api_key_env!r}, "
            f"max_concurrency={self.max_concurrency})"
        )

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError("OpenAIChatModel is not picklable (it holds a live HTTP client and an API key)")

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret.value, "***")
        return text

    def describe(self) -> dict[str, Any]:
        """Settings safe to record in a run manifest (no key: only the *name* of its environment variable)."""
        return {
            "name": self.name,
            "model": self.model,
            "base_url": self.base_urls[0] if len(self.base_urls) == 1 else list(self.base_urls),
            "api_key_env": self.api_key_env,
            "max_concurrency": self.max_concurrency,
            "requests_per_minute": self.requests_per_minute,
            "tokens_per_minute": self.tokens_per_minute,
            "timeout": self.timeout,
            "max_retries": self.max_retries,
            "logprobs": self.logprobs_mode,
        }

    # -- lifecycle -------------------------------------------------------------------------------------------------
    def _run(self, coroutine_factory: Callable[[], Awaitable[T]]) -> T:
        with self._runner_lock:
            if self._runner is None:
                self._runner = _LoopThread(f"rlaif-openai-{self.model}")
                weakref.finalize(self, self._runner.stop)
            runner = self._runner
        return runner.run(coroutine_factory())

    async def _ensure_client(self) -> Any:
        if self._client is None:
            import openai

            for endpoint in self._endpoints.endpoints:
                endpoint.client = openai.AsyncOpenAI(
                    api_key=self._api_key.value, base_url=endpoint.url, max_retries=0, timeout=self.timeout
                )
            self._client = self._endpoints.endpoints[0].client
            self._slot_freed = asyncio.Event()
            if self.requests_per_minute:
                self._request_bucket = _TokenBucket(self.requests_per_minute)
            if self.tokens_per_minute:
                self._token_bucket = _TokenBucket(self.tokens_per_minute)
        return self._client

    def close(self) -> None:
        """Close the HTTP client and stop the private loop (also done automatically when garbage-collected)."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        self._client = None
        clients = [endpoint.client for endpoint in self._endpoints.endpoints if endpoint.client is not None]
        for endpoint in self._endpoints.endpoints:
            endpoint.client = None
        for client in clients:
            if runner.loop.is_closed():
                break
            try:
                asyncio.run_coroutine_threadsafe(client.close(), runner.loop).result(timeout=5)
            except Exception:  # closing is best effort
                pass
        runner.stop()

    def __enter__(self) -> OpenAIChatModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- accounting ------------------------------------------------------------------------------------------------
    def usage_stats(self) -> dict[str, int]:
        """Counters since construction; the engine snapshots them per stage for the manifest.

        ``requests`` counts HTTP tries sent (retries included), ``retries`` the re-sends, ``failures`` requests
        given up on. ``rate_limited`` / ``server_errors`` / ``timeouts`` / ``connection_errors`` / ``malformed``
        break the failed tries down. Token counts are what the server reported in ``usage``. With several
        servers, ``endpoints`` maps each (redacted) URL to its own counters: tries sent, errors by kind, times
        taken out of service, probes, tokens and seconds (see :class:`~rlaif.models.endpoints.EndpointSet`).
        """
        with self._stats_lock:
            stats: dict[str, Any] = dict(self._stats)
            if len(self._endpoints) > 1:
                stats["endpoints"] = self._endpoints.stats()
            return stats

    def _count(self, **deltas: int) -> None:
        with self._stats_lock:
            for key, value in deltas.items():
                self._stats[key] = self._stats.get(key, 0) + value

    # -- one request, with retries ------------------------------------------------------------------------------
    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with "equal jitter": half fixed, half random, so clients don't retry in lockstep."""
        ceiling = min(self.backoff_max, self.backoff_base * (2**attempt))
        return ceiling / 2 + self._random.uniform(0, ceiling / 2)

    def _classify(self, exc: BaseException) -> _Failure:
        import openai

        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            detail = f"HTTP {status}: {self._scrub(str(getattr(exc, 'message', exc)))[:300]}"
            if status == 429:
                headers = exc.response.headers
                wait = None
                if headers.get("retry-after-ms"):
                    try:
                        wait = min(float(headers["retry-after-ms"]) / 1000.0, self.retry_after_max)
                    except ValueError:
                        wait = None
                if wait is None:
                    wait = parse_retry_after(headers.get("retry-after"), cap=self.retry_after_max)
                return _Failure("rate_limited", detail, True, status, wait)
            if status >= 500 or status in RETRYABLE_STATUS:
                wait = parse_retry_after(exc.response.headers.get("retry-after"), cap=self.retry_after_max)
                return _Failure("server_errors", detail, True, status, wait)
            return _Failure("client_errors", detail, False, status)
        if isinstance(exc, (asyncio.TimeoutError, openai.APITimeoutError)):
            return _Failure("timeouts", f"no complete response within {self.timeout:g}s", True)
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__ or exc
            return _Failure("connection_errors", f"connection failed: {self._scrub(str(cause))[:200]}", True)
        if isinstance(exc, (ValueError, TypeError, KeyError, IndexError, AttributeError, openai.APIError)):
            # JSONDecodeError and pydantic's ValidationError are ValueErrors; the rest come from our field checks.
            return _Failure("malformed", f"malformed response: {self._scrub(str(exc))[:200]}", True)
        raise exc

    async def _acquire(self) -> Endpoint:
        """A slot on the least-loaded endpoint in service; waits while all are full. Starts due probes.

        No wake-up is lost: everything runs on the one event loop, and nothing awaits between finding no slot
        and clearing the event, so a release (which sets it) cannot fall in between.
        """
        assert self._slot_freed is not None
        while True:
            self._start_probes()
            with self._stats_lock:
                endpoint = self._endpoints.choose()
            if endpoint is not None:
                return endpoint
            self._slot_freed.clear()
            try:
                await asyncio.wait_for(self._slot_freed.wait(), timeout=self._endpoints.next_change())
            except asyncio.TimeoutError:
                pass

    def _release(self, endpoint: Endpoint) -> None:
        """Free the slot (synchronously: it must happen even while the request is being cancelled)."""
        self._endpoints.release(endpoint)
        if self._slot_freed is not None:
            self._slot_freed.set()

    def _start_probes(self) -> None:
        for endpoint in self._endpoints.due_for_probe():
            task = asyncio.ensure_future(self._probe(endpoint))
            self._probes.add(task)
            task.add_done_callback(self._probes.discard)

    async def _probe(self, endpoint: Endpoint) -> None:
        """``GET /models`` on an endpoint out of service: any answer but a 5xx means it is back."""
        import openai

        try:
            await asyncio.wait_for(
                endpoint.client.models.list(timeout=min(self.timeout, 10.0)),
                timeout=min(self.timeout, 10.0) + 1,
            )
            alive = True
        except openai.APIStatusError as exc:
            alive = exc.status_code < 500
        except asyncio.CancelledError:
            raise
        except Exception:  # refused, reset, timed out: still down
            alive = False
        logger.info(
            "%s: probe of %s: %s", self.name, endpoint.shown, "back in service" if alive else "still down"
        )
        with self._stats_lock:
            self._endpoints.probed(endpoint, alive)
        if self._slot_freed is not None:
            self._slot_freed.set()

    async def _request(self, body: dict[str, Any], parse: Callable[[Any], T], estimate: int) -> T:
        """Send one chat-completion request until it succeeds, fails for good, or the retry budget is spent.

        Each try goes to the least-loaded endpoint in service; a try that fails because of its server takes that
        server out, and the retry goes at once to another one (or, with none left, waits out the backoff).
        """
        await self._ensure_client()
        tries = 0
        last: _Failure | None = None
        while True:
            tries += 1
            endpoint = await self._acquire()
            started = time.monotonic()
            try:
                # Limits are taken inside the slot, right before sending, so what they pace is actual sends
                # (and the token debt of replies that already came back), not requests queued for a slot.
                if self._request_bucket is not None:
                    await self._request_bucket.acquire(1)
                if self._token_bucket is not None:
                    await self._token_bucket.acquire(estimate)
                self._count(requests=1)
                started = time.monotonic()
                try:
                    response = await asyncio.wait_for(
                        endpoint.client.chat.completions.create(**body, timeout=self.timeout),
                        timeout=self.timeout + 1.0,
                    )
                    usage = getattr(response, "usage", None)
                    prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
                    completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
                    result = parse(response)
                except _LogprobsUnsupported:
                    raise
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # classified below; anything unexpected propagates from _classify
                    last = self._classify(exc)
                else:
                    self._count(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
                    with self._stats_lock:
                        self._endpoints.succeeded(
                            endpoint, prompt_tokens, completion_tokens, time.monotonic() - started
                        )
                    if self._token_bucket is not None and (prompt_tokens or completion_tokens):
                        self._token_bucket.adjust(prompt_tokens + completion_tokens - estimate)
                    return result
            finally:
                self._release(endpoint)
            self._count(**{last.kind: 1})
            with self._stats_lock:
                taken_out = self._endpoints.failed(endpoint, last.kind, time.monotonic() - started)
            if taken_out:
                logger.warning(
                    "%s: %s taken out of service (%s); %d of %d servers left",
                    self.name,
                    endpoint.shown,
                    last.detail,
                    sum(self._endpoints.in_service().values()),
                    len(self._endpoints),
                )
            if not last.retryable or tries > self.max_retries:
                self._count(failures=1)
                raise self._give_up(last, tries, endpoint.shown)
            if endpoint.out and self._endpoints.any_healthy():
                delay = 0.0  # its server is out: move the retry to a healthy one now
            else:
                delay = last.wait if last.wait is not None else self._backoff(tries - 1)
            logger.info(
                "%s: try %d at %s failed (%s); retrying in %.2fs",
                self.name,
                tries,
                endpoint.shown,
                last.detail,
                delay,
            )
            self._count(retries=1)
            await asyncio.sleep(delay)

    def _give_up(self, failure: _Failure, tries: int, where: str | None = None) -> RequestFailed:
        where = where or self.base_urls[0]
        if len(self.base_urls) > 1:
            where = f"{where} (one of {len(self.base_urls)} servers: {self.base_url})"
        if not failure.retryable:
            hint = {
                401: f"The server rejected the API key: check that {self.api_key_env} holds a valid key for it.",
                403: f"The key in {self.api_key_env} is not allowed to use model '{self.model}'.",
                404: f"No model '{self.model}' (or no chat API) at {where}: check the model name and that "
                "base_url ends in /v1.",
            }.get(failure.status or 0, "The server refused the request; it will not succeed on retry.")
            return RequestFailed(
                f"model '{self.name}' at {where}: request failed ({failure.detail})",
                failure.status,
                tries,
                hint=hint,
            )
        return RequestFailed(
            f"model '{self.name}' at {where}: request failed after {tries} tries; last error: {failure.detail}",
            failure.status,
            tries,
            hint="Check that the server is up and reachable, or raise the model options max_retries / timeout. "
            "Records finished before this request were saved; rerun to resume.",
        )

    async def _gather(self, coroutines: Sequence[Awaitable[T]]) -> list[T]:
        """All results in order; on the first failure cancel the rest and raise it (no orphaned requests)."""
        tasks = [asyncio.ensure_future(coroutine) for coroutine in coroutines]
        if not tasks:
            return []
        try:
            done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        except (
            asyncio.CancelledError
        ):  # the sync caller gave up (Ctrl-C): stop every request, not just the wait
            for task in tasks:
                task.cancel()
            raise
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        return [task.result() for task in tasks]

    # -- ChatModel -----------------------------------------------------------------------------------------------
    def generate(
        self,
        conversations: Sequence[Conversation],
        params: GenerationParams,
        seeds: Sequence[int] | None = None,
    ) -> list[str]:
        """One reply per conversation, in order. ``seeds`` go to the server per request (``seed``).

        Servers that implement ``seed`` (vLLM, SGLang, llama.cpp, OpenAI best-effort) then sample reproducibly
        per prompt, whatever else is in flight.
        """
        if seeds is not None and len(seeds) != len(conversations):
            raise ValueError("seeds must have one entry per conversation")
        conversations = list(conversations)

        async def run() -> list[str]:
            jobs = [
                self._request(
                    self._generation_body(conversation, params, None if seeds is None else int(seeds[index])),
                    _parse_text,
                    _estimate_tokens(conversation) + params.max_new_tokens,
                )
                for index, conversation in enumerate(conversations)
            ]
            return await self._gather(jobs)

        return self._run(run)

    def _generation_body(
        self, conversation: Conversation, params: GenerationParams, seed: int | None
    ) -> dict:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [dict(message) for message in conversation],
            "max_tokens": params.max_new_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
        }
        if params.stop:
            body["stop"] = list(params.stop)
        if seed is not None:
            body["seed"] = seed
        if self.extra_body:
            body["extra_body"] = dict(self.extra_body)
        return body

    def label_logprobs(
        self, conversations: Sequence[Conversation], labels: Sequence[str]
    ) -> list[dict[str, float] | None]:
        """Label log-probs from the first reply token's top-20 alternatives (see :func:`map_label_logprobs`).

        One ``max_tokens=1, temperature=0, logprobs=True, top_logprobs=20`` request per conversation. When the
        server cannot give log-probs (an error naming them, or a reply without a usable ``logprobs`` field) the
        result is ``None`` -- judges then parse generated text instead -- and a warning is logged once. With the
        option ``logprobs: false`` no request is made; with ``logprobs: true`` a server without them is an error.
        """
        conversations = list(conversations)
        if self._logprobs_supported is False:
            return [None] * len(conversations)
        labels = list(labels)

        async def one(conversation: Conversation) -> dict[str, float] | None:
            body = {
                "model": self.model,
                "messages": [dict(message) for message in conversation],
                "max_tokens": 1,
                "temperature": 0.0,
                "logprobs": True,
                "top_logprobs": TOP_LOGPROBS,
            }
            if self.extra_body:
                body["extra_body"] = dict(self.extra_body)
            if self._logprobs_supported is False:
                return None
            try:
                top = await self._request(body, _parse_top_logprobs, _estimate_tokens(conversation) + 1)
            except _LogprobsUnsupported as exc:
                self._logprobs_unavailable(str(exc), remember=True)
                return None
            except RequestFailed as exc:
                # A 400/422 on a log-prob request usually means "this server/model has no logprobs".
                if self.logprobs_mode == "auto" and exc.status in (400, 422):
                    self._logprobs_unavailable(exc.message, remember="logprob" in exc.message.lower())
                    return None
                raise
            return map_label_logprobs(top, labels)

        return self._run(lambda: self._gather([one(conversation) for conversation in conversations]))

    def _logprobs_unavailable(self, reason: str, remember: bool) -> None:
        if self.logprobs_mode == "true":
            raise RlaifError(
                f"model '{self.name}' at {self.base_url} did not return log-probs ({reason})",
                hint="Set the model option logprobs: auto to let judges fall back to parsing text.",
            )
        if remember:
            self._logprobs_supported = False
        if not self._warned_logprobs:
            self._warned_logprobs = True
            logger.warning(
                "%s at %s gives no usable log-probs (%s); judges will parse generated text instead",
                self.name,
                self.base_url,
                self._scrub(reason)[:200],
            )


def _estimate_tokens(conversation: Conversation) -> int:
    """A rough token count (4 characters a token) to reserve tokens-per-minute budget before the server counts."""
    return sum(len(str(message.get("content", ""))) for message in conversation) // 4 + 4 * len(conversation)


def _parse_text(response: Any) -> str:
    """The first choice's text; a response without choices/message is malformed (raises, so it is retried)."""
    choices = response.choices
    if not choices:
        raise ValueError("no choices in response")
    message = choices[0].message
    if message is None:
        raise ValueError("no message in first choice")
    content = message.content
    if content is not None and not isinstance(content, str):
        raise TypeError(f"message content is {type(content).__name__}, not text")
    return (content or "").strip()


def _parse_top_logprobs(response: Any) -> list[tuple[str, float]]:
    """``[(token, logprob), ...]`` for the first reply position; raises _LogprobsUnsupported if absent."""
    choices = response.choices
    if not choices:
        raise ValueError("no choices in response")
    logprobs = getattr(choices[0], "logprobs", None)
    content = getattr(logprobs, "content", None) if logprobs is not None else None
    if not content:
        raise _LogprobsUnsupported("response has no logprobs.content")
    first = content[0]
    pairs: list[tuple[str, float]] = []
    for item in getattr(first, "top_logprobs", None) or []:
        token, logprob = getattr(item, "token", None), getattr(item, "logprob", None)
        if isinstance(token, str) and isinstance(logprob, (int, float)):
            pairs.append((token, float(logprob)))
    if not pairs:
        token, logprob = getattr(first, "token", None), getattr(first, "logprob", None)
        if not (isinstance(token, str) and isinstance(logprob, (int, float))):
            raise _LogprobsUnsupported("response logprobs have no tokens")
        pairs.append((token, float(logprob)))
    return pairs


def openai_factory(spec: str, options: dict[str, Any]) -> OpenAIChatModel:
    """Any OpenAI-compatible chat server (OpenAI, vLLM, SGLang, llama.cpp, Ollama, TGI): openai:<model>."""
    return OpenAIChatModel(spec, **options)


__all__ = [
    "OpenAIChatModel",
    "OpenAIOptions",
    "RequestFailed",
    "map_label_logprobs",
    "openai_factory",
    "parse_retry_after",
]
