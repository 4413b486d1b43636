"""The ``openai`` backend under failure: a fault-injecting proxy in front of the real llama.cpp server.

What must hold: a batch completes with every result in place despite 429s, 500s, hangs, dropped connections
and malformed JSON; retries are bounded and counted exactly; a server that stays down gives a clear
:class:`~rlaif.errors.RlaifError` quickly, after exactly the retry budget.
"""

from __future__ import annotations

import socket
import time

import pytest

from rlaif.models.openai_compat import OpenAIChatModel, RequestFailed
from rlaif.protocols import GenerationParams

PARAMS = GenerationParams(max_new_tokens=4, temperature=0.0)


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def closed_port_url() -> str:
    """A loopback URL nothing listens on (bind a free port, then release it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def test_every_kind_of_fault_is_retried_and_nothing_is_lost(llamacpp_server, fault_proxy) -> None:
    # Each prompt walks this schedule from its own offset: half the prompts fail once (all kinds occur), and
    # the retry lands on "ok". Deterministic however the concurrent requests interleave. Hangs are tested on
    # their own below: here the timeout must be generous, or a slow real reply on a loaded box would count as one.
    schedule = ["ok", "429", "ok", "500", "ok", "drop", "ok", "malformed", "ok", "no-choices"]
    proxy = fault_proxy(schedule, retry_after="0", per_prompt=True)
    model = OpenAIChatModel(
        "smollm2", base_url=proxy.base_url, max_concurrency=4, timeout=120, max_retries=6, backoff_base=0.02
    )
    prompts = [user(f"Say a word about the number {index}.") for index in range(20)]
    expected = {
        kind: sum(schedule[proxy.offset(prompt[0]["content"])] == kind for prompt in prompts)
        for kind in schedule
    }
    assert all(expected[kind] >= 1 for kind in schedule)  # this prompt set meets every kind of fault
    started = time.monotonic()
    replies = model.generate(prompts, PARAMS)
    elapsed = time.monotonic() - started

    # every prompt answered, each with exactly what the real server said for *that* prompt
    assert len(replies) == 20
    for prompt, reply in zip(prompts, replies, strict=True):
        assert proxy.answers[prompt[0]["content"]] == [reply]

    stats = model.usage_stats()
    faults = proxy.counts()
    assert faults == expected | {"ok": 20}  # one successful forward per prompt: no duplicate work reached it
    assert stats["requests"] == len(proxy.log)  # every try we counted reached the proxy, and vice versa
    assert (
        stats["retries"] == stats["requests"] - 20 == sum(n for fault, n in faults.items() if fault != "ok")
    )
    assert stats["failures"] == 0
    assert stats["rate_limited"] == faults.get("429", 0)
    assert stats["server_errors"] == faults.get("500", 0)
    assert stats["timeouts"] == 0
    assert stats["connection_errors"] == faults.get("drop", 0)
    assert stats["malformed"] == faults.get("malformed", 0) + faults.get("no-choices", 0)
    assert stats["retries"] == 20 - expected["ok"]  # exactly one retry per prompt that met a fault
    assert elapsed < 120


def test_hung_requests_time_out_and_are_retried(fault_proxy) -> None:
    """A server that accepts a request and never answers costs one timeout per try, then the retry succeeds.

    The retries go to instant canned replies, so the timeout can be short without real replies tripping it
    (2 s: even canned replies took over 0.5 s now and then at load average 12 on 2 cores).
    """
    proxy = fault_proxy(["hang", "canned"], hang_seconds=30.0, per_prompt=True)
    model = OpenAIChatModel(
        "smollm2", base_url=proxy.base_url, timeout=2.0, backoff_base=0.01, max_concurrency=8
    )
    prompts = [user(f"Hi {index}") for index in range(8)]
    hung = sum(proxy.offset(prompt[0]["content"]) == 0 for prompt in prompts)
    assert 1 <= hung < 8
    started = time.monotonic()
    assert model.generate(prompts, PARAMS) == ["canned"] * 8
    assert time.monotonic() - started < 20
    stats = model.usage_stats()
    assert stats["timeouts"] == stats["retries"] == hung and stats["requests"] == 8 + hung


def test_retry_after_is_honoured(llamacpp_server, fault_proxy) -> None:
    proxy = fault_proxy(["429", "ok"], retry_after="1")
    model = OpenAIChatModel("smollm2", base_url=proxy.base_url, backoff_base=0.01)
    (reply,) = model.generate([user("Hi")], PARAMS)
    assert reply and [fault for fault, _ in proxy.log] == ["429", "ok"]
    waited = proxy.arrivals[1] - proxy.arrivals[0]  # between the 429 and the retry: no generation inside
    assert 1.0 <= waited < 3.0  # waited the server's 1 s, not our 10 ms backoff


def test_persistent_500_gives_up_after_exactly_the_budget(llamacpp_server, fault_proxy) -> None:
    proxy = fault_proxy(["500"])
    model = OpenAIChatModel("smollm2", base_url=proxy.base_url, max_retries=3, backoff_base=0.01)
    with pytest.raises(RequestFailed) as caught:
        model.generate([user("Hi")], PARAMS)
    assert len(proxy.log) == 4
    message = str(caught.value)
    assert "after 4 tries" in message and "HTTP 500" in message and proxy.base_url in message
    assert caught.value.status == 500 and caught.value.tries == 4
    assert model.usage_stats()["failures"] == 1 and model.usage_stats()["retries"] == 3


def test_one_failing_request_cancels_the_batch(llamacpp_server, fault_proxy) -> None:
    """The first request that fails for good stops the batch instead of waiting for the rest."""
    proxy = fault_proxy(["401"] + ["hang"] * 9, hang_seconds=10.0)
    model = OpenAIChatModel("smollm2", base_url=proxy.base_url, max_concurrency=10, timeout=8.0)
    started = time.monotonic()
    with pytest.raises(RequestFailed, match="HTTP 401"):
        model.generate([user(f"Hi {index}") for index in range(10)], PARAMS)
    assert time.monotonic() - started < 5.0


def test_server_down_for_good_is_a_quick_clear_error() -> None:
    url = closed_port_url()
    model = OpenAIChatModel("smollm2", base_url=url, max_retries=4, backoff_base=0.05, backoff_max=0.2)
    started = time.monotonic()
    with pytest.raises(RequestFailed) as caught:
        model.generate([user("Hi"), user("Hello")], PARAMS)
    elapsed = time.monotonic() - started
    message = str(caught.value)
    assert url in message and "after 5 tries" in message and "connection failed" in message
    assert "server is up" in message  # the hint says what to do
    assert elapsed < 5.0
    stats = model.usage_stats()
    assert stats["connection_errors"] <= 10 and stats["failures"] >= 1


def test_hang_without_retries_fails_after_the_timeout(llamacpp_server, fault_proxy) -> None:
    proxy = fault_proxy(["hang"], hang_seconds=10.0)
    model = OpenAIChatModel("smollm2", base_url=proxy.base_url, timeout=0.5, max_retries=0)
    started = time.monotonic()
    with pytest.raises(RequestFailed, match="after 1 tries.*no complete response within 0.5s"):
        model.generate([user("Hi")], PARAMS)
    assert time.monotonic() - started < 3.0
