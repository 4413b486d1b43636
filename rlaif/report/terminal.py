"""``rlaif data show``: records as rich panels in the terminal (original, critique, revision side by side)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rlaif.report.records import probability, status

STYLES = {"pair": "green", "win": "green", "drop": "red", "loss": "red", "tie": "yellow"}


def _prompt_text(prompt: Any) -> str:
    if isinstance(prompt, list):
        return "\n".join(
            f"{m.get('role', '?')}: {m.get('content', '')}" for m in prompt if isinstance(m, dict)
        )
    return "" if prompt is None else str(prompt)


def render_record(record: dict[str, Any]) -> Any:
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    state = status(record)
    p = probability(record)
    title = Text.assemble(
        (f" {state.upper()} ", f"bold white on {STYLES.get(state, 'grey50')}"),
        f"  {record.get('id', '?')}  principle {record.get('principle_id', '?')}",
        f"  round {record['round']}" if "round" in record else "",
        (f"  reason: {record['reason']}", "red") if record.get("reason") else "",
        (f"  p={p:.3f}", "bold") if p is not None else "",
    )
    columns = Table(show_header=True, header_style="bold", expand=True, box=None, padding=(0, 1))
    if record.get("kind") == "eval":
        fields = [("before (baseline)", "baseline_response"), ("after (model)", "model_response")]
    else:
        fields = [("original", "original"), ("critique", "critique"), ("revision", "revision")]
    for label, _ in fields:
        columns.add_column(label, ratio=1, overflow="fold")
    columns.add_row(*[Text(str(record.get(key) or "")) for _, key in fields])
    parts: list[Any] = [Text(_prompt_text(record.get("prompt")), style="cyan"), columns]
    judge = record.get("judge")
    if isinstance(judge, dict) and (judge.get("rationale") or judge.get("explanation")):
        parts.append(
            Text("judge: " + str(judge.get("rationale") or judge.get("explanation")), style="italic")
        )
    return Panel(Group(*parts), title=title, title_align="left")


def show(records: Iterable[dict[str, Any]], console: Any = None) -> int:
    from rich.console import Console

    console = console or Console()
    count = 0
    for record in records:
        console.print(render_record(record))
        count += 1
    return count
