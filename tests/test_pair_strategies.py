"""Pair-building strategies through run_cai, with deterministic doubles."""

import math
from dataclasses import dataclass

import pytest

from rlaif.engine import Journal, run_cai
from rlaif.engine.strategies import PairSettings, length_gap
from rlaif.errors import RlaifError
from rlaif.judges.arithmetic import preference_from_scores
from rlaif.judges.pairwise import PairwiseJudge
from rlaif.protocols import Verdict
from tests.doubles import FakeChatModel
from tests.judge_doubles import ScriptedModel
from tests.test_engine import CONSTITUTION, items, settings


@dataclass
class DigitScorer:
    """Scores a response by the last digit of its seed (deterministic, varied); principle b adds 0.5."""

    name: str = "digits"
    temperature: float = 1.0
    principle_calls: int = 0

    def score(self, prompts, responses, principles=None):
        principles = principles or [None] * len(responses)
        out = []
        for response, principle in zip(responses, principles, strict=True):
            digit = int(response.rstrip(")").split()[-1]) % 10
            out.append(digit + (0.5 if getattr(principle, "id", None) == "b" else 0.0))
        return out

    def compare(self, comparisons):
        scores = self.score(None, [c.a for c in comparisons] + [c.b for c in comparisons])
        n = len(comparisons)
        return [Verdict(preference_from_scores(scores[i], scores[n + i])) for i in range(n)]


def sampled_run(tmp_path, judge, margin=0.02, **pairs):
    journal = Journal(tmp_path / "records.jsonl")
    model = FakeChatModel()
    result = run_cai(
        items(6),
        CONSTITUTION,
        model,
        model,
        judge,
        settings(pairs=PairSettings(**pairs), margin=margin),
        journal,
        progress=False,
    )
    return result, journal


def test_best_of_n_pairs_best_against_worst_with_per_principle_scores(tmp_path):
    result, journal = sampled_run(tmp_path, DigitScorer(), strategy="best-of-n", n=4, score_principles="all")
    assert len(journal.records) == 6 and result.pairs + sum(result.drops.values()) == 6
    for record in journal.records:
        judge = record["judge"]
        assert len(record["candidates"]) == 4 and len(judge["scores"]) == 4
        assert all(len(row) == 2 for row in judge["scores"])  # a vector over both principles
        if record["status"] == "pair":
            best, worst = judge["chosen_index"], judge["rejected_index"]
            assert judge["aggregate"][best] == max(judge["aggregate"])
            assert judge["aggregate"][worst] == min(judge["aggregate"])
            assert record["chosen"][0]["content"] == record["candidates"][best]
            assert record["chosen_source"] == f"sample-{best}"


def test_best_of_n_is_resumable_and_deterministic(tmp_path):
    _, first = sampled_run(tmp_path / "a", DigitScorer(), strategy="best-of-n", n=3)
    _, second = sampled_run(tmp_path / "b", DigitScorer(), strategy="best-of-n", n=3)
    assert first.records == second.records


def test_low_margin_pairs_are_dropped_with_the_reason(tmp_path):
    result, journal = sampled_run(tmp_path, DigitScorer(), strategy="best-of-n", n=2, min_margin=100)
    assert result.pairs == 0
    reasons = {r["reason"] for r in journal.records}
    assert reasons <= {"low margin", "tie"} and "low margin" in reasons


def test_prefer_shorter_breaks_ties_towards_the_shorter_response(tmp_path):
    class Flat(DigitScorer):
        def score(self, prompts, responses, principles=None):
            return [5.0] * len(responses)

    result, journal = sampled_run(tmp_path, Flat(), strategy="best-of-n", n=3)
    assert result.pairs == 0 and set(result.drops) == {"tie"}
    result, journal = sampled_run(tmp_path / "s", Flat(), strategy="best-of-n", n=3, prefer_shorter=True)
    for record in journal.records:
        if record["status"] == "pair":
            assert record["judge"]["tie_break"] == "shorter"
            assert len(record["chosen"][0]["content"]) == min(len(c) for c in record["candidates"])


