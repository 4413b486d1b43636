"""Integration: the real embedded SmolLM2-135M-Instruct, generation, judging, DPO, checkpoint reload."""

import json

import pytest
import yaml
from click.testing import CliRunner

from rlaif.cli import build_cli
from rlaif.protocols import GenerationParams

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def embedded():
    from rlaif import load_chat_model

    return load_chat_model("embedded", {"batch_size": 4})


def test_embedded_model_is_cached_as_safetensors():
    from rlaif.models.embedded import embedded_model_dir

    path = embedded_model_dir()
    assert (path / "model.safetensors").exists() and (path / "tokenizer.json").exists()
    config = json.loads((path / "config.json").read_text())
    assert "quantization_config" not in config  # dequantized: trainable and saveable


def test_batched_seeded_generation_is_reproducible_per_request(embedded):
    conversations = [
        [{"role": "user", "content": q}] for q in ("Name a fruit.", "Say hello.", "What is 2+2?")
    ]
    params = GenerationParams(max_new_tokens=12, temperature=0.9, top_p=0.95)
    together = embedded.generate(conversations, params, seeds=[1, 2, 3])
    alone = embedded.generate(conversations[1:2], params, seeds=[2])
    assert all(isinstance(text, str) and text for text in together)
    assert together[1] == alone[0]
    greedy = embedded.generate(conversations[:1], GenerationParams(max_new_tokens=8, temperature=0))
    assert greedy == embedded.generate(conversations[:1], GenerationParams(max_new_tokens=8, temperature=0))


def test_label_logprobs_are_real_log_probabilities(embedded):
    import math

    out = embedded.label_logprobs(
        [[{"role": "user", "content": "Answer with a single letter: A or B."}]], ["A", "B"]
    )
    assert set(out[0]) == {"A", "B"}
    assert all(v < 0 for v in out[0].values())
    assert math.exp(out[0]["A"]) + math.exp(out[0]["B"]) <= 1.0 + 1e-6
    multi = embedded.label_logprobs([[{"role": "user", "content": "Say yes or no."}]], ["Yes", "No thanks"])
    assert set(multi[0]) == {"Yes", "No thanks"}


def test_run_generates_judges_trains_and_the_checkpoint_loads(tmp_path):
    config = {
        "prompts": "default",
        "max_prompts": 3,
        "output_dir": str(tmp_path / "run"),
        "generation": {"max_new_tokens": 24},
        "critique": {"max_new_tokens": 16},
        "revision": {"max_new_tokens": 24},
        "judge": {"margin": 0.0},
        "optimizer": {
            "options": {
                "max_steps": 1,
                "per_device_train_batch_size": 2,
                "gradient_accumulation_steps": 1,
                "max_length": 256,
            }
        },
    }
    path = tmp_path / "rlaif.yaml"
    path.write_text(yaml.safe_dump(config))
    result = CliRunner().invoke(build_cli(), ["run", str(path), "-q"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    round_1 = manifest["rounds"][0]
    assert round_1["counts"]["prompts"] == 3
    assert round_1["counts"]["pairs"] >= 1, round_1
    checkpoint = tmp_path / "run" / round_1["checkpoint"]
    assert (checkpoint / "model.safetensors").exists()
    metrics = json.loads((tmp_path / "run" / round_1["metrics"]).read_text())
    assert metrics["metrics"]["global_step"] == 1

    from rlaif import load_chat_model

    trained = load_chat_model(str(checkpoint))
    assert trained.generate(
        [[{"role": "user", "content": "Hi!"}]], GenerationParams(max_new_tokens=8, temperature=0)
    )[0]


def test_train_command_on_a_pairs_file(tmp_path):
    pairs = tmp_path / "pairs.jsonl"
    rows = [
        {
            "prompt": [{"role": "user", "content": f"Say something kind #{i}"}],
            "chosen": [{"role": "assistant", "content": "You're doing great!"}],
            "rejected": [{"role": "assistant", "content": "Go away."}],
        }
        for i in range(4)
    ]
    pairs.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    result = CliRunner().invoke(
        build_cli(),
        [
            "train",
            str(pairs),
            "-o",
            str(out),
            "--option",
            "max_steps=2",
            "--option",
            "per_device_train_batch_size=2",
            "--option",
            "gradient_accumulation_steps=1",
            "--option",
            "lora={r: 4, alpha: 8}",
            "--option",
            "learning_rate=1e-3",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (out / "checkpoint" / "model.safetensors").exists()
    assert (out / "adapter" / "adapter_config.json").exists()
    history = json.loads((out / "metrics.json").read_text())["log_history"]
    assert any("loss" in entry for entry in history)
