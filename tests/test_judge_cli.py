"""`rlaif judge-eval`, `rlaif judge train-rm` and `rlaif plugins` through the CLI."""

import json

import pytest
import yaml
from click.testing import CliRunner

from rlaif.cli import build_cli
from tests.tiny_policy import make_tiny_policy

JUDGES = {"pairwise", "score", "likelihood", "reward-model", "ensemble", "rewards-as-judge"}


def write_data(tmp_path, n=6):
    path = tmp_path / "pairs.jsonl"
    lines = [
        {
            "id": f"p{i}",
            "prompt": [{"role": "user", "content": f"q{i}"}],
            "chosen": f"IMPROVED {i}",
            "rejected": f"meh {i}",
        }
        for i in range(n)
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def write_config(tmp_path, **judge):
    path = tmp_path / "rlaif.yaml"
    config = {"plugins": ["tests.doubles"], "models": {"policy": "fake:p"}, "judge": judge or {}}
    path.write_text(yaml.safe_dump(config))
    return path


def test_plugins_lists_every_judge():
    result = CliRunner().invoke(build_cli(), ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    assert JUDGES <= set(result.output.replace('"', " ").split())


def test_judge_eval_json_reports_the_agreed_keys(tmp_path):
    args = ["judge-eval", str(write_config(tmp_path)), "--data", str(write_data(tmp_path)), "--json"]
    result = CliRunner().invoke(build_cli(), args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert {"n", "agreement", "position_consistency", "tie_rate", "ece", "pairs_per_second"} <= set(report)
    assert report["n"] == 6 and report["agreement"] == 1.0 and report["position_consistency"] == 1.0


def test_judge_eval_options_override_and_limit(tmp_path):
    per_pair = tmp_path / "verdicts.jsonl"
    args = [
        "judge-eval",
        str(write_config(tmp_path)),
        "--data",
        str(write_data(tmp_path)),
        "--option",
        "both_orders=false",
        "--limit",
        "4",
        "--per-pair",
        str(per_pair),
    ]
    result = CliRunner().invoke(build_cli(), args)
    assert result.exit_code == 0, result.output
    assert "agreement with human label" in result.output and "pairs" in result.output
    assert len(per_pair.read_text().splitlines()) == 4


def test_judge_eval_errors_are_clean(tmp_path):
    config, data = write_config(tmp_path), write_data(tmp_path)
    result = CliRunner().invoke(
        build_cli(), ["judge-eval", str(config), "--data", str(data), "--option", "nope=1"]
    )
    assert result.exit_code == 2 and "nope" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(
        build_cli(), ["judge-eval", str(config), "--data", str(data), "--judge", "oracle"]
    )
    assert result.exit_code == 2 and "oracle" in result.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"prompt": "x", "chosen": "y"}) + "\n")
    result = CliRunner().invoke(build_cli(), ["judge-eval", str(config), "--data", str(bad)])
    assert result.exit_code == 2 and "line 1" in result.output and "rejected" in result.output


def tiny_base(tmp_path):
    """A tiny random-init causal LM with the embedded tokenizer, saved as a local base model directory."""
    return make_tiny_policy(tmp_path / "tiny")


@pytest.mark.slow
def test_train_rm_then_judge_with_it(tmp_path):
    """A tiny random-init model with the embedded tokenizer: train 2 steps, then use it as a judge."""
    base = tiny_base(tmp_path)
    data = write_data(tmp_path, n=8)
    rm = tmp_path / "rm"
    result = CliRunner().invoke(
        build_cli(),
        [
            "judge",
            "train-rm",
            str(data),
            "-o",
            str(rm),
            "--base",
            str(base),
            "--max-steps",
            "2",
            "--batch-size",
            "4",
            "--learning-rate",
            "1e-3",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (rm / "config.json").exists()
    args = [
        "judge-eval",
        str(write_config(tmp_path)),
        "--data",
        str(data),
        "--judge",
        "reward-model",
        "--option",
        f"path={rm}",
        "--json",
    ]
    result = CliRunner().invoke(build_cli(), args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["n"] == 8 and report["position_consistency"] == 1.0 and 0.0 <= report["agreement"] <= 1.0


@pytest.mark.slow
def test_train_rm_on_a_slice_with_lora_and_trimmed_context(tmp_path):
    """--offset/--limit pick the training slice, --context-turns is saved and the judge trims the same way,
    LoRA adapters are merged so the output is a plain sequence-classification directory."""
    from rlaif.judges.reward_model import RewardModelJudge, read_training_metadata

    base = tiny_base(tmp_path)
    data = write_data(tmp_path, n=8)
    rm = tmp_path / "rm"
    args = ["judge", "train-rm", str(data), "-o", str(rm), "--base", str(base), "--max-steps", "1"]
    args += ["--offset", "2", "--limit", "4", "--context-turns", "1", "--lora-r", "4", "--threads", "1"]
    result = CliRunner().invoke(
        build_cli(), [*args, "--batch-size", "2", "--gradient-accumulation-steps", "2"]
    )
    assert result.exit_code == 0, result.output
    meta = read_training_metadata(rm)
    assert meta["offset"] == 2 and meta["pairs_loaded"] == 4 and meta["pairs_trained"] == 4
    assert meta["context_turns"] == 1 and meta["lora_r"] == 4
    assert not (rm / "adapter_config.json").exists() and (rm / "config.json").exists()
    judge = RewardModelJudge(rm)
    assert judge.context_turns == 1
    history = [{"role": "user", "content": "long ago"}, {"role": "assistant", "content": "ok"}]
    question = [{"role": "user", "content": "q"}]
    assert judge.score([history + question], ["a"]) == judge.score([question], ["a"])
    assert RewardModelJudge(rm, context_turns=3).score([history + question], ["a"]) != judge.score(
        [question], ["a"]
    )


def test_train_rm_refuses_when_every_pair_is_too_long(tmp_path):
    from rlaif.errors import RlaifError
    from rlaif.judges.reward_model import train_reward_model

    base = tiny_base(tmp_path)
    with pytest.raises(RlaifError, match="longer than max_length=8"):
        train_reward_model(write_data(tmp_path, n=2), tmp_path / "rm", base=str(base), max_length=8)
