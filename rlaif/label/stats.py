"""What the labels say: who labelled what, whether experts agree with each other, and with the judge.

- **Per labeller**: labels (preferences and ties), skips, and the median seconds spent per label.
- **Between labellers**, on the items both labelled (skips excluded): raw agreement and Cohen's kappa, which
  discounts the agreement two people would reach by chance given how often each picks each answer. Categories
  are the item's first response, its second, or a tie -- response identities, not screen sides, since each
  labeller sees their own left/right order.
- **Judge vs experts**: per item, the judge's decision (the pair it made, or a tie) against the experts' verdict
  (:mod:`rlaif.label.consensus`): 1 if the same response, 0 if the other, 1/2 when the judge called a tie.
  Items the experts called a tie are left out (counted apart), as judge-eval reads only preference pairs. A 95%
  Wilson interval comes with every agreement, overall and per principle, because 30 labels still leave
  about +-0.17.
- For a preference dataset without a judge, the same comparison against the file's own ``chosen``.
"""

from __future__ import annotations

import itertools
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rlaif.judges.evaluation import wilson_interval
from rlaif.label.consensus import LabelIndex, agreement_with, index_labels, valid_label
from rlaif.label.items import Item
from rlaif.label.store import LabelState


def cohen_kappa(pairs: Sequence[tuple[str, str]]) -> float | None:
    """Cohen's kappa for two raters' categorical labels on the same items; None when chance agreement is 1
    (both raters always gave the same single category: kappa is undefined)."""
    n = len(pairs)
    if n == 0:
        return None
    observed = sum(a == b for a, b in pairs) / n
    first, second = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
    expected = sum(first[c] * second[c] for c in set(first) | set(second)) / (n * n)
    if expected >= 1.0:
        return None
    return (observed - expected) / (1.0 - expected)


@dataclass
class Agreement:
    n: int
    agreement: float | None
    ci95: tuple[float, float] | None

    @classmethod
    def of(cls, values: Sequence[float]) -> Agreement:
        if not values:
            return cls(0, None, None)
        return cls(len(values), sum(values) / len(values), wilson_interval(sum(values), len(values)))

    def text(self) -> str:
        if not self.n or self.agreement is None or self.ci95 is None:
            return "n/a (no labelled items)"
        return f"{self.agreement:.3f} (95% {self.ci95[0]:.2f}-{self.ci95[1]:.2f}, n={self.n})"


@dataclass
class LabellerCounts:
    name: str
    preferences: int = 0
    ties: int = 0
    skips: int = 0
    median_seconds: float | None = None
    judge: Agreement | None = None
    """This labeller's own agreement with the judge."""


@dataclass
class PairAgreement:
    first: str
    second: str
    shared: int
    agreement: float | None
    kappa: float | None


@dataclass
class LabelStats:
    items: int
    labelled_items: int
    expert_ties: int
    split_items: int
    labellers: list[LabellerCounts]
    pairs: list[PairAgreement]
    judge: Agreement
    judge_per_principle: dict[str, Agreement]
    file: Agreement
    """Agreement with a dataset's own ``chosen`` (preference files; n=0 for run records)."""
    disagreements: int
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _category(event: Mapping[str, Any], item: Item) -> str:
    if event["verdict"] == "tie":
        return "tie"
    return "first" if event["chosen"] == item.responses[0].id else "second"


def disagreement_ids(index: LabelIndex, items: Mapping[str, Item]) -> list[str]:
    """Items whose expert verdict is a preference the judge did not make (the other response, or a tie)."""
    out = []
    for item_id, verdict in index.verdicts.items():
        item = items[item_id]
        if item.judge is not None and agreement_with(item.judge.choice, verdict.verdict) not in (None, 1.0):
            out.append(item_id)
    return sorted(out, key=lambda item_id: items[item_id].index)


