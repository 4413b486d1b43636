"""The ``math`` reward: final answer extracted from the completion, verified against a gold column."""

from __future__ import annotations

from typing import Any

from rlaif.rewards.base import Outcome, RowReward, skipped
from rlaif_math.checker import CheckerPool, default_workers
from rlaif_math.extract import extract_answers, separate_alternatives

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

    Rows without a gold answer score ``None`` (skipped): no reward is better than a wrong one. Hedges
    score 0 (see ``extract.py``): several different boxed answers (each must match), an empty final box,
    alternatives such as ``3 \\lor 4`` (a set, equal to a single gold only if every member is).
    """

    name = "math"

    def __init__(self, column: str = "answer", timeout: float = 5.0, workers: int | None = None):
        self.column = column
        self.pool = CheckerPool(workers or default_workers(), timeout)

    def judge(self, text: str, row: dict[str, Any]) -> Outcome:
        return self.judge_many([text], [row])[0]

    def judge_many(self, texts: list[str], rows: list[dict[str, Any]]) -> list[Outcome]:
        outcomes: list[Outcome | None] = [None] * len(texts)
        todo: list[tuple[int, str, list[str], str]] = []
        for i, (text, row) in enumerate(zip(texts, rows, strict=True)):
            gold = row.get(self.column)
            if gold is None or str(gold).strip() == "":
                outcomes[i] = skipped(f"no gold '{self.column}' for this row")
                continue
            answers, method, problem = extract_answers(text)
            if problem is not None or not answers:
                outcomes[i] = Outcome(0.0, "failed", problem or "no final answer found")
                continue
            todo.append((i, separate_alternatives(str(gold)), answers, method))
        pairs = [(gold, separate_alternatives(answer)) for _, gold, answers, _ in todo for answer in answers]
        results = iter(self.pool.check_many(pairs))
        for i, _, answers, method in todo:
            checks = [next(results) for _ in answers]
            wrong = [(answer, r) for answer, r in zip(answers, checks, strict=True) if r.status != "passed"]
            if not wrong:
                shown, result = answers[-1], checks[-1]
            else:  # the first answer that does not match decides the status (failed / timeout / error)
                shown, result = wrong[0]
            prefix = f"{method}: "
            if len(answers) > 1:
                prefix += f"{len(answers)} different answers, each must match; "
            outcomes[i] = Outcome(
                1.0 if not wrong else 0.0,
                "passed" if not wrong else result.status,
                f"{prefix}{shown[:80]!r}; {result.detail}",
            )
        return [outcome for outcome in outcomes if outcome is not None]

    def close(self) -> None:
        """Stop the checker processes now (they also stop when the reward is garbage-collected)."""
        self.pool.close()


def make_math(options: dict[str, Any]) -> MathReward:
    """Final answer (boxed / #### / "answer is" / last number) equivalent to the gold answer (math-verify)."""
    return MathReward(**options)
