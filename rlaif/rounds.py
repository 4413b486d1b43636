"""A whole run, top to bottom: check -> (generate pairs -> train -> evaluate) x rounds, in one run directory.

This is the orchestration only: the run directory (:mod:`rlaif.rundir`), pair generation (:mod:`rlaif.engine`),
training (:mod:`rlaif.training`) and evaluation (:mod:`rlaif.eval.runs`) each live in their own module, and
nothing below them imports this one.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from rlaif import __version__
from rlaif.config import RunConfig, require_valid
from rlaif.constitution import Constitution, load_constitution
from rlaif.engine import EngineSettings, Journal, run_cai
from rlaif.engine.cai import add_counts
from rlaif.engine.strategies import PairSettings, length_gap
from rlaif.errors import RlaifError
from rlaif.eval.holdout import prompt_split
from rlaif.eval.runs import evaluate_round, reward_lines
from rlaif.files import atomic_write_text, write_jsonl
from rlaif.judges.probe_run import probe_round
from rlaif.judges.trust import trust_text
from rlaif.memory import release_memory
from rlaif.models import next_policy_spec
from rlaif.models.vllm_server import stop_parked_servers
from rlaif.prompts import load_prompts
from rlaif.records import count_drops, is_pair, pairs_dataset
from rlaif.rundir import RunDirectory, prepare_run_directory, save_dataset_atomically
from rlaif.training import optimizer_needs, train_round

Echo = Callable[[str], None]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class RunResult:
    run_dir: Path
    manifest: dict[str, Any]

    @property
    def final_checkpoint(self) -> Path | None:
        value = self.manifest.get("final_checkpoint")
        return self.run_dir / value if value else None

    @property
    def judge_trust(self) -> str:
        """How far the win rates can be trusted (the judge's known agreement with people, or "unknown")."""
        judge = self.manifest.get("judge")
        return trust_text(
            self.manifest.get("judge_agreement") or [], judge if isinstance(judge, str) else None
        )

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
            for stage in entry.get("stages") or []:
                outcome = stage.get("checkpoint") or stage.get("skipped") or "not trained"
                lines.append(f"    stage {stage.get('stage')} ({stage.get('name')}): {outcome}")
            if entry.get("checkpoint"):
                lines.append(f"    checkpoint: {self.run_dir / entry['checkpoint']}")
            probe = entry.get("probe") or {}
            if probe.get("path"):
                worst = probe.get("worst") or {}
                verdict = "WARNING, see the report" if probe.get("warning") else "no hack above the threshold"
                lines.append(
                    f"    probe:      {self.run_dir / probe['path']} ({verdict}; worst hack "
                    f"{worst.get('hack')} {worst.get('win_or_tie_rate', float('nan')):.2f})"
                )
            if entry.get("train_skipped"):
                lines.append(f"    training skipped: {entry['train_skipped']}")
            if entry.get("eval_summary", {}).get("win_rate") is not None:
                lines.append(
                    f"    eval:       win rate {entry['eval_summary']['win_rate']:.2f} ({entry['eval']})"
                )
                lines.append(f"                {self.judge_trust}")
                lines += [
                    f"                {line}" for line in reward_lines(entry["eval_summary"].get("rewards"))
                ]
        lines.append(f"  manifest:     {self.run_dir / 'manifest.json'}")
        if self.manifest.get("report"):
            lines.append(f"  report:       {self.run_dir / self.manifest['report']}")
        return "\n".join(lines)


# -- stages ----------------------------------------------------------------------------------------------------
def _generate_round(
    config: RunConfig,
    run_dir: RunDirectory,
    round_index: int,
    policy_spec: str,
    constitution: Constitution,
    progress: bool,
    echo: Echo,
    items: list | None = None,
) -> list[dict[str, Any]]:
    round_dir = run_dir.round_dir(round_index)
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
        pool = config.model_pool(policy=policy_spec)
        try:
            started = time.perf_counter()
            echo(f"Loading models (policy: {policy_spec}) ...")
            policy, critic, judge_model = pool.model("policy"), pool.model("critic"), pool.model("judge")
            judge = config.build_judge(pool)
            settings = EngineSettings(
                answer=config.sampling("generation"),
                critique=config.sampling("critique"),
                revision=config.sampling("revision"),
                margin=config.settings.judge.margin,
                chunk_size=config.settings.chunk_size,
                seed=config.settings.seed,
                round=round_index,
                pairs=PairSettings.from_config(config.settings.pairs),
                revision_passes=config.settings.revision_passes,
            )
            result = run_cai(
                items, constitution, policy, critic, judge, settings, journal, progress, judge_model
            )
            timings = entry.setdefault("timings", {})
            timings["generate_s"] = round(timings.get("generate_s", 0) + time.perf_counter() - started, 2)
            add_counts(entry.setdefault("usage", {}), result.usage)
        finally:
            pool.close()
    records = [record for record in journal.records if record["id"] in wanted]
    records, human = _apply_expert_labels(config, run_dir, records, echo)
    pairs = [r for r in records if is_pair(r)]
    drops = count_drops(records)
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
            **({"human": human} if human else {}),
        },
    )
    run_dir.save_manifest()
    return records


