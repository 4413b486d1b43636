"""The ``math`` reward: final answer extracted from the completion, verified against a gold column."""

from __future__ import annotations

from typing import Any

from rlaif.rewards.base import Outcome, RowReward, skipped
from rlaif_math.checker import CheckerPool, default_workers
from rlaif_math.extract import extract_answer

OPTIONS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "column": {
            "type": "string",
            "default": "answer",
            "description": "dataset column with the gold answer",
        },
        "timeout": {
            "type": "number",
            "exclusiveMinimum": 0,
            "default": 5,
            "description": "seconds allowed per answer check (parse + compare)",
        },
        "workers": {
            "type": "integer",
            "minimum": 1,
            "description": "checker processes (default: min(2, cpus))",
        },
    },
    "additionalProperties": False,
}


class MathReward(RowReward):
    """1 if the completion's final answer is mathematically equivalent to the gold answer, else 0.

    Rows without a gold answer score ``None`` (skipped): no reward is better than a wrong one.
    """

    name = "math"

    def __init__(self, column: str = "answer", timeout: float = 5.0, workers: int | None = None):
        self.column = column
        self.pool = CheckerPool(workers or default_workers(), timeout)

    def judge(self, text: str, row: dict[str, Any]) -> Outcome:
        return self.judge_many([text], [row])[0]

    def judge_many(self, texts: list[str], rows: list[dict[str, Any]]) -> list[Outcome]:
        outcomes: list[Outcome | None] = [None] * len(texts)
        todo: list[tuple[int, str, str, str]] = []
        for i, (text, row) in enumerate(zip(texts, rows, strict=True)):
            gold = row.get(self.column)
            if gold is None or str(gold).strip() == "":
                outcomes[i] = skipped(f"no gold '{self.column}' for this row")
                continue
            answer, method = extract_answer(text)
            if answer is None:
                outcomes[i] = Outcome(0.0, "failed", "no final answer found")
                continue
            todo.append((i, str(gold), answer, method))
        results = self.pool.check_many([(gold, answer) for _, gold, answer, _ in todo])
        for (i, _, answer, method), result in zip(todo, results, strict=True):
            score = 1.0 if result.status == "passed" else 0.0
            outcomes[i] = Outcome(score, result.status, f"{method}: {answer[:80]!r}; {result.detail}")
        return [outcome for outcome in outcomes if outcome is not None]

    def close(self) -> None:
        """Stop the checker processes now (they also stop when the reward is garbage-collected)."""
        self.pool.close()


def make_math(options: dict[str, Any]) -> MathReward:
    """Final answer (boxed / #### / "answer is" / last number) equivalent to the gold answer (math-verify)."""
    return MathReward(**options)
