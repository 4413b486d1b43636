"""The arithmetic of PPO for language models, as pure tensor functions (unit-tested against hand values).

Follows "The N+ Implementation Details of RLHF with PPO" (Huang et al., 2024) and the original OpenAI
lm-human-preferences code it studies:

- the reward is a per-token KL penalty to the frozen reference, ``-kl_coef * (logp - ref_logp)``, plus the
  sequence score added at the response's last real token;
- advantages come from GAE over the response tokens and are whitened over the batch (mask-aware);
- the policy loss is PPO's clipped surrogate, the value loss is clipped around the rollout-time values;
- the KL coefficient follows the adaptive controller of Ziegler et al. (2019);
- every masked mean counts only real response tokens (padding after EOS never contributes).
"""

from __future__ import annotations

import torch


def masked_mean(values: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    mask = mask.to(values.dtype)
    if dim is None:
        return (values * mask).sum() / mask.sum().clamp(min=1)
    return (values * mask).sum(dim) / mask.sum(dim).clamp(min=1)


def masked_var(values: torch.Tensor, mask: torch.Tensor, unbiased: bool = True) -> torch.Tensor:
    """Variance over the masked entries (Bessel-corrected, as in the reference implementation)."""
    mean = masked_mean(values, mask)
    centered = values - mean
    variance = masked_mean(centered**2, mask)
    if unbiased:
        count = mask.sum()
        if count > 1:
            variance = variance * count / (count - 1)
    return variance


def masked_whiten(
    values: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True, eps: float = 1e-8
) -> torch.Tensor:
    """Zero mean, unit variance over the masked entries; ``shift_mean=False`` keeps the mean (for rewards)."""
    mean, variance = masked_mean(values, mask), masked_var(values, mask)
    whitened = (values - mean) * torch.rsqrt(variance + eps)
    if not shift_mean:
        whitened = whitened + mean
    return whitened * mask.to(values.dtype)


def token_rewards(
    scores: torch.Tensor,
    logprobs: torch.Tensor,
    ref_logprobs: torch.Tensor,
    mask: torch.Tensor,
    kl_coef: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token rewards ``-kl_coef * kl`` with each sequence's score added at its last real token.

    Returns ``(rewards, kl)``, both ``[batch, response_len]`` and zero on padding. ``kl`` is the per-token
    log-ratio ``logp - ref_logp`` (the "k1" estimator, unbiased for the sequence KL under sampling).
    """
    mask_f = mask.to(logprobs.dtype)
    kl = (logprobs - ref_logprobs) * mask_f
    rewards = -kl_coef * kl
    last = (mask.long().sum(dim=1) - 1).clamp(min=0)
    rows = torch.arange(rewards.shape[0], device=rewards.device)
    rewards[rows, last] += scores.to(rewards.dtype)
    return rewards * mask_f, kl


def gae(
    values: torch.Tensor, rewards: torch.Tensor, mask: torch.Tensor, gamma: float = 1.0, lam: float = 0.95
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalized Advantage Estimation over response tokens; returns ``(advantages, returns)``.

    Values and rewards past each response's end are treated as 0, so the last real token bootstraps from
    nothing (the episode ends with the response).
    """
    mask_f = mask.to(values.dtype)
    values, rewards = values * mask_f, rewards * mask_f
    length = values.shape[1]
    advantages = torch.zeros_like(values)
    last = torch.zeros_like(values[:, 0])
    for t in reversed(range(length)):
        next_value = values[:, t + 1] if t + 1 < length else torch.zeros_like(last)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        last = delta + gamma * lam * last
        advantages[:, t] = last
    advantages = advantages * mask_f
    returns = advantages + values
    return advantages, returns


def policy_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    cliprange: float,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """PPO's clipped surrogate ``max(-A r, -A clip(r, 1-e, 1+e))`` averaged over real tokens."""
    ratio = torch.exp(logprobs - old_logprobs)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - cliprange, 1.0 + cliprange)
    loss = masked_mean(torch.max(unclipped, clipped), mask)
    stats = {
        "clipfrac": masked_mean((clipped > unclipped).float(), mask),
        "approxkl": 0.5 * masked_mean((logprobs - old_logprobs) ** 2, mask),
        "ratio": masked_mean(ratio, mask),
    }
    return loss, stats


def value_loss(
    values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    mask: torch.Tensor,
    cliprange_value: float,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Clipped value loss ``0.5 * max((V - R)^2, (clip(V, V_old +- e) - R)^2)`` over real tokens."""
    clipped_values = old_values + torch.clamp(values - old_values, -cliprange_value, cliprange_value)
    unclipped_loss = (values - returns) ** 2
    clipped_loss = (clipped_values - returns) ** 2
    loss = 0.5 * masked_mean(torch.max(unclipped_loss, clipped_loss), mask)
    return loss, {"clipfrac": masked_mean((clipped_loss > unclipped_loss).float(), mask)}


def logprobs_from_logits(logits: torch.Tensor, tokens: torch.Tensor, temperature: float) -> torch.Tensor:
    """Log-probabilities of ``tokens`` under ``logits / temperature`` (the sampling distribution).

    Dividing by the sampling temperature in the update as in the rollout is one of the N details: without it
    the "old" log-probs of the rollout and the "new" ones of the update describe different distributions.
    """
    logp = torch.log_softmax(logits.float() / temperature, dim=-1)
    return torch.gather(logp, 2, tokens.unsqueeze(-1)).squeeze(-1)


def entropy_from_logits(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    logp = torch.log_softmax(logits.float() / temperature, dim=-1)
    return -(logp.exp() * logp).sum(-1)


def response_mask(responses: torch.Tensor, eos_token_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(mask, has_eos)``: real tokens are those up to and including the first EOS.

    Tokens after the first EOS (padding, or junk some backends emit) are masked out; ``has_eos`` marks the
    responses that ended on their own rather than at the length limit.
    """
    is_eos = responses == eos_token_id
    has_eos = is_eos.any(dim=1)
    first_eos = torch.where(
        has_eos, is_eos.long().argmax(dim=1), torch.full_like(has_eos, responses.shape[1], dtype=torch.long)
    )
    positions = torch.arange(responses.shape[1], device=responses.device).unsqueeze(0)
    mask = positions <= first_eos.unsqueeze(1)
    return mask, has_eos


def penalize_missing_eos(
    scores: torch.Tensor, has_eos: torch.Tensor, no_eos_score: float | None
) -> torch.Tensor:
    """Responses cut off at the length limit get ``no_eos_score`` instead of their score (Huang et al.)."""
    if no_eos_score is None:
        return scores
    return torch.where(has_eos, scores, torch.full_like(scores, float(no_eos_score)))


class FixedKLController:
    def __init__(self, kl_coef: float):
        self.value = kl_coef

    def update(self, current_kl: float, n_steps: int) -> None:
        pass


class AdaptiveKLController:
    """Ziegler et al. (2019): nudge ``kl_coef`` so the observed KL tracks ``target``.

    ``error = clip(kl / target - 1, -0.2, 0.2)``; ``kl_coef *= 1 + error * n_steps / horizon``.
    """

    def __init__(self, init_kl_coef: float, target: float, horizon: float):
        self.value, self.target, self.horizon = init_kl_coef, target, horizon

    def update(self, current_kl: float, n_steps: int) -> None:
        error = min(max(current_kl / self.target - 1.0, -0.2), 0.2)
        self.value *= 1.0 + error * n_steps / self.horizon
