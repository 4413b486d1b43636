import math

import pytest

from rlaif.constitution import Principle
from rlaif.judges.pairwise import PairwiseJudge, combine_orders, parse_label, two_way_probability
from rlaif.protocols import Comparison
from tests.doubles import FakeChatModel

PRINCIPLE = Principle("p", "c", "r", "Which is better?")


def test_two_way_probability_is_a_softmax_over_the_labels():
    assert two_way_probability({"A": math.log(0.3), "B": math.log(0.1)}) == pytest.approx(0.75)


def test_logit_combination_cancels_a_constant_position_bias():
    bias, signal = 3.0, 0.4
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    p_a_when_first = sig(bias + signal)
    p_a_when_second = 1 - sig(bias - signal)
    assert combine_orders([p_a_when_first, p_a_when_second], "logit") == pytest.approx(sig(signal))
    # plain averaging keeps the sign but squeezes the signal towards 0.5
    mean = combine_orders([p_a_when_first, p_a_when_second], "mean")
    assert 0.5 < mean < sig(signal)


def test_parse_label_fallback():
    assert parse_label("A") == 1.0 and parse_label(" B.") == 0.0 and parse_label("neither") is None


@pytest.mark.parametrize("logprobs", [True, False])
def test_judge_prefers_the_marked_response_with_or_without_logprobs(logprobs):
    judge = PairwiseJudge(FakeChatModel(logprobs=logprobs))
    verdicts = judge.compare(
        [
            Comparison([{"role": "user", "content": "q"}], "IMPROVED x", "plain y", PRINCIPLE),
            Comparison([{"role": "user", "content": "q"}], "plain y", "IMPROVED x", PRINCIPLE),
        ]
    )
    assert verdicts[0].p_a > 0.5 > verdicts[1].p_a
    assert verdicts[0].details["p_a_order_ab"] is not None and verdicts[0].details["p_a_order_ba"] is not None
