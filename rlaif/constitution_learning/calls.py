"""The model calls of learning and auditing, batched and journaled so a kill loses no finished call.

Every call's result is a record in an append-only journal (:class:`rlaif.engine.journal.Journal`: fsync'd, a
torn last line dropped on reopening) whose id is a hash of everything that determines the result: the model
spec and options, the prompt template or judging question, the pair's content digest and the sampling settings.
A re-run therefore skips every finished call, whatever the order or the batch it was in, and never reuses a
result for a different question, model or pair. Results are appended after each batch; a kill loses at most
the batch in flight.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlaif.constitution_learning.data import chosen_shown_first, pair_digest
from rlaif.constitution_learning.propose import propose_prompt
from rlaif.engine.journal import Journal
from rlaif.engine.seeds import prompt_seed
from rlaif.judges.data import PreferencePair
from rlaif.protocols import ChatModel, Comparison, GenerationParams, Judge

FORMAT = 1


def model_ref(value: str, flag: str) -> Any:
    """A model spec (``embedded``, a directory, ``openai:NAME``...) or a YAML mapping with ``spec`` and backend
    options (``{spec: openai:m, base_url: http://127.0.0.1:8000/v1}``, ``{spec: embedded, threads: 1}``)."""
    from rlaif.errors import RlaifError
    from rlaif.files import load_yaml_text
    from rlaif.models.pool import ModelRef

    if not value.lstrip().startswith("{"):
        return ModelRef(value)
    try:
        parsed = load_yaml_text(value)
    except Exception as exc:  # yaml.YAMLError and friends: the value is user input
        raise RlaifError(f"{flag}: not a YAML mapping ({exc})") from None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("spec"), str):
        raise RlaifError(
            f"{flag}: a mapping needs a 'spec' string, e.g. {{spec: openai:my-model, base_url: ...}}"
        )
    return ModelRef.parse(parsed)


def call_id(*parts: Any) -> str:
    payload = json.dumps([FORMAT, *parts], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:24]


@dataclass
class CallJournal:
    """Finished calls by id; ``path`` None keeps them in memory only (nothing to resume)."""

    path: Path | None = None
    made: int = 0
    """Calls made by this process (each judged pair counts once, both orders included)."""
    reused: int = 0
    _journal: Journal | None = field(default=None, repr=False)
    _done: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.path is not None:
            self._journal = Journal(self.path)
            self._done = {record["id"]: record for record in self._journal.records}

    def __len__(self) -> int:
        return len(self._done)

    def get(self, key: str) -> dict[str, Any] | None:
        return self._done.get(key)

    def add(self, records: list[dict[str, Any]]) -> None:
        if self._journal is not None:
            self._journal.append(records)
        for record in records:
            self._done[record["id"]] = record
        self.made += len(records)


Progress = Callable[[int], None]


def _noop(_: int) -> None:
    return None


def propose_all(
    critic: Callable[[], ChatModel],
    critic_key: str,
    pairs: Sequence[PreferencePair],
    journal: CallJournal,
    per_pair: int,
    seed: int,
    params: GenerationParams,
    batch_size: int,
    advance: Progress = _noop,
) -> list[dict[str, Any]]:
    """One critic call per pair; each record holds the reply (parsed by the caller, so a better parser applies to
    journaled replies too).

    ``critic`` is called (the model loaded) only when some pair has no finished call in the journal."""
    keys = [
        call_id(
            "propose", critic_key, pair_digest(p), per_pair, seed, params.temperature, params.max_new_tokens
        )
        for p in pairs
    ]
    pending = [i for i, key in enumerate(keys) if journal.get(key) is None]
    journal.reused += len(pairs) - len(pending)
    model = critic() if pending else None
    for start in range(0, len(pending), batch_size):
        batch = pending[start : start + batch_size]
        assert model is not None
        replies = model.generate(
            [propose_prompt(pairs[i], per_pair) for i in batch],
            params,
            seeds=[prompt_seed(seed, 0, pair_digest(pairs[i])) for i in batch],
        )
        journal.add(
            [
                {
                    "id": keys[i],
                    "kind": "propose",
                    "pair": pair_digest(pairs[i]),
                    "reply": reply,
                }
                for i, reply in zip(batch, replies, strict=True)
            ]
        )
        advance(len(batch))
    return [journal.get(key) or {} for key in keys]


def judge_all(
    judge: Judge,
    judge_key: str,
    principle: Any,
    pairs: Sequence[PreferencePair],
    journal: CallJournal,
    batch_size: int,
    advance: Progress = _noop,
) -> list[float]:
    """P(chosen wins) per pair when ``principle``'s judging question is asked (the judge's own order handling:
    the pairwise judge asks both orders). The chosen response is shown first on about half the pairs."""
    keys = [call_id("judge", judge_key, principle.judging_question, pair_digest(p)) for p in pairs]
    pending = [i for i, key in enumerate(keys) if journal.get(key) is None]
    journal.reused += len(pairs) - len(pending)
    for start in range(0, len(pending), batch_size):
        batch = pending[start : start + batch_size]
        first = [chosen_shown_first(pairs[i]) for i in batch]
        comparisons = [
            Comparison(
                pairs[i].prompt,
                pairs[i].chosen if chosen_a else pairs[i].rejected,
                pairs[i].rejected if chosen_a else pairs[i].chosen,
                principle,
            )
            for i, chosen_a in zip(batch, first, strict=True)
        ]
        verdicts = judge.compare(comparisons)
        records = []
        for i, chosen_a, verdict in zip(batch, first, verdicts, strict=True):
            p_chosen = verdict.p_a if chosen_a else 1.0 - verdict.p_a
            if verdict.details.get("tie"):
                p_chosen = 0.5
            records.append(
                {
                    "id": keys[i],
                    "kind": "judge",
                    "pair": pair_digest(pairs[i]),
                    "question": principle.judging_question,
                    "chosen_is_a": chosen_a,
                    "p_chosen": p_chosen,
                }
            )
        journal.add(records)
        advance(len(batch))
    return [float((journal.get(key) or {})["p_chosen"]) for key in keys]


def pending_proposals(
    critic_key: str,
    pairs: Sequence[PreferencePair],
    per_pair: int,
    seed: int,
    params: GenerationParams,
    journal: CallJournal,
) -> int:
    """How many critic calls are not in the journal yet."""
    return sum(
        journal.get(
            call_id(
                "propose",
                critic_key,
                pair_digest(p),
                per_pair,
                seed,
                params.temperature,
                params.max_new_tokens,
            )
        )
        is None
        for p in pairs
    )


def pending_judgments(
    judge_key: str, principles: Sequence[Any], pairs: Sequence[PreferencePair], journal: CallJournal
) -> int:
    """How many (principle, pair) judgments are not in the journal yet (sizes the progress bar)."""
    return sum(
        journal.get(call_id("judge", judge_key, p.judging_question, pair_digest(pair))) is None
        for p in principles
        for pair in pairs
    )
