"""`rlaif run` for N rounds with a real (tiny) trainable policy: each round's checkpoint generates or trains
the next round; online optimizers train on the prompts with the constitution's rewards (no CAI pairs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from rlaif.config import load_config
from rlaif.rounds import run
from tests.tiny_policy import make_tiny_policy

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(scope="module")
def tiny_policy(tmp_path_factory):
    return make_tiny_policy(tmp_path_factory.mktemp("tiny-policy"))


def write_config(tmp_path, policy, **overrides):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(
        "".join(json.dumps({"prompt": f"Say {word}."}) + "\n" for word in ("hi", "yes", "no", "ok"))
    )
    config = {
        "plugins": ["tests.doubles"],
        "prompts": str(prompts),
        "constitution": str(EXAMPLES / "constitutions" / "brevity.yaml"),
        "output_dir": str(tmp_path / "run"),
        "rounds": 2,
        "models": {"policy": str(policy)},
        "generation": {"max_new_tokens": 6},
        **overrides,
    }
    path = tmp_path / "rlaif.yaml"
    path.write_text(yaml.safe_dump(config))
    return load_config(path)


def assert_round_trajectory(result):
    manifest = result.manifest
    first, second = manifest["rounds"]
    assert first["status"] == second["status"] == "trained"
    # round 2 started from round 1's checkpoint, and the run's final checkpoint is round 2's
    assert Path(second["policy"]) == (result.run_dir / first["checkpoint"]).resolve()
    assert manifest["final_checkpoint"] == second["checkpoint"] == "round-2/checkpoint"
    for entry in (first, second):
        assert (result.run_dir / entry["checkpoint"] / "config.json").exists()
        assert (result.run_dir / entry["metrics"]).exists()


@pytest.mark.slow
def test_dpo_rounds_generate_with_the_previous_rounds_policy(tiny_policy, tmp_path):
    config = write_config(
        tmp_path,
        tiny_policy,
        models={"policy": str(tiny_policy), "critic": "fake:critic"},
        optimizer={
            "name": "dpo",
            "options": {
                "max_steps": 1,
                "per_device_train_batch_size": 2,
                "gradient_accumulation_steps": 1,
                "max_length": 64,
            },
        },
    )
    result = run(config, progress=False, echo=lambda _: None)
    assert_round_trajectory(result)
    second_records = (result.run_dir / "round-2" / "records.jsonl").read_text().splitlines()
    assert json.loads(second_records[0])["models"]["policy"].endswith("round-1/checkpoint")


@pytest.mark.slow
def test_grpo_rounds_train_on_prompts_with_constitution_rewards(tiny_policy, tmp_path):
    config = write_config(
        tmp_path,
        tiny_policy,
        optimizer={
            "name": "grpo",
            "options": {
                "max_steps": 1,
                "num_generations": 2,
                "per_device_train_batch_size": 4,
                "max_completion_length": 4,
            },
        },
    )
    result = run(config, progress=False, echo=lambda _: None)
    assert_round_trajectory(result)
    assert not (result.run_dir / "round-1" / "records.jsonl").exists()  # online: no CAI generation
    metrics = json.loads((result.run_dir / "round-1" / "metrics.json").read_text())
    # the brevity principle's `length` reward scored the completions
    assert any("rewards/length/mean" in entry for entry in metrics["log_history"])
    # eval is on by default: one of the 4 prompts is held out, trained on never, and evaluated after each round
    first = result.manifest["rounds"][0]
    assert first["counts"] == {"prompts": 3}
    assert (result.run_dir / first["eval_records"]).exists()