def label_stats(state: LabelState, items: Sequence[Item]) -> LabelStats:
    by_id = {item.id: item for item in items}
    index = index_labels(state, by_id)
    labellers = []
    for name in state.labellers():
        counts = LabellerCounts(name)
        seconds = []
        own_judge = []
        for item_id, event in state.current[name].items():
            item = by_id.get(item_id)
            if not valid_label(event, item):
                continue
            assert item is not None
            if event["verdict"] == "skip":
                counts.skips += 1
                continue
            counts.ties += event["verdict"] == "tie"
            counts.preferences += event["verdict"] == "prefer"
            if isinstance(event.get("seconds"), int | float):
                seconds.append(float(event["seconds"]))
            if item.judge is not None:
                value = agreement_with(item.judge.choice, event.get("chosen") or "tie")
                if value is not None:
                    own_judge.append(value)
        counts.median_seconds = statistics.median(seconds) if seconds else None
        counts.judge = Agreement.of(own_judge)
        labellers.append(counts)

    pairs = []
    for first, second in itertools.combinations([c.name for c in labellers], 2):
        shared = []
        for item_id, event in state.current[first].items():
            other = state.current[second].get(item_id)
            item = by_id.get(item_id)
            if (
                other is None
                or "skip" in (event["verdict"], other["verdict"])
                or not valid_label(event, item)
                or not valid_label(other, item)
            ):
                continue
            assert item is not None
            shared.append((_category(event, item), _category(other, item)))
        agreement = sum(a == b for a, b in shared) / len(shared) if shared else None
        pairs.append(PairAgreement(first, second, len(shared), agreement, cohen_kappa(shared)))

    judge_values: list[float] = []
    per_principle: dict[str, list[float]] = {}
    file_values: list[float] = []
    for item_id, verdict in index.verdicts.items():
        item = by_id[item_id]
        if item.judge is not None:
            value = agreement_with(item.judge.choice, verdict.verdict)
            if value is not None:
                judge_values.append(value)
                per_principle.setdefault(item.principle_id or "(none)", []).append(value)
        if item.file_choice is not None:
            value = agreement_with(item.file_choice, verdict.verdict)
            if value is not None:
                file_values.append(value)
    return LabelStats(
        items=len(items),
        labelled_items=len(index.verdicts),
        expert_ties=sum(v.verdict == "tie" for v in index.verdicts.values()),
        split_items=sum(v.split for v in index.verdicts.values()),
        labellers=labellers,
        pairs=pairs,
        judge=Agreement.of(judge_values),
        judge_per_principle={k: Agreement.of(v) for k, v in sorted(per_principle.items())},
        file=Agreement.of(file_values),
        disagreements=len(disagreement_ids(index, by_id)),
        notes=state.warnings[:20] + index.notes(),
    )


def format_stats(stats: LabelStats) -> str:
    """The text ``rlaif label stats`` prints."""
    lines = [
        f"items: {stats.items}   labelled: {stats.labelled_items}   expert ties: {stats.expert_ties}"
        f"   experts split: {stats.split_items}"
    ]
    lines.append("labellers:")
    if not stats.labellers:
        lines.append("  (no labels yet)")
    for counts in stats.labellers:
        median = "n/a" if counts.median_seconds is None else f"{counts.median_seconds:.1f} s"
        lines.append(
            f"  {counts.name:<20} preferences {counts.preferences:>5}  ties {counts.ties:>4}  skips {counts.skips:>4}"
            f"  median time {median}"
        )
    if stats.pairs:
        lines.append("between labellers (items both labelled):")
        for pair in stats.pairs:
            agreement = "n/a" if pair.agreement is None else f"{pair.agreement:.3f}"
            kappa = "n/a" if pair.kappa is None else f"{pair.kappa:.3f}"
            lines.append(
                f"  {pair.first} ~ {pair.second}: shared {pair.shared}, agreement {agreement}, Cohen's kappa {kappa}"
            )
    if stats.judge.n or any(c.judge and c.judge.n for c in stats.labellers):
        lines.append("judge vs experts (expert ties left out, judge ties count 1/2):")
        lines.append(f"  overall{'':<14} {stats.judge.text()}")
        for principle, agreement in stats.judge_per_principle.items():
            lines.append(f"  {principle:<21} {agreement.text()}")
        for counts in stats.labellers:
            if counts.judge and counts.judge.n:
                lines.append(f"  labeller {counts.name:<12} {counts.judge.text()}")
        lines.append(f"  disagreements: {stats.disagreements} (see the page's Disagreements view)")
    if stats.file.n:
        lines.append(f"experts vs the file's 'chosen': {stats.file.text()}")
    lines.extend(f"note: {note}" for note in stats.notes)
    return "\n".join(lines)


def run_label_figures(run_dir: str | Path) -> dict[str, Any] | None:
    """What ``report.html`` shows about expert labels: None when the run has no ``labels.jsonl``, else the
    judge-expert agreement (overall and per principle, 95% intervals), the disagreements count and who labelled."""
    from rlaif.label.session import open_session

    labels = Path(run_dir) / "labels.jsonl"
    if not labels.is_file():
        return None
    session = open_session(run_dir, labels)
    stats = label_stats(session.state, session.items.items)
    return {
        "labels": str(labels),
        "items": stats.items,
        "labelled_items": stats.labelled_items,
        "judge": asdict(stats.judge),
        "judge_per_principle": {name: asdict(a) for name, a in stats.judge_per_principle.items()},
        "disagreements": stats.disagreements,
        "labellers": [c.name for c in stats.labellers],
        "notes": stats.notes,
    }