def digit_label_fn(text, labels):
    """P(first shown better) from the seed digits of the two shown responses, with a position bias."""
    first = text.split("[Response A]\n")[1].split("\n\n[Response B]")[0]
    second = text.split("[Response B]\n")[1].split("\n\n")[0]
    digit = lambda r: int(r.rstrip(")").split()[-1]) % 10  # noqa: E731
    logit = 0.5 * (digit(first) - digit(second)) + 1.0
    p = 1 / (1 + math.exp(-logit))
    return {labels[0]: p, labels[1]: 1 - p}


def test_tournament_uses_any_pairwise_judge_and_keeps_both_orders(tmp_path):
    judge = PairwiseJudge(ScriptedModel(digit_label_fn))
    result, journal = sampled_run(tmp_path, judge, strategy="pairwise-tournament", n=3)
    assert len(journal.records) == 6 and result.pairs >= 4
    for record in journal.records:
        if record["status"] != "pair":
            continue
        digits = [int(c.rstrip(")").split()[-1]) % 10 for c in record["candidates"]]
        assert digits[record["judge"]["chosen_index"]] == max(digits)
        assert digits[record["judge"]["rejected_index"]] == min(digits)
        # P(chosen) in each presentation order: the judge's +1 logit bias for the first slot shows
        match = record["judge"]["match"]
        assert match["p_chosen_shown_first"] > match["p_chosen_shown_second"]
        assert record["judge"]["p_chosen"] > 0.5


def test_best_of_n_refuses_a_judge_that_cannot_score(tmp_path):
    with pytest.raises(RlaifError, match="best-of-n"):
        sampled_run(tmp_path, PairwiseJudge(FakeChatModel()), strategy="best-of-n")


def test_revision_strategy_records_per_principle_scores_and_prefers_shorter_on_ties(tmp_path):
    journal = Journal(tmp_path / "records.jsonl")
    model = FakeChatModel()
    pairs = PairSettings(score_principles="all")
    run_cai(
        items(4),
        CONSTITUTION,
        model,
        model,
        PairwiseJudge(model),
        settings(pairs=pairs),
        journal,
        progress=False,
    )
    for record in journal.records:
        assert set(record["judge"]["per_principle"]) == {"a", "b"}
    # an always-tied judge: without prefer_shorter every pair is a tie drop, with it the shorter wins
    tied = FakeChatModel("tied", logprobs=True)
    tied.label_logprobs = lambda conversations, labels: (
        [{labels[0]: -0.69, labels[1]: -0.69}] * len(conversations)
    )
    journal = Journal(tmp_path / "tied.jsonl")
    run_cai(
        items(4),
        CONSTITUTION,
        model,
        model,
        PairwiseJudge(tied),
        settings(pairs=PairSettings(prefer_shorter=True)),
        journal,
        progress=False,
    )
    for record in journal.records:
        assert record["status"] == "pair" and record["judge"]["tie_break"] == "shorter"
        assert len(record["chosen"][0]["content"]) < len(record["rejected"][0]["content"])
    gap = length_gap(journal.records)
    assert gap["pairs"] == 4 and gap["mean_chars"] < 0 and gap["chosen_longer"] == 0.0


def test_pairs_section_defaults_and_validation():
    from rlaif.config import config_from_dict

    config = config_from_dict({})
    assert config["pairs"] == {
        "strategy": "revision",
        "n": 4,
        "min_margin": 0.0,
        "prefer_shorter": False,
        "score_principles": "sampled",
    }
    assert PairSettings.from_config(config.settings.pairs) == PairSettings()
    chosen = config_from_dict({"pairs": {"strategy": "best-of-n", "score_principles": ["a", "b"]}})
    assert PairSettings.from_config(chosen.settings.pairs).score_principles == ("a", "b")
    with pytest.raises(RlaifError) as error:
        config_from_dict({"pairs": {"strategy": "best-of-3", "n": 1}}, source="rlaif.yaml")
    message = str(error.value)
    assert "pairs.strategy" in message and "pairs.n" in message


def test_unknown_score_principles_are_refused_before_any_work(tmp_path):
    with pytest.raises(RlaifError, match="nope"):
        sampled_run(tmp_path, DigitScorer(), strategy="best-of-n", score_principles=("nope",))
