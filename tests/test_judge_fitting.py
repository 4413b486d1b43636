"""Fitted ensembles, the PMI likelihood contrast and the honesty figures of judge evaluation, with doubles."""

import json
import math
import random

import pytest
import yaml
from click.testing import CliRunner

from rlaif.cli import build_cli
from rlaif.constitution import Principle
from rlaif.errors import RlaifError
from rlaif.judges.data import PreferencePair
from rlaif.judges.ensemble import EnsembleJudge, ensemble_factory
from rlaif.judges.evaluation import evaluate_judge, wilson_interval
from rlaif.judges.fitting import (
    FittedEnsemble,
    combine_weighted,
    fit_ensemble,
    fit_logistic,
    length_feature,
)
from rlaif.judges.fitting import (
    member_logit as logit,
)
from rlaif.judges.likelihood import LikelihoodJudge
from rlaif.judges.pairwise import PairwiseJudge
from rlaif.protocols import Comparison
from tests.judge_doubles import Context, ScriptedModel, first_shown

PRINCIPLE = Principle("p", "c", "r", "Which is better?")
PROMPT = [{"role": "user", "content": "q"}]


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def test_fit_logistic_recovers_the_weights_that_generated_the_labels():
    rng = random.Random(0)
    true = [2.0, -1.0, 0.0]
    features = [[rng.gauss(0, 1) for _ in true] for _ in range(4000)]
    labels = [
        float(rng.random() < sigmoid(sum(w * x for w, x in zip(true, row, strict=True)))) for row in features
    ]
    fitted = fit_logistic(features, labels, l2=0.0)
    assert fitted == pytest.approx(true, abs=0.15)
    # the penalty shrinks the weights towards zero
    shrunk = fit_logistic(features, labels, l2=2000.0)
    assert abs(shrunk[0]) < abs(fitted[0]) / 2


def test_fit_logistic_stays_finite_on_separable_data_and_checks_its_input():
    weights = fit_logistic([[1.0], [-1.0], [2.0], [-2.0]], [1, 0, 1, 0], l2=1.0)
    assert 0 < weights[0] < 20
    with pytest.raises(ValueError):
        fit_logistic([], [])
    with pytest.raises(ValueError):
        fit_logistic([[1.0]], [1], l2=-1)


def test_weighted_combination_and_length_term_are_antisymmetric():
    assert length_feature("long answer", "short") == pytest.approx(-length_feature("short", "long answer"))
    assert length_feature("same", "same") == 0.0
    p = combine_weighted([logit(0.8), logit(0.3)], [1.5, 0.5], length_weight=0.7, length=0.4)
    q = combine_weighted([logit(0.2), logit(0.7)], [1.5, 0.5], length_weight=0.7, length=-0.4)
    assert p == pytest.approx(1 - q)
    assert p == pytest.approx(sigmoid(1.5 * logit(0.8) + 0.5 * logit(0.3) + 0.7 * 0.4))
    assert logit(1.0) == pytest.approx(logit(1 - 1e-4))  # clipped, not infinite
    with pytest.raises(ValueError):
        combine_weighted([0.0], [1.0, 2.0])


def right_or_wrong(strength: float):
    """A pairwise model preferring the GOOD response with ``strength`` (below 0.5: preferring the other)."""

    def label_fn(text, labels):
        p = strength if "GOOD" in first_shown(text) else 1 - strength
        return {labels[0]: p, labels[1]: 1 - p}

    return ScriptedModel(label_fn)


def test_weighted_ensemble_follows_its_weights_and_is_order_consistent():
    members = [
        ("0:pairwise", PairwiseJudge(right_or_wrong(0.9))),
        ("1:pairwise", PairwiseJudge(right_or_wrong(0.2))),
    ]
    judge = EnsembleJudge(members, combine="weighted", weights=[1.0, 0.0])
    (verdict,) = judge.compare([Comparison(PROMPT, "GOOD", "bad", PRINCIPLE)])
    assert verdict.p_a == pytest.approx(0.9)
    assert verdict.details["member_logits"] == pytest.approx([logit(0.9), logit(0.2)])
    assert "p_a_order_ab" not in verdict.details  # a weighted verdict is no mean of the members' orders
    mean = EnsembleJudge(members).compare([Comparison(PROMPT, "GOOD", "bad", PRINCIPLE)])[0]
    assert mean.p_a == pytest.approx((0.9 + 0.2) / 2)
    lengthy = EnsembleJudge(members, combine="weighted", weights=[0.0, 0.0], length_weight=2.0)
    forward = lengthy.compare([Comparison(PROMPT, "GOOD and long", "bad", PRINCIPLE)])[0]
    backward = lengthy.compare([Comparison(PROMPT, "bad", "GOOD and long", PRINCIPLE)])[0]
    assert forward.p_a > 0.5 and forward.p_a == pytest.approx(1 - backward.p_a)
    with pytest.raises(RlaifError, match="one weight per member"):
        EnsembleJudge(members, combine="weighted", weights=[1.0])


