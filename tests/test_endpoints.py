"""Several servers for one role (``base_url: [url1, url2]``): routing, failover, probing back in, usage per server.

Deterministic: the routing rules are tested on :class:`~rlaif.models.endpoints.EndpointSet` with a fake clock,
and the backend against small fake OpenAI-compatible HTTP servers (canned replies naming the server, switchable
to 500s or to not listening at all), so nothing depends on a model's speed. The real thing -- two llama.cpp
servers, one killed mid-run -- is in tests/test_endpoints_llamacpp.py.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from rlaif.errors import RlaifError
from rlaif.models.endpoints import EndpointSet, url_list
from rlaif.models.openai_compat import OpenAIChatModel, RequestFailed
from rlaif.protocols import GenerationParams

PARAMS = GenerationParams(max_new_tokens=4, temperature=0.0)


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


# -- the rules, with a fake clock ---------------------------------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_least_loaded_then_fewest_sent_and_at_most_per_endpoint() -> None:
    endpoints = EndpointSet(["http://a/v1", "http://b/v1"], per_endpoint=2, clock=Clock())
    first, second = endpoints.choose(), endpoints.choose()
    assert {first.shown, second.shown} == {"http://a/v1", "http://b/v1"}  # one each: least loaded
    third, fourth = endpoints.choose(), endpoints.choose()
    assert {third.shown, fourth.shown} == {"http://a/v1", "http://b/v1"}
    assert endpoints.choose() is None  # both full: the caller waits for a slot
    endpoints.release(third)
    assert endpoints.choose() is third  # the freed slot
    for endpoint in endpoints.endpoints:
        while endpoint.in_flight:
            endpoints.release(endpoint)
    # equal load: the one sent fewer requests so far gets the next (here a has had 3, b 2)
    assert endpoints.choose().shown == min(endpoints.endpoints, key=lambda ep: ep.sent - ep.in_flight).shown


def test_failure_takes_out_retries_elsewhere_and_probes_back_in_with_doubling_cooldown() -> None:
    clock = Clock()
    endpoints = EndpointSet(
        ["http://a/v1", "http://b/v1"], per_endpoint=4, cooldown=2.0, cooldown_max=5.0, clock=clock
    )
    a, b = endpoints.endpoints
    tried = endpoints.choose()
    assert tried is a
    assert (
        endpoints.failed(a, "rate_limited", 0.1) is False
    )  # a 429 is about the request rate, not the server
    assert endpoints.failed(a, "connection_errors", 0.1) is True
    assert endpoints.failed(a, "connection_errors", 0.1) is False  # already out: the same outage
    endpoints.release(a)
    assert [endpoints.choose() for _ in range(3)] == [b, b, b]  # every retry goes to the healthy one
    assert endpoints.due_for_probe() == [] and endpoints.next_change() == pytest.approx(2.0)
    clock.now += 2.0
    assert endpoints.due_for_probe() == [a] and endpoints.due_for_probe() == []  # probed once at a time
    endpoints.probed(a, alive=False)
    assert a.out and a.cooldown == 4.0  # doubled
    clock.now += 4.0
    assert endpoints.due_for_probe() == [a]
    endpoints.probed(a, alive=False)
    assert a.cooldown == 5.0  # capped
    clock.now += 5.0
    assert endpoints.due_for_probe() == [a]
    endpoints.probed(a, alive=True)
    assert not a.out and endpoints.choose() is a  # back in, least loaded again
    endpoints.succeeded(a, 10, 3, 0.5)
    assert a.cooldown == 0.0  # a success resets the back-off
    stats = endpoints.stats()["http://a/v1"]
    assert stats["taken_out"] == 1 and stats["probes"] == 3 and stats["errors"] == 3
    assert stats["connection_errors"] == 2 and stats["rate_limited"] == 1 and stats["completion_tokens"] == 3


def test_with_every_endpoint_out_the_one_back_soonest_takes_the_try() -> None:
    clock = Clock()
    endpoints = EndpointSet(["http://a/v1", "http://b/v1"], per_endpoint=1, cooldown=1.0, clock=clock)
    a, b = endpoints.endpoints
    endpoints.failed(b, "timeouts", 1.0)
    clock.now += 0.5
    endpoints.failed(a, "server_errors", 0.1)
    assert endpoints.choose() is b  # back at 101.0, a at 101.5


def test_a_single_endpoint_is_never_taken_out() -> None:
    endpoints = EndpointSet(["http://a/v1"], per_endpoint=1)
    (a,) = endpoints.endpoints
    assert endpoints.failed(a, "connection_errors", 0.1) is False and not a.out


def test_url_list_accepts_a_string_or_a_list_and_names_bad_entries() -> None:
    assert url_list("http://a/v1/") == ["http://a/v1"]
    assert url_list(["http://a/v1", "http://b/v1/"]) == ["http://a/v1", "http://b/v1"]
    with pytest.raises(RlaifError, match="empty list"):
        url_list([])
    with pytest.raises(RlaifError, match="entry 2 must be a non-empty URL"):
        url_list(["http://a/v1", ""])
    with pytest.raises(RlaifError, match="listed twice") as error:
        url_list(["http://u:SECRET@a/v1", "http://u:SECRET@a/v1/"])
    assert "SECRET" not in str(error.value)


def test_credentials_in_urls_never_reach_keys_or_messages() -> None:
    endpoints = EndpointSet(["http://u:SECRET@h:1/v1", "http://v:OTHER@h:1/v1"], per_endpoint=1)
    assert list(endpoints.stats()) == ["http://h:1/v1", "http://h:1/v1#"]


# -- the backend against fake servers ------------------------------------------------------------------------------
class FakeServer:
    """An OpenAI-compatible chat server answering ``<name>: <prompt>`` after ``delay`` seconds.

    ``mode``: ``ok`` or ``500``. :meth:`stop` closes the socket (connections are refused, as from a killed server);
    :meth:`start` listens again on the same port. Records each prompt it answered and the most requests in flight.
    """

    def __init__(self, name: str, delay: float = 0.0, port: int = 0):
        self.name = name
        self.delay = delay
        self.mode = "ok"
        self.answered: list[str] = []
        self.model_lists = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self.port = port
        self.server: ThreadingHTTPServer | None = None
        self.start()

    def start(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, payload: Any) -> None:
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:
                with fake._lock:
                    fake.model_lists += 1
                if fake.mode == "500":
                    self._send(500, {"error": {"message": "down"}})
                else:
                    self._send(200, {"object": "list", "data": [{"id": "fake", "object": "model"}]})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                prompt = body["messages"][-1]["content"]
                with fake._lock:
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                try:
                    time.sleep(0 if "refuse me" in prompt else fake.delay)
                    if "refuse me" in prompt:
                        self._send(
                            400, {"error": {"message": "bad request", "type": "invalid_request_error"}}
                        )
                        return
                    if fake.mode == "500":
                        self._send(500, {"error": {"message": "injected", "type": "server_error"}})
                        return
                    with fake._lock:
                        fake.answered.append(prompt)
                finally:
                    with fake._lock:
                        fake.in_flight -= 1
                self._send(
                    200,
                    {
                        "id": "x",
                        "object": "chat.completion",
                        "created": 0,
                        "model": "fake",
                        "choices": [
                            {
                                "index": 0,
                                "finish_reason": "stop",
                                "message": {"role": "assistant", "content": f"{fake.name}: {prompt}"},
                            }
                        ],
                        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
                    },
                )

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


@pytest.fixture
def servers():
    made: list[FakeServer] = []

    def make(name: str, **options: Any) -> FakeServer:
        server = FakeServer(name, **options)
        made.append(server)
        return server

    yield make
    for server in made:
        server.stop()


def model_for(*servers: FakeServer, **options: Any) -> OpenAIChatModel:
    options = {"max_concurrency": 2, "backoff_base": 0.01, "timeout": 10, **options}
    return OpenAIChatModel("fake", base_url=[server.base_url for server in servers], **options)


def test_requests_spread_over_servers_by_load_and_results_stay_aligned(servers) -> None:
    a, b = servers("a", delay=0.2), servers("b", delay=0.2)
    prompts = [f"prompt {index}" for index in range(8)]
    with model_for(a, b) as model:
        replies = model.generate([user(p) for p in prompts], PARAMS)
        stats = model.usage_stats()
    assert [reply.split(": ", 1)[1] for reply in replies] == prompts  # each reply is its own prompt's
    assert len(a.answered) == len(b.answered) == 4  # two slots each, equally slow: an even split
    assert a.max_in_flight <= 2 and b.max_in_flight <= 2  # max_concurrency is per server
    assert a.max_in_flight == 2 and b.max_in_flight == 2  # ... and both servers were used in parallel
    assert stats["requests"] == 8 and stats["completion_tokens"] == 16
    assert {url: s["requests"] for url, s in stats["endpoints"].items()} == {a.base_url: 4, b.base_url: 4}
    assert all(s["completion_tokens"] == 8 and s["errors"] == 0 for s in stats["endpoints"].values())
    assert all(s["seconds"] >= 4 * 0.2 * 0.9 for s in stats["endpoints"].values())


@pytest.mark.parametrize("failure", ["500", "refused"])
def test_a_failing_server_is_taken_out_and_its_work_moves_without_loss_or_duplicates(
    servers, failure
) -> None:
    a, b = servers("a", delay=0.05), servers("b", delay=0.05)
    if failure == "500":
        b.mode = "500"
    else:
        b.stop()
    prompts = [f"prompt {index}" for index in range(10)]
    with model_for(a, b, endpoint_cooldown=60) as model:
        replies = model.generate([user(p) for p in prompts], PARAMS)
        stats = model.usage_stats()
    assert replies == [f"a: {p}" for p in prompts]
    assert sorted(a.answered) == sorted(prompts)  # each prompt answered exactly once
    assert b.answered == []
    failed = stats["endpoints"][b.base_url]
    assert failed["taken_out"] == 1 and failed["errors"] >= 1
    assert failed["server_errors" if failure == "500" else "connection_errors"] == failed["errors"]
    assert stats["failures"] == 0 and stats["retries"] == failed["errors"]  # one retry per failed try
    assert stats["endpoints"][a.base_url]["requests"] == 10


def test_a_server_back_up_is_probed_back_in(servers) -> None:
    a, b = servers("a"), servers("b")
    b.stop()
    with model_for(a, b, endpoint_cooldown=0.3, max_concurrency=1) as model:
        model.generate([user(f"first {i}") for i in range(4)], PARAMS)
        assert model.usage_stats()["endpoints"][b.base_url]["taken_out"] == 1
        b.start()  # same port: the server is back
        time.sleep(0.4)
        deadline = time.monotonic() + 10
        while not b.answered and time.monotonic() < deadline:
            model.generate([user(f"later {i}") for i in range(4)], PARAMS)
            time.sleep(0.05)
        stats = model.usage_stats()["endpoints"][b.base_url]
    assert b.answered  # it took traffic again
    assert b.model_lists >= 1 and stats["probes"] >= 1  # it was probed (GET /models) before that
    assert stats["taken_out"] == 1


def test_all_servers_down_fails_after_the_retry_budget_naming_them_not_the_key(
    servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_KEY", "sk-SECRET-123")
    a, b = servers("a"), servers("b")
    a.mode = b.mode = "500"
    model = model_for(a, b, max_retries=3, api_key_env="FAKE_KEY", endpoint_cooldown=0.01)
    with pytest.raises(RequestFailed) as error:
        model.generate([user("hi")], PARAMS)
    model.close()
    text = str(error.value) + (error.value.hint or "")
    assert "after 4 tries" in text and "HTTP 500" in text
    assert a.base_url in text and b.base_url in text and "sk-SECRET-123" not in text


def test_base_url_list_in_describe_and_a_plain_string_unchanged(servers) -> None:
    a, b = servers("a"), servers("b")
    with model_for(a, b) as model:
        assert model.describe()["base_url"] == [a.base_url, b.base_url]
    with OpenAIChatModel("fake", base_url=a.base_url) as single:
        assert single.describe()["base_url"] == a.base_url
        single.generate([user("x")], PARAMS)
        assert "endpoints" not in single.usage_stats()  # one server: the flat counters, as before


def test_the_engine_meter_keeps_per_server_counts_per_stage() -> None:
    from rlaif.engine.cai import add_counts

    totals: dict[str, Any] = {}
    before = {"requests": 1, "endpoints": {"http://a/v1": {"requests": 1, "seconds": 0.5}}}
    after = {
        "requests": 4,
        "endpoints": {"http://a/v1": {"requests": 2, "seconds": 0.75}, "http://b/v1": {"requests": 2}},
    }
    add_counts(totals, after, before)
    add_counts(totals, after, before)
    assert totals == {
        "requests": 6,
        "endpoints": {"http://a/v1": {"requests": 2, "seconds": 0.5}, "http://b/v1": {"requests": 4}},
    }


def test_base_url_list_is_a_documented_checked_option() -> None:
    from rlaif.plugins import load_registry

    registration = load_registry().get("models", "openai")
    schema = registration.options_schema["properties"]["base_url"]
    assert {"type": "array", "items": {"type": "string"}} in schema["anyOf"] and schema["minItems"] == 1
    assert registration.require_valid_options({"base_url": ["http://a/v1", "http://b/v1"]}, "models.critic")
    with pytest.raises(RlaifError, match=r"models\.critic\.base_url"):
        registration.require_valid_options({"base_url": []}, "models.critic")


def test_a_failed_batch_frees_every_slot_it_held(servers) -> None:
    """A request refused for good cancels its batch; the cancelled requests must give their slots back."""
    a, b = servers("a", delay=0.3), servers("b", delay=0.3)
    with model_for(a, b, max_concurrency=2) as model:
        with pytest.raises(RequestFailed, match="HTTP 400"):
            model.generate([user("slow 1"), user("slow 2"), user("refuse me"), user("slow 3")], PARAMS)
        assert [endpoint.in_flight for endpoint in model._endpoints.endpoints] == [0, 0]
        time.sleep(0.5)  # the servers finish the requests the client walked away from
        a.max_in_flight = b.max_in_flight = 0
        prompts = [f"after {index}" for index in range(8)]
        replies = model.generate([user(p) for p in prompts], PARAMS)
    assert [reply.split(": ", 1)[1] for reply in replies] == prompts
    assert a.max_in_flight == 2 and b.max_in_flight == 2  # full concurrency again after the failure
