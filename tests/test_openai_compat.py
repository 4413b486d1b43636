"""The ``openai`` model backend against a real llama.cpp server (xllamacpp), plus its pure helpers.

Everything goes over real HTTP to llama.cpp's own server; where a test needs to see or bend the traffic, the
fault proxy from tests/fixtures_llamacpp.py sits in between and forwards to the real server.
"""

from __future__ import annotations

import asyncio
import logging
import math
import pickle
import threading
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import jsonschema
import pluggy
import pytest

from rlaif import hookspecs, load_chat_model
from rlaif.errors import RlaifError
from rlaif.models import builtin as models_builtin
from rlaif.models.openai_compat import (
    OpenAIChatModel,
    OpenAIOptions,
    RequestFailed,
    _TokenBucket,
    map_label_logprobs,
    parse_retry_after,
)
from rlaif.options import options_schema
from rlaif.plugins import Registry
from rlaif.protocols import ChatModel, GenerationParams

SECRET = "sk-test-SECRET-5a7c9e1f3b"
GREEDY = GenerationParams(max_new_tokens=6, temperature=0.0)
AB_PROMPT = [{"role": "user", "content": "Which is better, A or B? Answer with one letter."}]


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    return SECRET


# --------------------------------------------------------------------------------------------------------------
# pure helpers
# --------------------------------------------------------------------------------------------------------------
def test_retry_after_seconds_date_cap_and_garbage() -> None:
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after("0.25") == 0.25
    assert parse_retry_after("500", cap=30) == 30.0
    assert parse_retry_after("-4") == 0.0
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    http_date = format_datetime(now + timedelta(seconds=7), usegmt=True)
    assert parse_retry_after(http_date, now=now.timestamp()) == pytest.approx(7.0)
    assert (
        parse_retry_after(format_datetime(now - timedelta(seconds=9), usegmt=True), now=now.timestamp())
        == 0.0
    )
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_label_mapping_merges_spellings_and_floors_absent_labels() -> None:
    top = [("A", math.log(0.5)), (" A", math.log(0.2)), ("The", math.log(0.1)), ("B", math.log(0.05))]
    result = map_label_logprobs(top, ["A", "B", "C"])
    assert result["A"] == pytest.approx(math.log(0.7))
    assert result["B"] == pytest.approx(math.log(0.05))
    # absent: half of min(smallest listed 0.05, unlisted mass 0.15)
    assert result["C"] == pytest.approx(math.log(0.025))
    assert result["C"] < min(value for _, value in top)
    # when the listed tokens hold almost all the mass, the unlisted remainder bounds the floor instead
    dense = [("A", math.log(0.6)), ("B", math.log(0.399))]
    assert map_label_logprobs(dense, ["C"])["C"] == pytest.approx(math.log(0.0005))


def test_token_bucket_paces_after_the_burst() -> None:
    async def run() -> float:
        bucket = _TokenBucket(per_minute=6000)  # 100/s, one second (100) of burst
        start = time.monotonic()
        for _ in range(150):
            await bucket.acquire(1)
        return time.monotonic() - start

    elapsed = asyncio.run(run())
    assert 0.4 < elapsed < 1.5


def _builtin_models_registry() -> Registry:
    # only the built-in model plugin: entry points installed in this environment are not under test here
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    manager.register(models_builtin, name="rlaif.models.builtin")
    return Registry(manager)


def test_options_schema_and_factory_registration(llamacpp_server) -> None:
    schema = options_schema(OpenAIOptions)
    jsonschema.validate({"base_url": "http://x/v1", "max_concurrency": 4, "logprobs": "auto"}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"api_key": "sk-oops"}, schema)  # keys never go in config
    registry = _builtin_models_registry()
    assert registry.get("models", "openai").options_schema == schema
    model = load_chat_model("openai:smollm2", {"base_url": llamacpp_server.base_url}, registry=registry)
    assert isinstance(model, OpenAIChatModel) and isinstance(model, ChatModel)
    assert model.name == "openai:smollm2"


def test_retry_after_max_is_a_documented_option_that_reaches_the_model() -> None:
    registry = _builtin_models_registry()
    registration = registry.get("models", "openai")
    assert registration.options_schema["properties"]["retry_after_max"]["default"] == 60.0
    assert registration.option_problems({"retry_after_max": -1}, None, "model options")
    model = load_chat_model(
        "openai:m", {"base_url": "http://127.0.0.1:9/v1", "retry_after_max": 5}, registry=registry
    )
    try:
        assert model.retry_after_max == 5.0
        assert model.max_concurrency == 8 and model.timeout == 120.0  # the schema's defaults, filled in
    finally:
        model.close()


def test_remote_server_without_key_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MY_PROVIDER_KEY", raising=False)
    with pytest.raises(RlaifError, match="MY_PROVIDER_KEY is not set"):
        OpenAIChatModel("gpt-x", base_url="https://api.example.com/v1", api_key_env="MY_PROVIDER_KEY")


