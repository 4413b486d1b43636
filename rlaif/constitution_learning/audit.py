"""``rlaif constitution audit``: which written principles a team's labels actually support, and where the
constitution is silent.

For each principle, the pairwise judge is asked its judging question on every labelled pair (both orders) and
compared with the label: agreement (ties = 1/2) with its 95% Wilson interval and n, and how often the principle's
verdict picks the longer response (a principle that "agrees" only as often as length does may be measuring
length). The whole constitution is judged as the runs' ensemble would (weight-averaged P(chosen)) next to the
no-model "longer wins" baseline. A label *no principle explains* is a pair on which not one principle's verdict
sides with the label: those are shown, since they are where the constitution says nothing the experts hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlaif.constitution import load_constitution
from rlaif.constitution_learning.calls import CallJournal, judge_all, pending_judgments
from rlaif.constitution_learning.data import load_learning_pairs
from rlaif.constitution_learning.learn import chosen_longer, constitution_agreement
from rlaif.constitution_learning.select import agreement_of, agreements, picks_longer
from rlaif.judges.data import PreferencePair
from rlaif.judges.pairwise import render_conversation


@dataclass
class AuditReport:
    constitution: str
    n: int
    principles: dict[str, dict[str, Any]]
    """id -> agreement, n, interval, picks_longer, judging_question."""
    overall: dict[str, Any]
    longer_wins: dict[str, Any]
    unexplained: int
    examples: list[dict[str, Any]] = field(default_factory=list)
    calls: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def _clip(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def audit_constitution(
    constitution: str | Path,
    labels: str | Path | Sequence[str | Path],
    judge: str = "embedded",
    judge_options: dict[str, Any] | None = None,
    registry: Any = None,
    journal: str | Path | None = None,
    limit: int | None = None,
    context_turns: int | None = None,
    batch_size: int = 8,
    examples: int = 3,
    progress: bool = False,
    pool: Any = None,
) -> AuditReport:
    """Audit ``constitution`` (path or shipped name) against the labelled pairs in ``labels`` (any format
    :func:`~rlaif.constitution_learning.data.load_learning_pairs` reads). ``journal`` keeps finished judge calls
    (shared with ``learn``'s journal, the calls it already made are free)."""
    from rlaif.constitution_learning.calls import model_ref
    from rlaif.models.pool import ModelPool
    from rlaif.plugins import load_registry

    registry = registry or load_registry()
    judge_ref = model_ref(judge, "--judge")
    pairs = load_learning_pairs(labels, limit=limit, context_turns=context_turns)
    loaded = load_constitution(constitution)
    registration = registry.get("judges", "pairwise")
    options = registration.require_valid_options(judge_options, "--option")
    calls = CallJournal(Path(journal) if journal is not None else None)
    own_pool = pool is None
    if own_pool:
        pool = ModelPool(registry, {"judge": judge_ref})
    judge_key = f"pairwise|{judge}|{sorted(options.items())}"
    bar = None
    total = pending_judgments(judge_key, loaded.principles, pairs, calls)
    if progress and total:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc=f"audit {loaded.name}", unit="pair")
    try:
        built = registration.factory(options, pool)
        columns = {
            p.id: judge_all(
                built,
                judge_key,
                p,
                pairs,
                calls,
                batch_size,
                (lambda n: bar.update(n)) if bar else (lambda n: None),
            )
            for p in loaded.principles
        }
    finally:
        if bar is not None:
            bar.close()
        if own_pool:
            pool.close()
    longer = chosen_longer(pairs)
    principles = {
        p.id: {
            "judging_question": p.judging_question,
            **agreement_of(agreements(columns[p.id])).to_dict(),
            "picks_longer": round(picks_longer(columns[p.id], longer), 4),
        }
        for p in loaded.principles
    }
    silent = [i for i in range(len(pairs)) if all(columns[p.id][i] <= 0.5 for p in loaded.principles)]
    return AuditReport(
        constitution=loaded.name,
        n=len(pairs),
        principles=principles,
        overall=constitution_agreement(columns, loaded.principles, len(pairs)).to_dict(),
        longer_wins=agreement_of(longer).to_dict(),
        unexplained=len(silent),
        examples=[
            _example(pairs[i], {p.id: columns[p.id][i] for p in loaded.principles}) for i in silent[:examples]
        ],
        calls={"made": calls.made, "reused": calls.reused},
    )


def _example(pair: PreferencePair, p_chosen: dict[str, float]) -> dict[str, Any]:
    return {
        "id": pair.id,
        "prompt": _clip(render_conversation(pair.prompt[-1:])),
        "chosen": _clip(pair.chosen),
        "rejected": _clip(pair.rejected),
        "p_chosen": {k: round(v, 3) for k, v in p_chosen.items()},
    }
