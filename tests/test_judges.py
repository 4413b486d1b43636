"""The judges' behaviour through their public interfaces, with deterministic doubles."""

import json
import math

import pytest

from rlaif.constitution import Principle
from rlaif.errors import RlaifError
from rlaif.judges.data import PreferencePair, load_preference_pairs
from rlaif.judges.ensemble import ensemble_factory
from rlaif.judges.evaluation import evaluate_judge
from rlaif.judges.likelihood import LikelihoodJudge
from rlaif.judges.pairwise import COT_FOLLOW_UP, PairwiseJudge
from rlaif.judges.rewards_judge import rewards_judge_factory
from rlaif.judges.score import ScoreJudge
from rlaif.plugins import load_registry
from rlaif.protocols import Comparison
from tests.judge_doubles import Context, ScriptedModel, first_shown

PRINCIPLE = Principle("p", "c", "r", "Which is better?")
PROMPT = [{"role": "user", "content": "q"}]


def good_first(text, labels, strength=0.8, bias=0.0):
    """P(first label) high when the first-shown response contains GOOD, plus a position bias (logit)."""
    logit = math.log(strength / (1 - strength)) * (1 if "GOOD" in first_shown(text) else -1) + bias
    p = 1 / (1 + math.exp(-logit))
    return {labels[0]: p, labels[1]: 1 - p}


def test_pairwise_chain_of_thought_reads_the_label_after_the_rationale_and_clamps_it():
    model = ScriptedModel(
        lambda text, labels: good_first(text, labels, strength=0.99), lambda c: "B is worse."
    )
    judge = PairwiseJudge(model, cot=True)
    (verdict,) = judge.compare([Comparison(PROMPT, "GOOD a", "bad b", PRINCIPLE)])
    asked = model.label_calls[0][0]
    assert (
        asked[1] == {"role": "assistant", "content": "B is worse."} and asked[2]["content"] == COT_FOLLOW_UP
    )
    assert "explain" in asked[0]["content"] and "Answer with a single letter" not in asked[0]["content"]
    assert verdict.details["rationale_ab"] == "B is worse." and "rationale_ba" in verdict.details
    assert verdict.details["p_a_order_ab"] == pytest.approx(0.6)  # clamped from 0.99
    assert verdict.details["raw_p_a_order_ab"] == pytest.approx(0.99)
    assert verdict.p_a == pytest.approx(0.6)


def test_pairwise_tie_band_turns_near_even_verdicts_into_ties():
    model = ScriptedModel(lambda text, labels: good_first(text, labels, strength=0.52))
    (verdict,) = PairwiseJudge(model, tie_band=0.05).compare([Comparison(PROMPT, "GOOD", "x", PRINCIPLE)])
    assert verdict.p_a == 0.5 and verdict.details["tie"] is True
    (verdict,) = PairwiseJudge(model).compare([Comparison(PROMPT, "GOOD", "x", PRINCIPLE)])
    assert verdict.p_a > 0.5 and verdict.details["tie"] is False


def test_calibration_removes_the_label_prior_even_in_single_order_mode():
    # a model that says "A" with log-odds +3 on top of a weak signal; the content-free prior shows the +3
    def labels_fn(text, labels):
        if "N/A" in first_shown(text):
            p = 1 / (1 + math.exp(-3))
            return {labels[0]: p, labels[1]: 1 - p}
        return good_first(text, labels, strength=0.7, bias=3.0)

    plain = PairwiseJudge(ScriptedModel(labels_fn), both_orders=False)
    calibrated = PairwiseJudge(ScriptedModel(labels_fn), both_orders=False, calibrate=True)
    comparisons = [Comparison(PROMPT, "x", "GOOD", PRINCIPLE)]
    assert plain.compare(comparisons)[0].p_a > 0.5  # the bias wins
    assert calibrated.compare(comparisons)[0].p_a == pytest.approx(0.3)  # the signal wins


def numeric_model(score_of):
    """Label log-probs peaked on score_of(response text), spread over the neighbours."""

    def label_fn(text, labels):
        response = text.split("[Response]\n")[1].split("\n\n")[0]
        target = score_of(response)
        probs = {label: math.exp(-abs(int(label) - target)) for label in labels}
        # like a real backend: "1" also counts replies starting "10"
        if "10" in probs:
            probs["1"] += probs["10"]
        return probs

    return ScriptedModel(label_fn, lambda c: "7")