def good_pairs(n: int) -> list[PreferencePair]:
    """Human-chosen responses contain GOOD; every third pair the chosen one is the shorter."""
    pairs = []
    for i in range(n):
        chosen, rejected = ("GOOD", "bad and long") if i % 3 == 0 else ("GOOD, and longer", "bad")
        pairs.append(PreferencePair(f"p{i}", PROMPT, f"{chosen} {i}", f"{rejected} {i}"))
    return pairs


def fit_two_members(tmp_path, use_length=False):
    context = Context({"judge": right_or_wrong(0.7), "noise": right_or_wrong(0.5)})
    members = [{"name": "pairwise"}, {"name": "pairwise", "model": "noise"}]
    judge = ensemble_factory({"members": members}, context)
    fitted = fit_ensemble(judge, good_pairs(12), PRINCIPLE, members, use_length=use_length, l2=1.0)
    return fitted, context


def test_fit_ensemble_weights_the_informative_member_and_round_trips(tmp_path):
    fitted, context = fit_two_members(tmp_path)
    assert fitted.weights[0] > 1.0 and fitted.weights[1] == pytest.approx(0.0, abs=1e-6)
    assert fitted.length_weight is None
    training = fitted.training
    assert training["member_agreement"] == {"0:pairwise": 1.0, "1:pairwise@noise": 0.5}
    assert training["longer_wins_agreement"] == pytest.approx(8 / 12)
    assert training["fit_agreement_without_length"] == 1.0 and training["n"] == 12
    path = fitted.save(tmp_path / "fit.json")
    loaded = FittedEnsemble.load(path)
    assert loaded.weights == pytest.approx(fitted.weights) and loaded.members == fitted.members
    judge = ensemble_factory({"fitted": str(path)}, context)
    assert judge.combine == "weighted" and judge.weights == pytest.approx(fitted.weights)
    result = evaluate_judge(judge, good_pairs(6), PRINCIPLE)
    assert result.agreement == 1.0
    assert result.members["0:pairwise"]["agreement"] == 1.0
    assert result.members["1:pairwise@noise"]["agreement"] == 0.5


def test_fit_with_length_keeps_the_fit_without_it_and_the_judge_can_pick_either(tmp_path):
    fitted, context = fit_two_members(tmp_path, use_length=True)
    assert fitted.length_weight is not None
    assert "fit_agreement_with_length" in fitted.training
    assert fitted.weights_without_length() == pytest.approx(fitted.training["weights_without_length"])
    path = fitted.save(tmp_path / "fit.json")
    with_length = ensemble_factory({"fitted": str(path)}, context)
    without = ensemble_factory({"fitted": str(path), "length": False}, context)
    assert with_length.length_weight == pytest.approx(fitted.length_weight)
    assert without.length_weight == 0.0 and without.weights == pytest.approx(fitted.weights_without_length())


def test_fitted_option_refuses_members_and_bad_files(tmp_path):
    fitted, context = fit_two_members(tmp_path)
    path = fitted.save(tmp_path / "fit.json")
    with pytest.raises(RlaifError, match="either `fitted` or `members`"):
        ensemble_factory({"fitted": str(path), "members": [{"name": "pairwise"}]}, context)
    with pytest.raises(RlaifError, match="does not exist"):
        ensemble_factory({"fitted": str(tmp_path / "missing.json")}, context)
    (tmp_path / "other.json").write_text(json.dumps({"members": []}))
    with pytest.raises(RlaifError, match="not a fitted ensemble"):
        ensemble_factory({"fitted": str(tmp_path / "other.json")}, context)


def test_likelihood_prompt_contrast_is_pmi_against_an_empty_request():
    seen = []

    def response_fn(conversation, response):
        seen.append(conversation)
        user = [m["content"] for m in conversation if m["role"] == "user"]
        fluent = -1.0 if "generic" in response else -2.0  # generic text is likelier in itself
        relevant = 0.8 if user != [""] and "on topic" in response else 0.0
        return fluent + relevant

    model = ScriptedModel(lambda text, labels: None, response_fn=response_fn)
    pair = [Comparison(PROMPT, "generic text", "on topic text", PRINCIPLE)]
    assert LikelihoodJudge(model).compare(pair)[0].p_a > 0.5  # fluency wins without the contrast
    seen.clear()
    verdict = LikelihoodJudge(model, contrast="prompt").compare(pair)[0]
    assert verdict.p_a < 0.5 and verdict.details["score_b"] == pytest.approx(0.8)
    baselines = [c for c in seen if [m["content"] for m in c if m["role"] == "user"] == [""]]
    assert len(baselines) == 2 and all(
        c[0]["role"] == "system" and "Which is better?" in c[0]["content"] for c in baselines
    )


