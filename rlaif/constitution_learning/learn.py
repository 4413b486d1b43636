"""``rlaif constitution learn``: a constitution learned from preference pairs (Inverse Constitutional AI).

Findeis et al. (ICLR 2025) show that a few written principles can be learned from preference labels: propose
principles that explain why the preferred response won, deduplicate them, and keep those under which an AI judge
reconstructs the labels. The steps, each in its own module:

1. split the pairs (seeded) into a tuning split and a held-out split (``holdout`` fraction);
2. :mod:`~rlaif.constitution_learning.propose`: the critic proposes property phrases on ``propose_pairs``
   tuning pairs;
3. :mod:`~rlaif.constitution_learning.merge`: near-identical phrases merge; the ``max_candidates`` most
   proposed are tested;
4. :mod:`~rlaif.constitution_learning.select`: each candidate's agreement with the labels on the tuning split
   (the pairwise judge asked its judging question, both orders); kept when its Wilson lower bound is above 1/2;
   greedy set selection from the starting constitution (or from nothing with ``from_scratch``);
5. the learned constitution (starting principles + selected ones), each learned principle carrying its measured
   agreement, n and interval in ``metadata``, and the held-out report: learned vs starting constitution vs the
   no-model "longer wins" baseline, on pairs no step above looked at.

Model calls go through a :class:`~rlaif.models.pool.ModelPool` (any backend) and a journal
(:mod:`~rlaif.constitution_learning.calls`), so a killed run resumes without repeating a finished call.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from rlaif.constitution import Constitution, Principle, constitution_problems, load_constitution
from rlaif.constitution_learning.calls import (
    CallJournal,
    judge_all,
    pending_judgments,
    pending_proposals,
    propose_all,
)
from rlaif.constitution_learning.data import load_learning_pairs
from rlaif.constitution_learning.merge import DEFAULT_THRESHOLD, merge_proposals
from rlaif.constitution_learning.propose import parse_properties, principle_for, slug
from rlaif.constitution_learning.select import (
    Agreement,
    agreement_of,
    agreements,
    combined,
    select_principles,
)
from rlaif.errors import RlaifError
from rlaif.files import atomic_write_text
from rlaif.judges.data import PreferencePair
from rlaif.judges.evaluation import longer_side
from rlaif.options import option
from rlaif.protocols import GenerationParams


@dataclass(kw_only=True)
class LearnOptions:
    """Settings of ``rlaif constitution learn`` (each is a command-line option of the same name)."""

    critic: str = option(
        "embedded", "Model spec that proposes principles (embedded, a directory, openai:NAME, ...)."
    )
    judge: str = option("embedded", "Model spec of the pairwise judge that tests them.")
    judge_options: dict[str, Any] = option({}, "Options of the pairwise judge (both_orders, debias, ...).")
    start: str = option("helpful-harmless", "Starting constitution (path or shipped name): the baseline.")
    from_scratch: bool = option(
        False, "Write only learned principles (default: the starting constitution plus the learned ones)."
    )
    name: str = option("learned", "Name of the written constitution.", minLength=1)
    max_principles: int = option(5, "At most this many learned principles.", minimum=1)
    holdout: float = option(0.3, "Fraction of pairs held out for the final report.", minimum=0, maximum=0.9)
    seed: int = option(0, "Seeds the split, the pairs shown to the critic and its sampling.")
    propose_pairs: int = option(16, "Tuning pairs the critic explains.", minimum=1)
    per_pair: int = option(3, "Principles asked of the critic per pair.", minimum=1, maximum=10)
    max_candidates: int = option(8, "Most-proposed merged candidates that are tested.", minimum=1)
    merge_threshold: float = option(
        DEFAULT_THRESHOLD, "Word-overlap (Jaccard) at which phrases merge.", minimum=0, maximum=1
    )
    min_lower_bound: float = option(
        0.5, "Keep a candidate when its 95% Wilson lower bound is above this.", minimum=0, maximum=1
    )
    max_new_tokens: int = option(120, "Length of each critic reply.", minimum=8)
    temperature: float = option(0.7, "Critic sampling temperature (0: greedy).", minimum=0)
    batch_size: int = option(8, "Pairs per model call batch (and per journal append).", minimum=1)
    limit: int | None = option(None, "Read at most this many pairs.")
    context_turns: int | None = option(None, "Keep only the last N prompt messages of each pair.")


@dataclass
class LearnResult:
    constitution: Constitution | None
    """None when nothing was learned and ``from_scratch`` left nothing to write."""
    output: Path | None
    report: dict[str, Any] = field(default_factory=dict)


def split_pairs(
    pairs: Sequence[PreferencePair], holdout: float, seed: int
) -> tuple[list[PreferencePair], list[PreferencePair]]:
    """(tuning, held-out): a seeded shuffle, ``round(n * holdout)`` held out, each split in file order."""
    order = list(range(len(pairs)))
    random.Random(seed).shuffle(order)
    held = set(order[: round(len(pairs) * holdout)])
    tune = [p for i, p in enumerate(pairs) if i not in held]
    return tune, [p for i, p in enumerate(pairs) if i in held]


def chosen_longer(pairs: Sequence[PreferencePair]) -> list[float]:
    return [longer_side(p.chosen, p.rejected) for p in pairs]


def constitution_agreement(
    columns: dict[str, list[float]], principles: Sequence[Principle], n: int
) -> Agreement:
    """A constitution's agreement: per pair, the weight-averaged P(chosen) of its principles."""
    if not principles:
        return agreement_of([0.5] * n)
    p = combined([columns[pr.id] for pr in principles], [pr.weight for pr in principles])
    return agreement_of(agreements(p))


