"""Shared machinery for rewards: text extraction from TRL-shaped inputs, per-row columns, result records.

A reward is called like a TRL reward function -- ``reward(prompts, completions, **columns)`` -- where
completions may be plain strings or conversational message lists and ``columns`` carries the dataset's other
fields (one list per field, aligned with completions) plus TRL's own extras (``trainer_state``,
``completion_ids``...). :class:`RowReward` turns that calling convention into one ``judge(text, row)`` call
per completion, so each concrete reward only has to say how it scores a single answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from rlaif.errors import RlaifError

STATUSES = ("passed", "failed", "partial", "skipped", "error", "timeout")
"""``passed``/``failed``: full or zero credit; ``partial``: a score strictly between; ``skipped``: the
reward could not judge this row (score ``None``, e.g. no gold answer); ``error``/``timeout``: the check itself
broke or ran out of time (score 0 -- an answer that crashes the checker earns nothing)."""


@dataclass(frozen=True)
class Outcome:
    """One completion's verdict: the score TRL sees, plus why, for reports."""

    score: float | None
    status: str
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def passed(message: str = "") -> Outcome:
    return Outcome(1.0, "passed", message)


def failed(message: str = "") -> Outcome:
    return Outcome(0.0, "failed", message)


def skipped(message: str) -> Outcome:
    return Outcome(None, "skipped", message)


def status_of(score: float | None) -> str:
    """``passed`` at 1, ``failed`` at 0, ``partial`` in between, ``skipped`` for no score."""
    if score is None:
        return "skipped"
    return "passed" if score >= 1.0 else "failed" if score <= 0.0 else "partial"


def graded(score: float, message: str = "") -> Outcome:
    """A score in [0, 1], labelled passed/failed at the ends and partial in between."""
    score = min(1.0, max(0.0, float(score)))
    return Outcome(score, status_of(score), message)


def text_of(value: Any) -> str:
    """The text of a completion or prompt in either TRL format.

    Conversational completions are message lists (``[{"role": "assistant", "content": ...}]``); the text
    judged is the concatenated content of the assistant turns (all turns if none is marked assistant).
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return _content_text(value.get("content"))
    if isinstance(value, Sequence):
        messages = [m for m in value if isinstance(m, dict)]
        assistant = [m for m in messages if m.get("role") == "assistant"]
        return "\n".join(_content_text(m.get("content")) for m in (assistant or messages))
    return str(value)


def _content_text(content: Any) -> str:
    # Multimodal messages carry a list of parts: [{"type": "text", "text": ...}, {"type": "image"}].
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return "" if content is None else str(content)


def rows_from_columns(n: int, columns: dict[str, Any]) -> list[dict[str, Any]]:
    """Per-completion rows from column lists; values that are not lists of length ``n`` are dropped.

    TRL passes non-column extras such as ``trainer_state`` (an object) alongside dataset columns; only
    aligned lists are per-row data, so everything else is ignored rather than rejected.
    """
    aligned = {
        key: value for key, value in columns.items() if isinstance(value, (list, tuple)) and len(value) == n
    }
    return [{key: value[i] for key, value in aligned.items()} for i in range(n)]


class RowReward:
    """Base class: a TRL-compatible reward built from a per-completion ``judge``.

    Subclasses set ``name`` and implement :meth:`judge`; ``__call__`` returns scores for GRPO and
    :meth:`details` returns the full records for reports. Rows are judged independently, so subclasses with
    expensive checks (sandboxed code) override :meth:`judge_many` to run them in parallel.
    """

    name: str = "reward"

    @property
    def __name__(self) -> str:  # TRL logs reward functions by __name__
        return self.name

    def judge(self, text: str, row: dict[str, Any]) -> Outcome:
        raise NotImplementedError

    def judge_many(self, texts: list[str], rows: list[dict[str, Any]]) -> list[Outcome]:
        return [self._safe_judge(text, row) for text, row in zip(texts, rows, strict=True)]

    def _safe_judge(self, text: str, row: dict[str, Any]) -> Outcome:
        try:
            return self.judge(text, row)
        except RlaifError:
            raise
        except Exception as exc:  # a checker bug on one odd completion must not kill a training run
            return Outcome(0.0, "error", f"{type(exc).__name__}: {exc}")

    def details(
        self, prompts: Sequence[Any] | None, completions: Sequence[Any], **columns: Any
    ) -> list[dict]:
        """``{"score", "status", "message"}`` per completion, in order."""
        completions = list(completions)
        rows = rows_from_columns(len(completions), columns)
        if prompts is not None and len(prompts) == len(completions):
            for row, prompt in zip(rows, prompts, strict=True):
                row.setdefault("prompt", prompt)
        texts = [text_of(c) for c in completions]
        return [outcome.as_dict() for outcome in self.judge_many(texts, rows)]

    def __call__(
        self, prompts: Sequence[Any] | None, completions: Sequence[Any], **columns: Any
    ) -> list[float | None]:
        return [record["score"] for record in self.details(prompts, completions, **columns)]

    def __repr__(self) -> str:
        return f"<reward {self.name}>"
