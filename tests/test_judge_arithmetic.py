import math

import pytest

from rlaif.judges.arithmetic import (
    apply_tie_band,
    clamp,
    combine_orders,
    exclusive_label_probabilities,
    expected_score,
    preference_from_scores,
    sigmoid,
)
from rlaif.judges.ensemble import disagreement, vote_share
from rlaif.judges.evaluation import agreement_value, expected_calibration_error, same_side


def logs(probs):
    return {k: math.log(v) for k, v in probs.items()}


def test_expected_score_is_the_mean_of_the_label_distribution_not_the_argmax():
    assert expected_score(logs({"7": 0.6, "8": 0.4})) == pytest.approx(7.4)
    assert expected_score(logs({"1": 0.2, "2": 0.2})) == pytest.approx(1.5)  # renormalised


def test_a_label_that_extends_another_is_removed_from_the_shorter_one():
    # the backend reports P(reply starts with "1") = 0.5, which includes the 0.3 of "10"
    probs = exclusive_label_probabilities(logs({"1": 0.5, "10": 0.3, "5": 0.2}))
    assert probs["1"] == pytest.approx(0.2 / 0.7) and probs["10"] == pytest.approx(0.3 / 0.7)
    assert expected_score(logs({"1": 0.5, "10": 0.3, "5": 0.2})) == pytest.approx((0.2 + 3 + 1) / 0.7)


def test_clamp_and_tie_band():
    assert clamp(0.95, 0.4, 0.6) == 0.6 and clamp(0.1, 0.4, 0.6) == 0.4 and clamp(0.5, 0.4, 0.6) == 0.5
    assert apply_tie_band(0.53, 0.05) == (0.5, True)
    assert apply_tie_band(0.56, 0.05) == (0.56, False)
    assert apply_tie_band(0.5001, 0.0) == (0.5001, False)


def test_score_difference_logistic_and_temperature():
    assert preference_from_scores(7, 5, 1.0) == pytest.approx(sigmoid(2))
    assert preference_from_scores(7, 5, 2.0) == pytest.approx(sigmoid(1))
    assert preference_from_scores(5, 5) == 0.5
    assert sigmoid(-800) == pytest.approx(0.0) and sigmoid(800) == 1.0


def test_order_combination_cancels_a_constant_bias_in_logit_space_only():
    bias, signal = 2.0, 0.5
    forward, backward = sigmoid(bias + signal), 1 - sigmoid(bias - signal)
    assert combine_orders([forward, backward]) == pytest.approx(sigmoid(signal))
    assert combine_orders([forward, backward], "mean") != pytest.approx(sigmoid(signal))


def test_agreement_counts_ties_half_and_ece_measures_overconfidence():
    assert agreement_value(0.9) == 1.0 and agreement_value(0.2) == 0.0 and agreement_value(0.5) == 0.5
    assert agreement_value(0.9, tie=True) == 0.5
    # perfectly calibrated: 80% confident, right 4 times out of 5
    assert expected_calibration_error([0.8] * 5, [1, 1, 1, 1, 0]) == pytest.approx(0.0)
    # always 100% confident, right half the time
    assert expected_calibration_error([1.0] * 4, [1, 0, 1, 0]) == pytest.approx(0.5)
    # two bins, weighted by size
    assert expected_calibration_error([0.55, 0.95, 0.95], [0, 1, 1]) == pytest.approx(
        1 / 3 * 0.55 + 2 / 3 * 0.05
    )


def test_votes_and_disagreement():
    assert vote_share([0.9, 0.8, 0.2]) == pytest.approx(2 / 3)
    assert vote_share([0.5, 0.9]) == pytest.approx(0.75)
    assert disagreement([0.9, 0.8, 0.7]) == 0.0 and disagreement([0.9, 0.1]) == 0.5
    assert same_side(0.7, 0.9) and not same_side(0.7, 0.3) and not same_side(0.5, 0.7)
