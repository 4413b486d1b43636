"""PPO for causal LMs, ours (TRL 1.x dropped its PPOTrainer): actor with a value head, frozen reference,
adaptive KL, GAE, clipped policy and value losses -- the recipe of Huang et al., "The N+ Implementation
Details of RLHF with PPO" (the arithmetic lives in :mod:`rlaif.optimizers.ppo_core`).

One PPO step:

1. **Rollout** -- sample a response per prompt (``temperature``, no top-k/top-p so the sampling distribution is
   exactly ``softmax(logits / temperature)``); cut each at its first EOS.
2. **Score** -- rewards and scoring judges (:mod:`rlaif.optimizers.scorers`) give one score per response at
   its end; responses without EOS get ``no_eos_score`` instead.
3. **Evaluate** -- log-probs (logits divided by the temperature) under the policy and the frozen reference,
   values from the value head; per-token reward = ``-kl_coef * (logp - ref_logp)`` + score at the last token.
4. **Advantages** -- GAE, whitened over the batch.
5. **Update** -- ``ppo_epochs`` passes over shuffled mini-batches of the rollout: clipped surrogate +
   ``vf_coef`` x clipped value loss; then the adaptive KL controller moves ``kl_coef`` toward ``target_kl``.

The value head is a linear layer on the policy's last hidden state (one trunk, as in TRL's former
``AutoModelForCausalLMWithValueHead``): half the memory of a separate critic, which matters on the small
machines this must also run on. With LoRA the reference is the base model with adapters disabled (no copy).
Runs on CPU (fp32) and GPU (bf16 autocast) through ``accelerate``; under ``accelerate launch`` each process
rolls out its own share of prompts and DDP averages the gradients; only the main process writes files.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlaif.errors import Problem
from rlaif.hardware import accelerate_precision, prepare_tokenizer
from rlaif.optimizers.common import OnlineOptions, OptimizerOptions, lora_config
from rlaif.optimizers.online import online_scorers
from rlaif.optimizers.scorers import hack_metrics, scorer_problems, weighted_scores
from rlaif.options import defaults, option
from rlaif.protocols import TrainRequest, TrainResult


@dataclass
class PPOOptions(OnlineOptions, OptimizerOptions):
    """PPO options (rlaif's own trainer: there is no TRL config underneath)."""

    learning_rate: float = option(1e-5, "Peak learning rate.", exclusiveMinimum=0)
    max_steps: int = option(-1, "PPO steps (rollout + update); -1: num_train_epochs passes over the prompts.")
    batch_size: int = option(8, "Prompts per rollout, per process.", minimum=1)
    mini_batch_size: int = option(4, "Rollout rows per update.", minimum=1)
    ppo_epochs: int = option(4, "Passes over each rollout.", minimum=1)
    max_new_tokens: int = option(64, "Tokens per sampled response.", minimum=1)
    temperature: float = option(0.7, "Sampling temperature (no top-k/top-p).", exclusiveMinimum=0)
    cliprange: float = option(0.2, "Policy ratio clip range.", exclusiveMinimum=0)
    cliprange_value: float = option(0.2, "Value clip range.", exclusiveMinimum=0)
    vf_coef: float = option(0.1, "Value loss weight.", minimum=0)
    gamma: float = option(1.0, "Discount.", minimum=0, maximum=1)
    lam: float = option(0.95, "GAE lambda.", minimum=0, maximum=1)
    init_kl_coef: float = option(0.05, "Initial KL penalty coefficient.", minimum=0)
    adaptive_kl: bool = option(True, "Move the KL coefficient toward target_kl.")
    target_kl: float = option(6.0, "Per-sequence KL target.", exclusiveMinimum=0)
    kl_horizon: float = option(10000, "Horizon of the adaptive KL controller.", exclusiveMinimum=0)
    whiten_rewards: bool = option(False, "Whiten scores over the batch before GAE.")
    no_eos_score: float | None = option(
        -1.0, "Score given to responses cut at max_new_tokens (null: keep their score)."
    )
    max_grad_norm: float = option(1.0, "Gradient clipping norm.", exclusiveMinimum=0)
    kl_limit: float | None = option(
        None, "Stop early once the mean per-sequence KL to the reference exceeds this."
    )


def _value_head_model(lm: Any) -> Any:
    import torch

    class PolicyWithValueHead(torch.nn.Module):
        """The policy LM plus a scalar value per position, read off the last hidden state."""

        def __init__(self, lm: Any):
            super().__init__()
            self.lm = lm
            hidden = lm.config.get_text_config().hidden_size
            self.v_head = torch.nn.Linear(hidden, 1)
            torch.nn.init.zeros_(self.v_head.weight)
            torch.nn.init.zeros_(self.v_head.bias)

        def forward(self, input_ids, attention_mask):
            position_ids = (attention_mask.cumsum(1) - 1).clamp(min=0)
            out = self.lm(
                input_ids=input_ids,
                attention_mask=attention_mask,
                position_ids=position_ids,
                output_hidden_states=True,
                use_cache=False,
            )
            values = self.v_head(out.hidden_states[-1].to(self.v_head.weight.dtype)).squeeze(-1)
            return out.logits, values

    return PolicyWithValueHead(lm)


class PPOOptimizer:
    """Actor-critic PPO on prompts, scored by rewards and judges."""

    name = "ppo"
    needs = "prompts"

    def __init__(self, **options: Any):
        self.options = {**defaults(PPOOptions), **options}

    def check(self, options: dict[str, Any] | None = None, registry: Any = None) -> list[Problem]:
        opts = {**defaults(PPOOptions), **(options if options is not None else self.options)}
        problems = []
        if opts["batch_size"] % opts["mini_batch_size"]:
            problems.append(
                Problem(
                    f"batch_size ({opts['batch_size']}) is not a multiple of mini_batch_size "
                    f"({opts['mini_batch_size']}); every rollout row must land in exactly one mini-batch",
                    where="optimizer.options.mini_batch_size",
                )
            )
        if registry is not None:
            problems += scorer_problems(opts, registry, self.name)
        return problems

    # -- training ----------------------------------------------------------------------------------------------
    def train(self, request: TrainRequest) -> TrainResult:
        import torch
        from accelerate import Accelerator
        from accelerate.utils import set_seed
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from rlaif.optimizers import ppo_core as core

        opts = self.options
        funcs, weights = online_scorers(self, request)
        accelerator = Accelerator(cpu=not torch.cuda.is_available(), mixed_precision=accelerate_precision())
        set_seed(request.seed + accelerator.process_index)
        output_dir = Path(request.output_dir)
        trainer_dir = output_dir / "trainer"

        tokenizer = AutoTokenizer.from_pretrained(request.policy, local_files_only=True)
        prepare_tokenizer(tokenizer, "left")
        lm = AutoModelForCausalLM.from_pretrained(request.policy, local_files_only=True)
        lm.generation_config.pad_token_id = tokenizer.pad_token_id
        lora = bool(opts["lora"])
        resume_dir = _last_ppo_checkpoint(trainer_dir) if request.resume else None
        if lora:
            from peft import PeftModel, get_peft_model

            if resume_dir is not None:
                lm = PeftModel.from_pretrained(lm, str(resume_dir / "policy"), is_trainable=True)
            else:
                lm = get_peft_model(lm, lora_config(opts["lora"]))
            reference = None  # adapters disabled = the reference
        else:
            reference = AutoModelForCausalLM.from_pretrained(request.policy, local_files_only=True)
            reference.requires_grad_(False).eval()
            if resume_dir is not None:
                lm = AutoModelForCausalLM.from_pretrained(str(resume_dir / "policy"), local_files_only=True)
        _disable_dropout(lm)
        model = _value_head_model(lm)
        optimizer = torch.optim.AdamW(
            [p for p in model.parameters() if p.requires_grad], lr=opts["learning_rate"]
        )
        kl_ctl = (
            core.AdaptiveKLController(opts["init_kl_coef"], opts["target_kl"], opts["kl_horizon"])
            if opts["adaptive_kl"]
            else core.FixedKLController(opts["init_kl_coef"])
        )
        state = {"step": 0, "log_history": []}
        if resume_dir is not None:
            saved = torch.load(resume_dir / "state.pt", map_location="cpu", weights_only=False)
            model.v_head.load_state_dict(saved["v_head"])
            optimizer.load_state_dict(saved["optimizer"])
            kl_ctl.value = saved["kl_coef"]
            state = {"step": saved["step"], "log_history": saved["log_history"]}
        model, optimizer = accelerator.prepare(model, optimizer)
        if reference is not None:
            reference = reference.to(accelerator.device)

        dataset = request.prompts
        world = accelerator.num_processes
        per_step = opts["batch_size"] * world
        total_steps = (
            opts["max_steps"]
            if opts["max_steps"] > 0
            else max(1, math.ceil(len(dataset) * opts["num_train_epochs"] / per_step))
        )
        order = _prompt_order(len(dataset), total_steps * per_step, request.seed)
        writer = _tensorboard(opts["report_to"], trainer_dir, accelerator)
        stopped_early = None
        while state["step"] < total_steps:
            step = state["step"]
            rows = order[step * per_step : (step + 1) * per_step][accelerator.process_index :: world]
            batch = dataset.select(rows)
            stats = self._ppo_step(
                model, reference, tokenizer, batch, funcs, weights, kl_ctl, optimizer, accelerator, core
            )
            state["step"] = step + 1
            stats.update(step=state["step"], kl_coef=kl_ctl.value)
            kl_ctl.update(stats["kl"], per_step)
            if state["step"] % opts["logging_steps"] == 0 or state["step"] == total_steps:
                state["log_history"].append(stats)
                if accelerator.is_main_process:
                    print(
                        json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in stats.items()}),
                        flush=True,
                    )
                    if writer is not None:
                        for key, value in stats.items():
                            if isinstance(value, int | float):
                                writer.add_scalar(f"ppo/{key}", value, state["step"])
            if opts["kl_limit"] is not None and stats["kl"] > opts["kl_limit"]:
                stopped_early = state["step"]
                state["log_history"].append({"kl_early_stop": stats["kl"], "step": state["step"]})
                break
            if state["step"] % opts["save_steps"] == 0 and state["step"] < total_steps:
                _save_state(accelerator, model, optimizer, kl_ctl, state, trainer_dir, lora)
        if writer is not None:
            writer.close()
        checkpoint = _save_final(accelerator, model, tokenizer, output_dir, lora)
        history = state["log_history"]
        metrics = _summary(history)
        metrics.update(
            num_processes=accelerator.num_processes,
            global_step=state["step"],
            kl_early_stop_step=stopped_early,
            resumed_from=str(resume_dir) if resume_dir else None,
        )
        metrics.update(hack_metrics(funcs))
        return TrainResult(checkpoint=checkpoint, metrics=metrics, log_history=history)

    def _ppo_step(
        self, model, reference, tokenizer, batch, funcs, weights, kl_ctl, optimizer, accelerator, core
    ):
        import torch

        opts = self.options
        temperature = opts["temperature"]
        unwrapped = accelerator.unwrap_model(model)
        device = accelerator.device
        # 1. rollout
        texts = [
            tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            for messages in batch["prompt"]
        ]
        encoded = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
        unwrapped.eval()
        with torch.no_grad(), accelerator.autocast():
            generated = unwrapped.lm.generate(
                **encoded,
                do_sample=True,
                temperature=temperature,
                top_k=0,
                top_p=1.0,
                max_new_tokens=opts["max_new_tokens"],
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )
        query_len = encoded["input_ids"].shape[1]
        responses = generated[:, query_len:]
        mask, has_eos = core.response_mask(responses, tokenizer.eos_token_id)
        responses = torch.where(mask, responses, torch.full_like(responses, tokenizer.pad_token_id))
        input_ids = torch.cat([encoded["input_ids"], responses], dim=1)
        attention = torch.cat([encoded["attention_mask"], mask.long()], dim=1)

        # 2. score
        completions_text = [
            tokenizer.decode(row[m], skip_special_tokens=True) for row, m in zip(responses, mask, strict=True)
        ]
        columns = {key: batch[key] for key in batch.column_names if key != "prompt"}
        scores_list, reward_means = weighted_scores(
            funcs,
            weights,
            prompts=batch["prompt"],
            completions=[[{"role": "assistant", "content": text}] for text in completions_text],
            **columns,
        )
        raw_scores = torch.tensor(scores_list, dtype=torch.float32, device=device)
        scores = core.penalize_missing_eos(raw_scores, has_eos, opts["no_eos_score"])

        # 3. evaluate under policy (old), reference and value head
        with torch.no_grad():
            logprobs, old_values, entropy = _evaluate(
                model, input_ids, attention, query_len, responses, temperature, accelerator, core
            )
            if reference is None:
                with unwrapped.lm.disable_adapter():
                    ref_logprobs, _, _ = _evaluate(
                        model, input_ids, attention, query_len, responses, temperature, accelerator, core
                    )
            else:
                ref_logits = _lm_logits(reference, input_ids, attention, accelerator)[:, query_len - 1 : -1]
                ref_logprobs = core.logprobs_from_logits(ref_logits, responses, temperature)
            rewards, kl = core.token_rewards(scores, logprobs, ref_logprobs, mask, kl_ctl.value)
            if opts["whiten_rewards"]:
                rewards = core.masked_whiten(rewards, mask, shift_mean=False)
            advantages, returns = core.gae(old_values, rewards, mask, opts["gamma"], opts["lam"])
            advantages = core.masked_whiten(advantages, mask)

        # 4. update: ppo_epochs over shuffled mini-batches
        model.train()
        n = input_ids.shape[0]
        mb = min(opts["mini_batch_size"], n)
        collected: dict[str, list[float]] = {}
        for _ in range(opts["ppo_epochs"]):
            permutation = torch.randperm(n, device=device)
            for start in range(0, n, mb):
                idx = permutation[start : start + mb]
                with accelerator.autocast():
                    logits, values = model(input_ids[idx], attention[idx])
                logits = logits[:, query_len - 1 : -1]
                values = values[:, query_len - 1 : -1].float()
                new_logprobs = core.logprobs_from_logits(logits, responses[idx], temperature)
                pg_loss, pg_stats = core.policy_loss(
                    new_logprobs, logprobs[idx], advantages[idx], mask[idx], opts["cliprange"]
                )
                vf_loss, vf_stats = core.value_loss(
                    values, old_values[idx], returns[idx], mask[idx], opts["cliprange_value"]
                )
                loss = pg_loss + opts["vf_coef"] * vf_loss
                optimizer.zero_grad()
                accelerator.backward(loss)
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(model.parameters(), opts["max_grad_norm"])
                optimizer.step()
                for key, value in (
                    ("loss/policy", pg_loss),
                    ("loss/value", vf_loss),
                    ("policy/clipfrac", pg_stats["clipfrac"]),
                    ("policy/approxkl", pg_stats["approxkl"]),
                    ("val/clipfrac", vf_stats["clipfrac"]),
                ):
                    collected.setdefault(key, []).append(float(value.detach()))
        model.eval()

        def mean_all(value: torch.Tensor) -> float:
            return float(accelerator.gather(value.detach().float().reshape(1)).mean())

        lengths = mask.sum(1).float()
        stats = {
            "kl": mean_all(kl.sum(1).mean()),
            "reward": mean_all(raw_scores.mean()),
            "score": mean_all(scores.mean()),
            "entropy": mean_all(core.masked_mean(entropy, mask)),
            "completions/mean_length": mean_all(lengths.mean()),
            "completions/clipped_ratio": mean_all((~has_eos).float().mean()),
            "non_score_reward": mean_all((-kl_ctl.value * kl).sum(1).mean()),
            **{key: sum(values) / len(values) for key, values in collected.items()},
            **{f"rewards/{name}": value for name, value in reward_means.items()},
        }
        return stats