def test_score_judge_uses_the_expected_score_and_compares_by_difference():
    judge = ScoreJudge(numeric_model(lambda r: 9 if "GOOD" in r else 3), temperature=2.0)
    scores = judge.score([PROMPT, PROMPT], ["GOOD", "meh"])
    assert 8 < scores[0] < 9 and 3 < scores[1] < 4  # expectation, pulled towards the middle, not the argmax
    (verdict,) = judge.compare([Comparison(PROMPT, "meh", "GOOD", PRINCIPLE)])
    assert verdict.p_a == pytest.approx(1 / (1 + math.exp((scores[0] - scores[1]) / 2.0)))
    assert verdict.details["score_b"] == pytest.approx(scores[0]) and verdict.details["order_independent"]


def test_score_judge_rubric_labels_follow_the_criteria_and_text_fallback_works():
    judge = ScoreJudge(numeric_model(lambda r: 2), scale="rubric", criteria=["one", "two", "three"])
    assert judge.score([PROMPT], ["x"])[0] == pytest.approx(
        sum(i * math.exp(-abs(i - 2)) for i in range(4)) / sum(math.exp(-abs(i - 2)) for i in range(4))
    )
    asked = judge.model.label_calls[0][0][0]["content"]
    assert "- one\n- two\n- three" in asked and "0 to 3" in asked
    no_logprobs = ScoreJudge(ScriptedModel(lambda text, labels: None, lambda c: "Score: 7"))
    assert no_logprobs.score([PROMPT], ["x"]) == [7.0]


def test_score_as_reward_accepts_trl_standard_and_conversational_shapes():
    reward = ScoreJudge(numeric_model(lambda r: 8 if "GOOD" in r else 2)).as_reward()
    standard = reward(["q", "q"], ["GOOD", "bad"], answer=["1", "2"])
    conversational = reward(
        [PROMPT, PROMPT],
        [[{"role": "assistant", "content": "GOOD"}], [{"role": "assistant", "content": "bad"}]],
    )
    assert standard == pytest.approx(conversational) and standard[0] > standard[1]


def test_likelihood_judge_is_order_free_and_contrastive():
    def response_fn(conversation, response):
        conditioned = conversation[0]["role"] == "system" and "helpful, honest" in conversation[0]["content"]
        base = -1.0 if "generic" in response else -2.0  # generic text is likelier in itself
        return base + (1.5 if conditioned and "GOOD" in response else 0.0)

    model = ScriptedModel(lambda text, labels: None, response_fn=response_fn)
    pair = [Comparison(PROMPT, "generic text", "GOOD text", PRINCIPLE)]
    assert LikelihoodJudge(model).compare(pair)[0].p_a < 0.5
    contrast = LikelihoodJudge(model, contrast="plain").compare(pair)[0]
    assert contrast.p_a < 0.5 and contrast.details["score_a"] == pytest.approx(0.0)
    swapped = LikelihoodJudge(model).compare([Comparison(PROMPT, "GOOD text", "generic text", PRINCIPLE)])[0]
    assert swapped.p_a == pytest.approx(1 - LikelihoodJudge(model).compare(pair)[0].p_a)


def test_likelihood_judge_refuses_a_model_without_response_logprobs():
    with pytest.raises(RlaifError, match="response log-probs"):
        LikelihoodJudge(ScriptedModel(lambda text, labels: None))


def test_ensemble_mixes_models_and_principles_and_reports_disagreement():
    right = ScriptedModel(lambda text, labels: good_first(text, labels, 0.9))
    wrong = ScriptedModel(lambda text, labels: good_first(text, labels, 0.1))
    context = Context({"judge": right, "other": wrong})
    options = {
        "members": [{"name": "pairwise"}, {"name": "pairwise", "model": "other"}],
        "principles": ["Which is kinder?"],
    }
    judge = ensemble_factory(options, context)
    (verdict,) = judge.compare([Comparison(PROMPT, "GOOD", "x", PRINCIPLE)])
    assert len(verdict.details["members"]) == 4  # 2 members x 2 principles
    assert verdict.details["disagreement"] == 0.5 and verdict.p_a == pytest.approx(0.5)
    assert set(verdict.details["per_principle"]) == {"p", "ensemble-0"}
    voting = ensemble_factory(
        {**options, "members": [{"name": "pairwise"}] * 2 + [options["members"][1]], "combine": "vote"},
        context,
    )
    (verdict,) = voting.compare([Comparison(PROMPT, "GOOD", "x", PRINCIPLE)])
    assert verdict.p_a == pytest.approx(2 / 3) and verdict.details["disagreement"] == pytest.approx(1 / 3)


