"""Training dispatch: hand a round's pairs (or prompts, for online optimizers) to the configured optimizer.

Offline optimizers (DPO) train on the round's pairs dataset; online ones (GRPO, PPO: ``needs == "prompts"``)
sample their own completions from the training prompts and score them with the constitution's rewards and the
optimizer's own ``rewards:`` / ``judges:``. ``rlaif train`` uses :func:`train_on_pairs` for a file instead of a
run. Every path records ``metrics.json`` beside the checkpoint.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rlaif.config import RunConfig, config_from_dict
from rlaif.constitution import load_constitution
from rlaif.errors import RlaifError
from rlaif.files import atomic_write_json, iter_jsonl
from rlaif.models import policy_weights_path
from rlaif.models.pool import ModelPool
from rlaif.plugins import Registry, load_registry
from rlaif.prompts import load_prompts
from rlaif.protocols import TrainRequest
from rlaif.records import is_pair, pair_record_problems
from rlaif.rundir import RunDirectory

Echo = Callable[[str], None]


def build_optimizer(config: RunConfig) -> Any:
    """The configured optimizer, its options validated and defaults filled in."""
    section = config.settings.optimizer
    registration = config.registry.get("optimizers", section.name, config.source)
    return registration.factory(registration.require_valid_options(section.options, "optimizer.options"))


def optimizer_needs(config: RunConfig) -> str:
    """``"pairs"`` (offline, e.g. DPO) or ``"prompts"`` (online: GRPO, PPO)."""
    return getattr(build_optimizer(config), "needs", "pairs")


def train_round(
    config: RunConfig,
    run_dir: RunDirectory,
    round_index: int,
    policy_spec: str,
    echo: Echo,
    items: list | None = None,
) -> str | None:
    """Train this round's policy; returns the new checkpoint's path (relative to the run dir) or None."""
    from datasets import load_from_disk

    entry = run_dir.round_entry(round_index)
    round_dir = run_dir.round_dir(round_index)
    if entry.get("checkpoint") and (run_dir.path / entry["checkpoint"] / "config.json").exists():
        return entry["checkpoint"]
    optimizer = build_optimizer(config)
    name = config.settings.optimizer.name
    weights = policy_weights_path(policy_spec, config.registry, config.base_dir)
    if optimizer.needs == "prompts":
        items = load_prompts(config) if items is None else items  # the training split: held-out stays out
        constitution = load_constitution(config.settings.constitution, config.base_dir)
        from rlaif.optimizers.online import constitution_rewards, prompts_dataset

        rewards, reward_weights = constitution_rewards(constitution, config.registry)
        entry.update(round=round_index, policy=policy_spec, counts={"prompts": len(items)})
        echo(f"Training round {round_index} with {name} on {len(items)} prompts ...")
        started = time.perf_counter()
        with config.model_pool() as pool:
            result = optimizer.train(
                TrainRequest(
                    policy=weights,
                    output_dir=round_dir,
                    prompts=prompts_dataset(items),
                    rewards=rewards,
                    reward_weights=reward_weights,
                    seed=config.settings.seed + round_index - 1,
                    context=pool,
                )
            )
        return _record_training(run_dir, round_index, result, started)
    if optimizer.needs == "pairs" and entry.get("counts", {}).get("pairs", 0) == 0:
        entry["train_skipped"] = "no pairs survived judging (all dropped); see drops in counts"
        echo(f"Round {round_index}: no pairs to train on; training skipped.")
        run_dir.save_manifest()
        return None
    dataset = load_from_disk(str(round_dir / "pairs_dataset"))
    echo(f"Training round {round_index} with {name} on {len(dataset)} pairs ...")
    started = time.perf_counter()
    result = optimizer.train(
        TrainRequest(policy=weights, output_dir=round_dir, pairs=dataset, seed=config.settings.seed)
    )
    return _record_training(run_dir, round_index, result, started)


def _record_training(run_dir: RunDirectory, round_index: int, result: Any, started: float) -> str:
    entry = run_dir.round_entry(round_index)
    round_dir = run_dir.round_dir(round_index)
    atomic_write_json(
        round_dir / "metrics.json", {"metrics": result.metrics, "log_history": result.log_history}
    )
    entry.setdefault("timings", {})["train_s"] = round(time.perf_counter() - started, 2)
    entry.update(
        status="trained",
        checkpoint=run_dir.relative(Path(result.checkpoint)),
        metrics=run_dir.relative(round_dir / "metrics.json"),
        train_metrics={k: v for k, v in result.metrics.items() if isinstance(v, int | float | str | None)},
    )
    run_dir.save_manifest()
    return entry["checkpoint"]


def is_main_process() -> bool:
    """False on the non-zero ranks of an ``accelerate launch``/``torchrun`` job (they must not write outputs)."""
    return int(os.environ.get("RANK", "0")) == 0


def load_pairs_file(path: Path) -> Any:
    """A pairs JSONL (TRL preference format; a run's records.jsonl too: drops are skipped) or dataset dir."""
    from datasets import Dataset

    from rlaif.files import load_dataset_dir

    if path.is_dir():
        dataset = load_dataset_dir(path, "pairs dataset")
        missing = [key for key in ("prompt", "chosen", "rejected") if key not in dataset.column_names]
        if missing:
            raise RlaifError(
                f"{path}: the dataset has no column {', '.join(missing)} (TRL preference format)"
            )
        return dataset
    rows = []
    for number, record in iter_jsonl(path, "pairs file"):
        if "status" in record and not is_pair(record):
            continue  # a run's records.jsonl also holds drops: skip them
        problems = pair_record_problems(record)
        if problems:
            raise RlaifError(f"{path}: line {number}: {'; '.join(problems)} (expected TRL preference format)")
        rows.append({key: record[key] for key in ("prompt", "chosen", "rejected")})
    return Dataset.from_list(rows)


def train_on_pairs(
    pairs_path: str | Path,
    output_dir: str | Path,
    policy: str = "embedded",
    optimizer: str = "dpo",
    options: dict[str, Any] | None = None,
    seed: int = 0,
    plugins: tuple[str, ...] = (),
    registry: Registry | None = None,
) -> Any:
    """``rlaif train``: train a policy on a pairs file (JSONL in TRL preference format) or dataset directory.

    Online optimizers (GRPO, PPO) take a prompts file (as in run configs) instead.
    """
    registry = registry or load_registry(plugins)
    registration = registry.get("optimizers", optimizer)
    problems = registration.option_problems(options or {}, "--option", "options")
    if problems:
        raise RlaifError(f"invalid options for optimizer '{optimizer}'", problems)
    output_dir = Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise RlaifError(f"{output_dir}: the output directory is a file")
    path = Path(pairs_path)
    built = registration.factory(registration.resolved_options(options))
    online = getattr(built, "needs", "pairs") == "prompts"
    # the user's data is read and checked before the policy is located or loaded: a bad file costs nothing
    if online:
        items = load_prompts(config_from_dict({"prompts": str(path.resolve())}))
    else:
        dataset = load_pairs_file(path)
        if len(dataset) == 0:
            raise RlaifError(f"{path}: no pairs to train on")
    weights = policy_weights_path(policy, registry)
    output_dir.mkdir(parents=True, exist_ok=True)
    if online:
        from rlaif.optimizers.online import prompts_dataset

        with ModelPool(registry) as pool:
            request = TrainRequest(
                policy=weights, output_dir=output_dir, prompts=prompts_dataset(items), seed=seed, context=pool
            )
            result = built.train(request)
    else:
        result = built.train(TrainRequest(policy=weights, output_dir=output_dir, pairs=dataset, seed=seed))
    if is_main_process():
        atomic_write_json(
            output_dir / "metrics.json", {"metrics": result.metrics, "log_history": result.log_history}
        )
    return result