def test_evaluation_reports_an_interval_the_length_baseline_and_how_often_the_judge_picks_longer():
    # the judge prefers GOOD; the human-chosen (GOOD) response is the longer one in 2 of 3 pairs
    judge = PairwiseJudge(right_or_wrong(0.8))
    result = evaluate_judge(judge, good_pairs(6), PRINCIPLE)
    assert result.agreement == 1.0
    assert result.longer_wins_agreement == pytest.approx(4 / 6) and result.picks_longer == pytest.approx(
        4 / 6
    )
    low, high = result.agreement_ci95
    assert low == pytest.approx(wilson_interval(6, 6)[0]) and high == 1.0 and 0.5 < low < 0.7
    assert result.members is None
    low, high = wilson_interval(120, 200)
    assert (low, high) == pytest.approx((0.531, 0.665), abs=0.001)


def write_cli_files(tmp_path):
    data = tmp_path / "pairs.jsonl"
    lines = [
        {
            "id": f"p{i}",
            "prompt": [{"role": "user", "content": f"q{i}"}],
            "chosen": f"IMPROVED {i}",
            "rejected": f"meh {i}",
        }
        for i in range(8)
    ]
    data.write_text("".join(json.dumps(line) + "\n" for line in lines))
    config = tmp_path / "rlaif.yaml"
    config.write_text(yaml.safe_dump({"plugins": ["tests.doubles"], "models": {"policy": "fake:p"}}))
    return data, config


def test_fit_ensemble_cli_fits_on_one_slice_and_judge_eval_uses_the_file(tmp_path):
    data, config = write_cli_files(tmp_path)
    out = tmp_path / "ens.json"
    args = ["judge", "fit-ensemble", str(config), "--data", str(data), "--limit", "4", "--length-feature"]
    args += [
        "--member",
        "pairwise",
        "--member",
        "{name: pairwise, options: {both_orders: false}}",
        "-o",
        str(out),
    ]
    result = CliRunner().invoke(build_cli(), args)
    assert result.exit_code == 0, result.output
    assert "fit with length" in result.output and "weight" in result.output
    saved = json.loads(out.read_text())
    assert saved["training"]["n"] == 4 and saved["training"]["limit"] == 4 and len(saved["weights"]) == 2
    assert saved["length_weight"] is not None
    args = ["judge-eval", str(config), "--data", str(data), "--offset", "4", "--judge", "ensemble"]
    result = CliRunner().invoke(build_cli(), [*args, "--option", f"fitted={out}", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["n"] == 4 and report["agreement"] == 1.0 and len(report["agreement_ci95"]) == 2
    assert report["longer_wins_agreement"] == 1.0 and set(report["members"]) == {"0:pairwise", "1:pairwise"}
    assert report["members"]["0:pairwise"]["position_consistency"] == 1.0
    bad = CliRunner().invoke(
        build_cli(),
        ["judge", "fit-ensemble", str(config), "--data", str(data), "--member", "[1]", "-o", str(out)],
    )
    assert bad.exit_code != 0 and "expected a judge name" in bad.output


def test_config_check_finds_weight_and_fitted_file_mistakes(tmp_path):
    from rlaif.config import check_config, config_from_dict

    def problems(options):
        raw = {"judge": {"name": "ensemble", "options": options}}
        return "\n".join(str(p) for p in check_config(config_from_dict(raw, source="run.yaml")))

    two = [{"name": "pairwise"}, {"name": "likelihood"}]
    assert "3 weights for 2 members" in problems({"members": two, "weights": [1, 2, 3]})
    assert "judge.options.combine" in problems({"members": two, "combine": "weighted"})
    assert "does not exist" in problems({"fitted": str(tmp_path / "nope.json")})
    fitted, _ = fit_two_members(tmp_path)
    path = fitted.save(tmp_path / "fit.json")
    assert problems({"fitted": str(path)}) == ""
    assert problems({"members": two, "weights": [1, 0.5], "length_weight": 0.2}) == ""
    assert "not both" in problems({"fitted": str(path), "members": two})
