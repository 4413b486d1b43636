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
from rlaif.optimizers.common import NothingToTrain
from rlaif.plugins import Registry, load_registry
from rlaif.prompts import load_prompts
from rlaif.protocols import TrainRequest
from rlaif.records import is_pair, pair_record_problems
from rlaif.rundir import RunDirectory

Echo = Callable[[str], None]


def build_optimizer(config: RunConfig, index: int = 0) -> Any:
    """Training stage ``index``'s optimizer (0: the only one), its options validated and defaults filled in."""
    section = config.optimizer_stages()[index]
    registration = config.registry.get("optimizers", section["name"], config.source)
    where = f"{config.optimizer_where(index)}.options"
    return registration.factory(registration.require_valid_options(section["options"], where))


def optimizer_needs(config: RunConfig) -> str:
    """``"pairs"`` when any stage trains on the round's pairs (DPO, SFT), else ``"prompts"`` (GRPO, PPO only)."""
    needs = {
        getattr(build_optimizer(config, i), "needs", "pairs") for i in range(len(config.optimizer_stages()))
    }
    return "pairs" if "pairs" in needs else "prompts"


def stage_dir_name(index: int, name: str) -> str:
    """``stage-K-<name>``: the folder of training stage K (1-based) of a multi-stage round or ``rlaif train``."""
    return f"stage-{index}-{name}"


def train_round(
    config: RunConfig,
    run_dir: RunDirectory,
    round_index: int,
    policy_spec: str,
    echo: Echo,
    items: list | None = None,
) -> str | None:
    """Train this round's policy through every stage; returns the final checkpoint (relative) or None.

    One stage writes into ``round-N/`` itself (the layout single-optimizer runs always had). Several stages
    write into ``round-N/stage-K-<name>/``, each starting from the previous stage's checkpoint and recorded in
    the round's ``stages`` entries as it finishes, so a resumed run skips finished stages and the interrupted
    one resumes from its last ``checkpoint-*``.
    """
    entry = run_dir.round_entry(round_index)
    round_dir = run_dir.round_dir(round_index)
    if entry.get("checkpoint") and (run_dir.path / entry["checkpoint"] / "config.json").exists():
        return entry["checkpoint"]
    entry.update(round=round_index, policy=entry.get("policy") or policy_spec)
    stages = config.optimizer_stages()
    weights = policy_weights_path(policy_spec, config.registry, config.base_dir)
    if len(stages) == 1:
        outcome = _train_stage(config, run_dir, round_index, 0, weights, round_dir, echo, items)
        if isinstance(outcome, str):
            entry["train_skipped"] = outcome
            echo(f"Round {round_index}: {outcome}; training skipped.")
            run_dir.save_manifest()
            return None
        result, seconds = outcome
        entry.setdefault("timings", {})["train_s"] = seconds
        return _record_result(run_dir, entry, round_dir, result, status="trained")
    recorded = entry.setdefault("stages", [])
    trained: list[dict[str, Any]] = []
    for index, stage in enumerate(stages):
        while len(recorded) <= index:
            recorded.append({"stage": len(recorded) + 1, "name": stages[len(recorded)]["name"]})
        stage_entry = recorded[index]
        stage_dir = round_dir / stage_dir_name(index + 1, stage["name"])
        finished = stage_entry.get("checkpoint")
        if finished and (run_dir.path / finished / "config.json").exists():
            echo(f"Round {round_index}, stage {index + 1} ({stage['name']}): already trained, skipped.")
            weights = str((run_dir.path / finished).resolve())
            trained.append(stage_entry)
            continue
        if stage_entry.get("status") == "skipped":
            continue
        stage_entry["policy"] = trained[-1]["checkpoint"] if trained else policy_spec
        outcome = _train_stage(config, run_dir, round_index, index, weights, stage_dir, echo, items)
        if isinstance(outcome, str):
            stage_entry.update(status="skipped", skipped=outcome)
            echo(f"Round {round_index}, stage {index + 1} ({stage['name']}): {outcome}; skipped.")
            run_dir.save_manifest()
            continue
        result, seconds = outcome
        stage_entry.setdefault("timings", {})["train_s"] = seconds
        _record_result(run_dir, stage_entry, stage_dir, result, status="trained")
        weights = str(Path(result.checkpoint).resolve())
        trained.append(stage_entry)
    if not trained:
        entry["train_skipped"] = "every training stage was skipped (see stages)"
        run_dir.save_manifest()
        return None
    last = trained[-1]
    entry.setdefault("timings", {})["train_s"] = round(
        sum(s.get("timings", {}).get("train_s", 0) for s in recorded), 2
    )
    entry.update(
        status="trained",
        checkpoint=last["checkpoint"],
        metrics=last["metrics"],
        train_metrics=last["train_metrics"],
    )
    run_dir.save_manifest()
    return entry["checkpoint"]


