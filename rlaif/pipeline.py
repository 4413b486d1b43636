"""A whole run, top to bottom: check -> (generate pairs -> train) x rounds, all state in one run directory.

Run directory layout::

    manifest.json          config hash, counts, timings, paths of every artifact (relative to the run dir)
    config.yaml            the resolved config (all defaults filled in)
    constitution.yaml      the constitution as used
    round-1/records.jsonl  the journal: one record per prompt (pair or drop), fsync'd as it is made
    round-1/pairs.jsonl    the pairs, TRL conversational preference format + provenance
    round-1/pairs_dataset/ the same pairs as a `datasets` dataset (load_from_disk)
    round-1/checkpoint/    the trained policy (safetensors; AutoModelForCausalLM.from_pretrained)
    round-1/metrics.json   training metrics and log history

Re-running the same config on the same directory resumes: finished prompts, rounds and training are skipped.
"""

from __future__ import annotations

import gc
import os
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from filelock import FileLock, Timeout

from rlaif import __version__
from rlaif.config import RunConfig, require_valid
from rlaif.constitution import Constitution, load_constitution
from rlaif.engine import EngineSettings, Journal, run_cai
from rlaif.engine.strategies import PairSettings, length_gap
from rlaif.errors import RlaifError
from rlaif.eval.holdout import prompt_split
from rlaif.eval.runs import evaluate_round
from rlaif.files import atomic_write_json, atomic_write_text, write_jsonl
from rlaif.models import load_chat_model, split_spec
from rlaif.plugins import Registry, get_registry
from rlaif.prompts import load_prompts
from rlaif.protocols import ChatModel, TrainRequest

Echo = Callable[[str], None]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- models ------------------------------------------------------------------------------------------------------
class ModelPool:
    """Loads each distinct model once and hands it to every role that uses it (the judge factory's context)."""

    def __init__(self, config: RunConfig, registry: Registry, overrides: dict[str, str] | None = None):
        self.config = config
        self.registry = registry
        self.overrides = overrides or {}
        self._loaded: dict[str, ChatModel] = {}

    def _ref(self, role_or_spec: str):
        from rlaif.config import ModelRef

        if role_or_spec in ("policy", "critic", "judge"):
            ref = self.config.model(role_or_spec)
            if role_or_spec in self.overrides:
                ref = ModelRef(self.overrides[role_or_spec], ref.options)
            return ref
        return ModelRef(role_or_spec)

    def model(self, role_or_spec: str) -> ChatModel:
        ref = self._ref(role_or_spec)
        spec = resolve_local_spec(ref.spec, self.config, self.registry)
        key = f"{spec}|{ref.key()}"
        if key not in self._loaded:
            self._loaded[key] = load_chat_model(spec, ref.options, self.registry)
        return self._loaded[key]

    def close(self) -> None:
        """Release every model now (HTTP clients and loop threads included), not whenever GC gets to it."""
        for model in self._loaded.values():
            closer = getattr(model, "close", None)
            if callable(closer):
                closer()
        self._loaded.clear()
        release_memory()


def release_memory() -> None:
    """Give freed memory back between phases (generate, train, eval), so the next phase's peak is its own.

    Trainers and models hold reference cycles that only the cycle collector frees, and glibc keeps freed heap
    pages mapped until asked: ``malloc_trim`` returns them to the OS (skipped where there is no glibc).
    """
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass


def resolve_local_spec(spec: str, config: RunConfig, registry: Registry) -> str:
    """Relative model directories are relative to the config file."""
    scheme, rest = split_spec(spec, registry)
    if scheme == "hf":
        path = Path(rest).expanduser()
        if not path.is_absolute() and (config.base_dir / path).exists():
            return str((config.base_dir / path).resolve())
    return spec


