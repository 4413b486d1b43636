"""GRPO through TRL's ``GRPOTrainer``: sample a group of completions per prompt, score them, push up the ones
that beat their group's mean.

Rewards are any mix of registered rewards, judges used as scorers (direct RLAIF) and reward functions the
caller passes (see :mod:`rlaif.optimizers.scorers`), each with a weight. Precision, LoRA and the checkpoint
layout are the same as DPO's (:mod:`rlaif.optimizers.common`). Generation can move to vLLM through TRL's two
modes with the typed option ``vllm: {mode: server | colocate, ...}`` (checked by ``rlaif config check``; never
through ``trl_args``) -- see docs/vllm.md.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from rlaif.errors import Problem, RlaifError
from rlaif.hardware import prepare_tokenizer
from rlaif.optimizers.common import (
    OnlineOptions,
    TrainerOptions,
    kl_early_stop_callback,
    lora_config,
    option_names,
    train_and_save,
    trainer_arguments,
)
from rlaif.optimizers.online import online_scorers
from rlaif.optimizers.scorers import hack_metrics, scorer_problems
from rlaif.options import UNSET, defaults, option
from rlaif.protocols import TrainRequest, TrainResult


@dataclass(kw_only=True)
class GRPOVLLMOptions:
    """GRPO's generation through vLLM (TRL ``use_vllm``): a ``trl vllm-serve`` server, or colocated in-process."""

    mode: Literal["server", "colocate"] = option(
        "colocate",
        "server: completions come from a running 'trl vllm-serve' (other GPUs; weights synced over NCCL); "
        "colocate: a vLLM engine inside the trainer process shares its GPU",
    )
    server_url: str | None = option(
        UNSET, "server mode: the 'trl vllm-serve' address, e.g. http://127.0.0.1:8000 (default: that one)"
    )
    server_timeout: float = option(240.0, "server mode: seconds to wait for the server", exclusiveMinimum=0)
    gpu_memory_utilization: float = option(
        0.3, "colocate mode: share of GPU memory vLLM may take", exclusiveMinimum=0, maximum=1
    )
    tensor_parallel_size: int = option(1, "colocate mode: GPUs per vLLM engine", minimum=1)
    max_model_len: int | None = option(UNSET, "colocate mode: longest prompt + completion (default: model's)")
    sleep_mode: bool = option(
        False, "colocate mode: vLLM frees its GPU memory while the trainer steps (slower wake-up)"
    )


VLLM_TRL_FIELDS = {
    "use_vllm",
    "vllm_mode",
    "vllm_server_base_url",
    "vllm_server_host",
    "vllm_server_port",
    "vllm_server_timeout",
    "vllm_gpu_memory_utilization",
    "vllm_tensor_parallel_size",
    "vllm_max_model_length",
    "vllm_enable_sleep_mode",
}
"""GRPOConfig fields that rlaif's ``vllm`` option sets: refused in ``trl_args`` so there is one way to say it."""


def vllm_trl_args(vllm: dict[str, Any] | None) -> dict[str, Any]:
    """rlaif's ``vllm`` option as GRPOConfig fields (``{}`` when generation stays with transformers)."""
    if vllm is None:
        return {}
    settings = {**defaults(GRPOVLLMOptions), **vllm}
    args: dict[str, Any] = {
        "use_vllm": True,
        "vllm_mode": settings["mode"],
        "vllm_server_timeout": settings["server_timeout"],
        "vllm_gpu_memory_utilization": settings["gpu_memory_utilization"],
        "vllm_tensor_parallel_size": settings["tensor_parallel_size"],
        "vllm_enable_sleep_mode": settings["sleep_mode"],
    }
    if settings.get("server_url"):
        args["vllm_server_base_url"] = settings["server_url"].rstrip("/")
    if settings.get("max_model_len"):
        args["vllm_max_model_length"] = settings["max_model_len"]
    return args


def vllm_problems(vllm: dict[str, Any] | None, trl_args: dict[str, Any]) -> list[Problem]:
    """What makes a ``vllm`` setting impossible before any model loads: vLLM fields in ``trl_args``, and a
    ``vllm`` package this interpreter cannot import (TRL runs vLLM, or its client, inside the trainer)."""
    problems = [
        Problem(
            f"trl_args.{name}: set GRPO's vLLM generation with the option 'vllm' "
            "(mode, server_url, gpu_memory_utilization, ...), not trl_args",
            where=f"optimizer.options.trl_args.{name}",
        )
        for name in sorted(VLLM_TRL_FIELDS & set(trl_args))
    ]
    if vllm is not None:
        import importlib.util

        if importlib.util.find_spec("vllm") is None:
            problems.append(
                Problem(
                    "vllm: GRPO's vLLM generation needs the 'vllm' package importable by rlaif's own interpreter "
                    "(TRL imports it in the trainer, in both modes); install rlaif[vllm] or remove the option",
                    where="optimizer.options.vllm",
                )
            )
    return problems


def _require_vllm_device(vllm: dict[str, Any] | None) -> None:
    """TRL's server mode pushes each step's weights to the server over NCCL (``VLLMClient.init_communicator``
    refuses any device but CUDA): on a machine without CUDA say so before a model loads."""
    if vllm is None or {**defaults(GRPOVLLMOptions), **vllm}["mode"] != "server":
        return
    import torch

    if not torch.cuda.is_available():
        raise RlaifError(
            "GRPO with vllm.mode: server needs a CUDA GPU: TRL syncs the trained weights to 'trl vllm-serve' "
            "over NCCL after every step, and that needs CUDA on the trainer's side",
            hint="Use vllm.mode: colocate, or drop the vllm option to generate with transformers on this machine.",
        )