def _train_stage(
    config: RunConfig,
    run_dir: RunDirectory,
    round_index: int,
    index: int,
    weights: str,
    output_dir: Path,
    echo: Echo,
    items: list | None,
) -> tuple[Any, float] | str:
    """Run one stage from ``weights`` into ``output_dir``: ``(TrainResult, seconds)``, or why it was skipped."""
    from datasets import load_from_disk

    entry = run_dir.round_entry(round_index)
    optimizer = build_optimizer(config, index)
    name = config.optimizer_stages()[index]["name"]
    label = f"round {round_index}" + (f", stage {index + 1}" if len(config.optimizer_stages()) > 1 else "")
    output_dir.mkdir(parents=True, exist_ok=True)
    if optimizer.needs == "prompts":
        items = load_prompts(config) if items is None else items  # the training split: held-out stays out
        constitution = load_constitution(config.settings.constitution, config.base_dir)
        from rlaif.optimizers.online import constitution_rewards, prompts_dataset

        rewards, reward_weights = constitution_rewards(constitution, config.registry)
        if not entry.get("counts"):
            entry.update(round=round_index, counts={"prompts": len(items)})
        echo(f"Training {label} with {name} on {len(items)} prompts ...")
        started = time.perf_counter()
        with config.model_pool() as pool:
            result = optimizer.train(
                TrainRequest(
                    policy=weights,
                    output_dir=output_dir,
                    prompts=prompts_dataset(items),
                    rewards=rewards,
                    reward_weights=reward_weights,
                    seed=config.settings.seed + round_index - 1,
                    context=pool,
                )
            )
        return result, round(time.perf_counter() - started, 2)
    if entry.get("counts", {}).get("pairs", 0) == 0:
        return "no pairs survived judging (all dropped); see drops in counts"
    dataset = load_from_disk(str(run_dir.round_dir(round_index) / "pairs_dataset"))
    echo(f"Training {label} with {name} on {len(dataset)} pairs ...")
    started = time.perf_counter()
    try:
        result = optimizer.train(
            TrainRequest(policy=weights, output_dir=output_dir, pairs=dataset, seed=config.settings.seed)
        )
    except NothingToTrain as reason:
        return reason.message
    return result, round(time.perf_counter() - started, 2)


def _record_result(
    run_dir: RunDirectory, entry: dict[str, Any], folder: Path, result: Any, status: str
) -> str:
    """``metrics.json`` in ``folder`` and the manifest entry (a round's or a stage's) pointing at it."""
    atomic_write_json(folder / "metrics.json", {"metrics": result.metrics, "log_history": result.log_history})
    entry.update(
        status=status,
        checkpoint=run_dir.relative(Path(result.checkpoint)),
        metrics=run_dir.relative(folder / "metrics.json"),
        train_metrics={k: v for k, v in result.metrics.items() if isinstance(v, int | float | str | None)},
    )
    run_dir.save_manifest()
    return entry["checkpoint"]


def is_main_process() -> bool:
    """False on the non-zero ranks of an ``accelerate launch``/``torchrun`` job (they must not write outputs)."""
    return int(os.environ.get("RANK", "0")) == 0


