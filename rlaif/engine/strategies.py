"""How a prompt becomes a preference pair: the pair-building strategies selectable in ``pairs.strategy``.

- ``revision`` (default, the CAI recipe): the policy's answer vs the critic's revision, judged pairwise.
- ``best-of-n``: ``n`` sampled answers, each *scored* (judge with a ``score`` method: score, likelihood,
  reward-model), best vs worst if the score gap reaches ``min_margin``.
- ``pairwise-tournament``: ``n`` sampled answers, every pair compared by any pairwise judge; a candidate's
  score is its mean win probability; best vs worst. ``n(n-1)/2`` comparisons per principle, so keep ``n`` small.

Common rules: ties (the judge's probability for the pair within ``judge.margin`` of 0.5) and low-margin pairs
are dropped with the reason recorded, or -- with ``prefer_shorter`` -- a tie is broken in favour of the shorter
response, a control for judges' verbosity bias. Every record carries the per-principle scores (a vector over
``score_principles``, not just a winner), the pair's judge probabilities (both orders where the judge reports
them) and any rationale.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rlaif.constitution import Constitution, Principle
from rlaif.errors import RlaifError
from rlaif.judges.arithmetic import preference_from_scores
from rlaif.protocols import Comparison, Judge
from rlaif.records import DropReason, drop


@dataclass(frozen=True)
class PairSettings:
    """The run config's ``pairs`` section (defaults documented in the run-config schema)."""

    strategy: str = "revision"
    n: int = 4
    min_margin: float = 0.0
    prefer_shorter: bool = False
    score_principles: str | tuple[str, ...] = "sampled"

    @classmethod
    def from_config(cls, section: dict[str, Any] | None) -> PairSettings:
        section = dict(section or {})
        principles = section.get("score_principles", "sampled")
        if isinstance(principles, list):
            principles = tuple(principles)
        return cls(
            strategy=section.get("strategy", "revision"),
            n=int(section.get("n", 4)),
            min_margin=float(section.get("min_margin", 0.0)),
            prefer_shorter=bool(section.get("prefer_shorter", False)),
            score_principles=principles,
        )


def scoring_principles(
    settings: PairSettings, constitution: Constitution, sampled: Principle
) -> list[Principle]:
    """The principles each candidate is scored under; the sampled one always comes first."""
    if settings.score_principles == "sampled":
        return [sampled]
    if settings.score_principles == "all":
        ids = [p.id for p in constitution.principles]
    else:
        ids = list(settings.score_principles)
    chosen = [sampled] + [constitution.principle(pid) for pid in ids if pid != sampled.id]
    return chosen


def check_strategy(settings: PairSettings, judge: Judge, constitution: Constitution) -> None:
    """Fail before any work if the strategy cannot run with this judge or constitution."""
    if settings.strategy == "best-of-n" and not callable(getattr(judge, "score", None)):
        raise RlaifError(
            f"pairs.strategy 'best-of-n' needs a judge that scores single responses; '{judge.name}' only compares",
            hint="Use judge: {name: score} (or likelihood, reward-model), or pairs.strategy: pairwise-tournament.",
        )
    if isinstance(settings.score_principles, tuple):
        known = {p.id for p in constitution.principles}
        unknown = [pid for pid in settings.score_principles if pid not in known]
        if unknown:
            from rlaif.errors import unknown_name_error

            raise unknown_name_error("principle", unknown[0], sorted(known), "pairs.score_principles")


def weighted_mean(values: Sequence[float], principles: Sequence[Principle]) -> float:
    weights = [max(p.weight, 0.0) for p in principles]
    total = sum(weights)
    if total <= 0:
        return sum(values) / len(values)
    return sum(v * w for v, w in zip(values, weights, strict=True)) / total


