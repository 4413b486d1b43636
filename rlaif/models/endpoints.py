"""Several servers for one role: which endpoint gets the next request, and which are out of service.

Why: one role (a critic, a judge, a policy sampler) can be served by several copies of a model -- two vLLM or
llama.cpp servers, on one machine or several -- to generate faster or to survive one going down. The openai
backend (:mod:`rlaif.models.openai_compat`) sends every request through an :class:`EndpointSet`:

- **least loaded first**: a request goes to the healthy endpoint with the fewest requests in flight (ties: the one
  that has been sent the fewest, then list order), and each endpoint holds at most ``per_endpoint`` at once -- the
  server's parallel slots, as ``max_concurrency`` is for one server;
- **out on failure**: a connection error, a timeout or a 5xx takes the endpoint out for ``cooldown`` seconds
  (doubling, up to ``cooldown_max``, each time it fails again without a success in between); retries then go to
  the endpoints still in service;
- **probed back in**: once its cool-down has passed, an endpoint is probed (the backend sends a cheap
  ``GET /models``; any answer but a 5xx counts as alive) and rejoins when the probe succeeds. No request waits for
  a probe: while other endpoints are healthy they take the traffic;
- **never stuck**: when every endpoint is out, a request goes to the one due back soonest (it is the probe), so a
  set of one behaves exactly like a single server with retries;
- **accounted per endpoint**: requests (tries sent), errors by kind, times taken out, probes, tokens and seconds
  spent, keyed by the URL with any ``user:password@`` removed.

This module is pure bookkeeping with an injectable clock (no I/O, no event loop), so the routing and health rules
are tested deterministically; the async glue (waiting for a free slot, running probes) is in the backend.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from rlaif.errors import RlaifError

OUT_OF_SERVICE_KINDS = frozenset({"connection_errors", "timeouts", "server_errors"})
"""Failure kinds (the backend's usage counters) that say the *server* is in trouble, not the request."""


def redact_url(url: str) -> str:
    """Drop ``user:password@`` from a URL before it is shown or recorded."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def url_list(value: str | Sequence[str], option: str = "base_url") -> list[str]:
    """A ``base_url`` option as a list of URLs without trailing slashes: a string is one endpoint.

    Empty lists, non-strings, blank entries and duplicates are user errors, named by position.
    """
    if isinstance(value, str):
        items: list[Any] = [value]
    elif isinstance(value, Sequence):
        items = list(value)
    else:
        raise RlaifError(f"option {option} must be a URL or a list of URLs, not {type(value).__name__}")
    if not items:
        raise RlaifError(f"option {option} is an empty list: give at least one server URL")
    urls: list[str] = []
    for position, item in enumerate(items, 1):
        if not isinstance(item, str) or not item.strip():
            raise RlaifError(
                f"option {option}: entry {position} must be a non-empty URL string, not {item!r}"
            )
        url = item.strip().rstrip("/")
        if url in urls:
            raise RlaifError(
                f"option {option}: {redact_url(url)} is listed twice",
                hint="List each server once; to send it more requests at once, raise max_concurrency.",
            )
        urls.append(url)
    return urls


STAT_KEYS = (
    "requests",
    "errors",
    "connection_errors",
    "timeouts",
    "server_errors",
    "rate_limited",
    "malformed",
    "client_errors",
    "taken_out",
    "probes",
    "prompt_tokens",
    "completion_tokens",
)


@dataclass
class Endpoint:
    """One server: its URL, load, health and counters. ``url`` may hold credentials; ``shown`` never does."""

    index: int
    url: str
    shown: str
    client: Any = None
    in_flight: int = 0
    sent: int = 0
    out: bool = False
    back_at: float = 0.0
    cooldown: float = 0.0
    probing: bool = False
    stats: dict[str, float] = field(default_factory=lambda: {**dict.fromkeys(STAT_KEYS, 0), "seconds": 0.0})


class EndpointSet:
    """Routing and health of a role's endpoints (see the module docstring). Not thread-safe: one event loop."""

    def __init__(
        self,
        urls: Sequence[str],
        per_endpoint: int,
        cooldown: float = 5.0,
        cooldown_max: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        shown: list[str] = []
        for url in urls:
            name = redact_url(url)
            while name in shown:  # the same host with different credentials: keep the keys apart
                name += "#"
            shown.append(name)
        self.endpoints = [
            Endpoint(i, url, name) for i, (url, name) in enumerate(zip(urls, shown, strict=True))
        ]
        self.per_endpoint = max(1, int(per_endpoint))
        self.cooldown = float(cooldown)
        self.cooldown_max = max(float(cooldown_max), self.cooldown)
        self.clock = clock

    def __len__(self) -> int:
        return len(self.endpoints)

    @property
    def capacity(self) -> int:
        """Requests in flight at most, over all endpoints."""
        return self.per_endpoint * len(self.endpoints)

    # -- routing -----------------------------------------------------------------------------------------------
    def choose(self) -> Endpoint | None:
        """The endpoint for the next try, already counted as in flight; None: wait for a slot to free up."""
        healthy = [ep for ep in self.endpoints if not ep.out]
        free = [ep for ep in healthy if ep.in_flight < self.per_endpoint]
        if free:
            chosen = min(free, key=lambda ep: (ep.in_flight, ep.sent, ep.index))
        elif healthy:
            return None
        else:  # every endpoint is out: the one due back soonest takes the try (it is its probe)
            waiting = [ep for ep in self.endpoints if ep.in_flight < self.per_endpoint]
            if not waiting:
                return None
            chosen = min(waiting, key=lambda ep: (ep.back_at, ep.index))
        chosen.in_flight += 1
        chosen.sent += 1
        chosen.stats["requests"] += 1
        return chosen

    def release(self, endpoint: Endpoint) -> None:
        endpoint.in_flight -= 1

    def any_healthy(self) -> bool:
        return any(not ep.out for ep in self.endpoints)

    # -- health ------------------------------------------------------------------------------------------------
    def succeeded(
        self, endpoint: Endpoint, prompt_tokens: int, completion_tokens: int, seconds: float
    ) -> None:
        endpoint.stats["prompt_tokens"] += prompt_tokens
        endpoint.stats["completion_tokens"] += completion_tokens
        endpoint.stats["seconds"] = round(endpoint.stats["seconds"] + seconds, 3)
        endpoint.out = False  # a real answer is the best proof of life (it may have been the probe)
        endpoint.cooldown = 0.0

    def failed(self, endpoint: Endpoint, kind: str, seconds: float) -> bool:
        """Count a failed try; True when it took the endpoint out of service (only with others to go to)."""
        endpoint.stats["errors"] += 1
        endpoint.stats[kind] = endpoint.stats.get(kind, 0) + 1
        endpoint.stats["seconds"] = round(endpoint.stats["seconds"] + seconds, 3)
        if kind not in OUT_OF_SERVICE_KINDS or len(self.endpoints) == 1:
            return False
        if endpoint.out:  # other requests in flight there failed too: it is already out
            return False
        self._take_out(endpoint)
        return True

    def _take_out(self, endpoint: Endpoint) -> None:
        endpoint.cooldown = (
            self.cooldown if endpoint.cooldown == 0 else min(endpoint.cooldown * 2, self.cooldown_max)
        )
        endpoint.out = True
        endpoint.back_at = self.clock() + endpoint.cooldown
        endpoint.stats["taken_out"] += 1

    def due_for_probe(self) -> list[Endpoint]:
        """Endpoints out of service whose cool-down has passed; each is marked as being probed."""
        now = self.clock()
        due = [ep for ep in self.endpoints if ep.out and not ep.probing and now >= ep.back_at]
        for ep in due:
            ep.probing = True
            ep.stats["probes"] += 1
        return due

    def probed(self, endpoint: Endpoint, alive: bool) -> None:
        """A probe's result: alive rejoins; dead stays out for a doubled cool-down."""
        endpoint.probing = False
        if not endpoint.out:  # a request got through while the probe was out
            return
        if alive:
            endpoint.out = False
        else:
            self._take_out(endpoint)
            endpoint.stats["taken_out"] -= 1  # still the same outage

    def next_change(self) -> float | None:
        """Seconds until the next out-of-service endpoint is due for a probe (None: none is out)."""
        times = [ep.back_at for ep in self.endpoints if ep.out and not ep.probing]
        return max(0.0, min(times) - self.clock()) if times else None

    def stats(self) -> dict[str, dict[str, float]]:
        """Per endpoint (redacted URL): counters since construction (tries sent, errors by kind, times taken
        out, probes, tokens, seconds spent in tries)."""
        return {ep.shown: dict(ep.stats) for ep in self.endpoints}

    def in_service(self) -> dict[str, bool]:
        return {ep.shown: not ep.out for ep in self.endpoints}


__all__ = ["OUT_OF_SERVICE_KINDS", "Endpoint", "EndpointSet", "redact_url", "url_list"]