def test_base_url_from_environment_and_credentials_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://user:pw@127.0.0.1:9999/v1/")
    model = OpenAIChatModel("m")
    assert model.base_url == "http://127.0.0.1:9999/v1"
    assert "pw" not in repr(model) and "pw" not in str(model.describe())


# --------------------------------------------------------------------------------------------------------------
# against the real server
# --------------------------------------------------------------------------------------------------------------
def test_server_starts_fast(llamacpp_server) -> None:
    # About 1 s on an idle 2-core box; 3-7 s at load average 10-12 (shared CI). The bound catches the
    # pathological cases (a KV cache sized for a huge context, a busy-waiting thread pool), not the noise.
    assert llamacpp_server.start_seconds < 30.0


def test_generate_and_usage_stats(llamacpp_server) -> None:
    with OpenAIChatModel("smollm2", base_url=llamacpp_server.base_url) as model:
        prompts = [user("Name a colour."), user("Name an animal."), user("Say hello.")]
        replies = model.generate(prompts, GREEDY)
        stats = model.usage_stats()
    assert len(replies) == 3 and all(isinstance(reply, str) and reply for reply in replies)
    assert stats["requests"] == 3 and stats["retries"] == 0 and stats["failures"] == 0
    assert stats["prompt_tokens"] > 3 * 5
    assert 3 <= stats["completion_tokens"] <= 3 * GREEDY.max_new_tokens


def test_greedy_is_repeatable_and_stop_is_honoured(llamacpp_server) -> None:
    model = OpenAIChatModel("smollm2", base_url=llamacpp_server.base_url)
    first = model.generate([user("Count from one to ten in words, separated by commas.")], GREEDY)[0]
    again = model.generate([user("Count from one to ten in words, separated by commas.")], GREEDY)[0]
    assert first == again
    stopped = model.generate(
        [user("Count from one to ten in words, separated by commas.")],
        GenerationParams(max_new_tokens=6, temperature=0.0, stop=(",",)),
    )[0]
    assert "," not in stopped and first.startswith(stopped)


def test_seed_makes_sampling_reproducible(llamacpp_server) -> None:
    """llama.cpp honours the request's ``seed`` (its response does not echo it back).

    Only while requests run one at a time: in parallel slots the same seed gives different samples (batched
    decoding is not batch-invariant), which is why docs/serving.md says ``max_concurrency: 1`` for exact replay.
    """
    model = OpenAIChatModel("smollm2", base_url=llamacpp_server.base_url, max_concurrency=1)
    params = GenerationParams(max_new_tokens=12, temperature=1.0)
    story = user("Tell me a very short story.")
    replies = model.generate([story, story, story, story], params, seeds=[7, 7, 8, 9])
    assert replies[0] == replies[1]
    assert len(set(replies)) == 3


def test_label_logprobs_from_real_server(llamacpp_server) -> None:
    model = OpenAIChatModel("smollm2", base_url=llamacpp_server.base_url)
    (result,) = model.label_logprobs([AB_PROMPT], ["A", "B", "Zebra"])
    assert result is not None
    assert all(value <= 0 and math.isfinite(value) for value in result.values())
    assert result["A"] > result["B"]  # SmolLM2 answers "A" to this prompt (p ~ 0.7 vs ~ 0.02)
    assert result["Zebra"] < result["B"]  # not in the top 20: floored below every listed token
    assert model.usage_stats()["completion_tokens"] == 1


def test_concurrent_results_are_aligned_and_concurrency_bounded(llamacpp_server, fault_proxy) -> None:
    proxy = fault_proxy(["ok"])
    model = OpenAIChatModel("smollm2", base_url=proxy.base_url, max_concurrency=4)
    prompts = [user(f"Write one word that rhymes with number {index}.") for index in range(16)]
    replies = model.generate(prompts, GenerationParams(max_new_tokens=5, temperature=0.0))
    assert len(replies) == 16
    for prompt, reply in zip(prompts, replies, strict=True):
        assert proxy.answers[prompt[0]["content"]] == [reply]
    assert 2 <= proxy.max_in_flight <= 4
    assert model.usage_stats()["requests"] == 16


def test_sync_api_works_from_threads_and_inside_a_running_loop(llamacpp_server) -> None:
    model = OpenAIChatModel("smollm2", base_url=llamacpp_server.base_url)
    results: list[list[str]] = []

    def worker() -> None:
        results.append(model.generate([user("Hi")], GenerationParams(max_new_tokens=3, temperature=0.0)))

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 3 and all(len(result) == 1 and result[0] for result in results)

    async def inside_a_loop() -> list[str]:
        return model.generate([user("Hi")], GenerationParams(max_new_tokens=3, temperature=0.0))

    assert asyncio.run(inside_a_loop())[0] == results[0][0]


def test_logprobs_false_sends_nothing(llamacpp_server, fault_proxy) -> None:
    proxy = fault_proxy(["ok"])
    model = OpenAIChatModel("smollm2", base_url=proxy.base_url, logprobs=False)
    assert model.label_logprobs([AB_PROMPT, AB_PROMPT], ["A", "B"]) == [None, None]
    assert proxy.log == []