def policy_weights_path(spec: str, config: RunConfig, registry: Registry) -> str:
    """Where the policy's weights are on disk (the embedded model is materialised from its GGUF once)."""
    if spec == "embedded":
        from rlaif.models.embedded import embedded_model_dir

        return str(embedded_model_dir())
    scheme, rest = split_spec(resolve_local_spec(spec, config, registry), registry)
    if scheme != "hf":
        raise RlaifError(f"the policy '{spec}' is not a local model, so it cannot be trained here")
    path = Path(rest).expanduser()
    if not path.is_dir() and not (len(rest.split("/")) == 2 and not rest.startswith((".", "/", "~"))):
        raise RlaifError(
            f"the policy '{spec}': no model directory there (use 'embedded' or a local HF directory)"
        )
    return rest


def _is_message_list(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
            for m in value
        )
    )


def pair_record_problems(record: dict[str, Any]) -> list[str]:
    """What keeps one pairs-file record from being a TRL preference example (empty list: it is one)."""
    problems = []
    for key in ("prompt", "chosen", "rejected"):
        if key not in record:
            problems.append(f"missing {key}")
        elif not (isinstance(record[key], str) and record[key].strip()) and not _is_message_list(record[key]):
            problems.append(
                f"'{key}' must be a non-empty string or a list of {{role, content}} messages, "
                f"got {type(record[key]).__name__}"
            )
    return problems