def _lm_logits(lm, input_ids, attention, accelerator):
    position_ids = (attention.cumsum(1) - 1).clamp(min=0)
    with accelerator.autocast():
        return lm(
            input_ids=input_ids, attention_mask=attention, position_ids=position_ids, use_cache=False
        ).logits


def _evaluate(model, input_ids, attention, query_len, responses, temperature, accelerator, core):
    with accelerator.autocast():
        logits, values = model(input_ids, attention)
    logits = logits[:, query_len - 1 : -1]
    logprobs = core.logprobs_from_logits(logits, responses, temperature)
    entropy = core.entropy_from_logits(logits, temperature)
    return logprobs, values[:, query_len - 1 : -1].float(), entropy


def _disable_dropout(model: Any) -> None:
    import torch

    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0


def _prompt_order(n: int, needed: int, seed: int) -> list[int]:
    """Shuffled passes over the prompts, as many as ``needed`` rows (same on every process)."""
    rng = random.Random(seed)
    order: list[int] = []
    while len(order) < needed:
        epoch = list(range(n))
        rng.shuffle(epoch)
        order += epoch
    return order


def _tensorboard(report_to: Any, trainer_dir: Path, accelerator: Any) -> Any:
    targets = [report_to] if isinstance(report_to, str) else list(report_to)
    if "tensorboard" not in targets or not accelerator.is_main_process:
        return None
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(trainer_dir / "runs"))