def labels_file(config: RunConfig, run_dir: RunDirectory) -> Path | None:
    """The expert labels that overrule the judge for this run (``labels:`` in the config), or None."""
    setting = config.settings.labels
    if setting == "none":
        return None
    if setting == "auto":
        path = run_dir.path / "labels.jsonl"
        return path if path.is_file() else None
    path = Path(setting).expanduser()
    return path if path.is_absolute() else config.base_dir / path


def _apply_expert_labels(
    config: RunConfig, run_dir: RunDirectory, records: list[dict[str, Any]], echo: Echo
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Human verdicts override the AI's: flips swap chosen/rejected, ties drop, labelled AI ties become pairs."""
    path = labels_file(config, run_dir)
    if path is None:
        return records, {}
    from rlaif.label import apply_labels, overrule_counts, read_events

    events, warnings = read_events(path)
    for warning in warnings:
        echo(f"{path}: {warning}")
    records = apply_labels(records, events)
    counts = overrule_counts(records)
    if counts:
        echo(
            f"Expert labels ({path}): " + ", ".join(f"{key} {value}" for key, value in sorted(counts.items()))
        )
    return records, counts


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
    do_train = config.settings.train if train is None else train
    constitution = load_constitution(config.settings.constitution, config.base_dir)
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
            judge=config.settings.judge.name,
            judge_agreement=judge_agreement(config, run_dir.path, echo),
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
        rounds = config.settings.rounds if do_train else 1
        split = prompt_split(config, train=do_train)  # held-out prompts never make training data
        online = do_train and optimizer_needs(config) == "prompts"
        for round_index in range(1, rounds + 1):
            if not online:  # online optimizers sample their own completions: no CAI pairs to make
                records = _generate_round(
                    config,
                    run_dir,
                    round_index,
                    policy_spec,
                    constitution,
                    progress,
                    echo,
                    split.train,
                )
                if (
                    round_index == 1
                ):  # is the judge fooled by master keys? (probe: in the config; off by default)
                    probe_round(config, run_dir, round_index, records, constitution, echo)
            if do_train:
                checkpoint = train_round(config, run_dir, round_index, policy_spec, echo, split.train)
                release_memory()  # the trainer's optimizer state and activations, before eval loads models
                if checkpoint:
                    # the checkpoint samples the next round through the policy's backend (vllm:<checkpoint>)
                    policy_spec = next_policy_spec(
                        policy_spec, str((run_dir.path / checkpoint).resolve()), config.registry
                    )
                    manifest["final_checkpoint"] = checkpoint
                    if split.held_out:
                        evaluate_round(
                            config,
                            run_dir,
                            round_index,
                            checkpoint,
                            split.held_out,
                            progress,
                            echo,
                            judge_note=trust_text(manifest["judge_agreement"], manifest["judge"]),
                        )
        manifest["status"] = "complete"
        run_dir.save_manifest()
        _write_report(run_dir, echo)
        return RunResult(run_dir.path, manifest)
    finally:
        stop_parked_servers()  # servers a backend kept up between rounds (vllm keep_loaded)
        run_dir.release()


def judge_agreement(config: RunConfig, path: Path, echo: Echo) -> list[dict[str, Any]]:
    """What is known of the judge's agreement with people: the config's ``judge_agreement`` (a saved judge-eval
    result; checked with the config, so a bad one stops the run before it starts) and the run's own expert labels.
    """
    from rlaif.judges.trust import from_label_figures, load_judge_eval

    figures = []
    if config.settings.judge_agreement is not None:
        figures.append(load_judge_eval(config.settings.judge_agreement, config.base_dir))
    if (path / "labels.jsonl").is_file():
        from rlaif.label import run_label_figures

        try:
            labelled = from_label_figures(run_label_figures(path))
        except RlaifError as error:  # the labels step reports a broken file itself; here it is only context
            echo(f"Judge agreement from labels.jsonl not read: {error.message}")
        else:
            figures += [labelled] if labelled else []
    return figures


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