@pytest.mark.parametrize("fault", ["no-logprobs", "400-logprobs"])
def test_server_without_logprobs_falls_back_and_warns_once(
    llamacpp_server, fault_proxy, caplog, fault
) -> None:
    proxy = fault_proxy([fault])
    model = OpenAIChatModel("smollm2", base_url=proxy.base_url, max_retries=1, backoff_base=0.01)
    with caplog.at_level(logging.WARNING, logger="rlaif.models.openai_compat"):
        assert model.label_logprobs([AB_PROMPT, AB_PROMPT], ["A", "B"]) == [None, None]
        sent = len(proxy.log)
        assert model.label_logprobs([AB_PROMPT], ["A", "B"]) == [None]
    assert 1 <= sent <= 2 and len(proxy.log) == sent  # remembered: the second call asks nothing
    warnings = [record for record in caplog.records if "no usable log-probs" in record.getMessage()]
    assert len(warnings) == 1
    assert model.usage_stats()["retries"] == 0  # "unsupported" is not retried
    strict = OpenAIChatModel("smollm2", base_url=proxy.base_url, logprobs=True)
    with pytest.raises(RlaifError, match="did not return log-probs|request failed"):
        strict.label_logprobs([AB_PROMPT], ["A", "B"])


# --------------------------------------------------------------------------------------------------------------
# the key never leaks
# --------------------------------------------------------------------------------------------------------------
def test_key_is_used_but_never_shown(llamacpp_server, secret_env, caplog) -> None:
    with caplog.at_level(logging.DEBUG):
        model = OpenAIChatModel("smollm2", base_url=llamacpp_server.base_url)
        assert model.generate([user("Hi")], GenerationParams(max_new_tokens=2, temperature=0.0))[0]
    for text in (repr(model), str(model), str(vars(model)), str(model.describe()), str(model.usage_stats())):
        assert secret_env not in text
    assert "OPENAI_API_KEY" in str(model.describe())
    assert all(secret_env not in record.getMessage() for record in caplog.records)
    with pytest.raises(TypeError):
        pickle.dumps(model)


def test_key_echoed_by_server_is_scrubbed_from_errors(
    llamacpp_server, fault_proxy, secret_env, caplog
) -> None:
    proxy = fault_proxy(["401"])
    model = OpenAIChatModel("smollm2", base_url=proxy.base_url)
    with caplog.at_level(logging.DEBUG), pytest.raises(RequestFailed) as caught:
        model.generate([user("Hi")], GREEDY)
    message = str(caught.value)
    assert "HTTP 401" in message and "Bearer ***" in message and "OPENAI_API_KEY" in message
    assert secret_env not in message and secret_env not in repr(caught.value)
    assert all(secret_env not in record.getMessage() for record in caplog.records)
    assert len(proxy.log) == 1  # auth errors are not retried


def test_rate_limits_pace_requests(fault_proxy) -> None:
    """Pacing is about the client, so the proxy answers instantly (canned replies worth 31 tokens each)."""
    proxy = fault_proxy(["canned"])
    prompts = [user(f"Hi {index}") for index in range(30)]
    params = GenerationParams(max_new_tokens=1, temperature=0.0)
    model = OpenAIChatModel("smollm2", base_url=proxy.base_url, requests_per_minute=1200)  # 20/s, 20 burst
    started = time.monotonic()
    assert model.generate(prompts, params) == ["canned"] * 30
    assert 0.45 <= time.monotonic() - started < 15  # the 10 past the burst wait 50 ms each

    # 3000 tokens/min = 50/s, 50 burst. Each request reserves a small estimate, then is charged the 31 tokens
    # the server reports: that debt must pace the later requests.
    model = OpenAIChatModel("smollm2", base_url=proxy.base_url, tokens_per_minute=3000, max_concurrency=2)
    started = time.monotonic()
    assert len(model.generate(prompts[:6], params)) == 6
    elapsed = time.monotonic() - started
    stats = model.usage_stats()
    assert stats["prompt_tokens"] + stats["completion_tokens"] == 6 * 31
    # all charged before the last reservation (all but <= 2 in flight), minus the burst, refilled at 50/s
    assert (6 * 31 - 2 * 31 - 50) / 50 <= elapsed < 15


def test_example_config_passes_config_check() -> None:
    """examples/openai-judge.yaml validates against the run-config schema *and* this backend's options schema."""
    from pathlib import Path

    from rlaif.config import check_config, load_config

    config = load_config(Path(__file__).parents[1] / "examples" / "openai-judge.yaml")
    assert check_config(config) == []
    for role in ("critic", "judge"):
        ref = config.model(role)
        assert ref.spec == "openai:smollm2" and ref.options["base_url"].endswith("/v1")
    bad = load_config(Path(__file__).parents[1] / "examples" / "openai-judge.yaml").with_overrides(
        models={"policy": "embedded", "judge": {"spec": "openai:m", "api_key": "sk-in-a-file"}}
    )
    assert any("api_key" in str(problem) for problem in check_config(bad))
