"""Judges on a labelled file: ``rlaif judge-eval``, ``rlaif judge probe`` and ``rlaif judge fit-ensemble`` as library
functions.

Each builds the judge a run config describes (with command-line overrides), read labelled pairs (HH-RLHF,
TRL preference JSONL or a dataset directory: :mod:`rlaif.judges.data`) and run the pure functions of
:mod:`rlaif.judges.evaluation` / :mod:`rlaif.judges.probe` / :mod:`rlaif.judges.fitting` on them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rlaif.config import load_config
from rlaif.constitution import Principle, load_constitution
from rlaif.errors import RlaifError, unknown_name_error
from rlaif.judges.data import PreferencePair, load_preference_pairs, trim_context
from rlaif.judges.ensemble import ensemble_factory
from rlaif.judges.evaluation import JudgeEvaluation, evaluate_judge
from rlaif.judges.fitting import FittedEnsemble, fit_ensemble
from rlaif.judges.probe import ProbeReport, probe_judge, select_hacks


def resolve_principle(config: Any, principle_id: str | None, question: str | None) -> Any:
    """The principle to judge under: a custom question, a principle of the config's constitution, or its first."""

    if question:
        return Principle("custom", "", "", question)
    constitution = load_constitution(config.settings.constitution, config.base_dir)
    if principle_id is None:
        return constitution.principles[0]
    try:
        return constitution.principle(principle_id)
    except KeyError:
        raise unknown_name_error(
            "principle", principle_id, [p.id for p in constitution.principles], constitution.source
        ) from None


def evaluate_judge_on_file(
    data: str,
    config_path: str | None = None,
    judge_name: str | None = None,
    options: dict[str, Any] | None = None,
    model: str | None = None,
    limit: int | None = None,
    offset: int = 0,
    principle_id: str | None = None,
    question: str | None = None,
    batch_size: int = 8,
    progress: bool = False,
    context_turns: int | None = None,
) -> JudgeEvaluation:
    """``rlaif judge-eval``: build the judge a run config describes (with overrides) and evaluate it on ``data``.

    ``judge_name``/``options`` replace the config's judge (options are merged over the config's when the
    name is unchanged); ``model`` replaces the judge model (a spec string).
    """

    config = load_config(config_path)
    registration, merged = _judge_registration(config, judge_name, options)
    principle = resolve_principle(config, principle_id, question)
    pairs = _pairs(data, limit, offset, context_turns)
    pool = config.model_pool(judge=model)
    try:
        judge = registration.factory(merged, pool)
        return evaluate_judge(judge, pairs, principle, batch_size=batch_size, progress=progress)
    finally:
        pool.close()


def _judge_registration(
    config: Any, judge_name: str | None, options: dict[str, Any] | None
) -> tuple[Any, dict[str, Any]]:
    """The judge registration and validated options: the config's judge, or ``judge_name`` with ``options``
    merged over the config's options when the name is unchanged."""
    section = config.settings.judge
    name = judge_name or section.name
    merged = dict(section.options) if name == section.name else {}
    merged.update(options or {})
    registration = config.registry.get("judges", name, config.source)
    return registration, registration.require_valid_options(merged, "judge.options")


def _pairs(data: str, limit: int | None, offset: int, context_turns: int | None) -> list[PreferencePair]:
    pairs = load_preference_pairs(data, limit=limit, offset=offset)
    return [trim_context(pair, context_turns) for pair in pairs] if context_turns else pairs


def probe_judge_on_file(
    data: str,
    config_path: str | None = None,
    judge_name: str | None = None,
    options: dict[str, Any] | None = None,
    model: str | None = None,
    limit: int | None = None,
    offset: int = 0,
    principle_id: str | None = None,
    question: str | None = None,
    batch_size: int = 8,
    progress: bool = False,
    context_turns: int | None = None,
    hacks: Sequence[str] | None = None,
    margin: float | None = None,
) -> ProbeReport:
    """``rlaif judge probe``: each pair's real answer in ``data`` against the master-key hacks.

    The judge is built as for :func:`evaluate_judge_on_file` (config, ``judge_name``/``options``/``model``
    overrides); ``hacks`` names a subset of :data:`rlaif.judges.probe.HACKS`; ``margin`` defaults to the
    config's ``judge.margin`` (what the run treats as a tie).
    """
    config = load_config(config_path)
    registration, merged = _judge_registration(config, judge_name, options)
    chosen_hacks = select_hacks(hacks)
    principle = resolve_principle(config, principle_id, question)
    pairs = _pairs(data, limit, offset, context_turns)
    pool = config.model_pool(judge=model)
    try:
        judge = registration.factory(merged, pool)
        return probe_judge(
            judge,
            pairs,
            principle,
            chosen_hacks,
            margin=config.settings.judge.margin if margin is None else margin,
            batch_size=batch_size,
            progress=progress,
        )
    finally:
        pool.close()


def fit_ensemble_on_file(
    data: str,
    members: Sequence[dict[str, Any]],
    output: str | Path,
    config_path: str | None = None,
    model: str | None = None,
    limit: int | None = None,
    offset: int = 0,
    principle_id: str | None = None,
    question: str | None = None,
    context_turns: int | None = None,
    use_length: bool = False,
    l2: float = 1.0,
    batch_size: int = 1,
    progress: bool = False,
) -> FittedEnsemble:
    """``rlaif judge fit-ensemble``: fit member weights on a slice of a labelled file and save them to ``output``.

    Measure the result on pairs it was not fitted on (``rlaif judge-eval --offset ... --judge ensemble --option
    fitted=OUTPUT``, with the same ``--context-turns``).
    """

    if not members:
        raise RlaifError("fit-ensemble needs at least one member judge (--member '{name: likelihood}')")
    config = load_config(config_path)
    principle = resolve_principle(config, principle_id, question)
    pairs = load_preference_pairs(data, limit=limit, offset=offset)
    if len(pairs) < 2:
        raise RlaifError(f"fit-ensemble needs at least 2 labelled pairs; {data} gave {len(pairs)}")
    if context_turns:
        pairs = [trim_context(pair, context_turns) for pair in pairs]
    pool = config.model_pool(judge=model)
    try:
        judge = ensemble_factory({"members": list(members)}, pool)
        fitted = fit_ensemble(
            judge,
            pairs,
            principle,
            members,
            use_length=use_length,
            l2=l2,
            batch_size=batch_size,
            progress=progress,
        )
    finally:
        pool.close()
    fitted.training.update(
        {
            "data": str(data),
            "offset": offset,
            "limit": limit,
            "context_turns": context_turns,
            "principle": getattr(principle, "id", None),
            "question": getattr(principle, "judging_question", None),
            "model": model,
        }
    )
    fitted.save(output)
    return fitted
