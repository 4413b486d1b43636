"""Labels as judge data: measure a judge against a team's experts, or fit an ensemble to them.

:func:`labelled_pairs` turns a labels file and its target into the preference records judge-eval and
fit-ensemble read (the experts' chosen response as ``chosen``), in target order, so judge-eval on labels made
through the page equals judge-eval on the same pairs file. Expert ties are left out (there is no side to agree
with), as in human preference data.

:func:`evaluate_judge_on_labels` is ``rlaif judge-eval --labels``: with no ``--principle`` / ``--question`` every
item is judged under the principle it was labelled under (the run's sampled principle), one group per principle,
and the report adds a per-principle breakdown to the usual figures.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from rlaif.errors import RlaifError
from rlaif.files import write_jsonl
from rlaif.judges.evaluation import (
    JudgeEvaluation,
    expected_calibration_error,
    longer_side,
    member_breakdown,
    order_verdicts,
    wilson_interval,
)
from rlaif.label.interop import human_pairs
from rlaif.label.items import read_records
from rlaif.label.session import resolve_labels
from rlaif.label.store import read_events


def labelled_pairs(labels: str | Path, target: str | Path | None = None) -> list[dict[str, Any]]:
    """The experts' preference pairs (TRL records with provenance), in target order."""
    labels_path, target_path = resolve_labels(labels, target)
    events, _ = read_events(labels_path)
    pairs = human_pairs(read_records(target_path), events)
    if not pairs:
        raise RlaifError(
            f"{labels_path}: no expert preferences for {target_path} yet (ties and skips are not pairs)",
            hint=f"Label some items first: rlaif label {target_path}",
        )
    return pairs


def write_labelled_pairs(labels: str | Path, output: str | Path, target: str | Path | None = None) -> int:
    """Write :func:`labelled_pairs` as JSONL; returns how many."""
    pairs = labelled_pairs(labels, target)
    write_jsonl(output, pairs)
    return len(pairs)


@dataclass
class LabelledEvaluation(JudgeEvaluation):
    per_principle: dict[str, dict[str, Any]] = field(default_factory=dict)
    """principle id -> n, agreement and its 95% interval, position consistency (judged under that principle)."""
    labels: str = ""


def _texts(record: dict[str, Any]) -> tuple[str, str]:
    from rlaif.judges.data import pair_from_record

    pair = pair_from_record(record, "labelled pair", "")
    return pair.chosen, pair.rejected


def combine(groups: dict[str, tuple[list[dict[str, Any]], JudgeEvaluation]]) -> LabelledEvaluation:
    """One evaluation from per-principle ones, recomputed from their per-pair verdicts."""
    per_pair: list[dict[str, Any]] = []
    texts: list[tuple[str, str]] = []
    seconds = 0.0
    per_principle = {}
    judge_name = ""
    for principle, (records, result) in groups.items():
        per_pair += result.per_pair
        texts += [_texts(record) for record in records]
        seconds += result.seconds
        judge_name = result.judge
        per_principle[principle] = {
            "n": result.n,
            "agreement": result.agreement,
            "agreement_ci95": list(result.agreement_ci95 or ()),
            "position_consistency": result.position_consistency,
        }
    n = len(per_pair)
    agreements = [entry["agree"] for entry in per_pair]
    confidences = [max(entry["p_chosen"], 1.0 - entry["p_chosen"]) for entry in per_pair]
    known = [entry["position_consistent"] for entry in per_pair if entry["position_consistent"] is not None]
    single = []
    for entry in per_pair:
        orders = order_verdicts(entry["details"])
        if orders is not None:
            first = orders[0] if entry["chosen_is_a"] else 1.0 - orders[0]
            single.append(0.5 if abs(first - 0.5) <= 1e-9 else float(first > 0.5))
    longer = [longer_side(chosen, rejected) for chosen, rejected in texts]
    picks = []
    for entry, chosen_longer in zip(per_pair, longer, strict=True):
        if chosen_longer == 0.5 or entry["tie"]:
            picks.append(0.5)
        else:
            picks.append(float((entry["p_chosen"] > 0.5) == (chosen_longer == 1.0)))
    return LabelledEvaluation(
        n=n,
        agreement=sum(agreements) / n,
        position_consistency=sum(known) / len(known) if known else float("nan"),
        tie_rate=sum(entry["tie"] for entry in per_pair) / n,
        mean_confidence=sum(confidences) / n,
        ece=expected_calibration_error(confidences, agreements),
        pairs_per_second=n / seconds if seconds > 0 else float("inf"),
        judge=judge_name,
        seconds=seconds,
        single_order_agreement=sum(single) / n if len(single) == n else None,
        agreement_ci95=wilson_interval(sum(agreements), n),
        longer_wins_agreement=sum(longer) / n,
        picks_longer=sum(picks) / n,
        members=member_breakdown(per_pair),
        per_pair=per_pair,
        per_principle=per_principle,
    )


def evaluate_judge_on_labels(
    labels: str,
    target: str | None = None,
    config_path: str | None = None,
    principle_id: str | None = None,
    question: str | None = None,
    limit: int | None = None,
    offset: int = 0,
    **judge_eval: Any,
) -> LabelledEvaluation:
    """``rlaif judge-eval --labels``: the judge measured on the experts' pairs; other keyword arguments are those
    of :func:`rlaif.judges.on_file.evaluate_judge_on_file` (judge_name, options, model, batch_size...)."""
    from rlaif.judges.on_file import evaluate_judge_on_file

    pairs = labelled_pairs(labels, target)[offset:]
    pairs = pairs[:limit] if limit is not None else pairs
    if not pairs:
        raise RlaifError(f"{labels}: no labelled pairs after --offset {offset}")
    if principle_id or question or not any(record.get("principle_id") for record in pairs):
        groups = {principle_id or ("custom" if question else ""): pairs}
    else:
        groups = {}
        for record in pairs:
            groups.setdefault(str(record.get("principle_id") or ""), []).append(record)
    results = {}
    with tempfile.TemporaryDirectory(prefix="rlaif-labels-") as folder:
        for number, (principle, records) in enumerate(groups.items()):
            path = Path(folder) / f"pairs-{number}.jsonl"
            write_jsonl(path, records)
            try:
                result = evaluate_judge_on_file(
                    str(path),
                    config_path=config_path,
                    principle_id=principle_id or (principle or None if not question else None),
                    question=question,
                    **judge_eval,
                )
            except RlaifError as error:
                if principle and not principle_id and "unknown principle" in str(error):
                    raise RlaifError(
                        f"{error}\nThe labelled items were judged under principle '{principle}', which the "
                        "config's constitution does not have.",
                        hint="Use the run's config, or judge every item under one: --principle ID or --question.",
                    ) from None
                raise
            results[principle or "(config)"] = (records, result)
    if len(results) == 1:  # one group: the judge-eval result itself, exactly as on the same pairs file
        (_, only), *_ = results.values()
        combined = LabelledEvaluation(**{f.name: getattr(only, f.name) for f in fields(JudgeEvaluation)})
    else:
        combined = combine(results)
    combined.labels = str(labels)
    return combined