@dataclass
class GRPOOptions(OnlineOptions, TrainerOptions):
    """GRPO options (TRL ``GRPOConfig`` underneath; anything else goes in ``trl_args``)."""

    per_device_train_batch_size: int = option(
        4, "Completions per device per step (a multiple of num_generations over the global batch).", minimum=1
    )
    trl_args: dict[str, Any] = option(
        {}, "Any other GRPOConfig field, passed through (not the vLLM ones: see vllm)."
    )
    vllm: GRPOVLLMOptions | None = option(
        None, "Generate completions with vLLM through TRL (server or colocate); null = transformers."
    )
    beta: float = option(
        0.04, "KL penalty to the reference (0: no reference model, KL not monitored).", minimum=0
    )
    num_generations: int = option(4, "Group size.", minimum=2)
    max_completion_length: int = option(64, "Tokens per sampled completion.", minimum=1)
    temperature: float = option(1.0, "Sampling temperature.", exclusiveMinimum=0)
    top_p: float = option(1.0, "Nucleus sampling.", exclusiveMinimum=0, maximum=1)
    num_iterations: int = option(1, "Updates per generation batch (PPO-style inner epochs).", minimum=1)
    epsilon: float = option(0.2, "Clip range.", exclusiveMinimum=0)
    loss_type: str = option("dapo", "TRL loss (grpo, dapo, dr_grpo, ...).")
    scale_rewards: Literal["group", "batch", "none"] = option(
        "group", "Divide advantages by the reward std of the group / batch, or not."
    )


def _field_of(message: str) -> str:
    """The option a TRL config error is about: the first rlaif option, else ``trl_args`` field, it names."""
    import re

    names = re.findall(r"[a-z_]+", message)
    for name in names:
        if name in option_names(GRPOOptions) and name != "trl_args":
            return f"optimizer.options.{name}"
        if name in VLLM_TRL_FIELDS:
            return "optimizer.options.vllm"
    return "optimizer.options.trl_args"


class GRPOOptimizer:
    """Group Relative Policy Optimization on prompts, scored by rewards and judges."""

    name = "grpo"
    needs = "prompts"

    def __init__(self, **options: Any):
        self.options = {**defaults(GRPOOptions), **options}

    def check(self, options: dict[str, Any] | None = None, registry: Any = None) -> list[Problem]:
        """Impossible settings, found before any model loads: TRL's own ``GRPOConfig`` checks (group size vs
        batch, ...) turned into Problems naming the option, plus ours (kl_limit, unknown scorers)."""
        opts = {**defaults(GRPOOptions), **(options if options is not None else self.options)}
        problems = []
        try:
            self._grpo_config(opts, Path(tempfile.gettempdir()) / "rlaif-grpo-check", seed=0)
        except (ValueError, TypeError) as exc:
            problems.append(
                Problem(f"TRL's GRPOConfig refuses these settings: {exc}", where=_field_of(str(exc)))
            )
        if opts["kl_limit"] is not None and opts["beta"] == 0:
            problems.append(
                Problem(
                    "kl_limit needs beta > 0 (with beta 0 there is no reference model, so no KL is logged)",
                    where="optimizer.options.kl_limit",
                )
            )
        problems += vllm_problems(opts["vllm"], opts["trl_args"])
        if registry is not None:
            problems += scorer_problems(opts, registry, self.name)
        return problems

    @staticmethod
    def _grpo_config(opts: dict[str, Any], trainer_dir: Path, seed: int, reward_weights: Any = None) -> Any:
        import warnings

        from trl import GRPOConfig

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            return GRPOConfig(
                **trainer_arguments(opts, trainer_dir, seed),
                beta=opts["beta"],
                num_generations=opts["num_generations"],
                max_completion_length=opts["max_completion_length"],
                temperature=opts["temperature"],
                top_p=opts["top_p"],
                num_iterations=opts["num_iterations"],
                epsilon=opts["epsilon"],
                loss_type=opts["loss_type"],
                scale_rewards=opts["scale_rewards"],
                reward_weights=reward_weights,
                **{**vllm_trl_args(opts["vllm"]), **opts["trl_args"]},
            )

    def train(self, request: TrainRequest) -> TrainResult:
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from trl import GRPOTrainer

        opts = self.options
        _require_vllm_device(opts["vllm"])
        funcs, weights = online_scorers(self, request)
        output_dir = Path(request.output_dir)
        trainer_dir = output_dir / "trainer"
        tokenizer = AutoTokenizer.from_pretrained(request.policy, local_files_only=True)
        prepare_tokenizer(tokenizer, "left")
        model = AutoModelForCausalLM.from_pretrained(request.policy, local_files_only=True)
        args = self._grpo_config(opts, trainer_dir, request.seed, reward_weights=weights)
        callback = kl_early_stop_callback(opts["kl_limit"])
        trainer = GRPOTrainer(
            model=model,
            reward_funcs=funcs,
            args=args,
            train_dataset=request.prompts,
            processing_class=tokenizer,
            peft_config=lora_config(opts["lora"]),
            callbacks=[callback] if callback else None,
        )
        result = train_and_save(trainer, tokenizer, output_dir, bool(opts["lora"]), request.resume)
        # both are known only after training: when the KL limit stopped it, and the hacks the rewards caught
        result.metrics["kl_early_stop_step"] = getattr(callback, "stopped_at", None)
        result.metrics.update(hack_metrics(funcs))
        return result


def grpo_factory(options: dict[str, Any]) -> GRPOOptimizer:
    """GRPO via TRL's GRPOTrainer, rewards from registered rewards and judges."""
    return GRPOOptimizer(**options)