def length_gap(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Chosen-minus-rejected length over the pairs (characters): a visible check on verbosity bias."""
    gaps = []
    for record in records:
        if record.get("status") != "pair":
            continue
        chosen = "".join(m["content"] for m in record["chosen"])
        rejected = "".join(m["content"] for m in record["rejected"])
        gaps.append(len(chosen) - len(rejected))
    if not gaps:
        return {"pairs": 0, "mean_chars": None, "chosen_longer": None}
    return {
        "pairs": len(gaps),
        "mean_chars": round(sum(gaps) / len(gaps), 2),
        "chosen_longer": round(sum(g > 0 for g in gaps) / len(gaps), 4),
    }


def _pair(record: dict[str, Any], chosen: str, rejected: str, source: str) -> None:
    record.update(
        status="pair",
        chosen=[{"role": "assistant", "content": chosen}],
        rejected=[{"role": "assistant", "content": rejected}],
        chosen_source=source,
    )


# -- revision (CAI) ----------------------------------------------------------------------------------------------
def judge_revisions(
    records: list[dict[str, Any]],
    indices: Sequence[int],
    principles: Sequence[Principle],
    constitution: Constitution,
    judge: Judge,
    margin: float,
    pair_settings: PairSettings,
) -> None:
    """Judge original vs revision for ``records[indices]`` in place: pair, tie drop or shorter-wins tie break."""
    per_record = [scoring_principles(pair_settings, constitution, principles[i]) for i in indices]
    comparisons, owners = [], []
    for slot, (index, asked) in enumerate(zip(indices, per_record, strict=True)):
        for principle in asked:
            record = records[index]
            comparisons.append(
                Comparison(record["prompt"], record["original"], record["revision"], principle)
            )
            owners.append(slot)
    verdicts = judge.compare(comparisons) if comparisons else []
    grouped: list[list[Any]] = [[] for _ in indices]
    for slot, verdict in zip(owners, verdicts, strict=True):
        grouped[slot].append(verdict)
    for slot, index in enumerate(indices):
        record, asked, answers = records[index], per_record[slot], grouped[slot]
        per_principle = {p.id: 1.0 - v.p_a for p, v in zip(asked, answers, strict=True)}
        p_revision = weighted_mean(list(per_principle.values()), asked)
        record["judge"] = {"name": judge.name, "p_revision": p_revision, **answers[0].details}
        if len(asked) > 1:
            record["judge"]["per_principle"] = per_principle
        if abs(p_revision - 0.5) < margin:
            if not pair_settings.prefer_shorter or len(record["revision"]) == len(record["original"]):
                drop(record, DropReason.TIE)
                continue
            revision_shorter = len(record["revision"]) < len(record["original"])
            record["judge"]["tie_break"] = "shorter"
        else:
            revision_shorter = None
        revision_wins = p_revision > 0.5 if revision_shorter is None else revision_shorter
        if revision_wins:
            _pair(record, record["revision"], record["original"], "revision")
        else:
            _pair(record, record["original"], record["revision"], "original")


# -- sampled strategies ------------------------------------------------------------------------------------------
def score_candidates(
    judge: Any,
    items: Sequence[tuple[list[dict[str, str]], Sequence[str], Sequence[Principle]]],
) -> list[list[list[float | None]]]:
    """best-of-n: ``scores[item][candidate][principle]`` in one batched ``judge.score`` call."""
    prompts, responses, principles, owners = [], [], [], []
    for item_index, (prompt, candidates, asked) in enumerate(items):
        for c_index, candidate in enumerate(candidates):
            for p_index, principle in enumerate(asked):
                prompts.append(prompt)
                responses.append(candidate)
                principles.append(principle)
                owners.append((item_index, c_index, p_index))
    flat = judge.score(prompts, responses, principles) if prompts else []
    out = [[[None] * len(asked) for _ in candidates] for _, candidates, asked in items]
    for (i, c, p), value in zip(owners, flat, strict=True):
        out[i][c][p] = value
    return out


def tournament(
    judge: Judge,
    items: Sequence[tuple[list[dict[str, str]], Sequence[str], Sequence[Principle]]],
) -> tuple[list[list[list[float]]], list[dict[tuple[int, int], Any]]]:
    """pairwise-tournament: every candidate pair compared under every principle, in one batched call.

    Returns ``scores[item][candidate][principle]`` (mean win probability) and, per item, the verdicts under
    the first (sampled) principle keyed by ``(i, j)`` with ``i < j`` (``p_a`` = P(i beats j)).
    """
    comparisons, owners = [], []
    for item_index, (prompt, candidates, asked) in enumerate(items):
        for i, j in itertools.combinations(range(len(candidates)), 2):
            for p_index, principle in enumerate(asked):
                comparisons.append(Comparison(prompt, candidates[i], candidates[j], principle))
                owners.append((item_index, i, j, p_index))
    verdicts = judge.compare(comparisons) if comparisons else []
    wins = [[[0.0] * len(asked) for _ in candidates] for _, candidates, asked in items]
    matches: list[dict[tuple[int, int], Any]] = [{} for _ in items]
    for (item_index, i, j, p_index), verdict in zip(owners, verdicts, strict=True):
        wins[item_index][i][p_index] += verdict.p_a
        wins[item_index][j][p_index] += 1.0 - verdict.p_a
        if p_index == 0:
            matches[item_index][(i, j)] = verdict
    scores = [
        [[w / max(len(candidates) - 1, 1) for w in row] for row in wins[item_index]]
        for item_index, (_, candidates, _) in enumerate(items)
    ]
    return scores, matches


def _chosen_view(details: dict[str, Any], chosen_first_asked: bool) -> dict[str, Any]:
    """A match's details re-expressed for the chosen response.

    The match was asked with the lower-index candidate as ``a``; ``p_chosen_shown_first`` /
    ``p_chosen_shown_second`` give P(chosen wins) when it was presented first / second (and ``raw_`` the
    same before debiasing), so a position bias shows as first > second.
    """
    view = {k: v for k, v in details.items() if "p_a_order" not in k}
    for prefix in ("", "raw_"):
        ab, ba = details.get(f"{prefix}p_a_order_ab"), details.get(f"{prefix}p_a_order_ba")
        if chosen_first_asked:
            first, second = ab, ba
        else:
            first = None if ba is None else 1.0 - ba
            second = None if ab is None else 1.0 - ab
        view[f"{prefix}p_chosen_shown_first"] = first
        view[f"{prefix}p_chosen_shown_second"] = second
    return view


def decide_sampled(
    record: dict[str, Any],
    candidates: Sequence[str],
    scores: Sequence[Sequence[float | None]],
    asked: Sequence[Principle],
    settings: PairSettings,
    judge: Judge,
    margin: float,
    matches: dict[tuple[int, int], Any] | None = None,
) -> None:
    """Pick best vs worst among scored candidates (in place): a pair, or a drop with its reason."""
    usable = [
        c for c in range(len(candidates)) if candidates[c].strip() and all(s is not None for s in scores[c])
    ]
    aggregate = {c: weighted_mean([float(s) for s in scores[c]], asked) for c in usable}
    record["judge"] = {
        "name": judge.name,
        "strategy": settings.strategy,
        "principles": [p.id for p in asked],
        "scores": [list(row) for row in scores],
        "aggregate": [aggregate.get(c) for c in range(len(candidates))],
    }
    distinct = {candidates[c].strip() for c in usable}
    if len(distinct) < 2:
        drop(record, DropReason.TOO_FEW_CANDIDATES)
        return
    best = max(usable, key=lambda c: aggregate[c])
    worst = min(usable, key=lambda c: aggregate[c])

    def p_beats(i: int, j: int) -> float:
        if i == j:
            return 0.5
        if matches is not None:
            verdict = matches[(min(i, j), max(i, j))]
            return verdict.p_a if i < j else 1.0 - verdict.p_a
        return preference_from_scores(aggregate[i], aggregate[j], getattr(judge, "temperature", 1.0))

    if settings.prefer_shorter:
        # every candidate the judge cannot tell apart from the best is a co-winner; the shortest one wins
        tied = [c for c in usable if c == best or abs(p_beats(c, best) - 0.5) < margin]
        shortest = min(tied, key=lambda c: (len(candidates[c]), c))
        if shortest != best:
            record["judge"]["tie_break"] = "shorter"
            best = shortest
    gap = aggregate[best] - aggregate[worst]
    p_chosen = p_beats(best, worst)
    record["judge"].update(chosen_index=best, rejected_index=worst, score_gap=gap, p_chosen=p_chosen)
    if matches is not None and best != worst:
        verdict = matches[(min(best, worst), max(best, worst))]
        record["judge"]["match"] = _chosen_view(verdict.details, chosen_first_asked=best < worst)
    if best == worst or (abs(p_chosen - 0.5) < margin and record["judge"].get("tie_break") is None):
        drop(record, DropReason.TIE)
        return
    if gap < settings.min_margin:
        drop(record, DropReason.LOW_MARGIN)
        return
    _pair(record, candidates[best], candidates[worst], f"sample-{best}")
