"""`rlaif eval` and the held-out split, on deterministic doubles (fast)."""

import json
import math

import pytest
import yaml
from click.testing import CliRunner

from rlaif.cli import build_cli
from rlaif.constitution import load_constitution
from rlaif.eval import EvalSettings, evaluate, split_items, tally
from rlaif.eval.holdout import holdout_count
from rlaif.judges.pairwise import PairwiseJudge
from rlaif.prompts import PromptItem
from tests.eval_doubles import ImprovedFake, ScoredFake


def items(n):
    return [PromptItem(f"p{i}", [{"role": "user", "content": f"question {i}"}]) for i in range(n)]


def test_tally_counts_ties_as_half():
    assert tally(["win", "tie", "loss", "win"]) == {
        "win_rate": 0.625,
        "wins": 2,
        "losses": 1,
        "ties": 1,
        "n": 4,
    }
    assert tally([])["win_rate"] is None


def test_holdout_is_stable_disjoint_and_independent_of_order():
    prompts = items(20)
    split = split_items(prompts, 0.2)
    assert len(split.held_out) == 4 and len(split.train) == 16
    assert not {i.id for i in split.held_out} & {i.id for i in split.train}
    again = split_items(list(reversed(prompts)), 0.2)
    assert {i.id for i in again.held_out} == {i.id for i in split.held_out}
    assert holdout_count(3, 20) == 3 and holdout_count(0.2, 1) == 0 and holdout_count(50, 5) == 4


def test_evaluate_prefers_the_improved_model_and_estimates_kl():
    result = evaluate(
        ImprovedFake("trained"),
        ScoredFake("base"),
        PairwiseJudge(ScoredFake("judge")),
        items(4),
        load_constitution("helpful-harmless"),
        EvalSettings(principles="all"),
    )
    summary = result.summary
    n_principles = len(load_constitution("helpful-harmless").principles)
    assert summary["n"] == 4 * n_principles and summary["wins"] == summary["n"] and summary["win_rate"] == 1.0
    assert set(summary["per_principle"]) == {p.id for p in load_constitution("helpful-harmless").principles}
    # own-sample log-probs: -1/word under the trained double, -2/word under the baseline double
    words = summary["length"]["model"]["mean_words"]
    # the double gives sequence totals only: k3 on the whole sequence, log r = -words
    assert summary["kl"]["k1"] == pytest.approx(words)
    assert summary["kl"]["estimate"] == pytest.approx(words - 1 + math.exp(-words))
    assert summary["length"]["model"]["mean_words"] == summary["length"]["baseline"]["mean_words"] + 1
    record = result.records[0]
    assert record["outcome"] == "win" and record["model_response"].startswith("IMPROVED")


def test_evaluate_against_itself_is_all_ties():
    result = evaluate(
        ScoredFake("a"),
        ScoredFake("b"),
        PairwiseJudge(ScoredFake("judge")),
        items(3),
        load_constitution("helpful-harmless"),
    )
    assert result.summary["ties"] == 3 and result.summary["win_rate"] == 0.5


def test_rewards_give_pass_rates_for_both_models():
    from rlaif import build_reward

    result = evaluate(
        ImprovedFake("trained"),
        ScoredFake("base"),
        PairwiseJudge(ScoredFake("judge")),
        items(3),
        load_constitution("helpful-harmless"),
        rewards=[("contains", build_reward("contains", {"strings": ["IMPROVED"]}))],
    )
    stats = result.summary["rewards"]["contains"]
    assert stats["model"]["pass_rate"] == 1.0 and stats["baseline"]["pass_rate"] == 0.0
    assert stats["model"]["mean"] == 1.0 and result.records[0]["rewards"]["contains"] == {
        "model": 1.0,
        "baseline": 0.0,
    }


def _config(tmp_path, **extra):
    (tmp_path / "prompts.jsonl").write_text(
        "".join(json.dumps({"prompt": f"q {i}"}) + "\n" for i in range(10))
    )
    config = {
        "plugins": ["tests.doubles", "tests.eval_doubles"],
        "prompts": "prompts.jsonl",
        "output_dir": str(tmp_path / "run"),
        "models": {"policy": "scored:policy", "judge": {"spec": "fake:judge", "position_bias": 3.0}},
        "judge": {"options": {"both_orders": False}},
        "eval": {"holdout": 4},
        **extra,
    }
    path = tmp_path / "rlaif.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_eval_cli_json_counts_both_orders(tmp_path):
    """A judge with a strong position bias: each order alone is misleading; both together show the win."""
    config = _config(tmp_path)
    result = CliRunner().invoke(
        build_cli(), ["eval", str(config), "--model", "improved:x", "--json", "-o", str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["prompts"] == 4 and summary["n"] == 4
    assert summary["orders"]["model_first"]["win_rate"] == 1.0
    assert summary["orders"]["model_second"]["win_rate"] == 0.0
    assert summary["win_rate"] == 1.0
    records = (tmp_path / "out" / "eval_records.jsonl").read_text().splitlines()
    assert len(records) == 4 and json.loads(records[0])["p_model_second"] < 0.5


def test_eval_cli_human_output_and_prompts_file(tmp_path):
    config = _config(tmp_path)
    other = tmp_path / "other.jsonl"
    other.write_text("".join(json.dumps({"prompt": f"other {i}"}) + "\n" for i in range(2)))
    result = CliRunner().invoke(
        build_cli(), ["eval", str(config), "--model", "improved:x", "--prompts", str(other), "-q"]
    )
    assert result.exit_code == 0, result.output
    assert (
        "win rate:" in result.output
        and "model shown second" in result.output
        and "2 prompts" in result.output
    )


def test_eval_cli_bad_config_exits_2(tmp_path):
    config = _config(tmp_path, judge={"name": "nope"})
    result = CliRunner().invoke(build_cli(), ["eval", str(config), "--model", "improved:x"])
    assert (
        result.exit_code == 2 and "unknown judge 'nope'" in result.output and "Traceback" not in result.output
    )


def test_run_without_training_holds_nothing_out(tmp_path):
    from rlaif.config import load_config
    from rlaif.eval import prompt_split

    config = load_config(_config(tmp_path))
    assert len(prompt_split(config, train=False).train) == 10
    split = prompt_split(config, train=True)
    assert len(split.train) == 6 and len(split.held_out) == 4
    capped = config.with_overrides(max_prompts=2)
    assert {i.id for i in prompt_split(capped).held_out} == {i.id for i in split.held_out}


def test_kl_estimate_is_never_negative_where_the_log_ratio_mean_is():
    """A handful of samples can give a negative mean log-ratio (k1); the per-token k3 estimate cannot."""
    import random

    from rlaif.eval.core import kl_estimate, kl_terms

    rng = random.Random(3)
    terms = []
    for _ in range(5):
        model = [-rng.uniform(0.5, 3.0) for _ in range(12)]
        baseline = [m + rng.gauss(0.1, 0.6) for m in model]  # the sample is more likely under the baseline
        terms.append(kl_terms(model, baseline))
    kl = kl_estimate(terms)
    assert kl["k1"] < 0 <= kl["ci95"][0] <= kl["estimate"] <= kl["ci95"][1]
    assert kl["n"] == 5 and kl["method"].startswith("k3")
    assert kl_estimate([kl_terms([-1.0, -2.0], [-1.0, -2.0])])["estimate"] == 0.0