def _last_ppo_checkpoint(trainer_dir: Path) -> Path | None:
    found = sorted(
        (p for p in trainer_dir.glob("checkpoint-*") if (p / "state.pt").exists()),
        key=lambda p: int(p.name.split("-")[1]),
    )
    return found[-1] if found else None


def _save_state(accelerator, model, optimizer, kl_ctl, state, trainer_dir: Path, lora: bool) -> None:
    """A resume point: policy weights (adapter with LoRA), value head, optimizer, KL coefficient, step."""
    import shutil

    import torch

    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        unwrapped = accelerator.unwrap_model(model)
        target = trainer_dir / f"checkpoint-{state['step']}"
        unwrapped.lm.save_pretrained(str(target / "policy"), safe_serialization=True)
        torch.save(
            {
                "v_head": unwrapped.v_head.state_dict(),
                "optimizer": optimizer.state_dict(),
                "kl_coef": kl_ctl.value,
                "step": state["step"],
                "log_history": state["log_history"],
            },
            target / "state.pt.tmp",
        )
        (target / "state.pt.tmp").rename(target / "state.pt")  # the checkpoint counts only once complete
        for old in trainer_dir.glob("checkpoint-*"):
            if old != target:
                shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


def _save_final(accelerator, model, tokenizer, output_dir: Path, lora: bool) -> Path:
    """``checkpoint/`` (full model, LoRA merged) + ``adapter/`` for LoRA + ``value_head.pt``; main process only."""
    import torch

    accelerator.wait_for_everyone()
    checkpoint = output_dir / "checkpoint"
    if accelerator.is_main_process:
        unwrapped = accelerator.unwrap_model(model)
        lm = unwrapped.lm
        if lora:
            lm.save_pretrained(str(output_dir / "adapter"))
            lm = lm.merge_and_unload()
        lm.save_pretrained(str(checkpoint), safe_serialization=True)
        tokenizer.save_pretrained(str(checkpoint))
        torch.save(unwrapped.v_head.state_dict(), output_dir / "value_head.pt")
    accelerator.wait_for_everyone()
    return checkpoint


def _summary(history: list[dict[str, Any]]) -> dict[str, Any]:
    from rlaif.optimizers.common import monitor_metrics

    steps = [entry for entry in history if "loss/policy" in entry]
    metrics = monitor_metrics(steps)
    if steps:
        metrics["first_loss"] = steps[0]["loss/policy"]
        metrics["last_loss"] = steps[-1]["loss/policy"]
        metrics["last_kl_coef"] = steps[-1]["kl_coef"]
    return metrics


def ppo_factory(options: dict[str, Any]) -> PPOOptimizer:
    """Actor-critic PPO (ours, after Huang et al.): value head, GAE, clipped losses, adaptive KL."""
    return PPOOptimizer(**options)
