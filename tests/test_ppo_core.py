"""PPO arithmetic against values worked out by hand (see the comments for each derivation)."""

import math

import pytest
import torch

from rlaif.optimizers import ppo_core as core


def close(actual, expected):
    assert torch.allclose(torch.as_tensor(actual).float(), torch.tensor(expected).float(), atol=1e-5), actual


def test_gae_full_mask():
    # gamma 1, lam 0.5; deltas: t2 = 1 - 0.5 = 0.5; t1 = 0.5 - 2 = -1.5; t0 = 2 - 1 = 1
    # A2 = 0.5; A1 = -1.5 + 0.5 * 0.5 = -1.25; A0 = 1 + 0.5 * -1.25 = 0.375
    values = torch.tensor([[1.0, 2.0, 0.5]])
    rewards = torch.tensor([[0.0, 0.0, 1.0]])
    advantages, returns = core.gae(values, rewards, torch.ones(1, 3), gamma=1.0, lam=0.5)
    close(advantages, [[0.375, -1.25, 0.5]])
    close(returns, [[1.375, 0.75, 1.0]])


def test_gae_ignores_padding_after_the_response():
    # The response ends at t1: V and r at t2 count as 0, so A1 = 1 - 2 = -1 and A0 = (2 - 1) + 0.5 * -1 = 0.5.
    values = torch.tensor([[1.0, 2.0, 9.0]])
    rewards = torch.tensor([[0.0, 1.0, 5.0]])
    advantages, returns = core.gae(values, rewards, torch.tensor([[1, 1, 0]]), gamma=1.0, lam=0.5)
    close(advantages, [[0.5, -1.0, 0.0]])
    close(returns, [[1.5, 1.0, 0.0]])


def test_gae_discount():
    # gamma 0.5, lam 1: A1 = 4 - 0 = 4; A0 = 0 + 0.5 * 0 - 0 + 0.5 * 4 = 2
    advantages, _ = core.gae(torch.zeros(1, 2), torch.tensor([[0.0, 4.0]]), torch.ones(1, 2), 0.5, 1.0)
    close(advantages, [[2.0, 4.0]])


def test_whitening_uses_only_masked_entries():
    # entries 1, 2, 3: mean 2, unbiased variance (1 + 0 + 1) / 2 = 1
    values = torch.tensor([[1.0, 2.0, 3.0, 100.0]])
    mask = torch.tensor([[1, 1, 1, 0]])
    close(core.masked_whiten(values, mask), [[-1.0, 0.0, 1.0, 0.0]])
    close(core.masked_whiten(values, mask, shift_mean=False), [[1.0, 2.0, 3.0, 0.0]])
    close(core.masked_mean(values, mask), 2.0)


def test_policy_loss_clips_only_in_the_advantage_direction():
    # ratio 1.5 on both tokens, cliprange 0.2.
    # A = +1: max(-1.5, -1.2) = -1.2 (clipped);  A = -1: max(1.5, 1.2) = 1.5 (not clipped)
    new = torch.full((1, 2), math.log(1.5))
    loss, stats = core.policy_loss(new, torch.zeros(1, 2), torch.tensor([[1.0, -1.0]]), torch.ones(1, 2), 0.2)
    close(loss, (-1.2 + 1.5) / 2)
    close(stats["clipfrac"], 0.5)
    close(stats["ratio"], 1.5)


def test_value_loss_is_clipped_around_the_old_value():
    # old 0, new 1, return 2, clip 0.2: clipped value 0.2 -> (1.8)^2 = 3.24 > (1)^2 -> 0.5 * 3.24
    loss, stats = core.value_loss(
        torch.ones(1, 1), torch.zeros(1, 1), torch.full((1, 1), 2.0), torch.ones(1, 1), 0.2
    )
    close(loss, 1.62)
    close(stats["clipfrac"], 1.0)
    # moving toward the return inside the clip range is not clipped: new 0.1 -> 0.5 * 1.9^2
    loss, stats = core.value_loss(
        torch.full((1, 1), 0.1), torch.zeros(1, 1), torch.full((1, 1), 2.0), torch.ones(1, 1), 0.2
    )
    close(loss, 0.5 * 1.9**2)
    close(stats["clipfrac"], 0.0)


def test_adaptive_kl_controller():
    ctl = core.AdaptiveKLController(0.1, target=6.0, horizon=10000)
    ctl.update(12.0, 100)  # error clip(12/6 - 1) = 0.2 -> x (1 + 0.2 * 100 / 10000)
    assert ctl.value == pytest.approx(0.1 * 1.002)
    ctl = core.AdaptiveKLController(0.1, target=6.0, horizon=10000)
    ctl.update(6.6, 100)  # error 0.1 -> x 1.001
    assert ctl.value == pytest.approx(0.1001)
    ctl = core.AdaptiveKLController(0.1, target=6.0, horizon=10000)
    ctl.update(0.0, 100)  # error clipped at -0.2 -> x 0.998
    assert ctl.value == pytest.approx(0.0998)
    fixed = core.FixedKLController(0.1)
    fixed.update(100.0, 100)
    assert fixed.value == 0.1


def test_token_rewards_put_the_score_on_the_last_real_token():
    # kl = logp - ref = [0.5, 0, (masked)]; rewards = -0.5 * kl, + score 2 at t1
    rewards, kl = core.token_rewards(
        torch.tensor([2.0]),
        torch.tensor([[-1.0, -2.0, -3.0]]),
        torch.tensor([[-1.5, -2.0, -2.0]]),
        torch.tensor([[1, 1, 0]]),
        kl_coef=0.5,
    )
    close(kl, [[0.5, 0.0, 0.0]])
    close(rewards, [[-0.25, 2.0, 0.0]])


def test_response_mask_and_missing_eos_penalty():
    mask, has_eos = core.response_mask(torch.tensor([[5, 2, 7], [5, 6, 7]]), eos_token_id=2)
    assert mask.tolist() == [[True, True, False], [True, True, True]]
    assert has_eos.tolist() == [True, False]
    close(core.penalize_missing_eos(torch.tensor([0.9, 0.8]), has_eos, -1.0), [0.9, -1.0])
    close(core.penalize_missing_eos(torch.tensor([0.9, 0.8]), has_eos, None), [0.9, 0.8])


def test_logprobs_divide_logits_by_the_temperature():
    # logits [2, 0] at T=2 -> [1, 0]: log softmax = 1 - log(e + 1)
    logprobs = core.logprobs_from_logits(torch.tensor([[[2.0, 0.0]]]), torch.tensor([[0]]), temperature=2.0)
    close(logprobs, [[1 - math.log(math.e + 1)]])
