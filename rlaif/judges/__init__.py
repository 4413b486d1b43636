"""Built-in judges and judge commands, registered through the hooks like any plugin's."""

from __future__ import annotations

from rlaif.hookspecs import hookimpl
from rlaif.judges import ensemble, likelihood, pairwise, reward_model, rewards_judge, score


@hookimpl
def register_judges(register):
    register(
        "pairwise",
        pairwise.pairwise_factory,
        description="A/B verdict from answer-label log-probs, both orders averaged (position-bias control); "
        "optional chain of thought",
        options=pairwise.PairwiseOptions,
    )
    register(
        "score",
        score.score_factory,
        description="Absolute 1-10 or rubric score (expected value of label log-probs); pairs by score difference",
        options=score.ScoreOptions,
    )
    register(
        "likelihood",
        likelihood.likelihood_factory,
        description="(Contrastive) log-likelihood of each response under a principle-conditioned prompt",
        options=likelihood.LikelihoodOptions,
    )
    register(
        "reward-model",
        reward_model.reward_model_factory,
        description="A local sequence-classification reward model scores each response",
        options=reward_model.RewardModelOptions,
    )
    register(
        "ensemble",
        ensemble.ensemble_factory,
        description="Several judges and/or principles: mean probability, majority vote or fitted weights "
        "(rlaif judge fit-ensemble), disagreement reported",
        options=ensemble.EnsembleOptions,
        check=ensemble.check_options,
    )
    register(
        "rewards-as-judge",
        rewards_judge.rewards_judge_factory,
        description="A verifiable reward decides when it can; a fallback judge otherwise",
        options=rewards_judge.RewardsJudgeOptions,
    )


@hookimpl
def register_commands(cli):
    from rlaif.judges.cli import judge_eval, judge_group

    cli.add_command(judge_eval)
    cli.add_command(judge_group)