def load_pairs_file(path: Path, labels: str | Path | None = None) -> Any:
    """A pairs JSONL (TRL preference format; a run's records.jsonl too: drops are skipped) or dataset dir.

    ``labels`` (a ``labels.jsonl`` from ``rlaif label``) overrule the judge first: flips swap chosen and
    rejected, a human tie drops the pair, a labelled drop (an AI tie) becomes a pair.
    """
    from datasets import Dataset

    from rlaif.files import load_dataset_dir

    if labels is not None:
        from rlaif.label import apply_labels, read_events

        events, _ = read_events(labels)
        if not events:
            raise RlaifError(f"{labels}: no labels in it (label with `rlaif label {path}` first)")
        if path.is_dir():
            records = [dict(row) for row in load_dataset_dir(path, "pairs dataset")]
        else:
            records = [record for _, record in iter_jsonl(path, "pairs file")]
        rows = []
        for number, record in enumerate(apply_labels(records, events), start=1):
            if "status" in record and not is_pair(record):
                continue
            problems = pair_record_problems(record)
            if problems:
                raise RlaifError(
                    f"{path}: record {number}: {'; '.join(problems)} (expected TRL preference format)"
                )
            rows.append({key: record[key] for key in ("prompt", "chosen", "rejected")})
        return Dataset.from_list(rows)
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
    stages: list[dict[str, Any]] | None = None,
    options_source: str = "--option",
    labels: str | Path | None = None,
) -> Any:
    """``rlaif train``: train a policy on a pairs file (JSONL in TRL preference format) or dataset directory.

    Online optimizers (GRPO, PPO) take a prompts file (as in run configs) instead; SFT also takes a
    prompt/completion file. ``stages`` (``[{name, options}, ...]``, as a run config's ``optimizer`` list)
    trains them in order into ``output_dir/stage-K-<name>/``, each from the previous stage's checkpoint; a
    stage that finished before (its ``metrics.json`` is there) is skipped on a re-run. Returns the last
    stage's result.
    """
    registry = registry or load_registry(plugins)
    if stages is None:
        stages = [{"name": optimizer, "options": options or {}}]
    problems = []
    for index, stage in enumerate(stages):
        where = options_source if options_source == "--option" else f"{options_source}[{index}]"
        registration = registry.get("optimizers", stage["name"])
        problems += registration.option_problems(stage.get("options") or {}, where, "options")
    if problems:
        names = ", ".join(stage["name"] for stage in stages)
        raise RlaifError(f"invalid options for optimizer {names}", problems)
    output_dir = Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise RlaifError(f"{output_dir}: the output directory is a file")
    path = Path(pairs_path)
    # the user's data is read and checked before the policy is located or loaded: a bad file costs nothing
    first = registry.get("optimizers", stages[0]["name"])
    training_data(first.factory(first.resolved_options(stages[0].get("options"))), path, labels)
    weights = policy_weights_path(policy, registry)
    result = None
    for index, stage in enumerate(stages):
        folder = output_dir if len(stages) == 1 else output_dir / stage_dir_name(index + 1, stage["name"])
        if len(stages) > 1 and (folder / "metrics.json").exists() and (folder / "checkpoint").is_dir():
            weights = str((folder / "checkpoint").resolve())  # finished before: the next stage starts here
            continue
        registration = registry.get("optimizers", stage["name"])
        built = registration.factory(registration.resolved_options(stage.get("options")))
        result = _train_file(built, path, folder, weights, seed, registry, labels)
        if is_main_process():
            atomic_write_json(
                folder / "metrics.json", {"metrics": result.metrics, "log_history": result.log_history}
            )
        weights = str(Path(result.checkpoint).resolve())
    if result is None:  # every stage had finished before
        from rlaif.protocols import TrainResult

        result = TrainResult(checkpoint=Path(weights), metrics={"skipped": "every stage had finished before"})
    return result


def training_data(built: Any, path: Path, labels: str | Path | None = None) -> tuple[str, Any]:
    """What an optimizer trains on from a file: ``("prompts", items)`` for online optimizers, else
    ``("pairs", dataset)`` (or what the optimizer reads itself, e.g. SFT's prompt/completion files)."""
    if getattr(built, "needs", "pairs") == "prompts":
        return "prompts", load_prompts(config_from_dict({"prompts": str(path.resolve())}))
    reader = getattr(built, "dataset_from_file", None)
    dataset = reader(path) if reader is not None and labels is None else load_pairs_file(path, labels)
    if len(dataset) == 0:
        raise RlaifError(f"{path}: no pairs to train on")
    return "pairs", dataset


def _train_file(
    built: Any,
    path: Path,
    output_dir: Path,
    weights: str,
    seed: int,
    registry: Registry,
    labels: str | Path | None = None,
) -> Any:
    """One optimizer on one data file: prompts for online optimizers, else pairs (or what it reads itself)."""
    kind, data = training_data(built, path, labels)
    output_dir.mkdir(parents=True, exist_ok=True)
    if kind == "prompts":
        from rlaif.optimizers.online import prompts_dataset

        with ModelPool(registry) as pool:
            request = TrainRequest(
                policy=weights, output_dir=output_dir, prompts=prompts_dataset(data), seed=seed, context=pool
            )
            return built.train(request)
    try:
        return built.train(TrainRequest(policy=weights, output_dir=output_dir, pairs=data, seed=seed))
    except NothingToTrain as error:
        raise RlaifError(f"{path}: {error.message}", hint=error.hint) from None
