"""Judges on the real embedded model (SmolLM2-135M), on a handful of real HH-RLHF pairs. Slow."""

from pathlib import Path

import pytest

from rlaif.constitution import Principle
from rlaif.judges.data import load_preference_pairs, trim_context
from rlaif.judges.ensemble import EnsembleJudge
from rlaif.judges.evaluation import evaluate_judge
from rlaif.judges.likelihood import LikelihoodJudge
from rlaif.judges.pairwise import PairwiseJudge
from rlaif.judges.score import ScoreJudge

pytestmark = pytest.mark.slow

HH = Path(__file__).parent / "data" / "hh_helpful_base.sample.jsonl"  # see tests/data/README.md
HELPFUL = Principle(
    "helpfulness", "", "", "Which response answers the user's question more directly and more usefully?"
)


@pytest.fixture(scope="module")
def model():
    from rlaif.models.builtin import embedded_factory

    return embedded_factory("", {"batch_size": 4})


@pytest.fixture(scope="module")
def pairs():
    return [trim_context(pair, 1) for pair in load_preference_pairs(HH, limit=2)]


def test_response_logprobs_prefer_the_true_answer_and_do_not_depend_on_batching(model):
    conversation = [{"role": "user", "content": "What is the capital of France?"}]
    answers = ["The capital of France is Paris.", "The capital of France is Berlin."]
    together = model.response_logprobs([conversation] * 2, answers, reduction="mean")
    alone = [model.response_logprobs([conversation], [a], reduction="mean")[0] for a in answers]
    assert together[0] > together[1]
    assert together == pytest.approx(alone, abs=1e-4)
    total = model.response_logprobs([conversation], answers[:1], reduction="sum")[0]
    assert total < together[0] < 0


def test_label_logprobs_handle_two_token_labels(model):
    (logprobs,) = model.label_logprobs(
        [[{"role": "user", "content": "Rate 1 to 10. Answer with a number."}]], [str(i) for i in range(1, 11)]
    )
    assert set(logprobs) == {str(i) for i in range(1, 11)} and logprobs["10"] <= logprobs["1"]


def test_judges_measure_real_pairs(model, pairs):
    both = evaluate_judge(PairwiseJudge(model), pairs, HELPFUL)
    assert both.n == 2 and 0 <= both.agreement <= 1 and 0 <= both.position_consistency <= 1
    assert all(p["details"]["p_a_order_ba"] is not None for p in both.per_pair)
    rubric = ScoreJudge(model, scale="rubric", criteria=["Answers the question.", "Is accurate."])
    scored = evaluate_judge(rubric, pairs[:1], HELPFUL)
    assert 0 <= scored.per_pair[0]["details"]["score_a"] <= 2 and scored.position_consistency == 1
    ensemble = EnsembleJudge([("pairwise", PairwiseJudge(model)), ("likelihood", LikelihoodJudge(model))])
    combined = evaluate_judge(ensemble, pairs[:1], HELPFUL, check_position=False)
    members = combined.per_pair[0]["details"]["members"]
    first = both.per_pair[0]
    assert len(members) == 2 and members[0]["p_a"] == pytest.approx(
        first["p_chosen"] if first["chosen_is_a"] else 1 - first["p_chosen"], abs=1e-4
    )


def test_chain_of_thought_keeps_the_rationale(model, pairs):
    judge = PairwiseJudge(model, cot=True, cot_max_tokens=8, both_orders=False)
    result = evaluate_judge(judge, pairs[:1], HELPFUL, check_position=False)
    details = result.per_pair[0]["details"]
    assert isinstance(details["rationale_ab"], str) and details["rationale_ab"]
    assert 0.4 <= details["p_a_order_ab"] <= 0.6