def test_ensemble_checks_member_options():
    with pytest.raises(RlaifError, match="member judge 'pairwise'"):
        ensemble_factory({"members": [{"name": "pairwise", "options": {"bogus": 1}}]}, Context({}))


def test_rewards_as_judge_decides_when_the_reward_can_and_falls_back_otherwise():
    registry = load_registry(["tests.judge_doubles"])
    fallback_model = ScriptedModel(lambda text, labels: good_first(text, labels, 0.8))
    judge = rewards_judge_factory(
        {"reward": "contains-answer", "columns": {"answer": "42"}},
        Context({"judge": fallback_model}, registry),
    )
    verdicts = judge.compare(
        [
            Comparison(PROMPT, "it is 41", "it is 42", PRINCIPLE),  # reward decides: b
            Comparison(PROMPT, "GOOD 42", "also 42", PRINCIPLE),  # same reward: fallback decides
        ]
    )
    assert verdicts[0].p_a < 0.01 and verdicts[0].details["decided_by"] == "contains-answer"
    assert verdicts[1].p_a > 0.5 and verdicts[1].details["decided_by"] == "pairwise"
    # Only pair 2 reaches the fallback: one question per order (each order is its own call).
    assert [len(call) for call in fallback_model.label_calls] == [1, 1]


def test_evaluation_shows_pairs_balanced_so_an_always_A_judge_agrees_half_the_time():
    always_a = ScriptedModel(lambda text, labels: {labels[0]: 0.9, labels[1]: 0.1})
    pairs = [PreferencePair(str(i), PROMPT, "GOOD", "bad") for i in range(4)]
    single = evaluate_judge(PairwiseJudge(always_a, both_orders=False), pairs, PRINCIPLE)
    assert single.agreement == 0.5 and single.position_consistency == 0.0 and single.tie_rate == 0.0
    both = evaluate_judge(PairwiseJudge(always_a), pairs, PRINCIPLE)
    assert both.agreement == 0.5 and both.tie_rate == 1.0 and both.position_consistency == 0.0
    good = ScriptedModel(lambda text, labels: good_first(text, labels, 0.8, bias=0.5))
    result = evaluate_judge(PairwiseJudge(good), pairs, PRINCIPLE)
    assert result.agreement == 1.0 and result.position_consistency == 1.0
    assert result.mean_confidence == pytest.approx(0.8) and result.ece == pytest.approx(0.2)


def test_preference_data_formats(tmp_path):
    path = tmp_path / "pairs.jsonl"
    records = [
        {"prompt": [{"role": "user", "content": "hi"}], "chosen": "a", "rejected": "b"},  # HH
        {
            "prompt": "hi",
            "chosen": [{"role": "assistant", "content": "a"}],
            "rejected": [{"role": "assistant", "content": "b"}],
        },
        {
            "chosen": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "a"}],
            "rejected": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "b"}],
        },  # implicit
    ]
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    pairs = load_preference_pairs(path)
    assert [(p.prompt, p.chosen, p.rejected) for p in pairs] == [
        ([{"role": "user", "content": "hi"}], "a", "b")
    ] * 3
    path.write_text(json.dumps({"prompt": "hi", "chosen": "a"}) + "\n")
    with pytest.raises(RlaifError, match="line 1: missing field 'rejected'"):
        load_preference_pairs(path)


def test_score_rubric_criteria_come_from_the_constitution():
    from rlaif.constitution import constitution_from_dict

    constitution = constitution_from_dict(
        {
            "name": "r",
            "principles": [
                {
                    "id": "rubric",
                    "critique_request": "c",
                    "revision_request": "r",
                    "judging_question": "q?",
                    "criteria": ["Answers the question.", "Is polite."],
                }
            ],
        }
    )
    principle = constitution.principles[0]
    assert principle.criteria == ("Answers the question.", "Is polite.")
    assert constitution.to_dict()["principles"][0]["criteria"] == list(principle.criteria)
    judge = ScoreJudge(numeric_model(lambda r: 1), scale="rubric")
    judge.score([PROMPT], ["x"], [principle])
    asked = judge.model.label_calls[0][0][0]["content"]
    assert "- Answers the question.\n- Is polite." in asked and "0 to 2" in asked
