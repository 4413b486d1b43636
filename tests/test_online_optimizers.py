"""GRPO and PPO train end to end on a tiny random model, with rewards from the registry and from the caller."""

from __future__ import annotations

import json

import pytest
from transformers import AutoModelForCausalLM

from rlaif.errors import RlaifError
from rlaif.models.pool import ModelPool
from rlaif.plugins import load_registry
from rlaif.protocols import TrainRequest
from tests.tiny_policy import make_tiny_policy


@pytest.fixture(scope="module")
def tiny_policy(tmp_path_factory):
    return make_tiny_policy(tmp_path_factory.mktemp("tiny-policy"))


def prompts():
    from datasets import Dataset

    return Dataset.from_dict(
        {
            "prompt": [[{"role": "user", "content": f"Say something about {topic}."}] for topic in "abcd"],
            "keyword": ["a", "b", "c", "d"],
        }
    )


def keyword_reward(prompts, completions, keyword, **_):
    """Reads a dataset column, as TRL reward functions do."""
    return [1.0 if k in c[0]["content"] else 0.0 for c, k in zip(completions, keyword, strict=True)]


def build(name, options):
    return load_registry().get("optimizers", name).factory(options)


def test_both_are_registered_as_online_optimizers():
    for name in ("grpo", "ppo"):
        assert build(name, {}).needs == "prompts"


def test_grpo_check_reports_group_size_that_does_not_fit_the_batch():
    problems = build("grpo", {}).check({"num_generations": 3, "per_device_train_batch_size": 4})
    assert "must be divisible by num_generations (3)" in problems[0].message
    assert problems[0].where == "optimizer.options.num_generations"
    assert build("grpo", {}).check({"num_generations": 2, "per_device_train_batch_size": 4}) == []


def test_checks_report_unknown_rewards_and_ppo_batch_split():
    registry = load_registry()
    problems = build("grpo", {}).check({"rewards": [{"name": "lenght"}]}, registry)
    assert "unknown reward 'lenght'" in problems[0].message
    problems = build("ppo", {}).check({"batch_size": 6, "mini_batch_size": 4})
    assert "not a multiple of mini_batch_size" in problems[0].message


def test_online_optimizers_refuse_to_train_without_rewards(tiny_policy, tmp_path):
    with pytest.raises(RlaifError, match="at least one reward"):
        build("ppo", {"max_steps": 1}).train(
            TrainRequest(policy=str(tiny_policy), output_dir=tmp_path, prompts=prompts())
        )


@pytest.mark.slow
def test_grpo_trains_with_registry_and_caller_rewards(tiny_policy, tmp_path):
    optimizer = build(
        "grpo",
        {
            "max_steps": 1,
            "num_generations": 2,
            "per_device_train_batch_size": 4,
            "max_completion_length": 8,
            "rewards": [{"name": "length", "options": {"max": 5}, "weight": 0.5}],
            "learning_rate": 1e-3,
        },
    )
    result = optimizer.train(
        TrainRequest(
            policy=str(tiny_policy),
            output_dir=tmp_path,
            prompts=prompts(),
            rewards=[keyword_reward],
            reward_weights=[1.0],
            context=ModelPool(load_registry()),
        )
    )
    assert result.metrics["global_step"] == 1
    assert "last_reward" in result.metrics and "last_kl" in result.metrics
    assert AutoModelForCausalLM.from_pretrained(result.checkpoint) is not None