def default_journal(output: str | Path) -> Path:
    output = Path(output)
    return output.with_name(output.name + ".journal.jsonl")


class _Bars:
    """One tqdm bar per phase (none when ``progress`` is off)."""

    def __init__(self, progress: bool):
        self.progress = progress

    def __call__(self, total: int, desc: str) -> Any:
        if not self.progress or total <= 0:
            return None
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=desc, unit="pair")


def _advance(bar: Any) -> Callable[[int], None]:
    return (lambda n: bar.update(n)) if bar is not None else (lambda n: None)


def learn_constitution(
    data: str | Path | Sequence[str | Path],
    output: str | Path | None,
    options: LearnOptions | None = None,
    registry: Any = None,
    journal: str | Path | None = None,
    progress: bool = False,
    echo: Callable[[str], None] = lambda message: None,
    pool: Any = None,
) -> LearnResult:
    """Learn a constitution from the preference pairs in ``data`` and write it to ``output`` (YAML).

    ``journal`` (default ``OUTPUT.journal.jsonl``) keeps every finished model call; re-running resumes. ``pool``
    (a :class:`~rlaif.models.pool.ModelPool` or any BuildContext) replaces the one built from ``critic`` and
    ``judge`` -- tests pass deterministic doubles this way.
    """
    from rlaif.constitution_learning.calls import model_ref
    from rlaif.models.pool import ModelPool
    from rlaif.plugins import load_registry

    options = options or LearnOptions()
    critic_ref, judge_ref = model_ref(options.critic, "--critic"), model_ref(options.judge, "--judge")
    registry = registry or load_registry()
    pairs = load_learning_pairs(data, limit=options.limit, context_turns=options.context_turns)
    start = load_constitution(options.start)
    registration = registry.get("judges", "pairwise")
    judge_options = registration.require_valid_options(options.judge_options, "--option")
    tune, held = split_pairs(pairs, options.holdout, options.seed)
    if len(tune) < 2 or (options.holdout > 0 and not held):
        raise RlaifError(
            f"{len(pairs)} pair(s) are too few to learn from: need at least 2 tuning pairs and 1 held-out pair "
            f"(holdout {options.holdout})"
        )
    journal_path = Path(journal) if journal is not None else (default_journal(output) if output else None)
    calls = CallJournal(journal_path)
    if calls.path is not None and len(calls):
        echo(f"Resuming: {len(calls)} finished model calls in {calls.path}")
    echo(f"{len(pairs)} pairs: {len(tune)} for tuning, {len(held)} held out")
    own_pool = pool is None
    if own_pool:
        pool = ModelPool(registry, {"critic": critic_ref, "judge": judge_ref})
    bars = _Bars(progress)
    judge_key = f"pairwise|{options.judge}|{sorted(judge_options.items())}"
    try:
        proposal_pairs = random.Random(options.seed + 1).sample(tune, min(options.propose_pairs, len(tune)))
        params = GenerationParams(max_new_tokens=options.max_new_tokens, temperature=options.temperature)
        todo = pending_proposals(
            options.critic, proposal_pairs, options.per_pair, options.seed, params, calls
        )
        bar = bars(todo, "propose")
        records = propose_all(
            lambda: pool.model("critic"),
            options.critic,
            proposal_pairs,
            calls,
            options.per_pair,
            options.seed,
            params,
            options.batch_size,
            _advance(bar),
        )
        if bar is not None:
            bar.close()
        parsed = [(r["pair"], parse_properties(r.get("reply", ""), options.per_pair)) for r in records]
        proposals = [(phrase, pair) for pair, phrases in parsed for phrase in phrases]
        merged = merge_proposals(proposals, options.merge_threshold)
        tested = merged[: options.max_candidates]
        taken = {p.id for p in start.principles}
        candidates = [(principle_for(c.property, slug(c.property, taken)), c) for c in tested]
        echo(
            f"Critic: {len(proposals)} principles from {len(records)} pairs "
            f"({sum(not phrases for _, phrases in parsed)} replies had none), {len(merged)} after merging; "
            f"testing {len(candidates)}"
        )
        judge = registration.factory(judge_options, pool)
        base = [] if options.from_scratch else list(start.principles)
        tune_set = [p for p, _ in candidates] + base
        tune_cols = _judge_many(judge, judge_key, tune_set, tune, calls, options, bars, "judge (tuning)")
        selection = select_principles(
            {p.id: tune_cols[p.id] for p, _ in candidates},
            [(tune_cols[p.id], p.weight) for p in base],
            max_principles=options.max_principles,
            min_lower_bound=options.min_lower_bound,
            n=len(tune),
        )
        chosen = [next(p for p, _ in candidates if p.id == cid) for cid in selection.selected]
        held_set = list(start.principles) + chosen
        held_cols = _judge_many(judge, judge_key, held_set, held, calls, options, bars, "judge (held-out)")
    finally:
        if own_pool:
            pool.close()
    learned_principles = _with_metadata(chosen, candidates, selection, held_cols, tune, held)
    written_principles = (
        learned_principles
        if options.from_scratch
        else [*_measured(start.principles, tune_cols, held_cols, held), *learned_principles]
    )
    report = _report(
        options, start, tune, held, tune_cols, held_cols, candidates, selection, written_principles, calls
    )
    report["data"] = [str(d) for d in ([data] if isinstance(data, str | Path) else data)]
    if not written_principles:
        return LearnResult(None, None, report)
    constitution = Constitution(
        name=options.name,
        principles=tuple(written_principles),
        description=(
            f"Learned from {len(pairs)} preference pairs by `rlaif constitution learn` (critic {options.critic}, "
            f"judge {options.judge})" + ("." if options.from_scratch else f", extending '{start.name}'.")
        ),
        metadata={"learned": {k: v for k, v in report.items() if k not in ("candidates",)}},
    )
    out = None
    if output is not None:
        out = Path(output)
        data_dict = _plain(constitution.to_dict())
        problems = constitution_problems(data_dict, str(out))
        if problems:  # never write a file `rlaif constitution check` would reject
            raise RlaifError(f"{out}: the learned constitution is invalid", problems)
        atomic_write_text(out, yaml.safe_dump(data_dict, sort_keys=False, allow_unicode=True, width=110))
    return LearnResult(constitution, out, report)


