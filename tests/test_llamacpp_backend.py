"""The ``llamacpp`` backend: the embedded GGUF served by llama.cpp in-process, used as a chat model and critic."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
import yaml
from click.testing import CliRunner

from rlaif import load_chat_model
from rlaif.cli import build_cli
from rlaif.errors import RlaifError
from rlaif.protocols import GenerationParams

WORDS = ["banana", "violin", "pyramid", "elephant"]
ECHO = [[{"role": "user", "content": f"Repeat this word exactly once: {word}"}] for word in WORDS]


@pytest.fixture(scope="module")
def served():
    model = load_chat_model("llamacpp:embedded", {"parallel": 2, "threads": 1, "n_ctx": 2048})
    yield model
    model.close()


def test_replies_line_up_with_their_prompts(served) -> None:
    """Four concurrent requests on two slots: each reply must answer its own prompt, in input order."""
    greedy = GenerationParams(max_new_tokens=20, temperature=0.0)
    for order in (WORDS, WORDS[::-1]):
        replies = [reply.lower() for reply in served.generate([ECHO[WORDS.index(w)] for w in order], greedy)]
        for word, reply in zip(order, replies, strict=True):  # a reply never carries another prompt's word
            assert not [other for other in WORDS if other != word and other in reply], (word, reply)
        # a 135M model does not always comply, but most replies echo their own word
        assert sum(word in reply for word, reply in zip(order, replies, strict=True)) >= 2, replies
    assert served.usage_stats()["completion_tokens"] > 0


def test_label_logprobs_are_real_probabilities(served) -> None:
    question = [{"role": "user", "content": "Which is a fruit? A: apple, B: car. Answer with A or B."}]
    (logprobs,) = served.label_logprobs([question], ["A", "B"])
    assert logprobs is not None and set(logprobs) == {"A", "B"}
    assert all(value <= 0.0 for value in logprobs.values())
    assert logprobs["A"] > logprobs["B"]


def test_seeded_sampling_is_reproducible_and_close_stops_the_server() -> None:
    model = load_chat_model("llamacpp:embedded", {"parallel": 1, "threads": 1, "n_ctx": 512})
    described = model.describe()
    assert described["name"].startswith("llamacpp:SmolLM2-135M-Instruct")
    assert described["gguf"].endswith(".gguf") and described["parallel"] == 1
    sampled = GenerationParams(max_new_tokens=10, temperature=1.0)
    first = model.generate(ECHO[:2], sampled, seeds=[1, 2])
    assert model.generate(ECHO[:2], sampled, seeds=[1, 2]) == first
    health = model.server.url + "/health"
    with urllib.request.urlopen(health, timeout=10) as response:
        assert response.status == 200
    model.close()
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        urllib.request.urlopen(health, timeout=2)


def test_a_missing_gguf_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(RlaifError, match="no such GGUF file"):
        load_chat_model(f"llamacpp:{tmp_path / 'nope.gguf'}")


def test_config_check_validates_llamacpp_options(tmp_path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump({"models": {"critic": {"spec": "llamacpp:embedded", "parallel": 4}}}))
    assert CliRunner().invoke(build_cli(), ["config", "check", str(good)]).exit_code == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"models": {"critic": {"spec": "llamacpp:embedded", "slots": 4}}}))
    result = CliRunner().invoke(build_cli(), ["config", "check", str(bad)])
    assert result.exit_code == 2 and "slots" in result.output


@pytest.mark.slow
def test_run_with_a_llamacpp_critic_and_judge(tmp_path) -> None:
    """The trained policy stays on transformers; critique, revision and judging go to llama.cpp."""
    config = {
        "prompts": "default",
        "output_dir": str(tmp_path / "run"),
        "train": False,
        "chunk_size": 2,
        "models": {
            "policy": "embedded",
            "critic": {"spec": "llamacpp:embedded", "parallel": 2, "threads": 1},
        },
        "generation": {"max_new_tokens": 12},
        "critique": {"max_new_tokens": 12},
        "revision": {"max_new_tokens": 16, "temperature": 1.0},
    }
    path = tmp_path / "rlaif.yaml"
    path.write_text(yaml.safe_dump(config))
    result = CliRunner().invoke(build_cli(), ["run", str(path), "-q", "--max-prompts", "4"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (tmp_path / "run" / "round-1" / "records.jsonl").open()]
    assert len(records) == 4
    assert all(record["models"]["critic"].startswith("llamacpp:") for record in records)
    assert all(record["models"]["judge"].startswith("llamacpp:") for record in records)
    usage = json.loads((tmp_path / "run" / "manifest.json").read_text())["rounds"][0]["usage"]
    assert usage["critique"]["requests"] == 4 and usage["critique"]["failures"] == 0