@pytest.mark.slow
def test_ppo_trains_changes_weights_and_resumes(tiny_policy, tmp_path):
    import torch

    options = {
        "max_steps": 2,
        "batch_size": 4,
        "mini_batch_size": 2,
        "ppo_epochs": 2,
        "max_new_tokens": 6,
        "learning_rate": 1e-2,
        "save_steps": 1,
        "rewards": [{"name": "length", "options": {"max": 3, "soft": True}}],
    }
    request = TrainRequest(
        policy=str(tiny_policy),
        output_dir=tmp_path,
        prompts=prompts(),
        rewards=[keyword_reward],
        context=ModelPool(load_registry()),
    )
    result = build("ppo", options).train(request)
    assert result.metrics["global_step"] == 2
    steps = [entry for entry in result.log_history if "loss/policy" in entry]
    assert len(steps) == 2
    for key in (
        "kl",
        "reward",
        "entropy",
        "kl_coef",
        "policy/clipfrac",
        "val/clipfrac",
        "completions/mean_length",
    ):
        assert key in steps[0], key
    before = AutoModelForCausalLM.from_pretrained(tiny_policy).state_dict()
    after = AutoModelForCausalLM.from_pretrained(result.checkpoint).state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert (tmp_path / "value_head.pt").exists()
    assert (tmp_path / "trainer" / "checkpoint-1" / "state.pt").exists()
    # asking for 3 steps in the same folder resumes from checkpoint-1, not from scratch
    resumed = build("ppo", {**options, "max_steps": 3}).train(request)
    assert resumed.metrics["resumed_from"].endswith("checkpoint-1")
    assert resumed.metrics["global_step"] == 3
    assert json.dumps(resumed.metrics)  # metrics are plain JSON


@pytest.mark.slow
def test_ppo_with_lora_uses_disabled_adapters_as_reference(tiny_policy, tmp_path):
    result = build(
        "ppo",
        {
            "max_steps": 1,
            "batch_size": 2,
            "mini_batch_size": 2,
            "ppo_epochs": 1,
            "max_new_tokens": 4,
            "lora": {"r": 4, "alpha": 8},
            "rewards": [{"name": "length", "options": {"max": 3}}],
        },
    ).train(
        TrainRequest(
            policy=str(tiny_policy),
            output_dir=tmp_path,
            prompts=prompts(),
            context=ModelPool(load_registry()),
        )
    )
    assert (tmp_path / "adapter" / "adapter_config.json").exists()
    assert abs(result.log_history[0]["kl"]) < 1e-4  # first rollout: policy == reference
    assert AutoModelForCausalLM.from_pretrained(result.checkpoint) is not None


def test_scorers_mix_weighted_rewards_and_judges_with_the_given_context():
    from rlaif.optimizers.scorers import build_scorers, weighted_scores
    from tests.doubles import FakeChatModel

    class Context:
        def model(self, role_or_spec):
            return FakeChatModel(role_or_spec)

    context = Context()
    registry = load_registry(["tests.scoring_judge", "tests.doubles"])
    funcs, weights = build_scorers(
        {
            "rewards": [{"name": "length", "options": {"max": 2}, "weight": 2.0}],
            "judges": [{"name": "keyword-score", "options": {"keyword": "yes"}, "weight": 0.5}],
        },
        given=[keyword_reward],
        context=context,
        registry=registry,
    )
    assert weights == [1.0, 2.0, 0.5]
    completions = [
        [{"role": "assistant", "content": "yes a"}],
        [{"role": "assistant", "content": "no no no b"}],
    ]
    totals, means = weighted_scores(funcs, weights, [None, None], completions, keyword=["a", "x"])
    # "yes a": keyword 1 + length 2 x 1 + judge 0.5 x 1;  "no no no b": 0 + 0 + 0
    assert totals == [3.5, 0.0]
    assert set(means) == {"keyword_reward", "length", "judge:keyword-score"}
    with pytest.raises(RlaifError, match="cannot score single responses"):
        build_scorers({"judges": [{"name": "pairwise"}]}, context=context, registry=registry)


def test_hack_metrics_count_what_the_rewards_caught():
    """The code reward tallies the guards that fired; online optimizers log them (through name wrappers too)."""
    from collections import Counter

    from rlaif.optimizers.scorers import _named, hack_metrics

    class Caught:
        def __init__(self):
            self.hack_counts = Counter({"non-plain value": 3, "frame access": 1})

        def __call__(self, prompts, completions, **columns):
            return [0.0 for _ in completions]

    class Honest:
        def __call__(self, prompts, completions, **columns):
            return [1.0 for _ in completions]

    wrapped = _named(Caught(), "code", force=True)
    assert hack_metrics([wrapped, _named(Honest(), "length", force=True)]) == {
        "hacks/code/non-plain value": 3,
        "hacks/code/frame access": 1,
        "hacks_total": 4,
    }
    assert hack_metrics([Honest()]) == {}