def _plain(value: Any) -> Any:
    """Tuples -> lists, so YAML writes plain lists."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _judge_many(
    judge: Any,
    judge_key: str,
    principles: Sequence[Principle],
    pairs: Sequence[PreferencePair],
    calls: CallJournal,
    options: LearnOptions,
    bars: _Bars,
    desc: str,
) -> dict[str, list[float]]:
    bar = bars(pending_judgments(judge_key, principles, pairs, calls), desc)
    try:
        return {
            p.id: judge_all(judge, judge_key, p, pairs, calls, options.batch_size, _advance(bar))
            for p in principles
        }
    finally:
        if bar is not None:
            bar.close()


def _measured(
    principles: Sequence[Principle],
    tune_cols: dict[str, list[float]],
    held_cols: dict[str, list[float]],
    held: Sequence[PreferencePair],
) -> list[Principle]:
    """The starting principles, each carrying what this run measured of it (tuning and held-out agreement).

    They were judged on both splits anyway (the baseline to beat), so the written file says of *every* principle
    how well it reconstructs the labels, not only of the learned ones; the principle itself is unchanged.
    """
    out = []
    for principle in principles:
        measured = {
            **agreement_of(agreements(tune_cols[principle.id])).to_dict(),
            "split": "tuning",
            "held_out": agreement_of(agreements(held_cols[principle.id])).to_dict() if held else None,
            "origin": "starting constitution",
        }
        out.append(replace(principle, metadata={**(principle.metadata or {}), "measured": measured}))
    return out


def _with_metadata(
    chosen: Sequence[Principle],
    candidates: Sequence[tuple[Principle, Any]],
    selection: Any,
    held_cols: dict[str, list[float]],
    tune: Sequence[PreferencePair],
    held: Sequence[PreferencePair],
) -> list[Principle]:
    out = []
    by_id = {p.id: c for p, c in candidates}
    for step, principle in enumerate(chosen, start=1):
        candidate = by_id[principle.id]
        score = selection.scores[principle.id]
        metadata: dict[str, Any] = {
            **score.to_dict(),
            "split": "tuning",
            "held_out": agreement_of(agreements(held_cols[principle.id])).to_dict() if held else None,
            "support": candidate.support,
            "merged_variants": list(candidate.variants[:5]),
            "selection_step": step,
        }
        out.append(
            Principle(
                id=principle.id,
                critique_request=principle.critique_request,
                revision_request=principle.revision_request,
                judging_question=principle.judging_question,
                weight=1.0,
                tags=principle.tags,
                metadata=metadata,
            )
        )
    return out


def _report(
    options: LearnOptions,
    start: Constitution,
    tune: Sequence[PreferencePair],
    held: Sequence[PreferencePair],
    tune_cols: dict[str, list[float]],
    held_cols: dict[str, list[float]],
    candidates: Sequence[tuple[Principle, Any]],
    selection: Any,
    written: Sequence[Principle],
    calls: CallJournal,
) -> dict[str, Any]:
    longer = chosen_longer(held)
    held_out = {
        "learned": constitution_agreement(held_cols, written, len(held)).to_dict() if written else None,
        "starting": constitution_agreement(held_cols, start.principles, len(held)).to_dict(),
        "longer_wins": agreement_of(longer).to_dict(),
    }
    return {
        "options": {k: v for k, v in asdict(options).items()},
        "starting_constitution": start.name,
        "n_tuning": len(tune),
        "n_held_out": len(held),
        "held_out": held_out if held else None,
        "candidates": [
            {
                "id": p.id,
                "judging_question": p.judging_question,
                "support": c.support,
                "variants": list(c.variants),
                **selection.scores[p.id].to_dict(),
                "kept": p.id in selection.kept,
                "selected": p.id in selection.selected,
            }
            for p, c in candidates
        ],
        "selection_steps": selection.steps,
        "calls": {"made": calls.made, "reused": calls.reused},
    }
