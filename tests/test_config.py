import json

import pytest
from click.testing import CliRunner

from rlaif.cli import build_cli
from rlaif.config import check_config, config_from_dict, load_config
from rlaif.errors import RlaifError


def test_empty_config_is_valid_and_fully_defaulted(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("{}\n")
    config = load_config(path)
    assert config["constitution"] == "helpful-harmless"
    assert config["judge"]["name"] == "pairwise" and config["optimizer"]["name"] == "dpo"
    assert config.model("policy").spec == "embedded"
    assert config.model("judge").spec == "embedded"  # judge -> critic -> policy
    assert config.sampling("critique").temperature == 0.0
    assert check_config(config) == []


def test_role_fallbacks_and_model_options():
    config = config_from_dict(
        {"models": {"policy": "embedded", "critic": {"spec": "openai:x", "base_url": "http://h"}}}
    )
    assert config.model("judge").spec == "openai:x"
    assert config.model("judge").options == {"base_url": "http://h"}


def test_result_hash_ignores_harmless_keys():
    a = config_from_dict({"seed": 1})
    assert a.result_hash() == a.with_overrides(output_dir="elsewhere", max_prompts=3).result_hash()
    assert a.result_hash() != config_from_dict({"seed": 2}).result_hash()


def test_schema_errors_list_every_problem_with_did_you_mean():
    with pytest.raises(RlaifError) as info:
        config_from_dict({"sed": 1, "rounds": 0, "judge": {"margin": "big"}}, source="run.yaml")
    text = str(info.value)
    assert "did you mean 'seed'" in text
    assert "rounds" in text and "judge.margin" in text
    assert "run.yaml" in text


def test_check_config_reports_unknown_plugins_and_missing_files(tmp_path):
    config = config_from_dict(
        {
            "judge": {"name": "pairwize"},
            "optimizer": {"name": "dpo", "options": {"beta": -1}},
            "prompts": "missing.jsonl",
            "constitution": "none.yaml",
        },
        source="run.yaml",
        base_dir=tmp_path,
    )
    problems = [str(p) for p in check_config(config)]
    text = "\n".join(problems)
    assert "unknown judge 'pairwize' (did you mean 'pairwise'?)" in text
    assert "optimizer.options.beta" in text
    assert "missing.jsonl" in text and "none.yaml" in text


def test_config_check_cli_exit_codes(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("seed: 3\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("judge: {name: nope}\nprompts: nothing.jsonl\n")
    runner = CliRunner()
    ok = runner.invoke(build_cli(), ["config", "check", str(good)])
    assert ok.exit_code == 0 and "ok" in ok.output
    result = runner.invoke(build_cli(), ["config", "check", str(bad)])
    assert result.exit_code == 2
    assert "judge.name" in result.output and "prompts" in result.output and "Traceback" not in result.output


def test_training_a_served_policy_is_refused():
    config = config_from_dict({"models": {"policy": "openai:gpt"}})
    assert any("cannot be trained" in str(p) for p in check_config(config))


def test_init_writes_a_valid_starter(tmp_path):
    runner = CliRunner()
    result = runner.invoke(build_cli(), ["init", str(tmp_path / "proj")])
    assert result.exit_code == 0, result.output
    check = runner.invoke(build_cli(), ["config", "check", str(tmp_path / "proj" / "rlaif.yaml")])
    assert check.exit_code == 0, check.output
    again = runner.invoke(build_cli(), ["init", str(tmp_path / "proj")])
    assert again.exit_code == 2 and "--force" in again.output


def test_shipped_examples_pass_config_check():
    from pathlib import Path

    for path in sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.yaml")):
        config = load_config(path)
        problems = [p for p in check_config(config) if "openai" not in str(p)]
        assert problems == [], (path, problems)
    assert json.dumps(load_config(None).raw)


def test_rewards_attached_to_principles_are_checked(tmp_path):
    constitution = tmp_path / "c.yaml"
    constitution.write_text(
        "name: c\nprinciples:\n  - id: short\n    critique_request: c\n    revision_request: r\n"
        "    judging_question: q\n    rewards: [lenght, {name: length, options: {unit: parsecs}}]\n"
    )
    config = config_from_dict({"constitution": str(constitution)}, source="run.yaml", base_dir=tmp_path)
    text = "\n".join(str(p) for p in check_config(config))
    assert "principles[0].rewards[0]" in text and "did you mean 'length'" in text
    assert "principles[0].rewards[1].options" in text


def test_scientific_notation_is_a_number(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("optimizer:\n  options:\n    learning_rate: 1e-5\n")
    config = load_config(path)
    assert config["optimizer"]["options"]["learning_rate"] == 1e-5
    assert check_config(config) == []


def test_trainer_optimizers_share_one_trl_args_check():
    """DPO and SFT refuse the same impossible settings, each naming its own TRL config."""
    from rlaif.optimizers.common import trainer_option_problems
    from rlaif.optimizers.dpo import DPOOptions
    from rlaif.optimizers.sft import SFTOptions

    dpo = trainer_option_problems(
        {"max_steps": 0, "trl_args": {"beta": 1, "seed": 3, "learnin_rate": 1}}, DPOOptions, "DPOConfig"
    )
    assert [p.where for p in dpo] == ["max_steps", "trl_args.beta", "trl_args.seed", "trl_args.learnin_rate"]
    assert "did you mean 'learning_rate'" in dpo[-1].message
    sft = trainer_option_problems({"trl_args": {"packin": True}}, SFTOptions, "SFTConfig")
    assert sft[0].message == "'packin' is not an SFTConfig field (did you mean 'packing'?)"