# -- run directory -------------------------------------------------------------------------------------------------
@dataclass
class RunDirectory:
    """The run's folder, its lock (one process at a time) and its manifest (written atomically)."""

    path: Path
    manifest: dict[str, Any] = field(default_factory=dict)
    _lock: FileLock | None = None

    def __post_init__(self) -> None:
        self.path = Path(self.path)

    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"

    def acquire(self) -> None:
        """Take the directory's lock (an OS file lock: it dies with its process, so a killed run never leaves a
        stale lock; the ``.lock.owner`` note it leaves behind is only read while someone holds the lock)."""
        if self.path.exists() and not self.path.is_dir():
            raise RlaifError(
                f"{self.path}: the output directory is a file", hint="Choose another --output-dir."
            )
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RlaifError(
                f"{self.path}: cannot create the output directory ({exc.strerror or exc})"
            ) from None
        owner_file = self.path / ".lock.owner"
        lock = FileLock(str(self.path / ".lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            owner = owner_file.read_text().strip() if owner_file.exists() else "another process"
            raise RlaifError(
                f"{self.path}: this run directory is in use by {owner}",
                hint="Wait for it to finish, or choose another --output-dir.",
            ) from None
        try:
            atomic_write_text(
                owner_file,
                f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}\n",
            )
        except BaseException:
            lock.release()
            raise
        self._lock = lock

    def release(self) -> None:
        if self._lock is not None:
            (self.path / ".lock.owner").unlink(missing_ok=True)
            self._lock.release()
            self._lock = None

    def load_manifest(self) -> dict[str, Any]:
        import json

        if self.manifest_path.exists():
            try:
                self.manifest = json.loads(self.manifest_path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise RlaifError(
                    f"{self.manifest_path}: corrupt manifest ({exc.msg}); use --overwrite to start over"
                ) from None
        return self.manifest

    def save_manifest(self) -> None:
        self.manifest["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        atomic_write_json(self.manifest_path, self.manifest)

    def round_entry(self, round_index: int) -> dict[str, Any]:
        rounds = self.manifest.setdefault("rounds", [])
        while len(rounds) < round_index:
            rounds.append({"round": len(rounds) + 1})
        return rounds[round_index - 1]

    def relative(self, path: Path) -> str:
        return os.path.relpath(path, self.path)


def prepare_run_directory(config: RunConfig, overwrite: bool = False) -> RunDirectory:
    """Lock the run directory and check that resuming in it is safe (same result-affecting config)."""
    import shutil

    run_dir = RunDirectory(config.output_dir)
    run_dir.acquire()
    try:
        manifest = run_dir.load_manifest() if not overwrite else {}
        if overwrite:
            for child in run_dir.path.iterdir():
                if child.name not in (".lock", ".lock.owner"):
                    shutil.rmtree(child) if child.is_dir() else child.unlink()
            run_dir.manifest = {}
        elif manifest and manifest.get("config_hash") != config.result_hash():
            raise RlaifError(
                f"{run_dir.path}: holds a run made with a different config "
                f"({_config_changes(run_dir.path / 'config.yaml', config)}); resuming would mix results.",
                hint="Re-run with --overwrite to replace it, --new to start a fresh run in a new sibling "
                "directory, or --output-dir to choose one.",
            )
    except BaseException:
        run_dir.release()
        raise
    return run_dir


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def _config_changes(saved_path: Path, config: RunConfig, limit: int = 5) -> str:
    """``seed: 0 -> 9, models.policy: ...``: which result-affecting settings differ from the saved run's."""
    from rlaif.config import HARMLESS_KEYS

    try:
        saved = yaml.safe_load(saved_path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        saved = None
    if not isinstance(saved, dict):
        return "its config.yaml is missing, so the settings cannot be compared"
    old = {k: v for k, v in _flatten(saved).items() if k.split(".")[0] not in HARMLESS_KEYS}
    new = {k: v for k, v in _flatten(config.raw).items() if k.split(".")[0] not in HARMLESS_KEYS}
    changes = [
        f"{key}: {old.get(key, '(unset)')!r} -> {new.get(key, '(unset)')!r}"
        for key in sorted(set(old) | set(new))
        if old.get(key, "(unset)") != new.get(key, "(unset)")
    ]
    if not changes:
        return "changed settings could not be pinpointed"
    more = f", and {len(changes) - limit} more" if len(changes) > limit else ""
    return "changed: " + ", ".join(changes[:limit]) + more


def fresh_output_dir(path: str | Path) -> Path:
    """``runs/default`` if unused, else the first free sibling ``runs/default-2``, ``-3``, ... (``--new``)."""
    path = Path(path)
    if not path.exists() or (path.is_dir() and not any(path.iterdir())):
        return path
    number = 2
    while (candidate := path.with_name(f"{path.name}-{number}")).exists():
        number += 1
    return candidate


def save_dataset_atomically(dataset: Any, directory: Path) -> None:
    """``save_to_disk`` into a temp sibling, then swap it in: a crash never leaves a half-saved dataset."""
    import shutil
    import tempfile

    temp = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}."))
    try:
        dataset.save_to_disk(str(temp))
        if directory.exists():
            old = directory.with_name(f".{directory.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            directory.rename(old)
            temp.rename(directory)
            shutil.rmtree(old, ignore_errors=True)
        else:
            temp.rename(directory)
    except OSError as exc:
        raise RlaifError(f"{directory}: cannot save the pairs dataset ({exc.strerror or exc})") from None
    finally:
        shutil.rmtree(temp, ignore_errors=True)


# -- results ---------------------------------------------------------------------------------------------------
@dataclass
class RunResult:
    run_dir: Path
    manifest: dict[str, Any]

    @property
    def final_checkpoint(self) -> Path | None:
        value = self.manifest.get("final_checkpoint")
        return self.run_dir / value if value else None

    def summary(self) -> str:
        lines = [f"Run directory: {self.run_dir}"]
        for entry in self.manifest.get("rounds", []):
            counts = entry.get("counts", {})
            drops = ", ".join(f"{k}: {v}" for k, v in sorted(counts.get("drops", {}).items())) or "none"
            lines.append(
                f"  round {entry['round']}: {counts.get('prompts', 0)} prompts -> {counts.get('pairs', 0)} pairs "
                f"(drops: {drops})"
            )
            if entry.get("pairs"):
                lines.append(f"    pairs:      {self.run_dir / entry['pairs']}")
            if entry.get("checkpoint"):
                lines.append(f"    checkpoint: {self.run_dir / entry['checkpoint']}")
            if entry.get("train_skipped"):
                lines.append(f"    training skipped: {entry['train_skipped']}")
            if entry.get("eval_summary", {}).get("win_rate") is not None:
                lines.append(
                    f"    eval:       win rate {entry['eval_summary']['win_rate']:.2f} ({entry['eval']})"
                )
        lines.append(f"  manifest:     {self.run_dir / 'manifest.json'}")
        if self.manifest.get("report"):
            lines.append(f"  report:       {self.run_dir / self.manifest['report']}")
        return "\n".join(lines)


def pairs_dataset(records: list[dict[str, Any]]):
    """Pairs as a ``datasets.Dataset`` (TRL conversational preference columns + flat provenance)."""
    from datasets import Dataset

    pairs = [r for r in records if r.get("status") == "pair"]
    rows = {
        "prompt": [r["prompt"] for r in pairs],
        "chosen": [r["chosen"] for r in pairs],
        "rejected": [r["rejected"] for r in pairs],
        "id": [r["id"] for r in pairs],
        "principle_id": [r["principle_id"] for r in pairs],
        "p_revision": [float(r["judge"].get("p_revision", r["judge"].get("p_chosen"))) for r in pairs],
        "chosen_source": [r["chosen_source"] for r in pairs],
        "round": [r["round"] for r in pairs],
        "seed": [r["seed"] for r in pairs],
    }
    return Dataset.from_dict(rows)


# -- stages --------------------------------------------------------------------------------------------------------
def _generate_round(
    config: RunConfig,
    run_dir: RunDirectory,
    round_index: int,
    policy_spec: str,
    constitution: Constitution,
    registry: Registry,
    progress: bool,
    echo: Echo,
    items: list | None = None,
) -> list[dict[str, Any]]:
    round_dir = run_dir.path / f"round-{round_index}"
    entry = run_dir.round_entry(round_index)
    items = load_prompts(config) if items is None else items
    journal = Journal(round_dir / "records.jsonl")
    wanted = {item.id for item in items}
    if entry.get("status") == "trained" and entry.get("checkpoint"):
        # A trained round is final: its pairs made the checkpoint every later round builds on.
        if journal.done_ids >= wanted:
            return [record for record in journal.records if record["id"] in wanted]
        raise RlaifError(
            f"{run_dir.path}: round {round_index} was already trained on {entry.get('counts', {}).get('prompts')} "
            f"prompts; these settings ask for {len(wanted - journal.done_ids)} more, which would not match "
            "its checkpoint.",
            hint="Keep the earlier --max-prompts, or re-run with --new (fresh sibling directory) or --overwrite.",
        )
    entry.update(round=round_index, policy=policy_spec, records=run_dir.relative(journal.path))
    if not (journal.done_ids >= wanted):
        if journal.records:
            echo(
                f"Resuming round {round_index}: {len(journal.records)} of {len(items)} prompts already done."
            )
        pool = ModelPool(config, registry, overrides={"policy": policy_spec})
        try:
            started = time.perf_counter()
            echo(f"Loading models (policy: {policy_spec}) ...")
            policy, critic, judge_model = pool.model("policy"), pool.model("critic"), pool.model("judge")
            judge_section = config["judge"]
            judge = registry.get("judges", judge_section["name"], config.source).factory(
                judge_section["options"], pool
            )
            settings = EngineSettings(
                answer=config.sampling("generation"),
                critique=config.sampling("critique"),
                revision=config.sampling("revision"),
                margin=judge_section["margin"],
                chunk_size=config["chunk_size"],
                seed=config["seed"],
                round=round_index,
                pairs=PairSettings.from_config(config["pairs"]),
            )
            result = run_cai(
                items, constitution, policy, critic, judge, settings, journal, progress, judge_model
            )
            timings = entry.setdefault("timings", {})
            timings["generate_s"] = round(timings.get("generate_s", 0) + time.perf_counter() - started, 2)
            usage = entry.setdefault("usage", {})
            for stage, counts in result.usage.items():
                for key, value in counts.items():
                    usage.setdefault(stage, {})[key] = usage.get(stage, {}).get(key, 0) + value
        finally:
            pool.close()
    records = [record for record in journal.records if record["id"] in wanted]
    pairs = [r for r in records if r["status"] == "pair"]
    drops: dict[str, int] = {}
    for record in records:
        if record["status"] == "drop":
            drops[record["reason"]] = drops.get(record["reason"], 0) + 1
    write_jsonl(round_dir / "pairs.jsonl", pairs)
    dataset_dir = round_dir / "pairs_dataset"
    if pairs:  # `datasets` cannot load an empty saved dataset back, so none is written
        save_dataset_atomically(pairs_dataset(records), dataset_dir)
    entry.update(
        status="generated",
        pairs=run_dir.relative(round_dir / "pairs.jsonl"),
        dataset=run_dir.relative(dataset_dir) if pairs else None,
        counts={
            "prompts": len(records),
            "pairs": len(pairs),
            "drops": drops,
            "length_gap": length_gap(records),
        },
    )
    run_dir.save_manifest()
    return records


def _train_round(
    config: RunConfig,
    run_dir: RunDirectory,
    round_index: int,
    policy_spec: str,
    registry: Registry,
    echo: Echo,
    items: list | None = None,
) -> str | None:
    """Train this round's policy; returns the new checkpoint's path (relative to the run dir) or None."""
    from datasets import load_from_disk

    entry = run_dir.round_entry(round_index)
    round_dir = run_dir.path / f"round-{round_index}"
    if entry.get("checkpoint") and (run_dir.path / entry["checkpoint"] / "config.json").exists():
        return entry["checkpoint"]
    section = config["optimizer"]
    optimizer = registry.get("optimizers", section["name"], config.source).factory(section["options"])
    if optimizer.needs == "prompts":
        return _train_round_online(
            config, run_dir, round_index, policy_spec, registry, optimizer, echo, items
        )
    n_pairs = entry.get("counts", {}).get("pairs", 0)
    if optimizer.needs == "pairs" and n_pairs == 0:
        entry["train_skipped"] = "no pairs survived judging (all dropped); see drops in counts"
        echo(f"Round {round_index}: no pairs to train on; training skipped.")
        run_dir.save_manifest()
        return None
    dataset = load_from_disk(str(round_dir / "pairs_dataset"))
    echo(f"Training round {round_index} with {section['name']} on {len(dataset)} pairs ...")
    started = time.perf_counter()
    result = optimizer.train(
        TrainRequest(
            policy=policy_weights_path(policy_spec, config, registry),
            output_dir=round_dir,
            pairs=dataset,
            seed=config["seed"],
        )
    )
    return _record_training(run_dir, round_index, result, started)


def _train_round_online(
    config, run_dir, round_index, policy_spec, registry, optimizer, echo, items=None
) -> str:
    """An online optimizer (GRPO, PPO) trains on the prompts with the constitution's rewards; no CAI pairs."""
    from rlaif.optimizers.online import constitution_rewards, prompts_dataset

    round_dir = run_dir.path / f"round-{round_index}"
    items = load_prompts(config) if items is None else items  # the training split: held-out prompts stay out
    constitution = load_constitution(config["constitution"], config.base_dir)
    rewards, weights = constitution_rewards(constitution, registry)
    run_dir.round_entry(round_index).update(
        round=round_index, policy=policy_spec, counts={"prompts": len(items)}
    )
    echo(f"Training round {round_index} with {config['optimizer']['name']} on {len(items)} prompts ...")
    started = time.perf_counter()
    pool = ModelPool(config, registry)
    try:
        result = optimizer.train(
            TrainRequest(
                policy=policy_weights_path(policy_spec, config, registry),
                output_dir=round_dir,
                prompts=prompts_dataset(items),
                rewards=rewards,
                reward_weights=weights,
                seed=config["seed"] + round_index - 1,
                context=pool,
            )
        )
    finally:
        pool.close()
    return _record_training(run_dir, round_index, result, started)


def _record_training(run_dir: RunDirectory, round_index: int, result: Any, started: float) -> str:
    entry = run_dir.round_entry(round_index)
    round_dir = run_dir.path / f"round-{round_index}"
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


def _optimizer_needs(config: RunConfig, registry: Registry) -> str:
    section = config["optimizer"]
    registration = registry.get("optimizers", section["name"], config.source)
    return getattr(registration.factory(section["options"]), "needs", "pairs")


def run(
    config: RunConfig,
    *,
    train: bool | None = None,
    overwrite: bool = False,
    progress: bool = True,
    echo: Echo = _stderr,
) -> RunResult:
    """The whole loop for ``config.rounds`` rounds. ``train=False`` makes preference data only."""
    require_valid(config)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise RlaifError(
            "rlaif run is one process (it locks its run directory); it cannot run under a multi-process launcher",
            hint="Make the data with `rlaif generate`, then train on all GPUs with "
            "`accelerate launch -m rlaif train RUN/round-1/pairs.jsonl ...` (docs/optimizers.md).",
        )
    registry = get_registry(config["plugins"])
    do_train = config["train"] if train is None else train
    constitution = load_constitution(config["constitution"], config.base_dir)
    run_dir = prepare_run_directory(config, overwrite=overwrite)
    try:
        manifest = run_dir.manifest
        manifest.setdefault("created", time.strftime("%Y-%m-%dT%H:%M:%S"))
        manifest.update(
            rlaif_version=__version__,
            config_hash=config.result_hash(),
            config="config.yaml",
            constitution="constitution.yaml",
            config_source=config.source,
        )
        atomic_write_text(
            run_dir.path / "config.yaml", yaml.safe_dump(config.raw, sort_keys=False, allow_unicode=True)
        )
        atomic_write_text(
            run_dir.path / "constitution.yaml",
            yaml.safe_dump(constitution.to_dict(), sort_keys=False, allow_unicode=True),
        )
        run_dir.save_manifest()
        policy_spec = config.model("policy").spec
        rounds = config["rounds"] if do_train else 1
        split = prompt_split(config, train=do_train)  # held-out prompts never make training data
        online = do_train and _optimizer_needs(config, registry) == "prompts"
        for round_index in range(1, rounds + 1):
            if not online:  # online optimizers sample their own completions: no CAI pairs to make
                _generate_round(
                    config,
                    run_dir,
                    round_index,
                    policy_spec,
                    constitution,
                    registry,
                    progress,
                    echo,
                    split.train,
                )
            if do_train:
                checkpoint = _train_round(
                    config, run_dir, round_index, policy_spec, registry, echo, split.train
                )
                release_memory()  # the trainer's optimizer state and activations, before eval loads models
                if checkpoint:
                    policy_spec = str((run_dir.path / checkpoint).resolve())
                    manifest["final_checkpoint"] = checkpoint
                    if split.held_out:
                        evaluate_round(
                            config, run_dir, round_index, checkpoint, split.held_out, registry, progress, echo
                        )
        manifest["status"] = "complete"
        run_dir.save_manifest()
        _write_report(run_dir, echo)
        return RunResult(run_dir.path, manifest)
    finally:
        run_dir.release()


def _write_report(run_dir: RunDirectory, echo: Echo) -> None:
    """The HTML report; a failure to draw it is reported, never fatal (the run's results are already saved)."""
    from rlaif.report import write_report

    try:
        path = write_report(run_dir.path)
    except Exception as exc:  # plotting must not turn a finished run into a failed one
        echo(f"Could not write the report: {type(exc).__name__}: {exc}")
        return
    run_dir.manifest["report"] = run_dir.relative(path)
    run_dir.save_manifest()
    echo(f"Report: {path}")


def train_on_pairs(
    pairs_path: str | Path,
    output_dir: str | Path,
    policy: str = "embedded",
    optimizer: str = "dpo",
    options: dict[str, Any] | None = None,
    seed: int = 0,
    plugins: tuple[str, ...] = (),
) -> Any:
    """``rlaif train``: train a policy on a pairs file (JSONL in TRL preference format) or dataset directory."""
    from datasets import Dataset, load_from_disk

    from rlaif.config import config_from_dict, plugin_option_problems
    from rlaif.files import iter_jsonl

    registry = get_registry(plugins)
    registration = registry.get("optimizers", optimizer)
    problems = plugin_option_problems(registration, options or {}, "--option", "options")
    if problems:
        raise RlaifError(f"invalid options for optimizer '{optimizer}'", problems)
    config = config_from_dict({"models": {"policy": policy}})
    weights = policy_weights_path(policy, config, registry)
    output_dir = Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise RlaifError(f"{output_dir}: the output directory is a file")
    path = Path(pairs_path)
    built = registration.factory(options or {})
    if getattr(built, "needs", "pairs") == "prompts":
        return _train_online_from_file(path, output_dir, policy, built, config, registry, seed)
    if path.is_dir():
        try:
            dataset = load_from_disk(str(path))
        except Exception as exc:  # datasets raises several types for "not a dataset directory"
            raise RlaifError(f"{path}: not a dataset saved with `datasets` save_to_disk ({exc})") from None
        missing = [key for key in ("prompt", "chosen", "rejected") if key not in dataset.column_names]
        if missing:
            raise RlaifError(
                f"{path}: the dataset has no column {', '.join(missing)} (TRL preference format)"
            )
    else:
        rows = []
        for number, record in iter_jsonl(path, "pairs file"):
            if record.get("status", "pair") != "pair":
                continue  # a run's records.jsonl also holds drops: skip them
            problems = pair_record_problems(record)
            if problems:
                raise RlaifError(
                    f"{path}: line {number}: {'; '.join(problems)} (expected TRL preference format)"
                )
            rows.append({key: record[key] for key in ("prompt", "chosen", "rejected")})
        dataset = Dataset.from_list(rows)
    if len(dataset) == 0:
        raise RlaifError(f"{path}: no pairs to train on")
    output_dir.mkdir(parents=True, exist_ok=True)
    result = built.train(
        TrainRequest(
            policy=weights,
            output_dir=output_dir,
            pairs=dataset,
            seed=seed,
        )
    )
    _write_train_metrics(output_dir, result)
    return result


def is_main_process() -> bool:
    """False on the non-zero ranks of an ``accelerate launch``/``torchrun`` job (they must not write outputs)."""
    return int(os.environ.get("RANK", "0")) == 0


def _write_train_metrics(output_dir: Path, result: Any) -> None:
    if is_main_process():
        atomic_write_json(
            output_dir / "metrics.json", {"metrics": result.metrics, "log_history": result.log_history}
        )


def _train_online_from_file(path, output_dir, policy, optimizer, config, registry, seed) -> Any:
    """``rlaif train PROMPTS --optimizer grpo|ppo``: a prompt file (as in run configs) instead of pairs."""
    from rlaif.config import config_from_dict
    from rlaif.optimizers.online import prompts_dataset

    items = load_prompts(config_from_dict({"prompts": str(path.resolve())}))
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    result = optimizer.train(
        TrainRequest(
            policy=policy_weights_path(policy, config, registry),
            output_dir=output_dir,
            prompts=prompts_dataset(items),
            seed=seed,
        )
    )
    _write_train_metrics(output_dir, result)
    return result
