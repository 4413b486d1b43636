"""The report's plots: matplotlib (Agg) figures rendered to base64 PNG, one function per question asked.

Each function returns ``None`` when the run holds no data for its plot, so the report shows a note instead.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from typing import Any

from rlaif.report.rundata import RunData

PALETTE = ("#3366cc", "#dc6b2f", "#2a9d62", "#a23b9b", "#c9a227", "#5a6b7c", "#d0435a", "#2fa4b8")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "figure.dpi": 100,
            "font.size": 9,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.prop_cycle": matplotlib.cycler(color=PALETTE),
        }
    )
    return plt


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    _pyplot().close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(width: float = 5.6, height: float = 3.2):
    plt = _pyplot()
    return plt.subplots(figsize=(width, height))


def _series(run: RunData, key: str) -> list[tuple[int, list[float], list[float]]]:
    """``(round, steps, values)`` per round for a log-history key (steps continue across rounds)."""
    out = []
    offset = 0
    for rnd in run.rounds:
        points = [
            (float(entry.get("step", i)), float(entry[key]))
            for i, entry in enumerate(rnd.log_history)
            if isinstance(entry.get(key), int | float) and not isinstance(entry.get(key), bool)
        ]
        if points:
            out.append((rnd.index, [offset + s for s, _ in points], [v for _, v in points]))
        steps = [e.get("step") for e in rnd.log_history if isinstance(e.get("step"), int | float)]
        offset += max(steps) if steps else 0
    return out


def _line_plot(run: RunData, keys: Sequence[str], title: str, ylabel: str) -> str | None:
    found = [(key, _series(run, key)) for key in keys]
    found = [(key, series) for key, series in found if series]
    if not found:
        return None
    fig, ax = _figure()
    for color_index, (key, series) in enumerate(found):
        for n, (_round, steps, values) in enumerate(series):
            ax.plot(
                steps,
                values,
                marker="o" if len(values) < 30 else None,
                markersize=3,
                color=PALETTE[color_index % len(PALETTE)],
                label=key if n == 0 else None,
            )
    if len(run.rounds) > 1:
        offset = 0.0
        for rnd in run.rounds[:-1]:
            steps = [e.get("step") for e in rnd.log_history if isinstance(e.get("step"), int | float)]
            offset += max(steps) if steps else 0
            ax.axvline(offset, color="#999", linestyle=":", linewidth=1)
    ax.set_title(title)
    ax.set_xlabel("training step (all rounds)")
    ax.set_ylabel(ylabel)
    if len(found) > 1:
        ax.legend(fontsize=7)
    return _png(fig)


def training_loss(run: RunData) -> str | None:
    return _line_plot(run, ["loss"], "Training loss", "loss")


def reward_margins(run: RunData) -> str | None:
    return _line_plot(
        run, ["rewards/margins", "rewards/accuracies"], "DPO reward margin and accuracy", "value"
    )


def reward_curves(run: RunData) -> str | None:
    """Online-RL rewards (GRPO ``reward``, ``rewards/<fn>/mean``; PPO ``objective/*``) from the log history."""
    keys: list[str] = []
    for rnd in run.rounds:
        for entry in rnd.log_history:
            for key in entry:
                dpo = key in ("rewards/margins", "rewards/accuracies", "rewards/chosen", "rewards/rejected")
                online = key == "reward" or (key.startswith("rewards/") and key.endswith("/mean"))
                online = online or key in ("objective/rlhf_reward", "objective/scores", "env/reward_mean")
                if online and not dpo and key not in keys:
                    keys.append(key)
    return _line_plot(run, keys[:8], "Rewards during training", "reward") if keys else None


def win_rate_per_round(run: RunData) -> str | None:
    points = [
        (rnd.index, rnd.eval_summary)
        for rnd in run.rounds
        if rnd.eval_summary and rnd.eval_summary.get("win_rate") is not None
    ]
    if not points:
        return None
    fig, ax = _figure()
    rounds = [p[0] for p in points]
    ax.plot(rounds, [p[1]["win_rate"] for p in points], marker="o", label="combined", linewidth=2)
    for key, style in (("model_first", "--"), ("model_second", ":")):
        values = [(p[1].get("orders") or {}).get(key, {}).get("win_rate") for p in points]
        if all(v is not None for v in values):
            ax.plot(rounds, values, linestyle=style, marker=".", label=key.replace("_", " "))
    ax.axhline(0.5, color="#999", linewidth=1)
    ax.set_ylim(0, 1)
    ax.set_xticks(rounds)
    ax.set_xlabel("round")
    ax.set_ylabel("win rate vs starting policy")
    ax.set_title("Win rate per round (ties count half)")
    ax.legend(fontsize=7)
    return _png(fig)


def win_rate_per_principle(run: RunData) -> str | None:
    latest = next(
        (r for r in reversed(run.rounds) if r.eval_summary and r.eval_summary.get("per_principle")), None
    )
    if latest is None:
        return None
    stats = latest.eval_summary["per_principle"]
    names = list(stats)
    fig, ax = _figure(5.6, max(2.0, 0.45 * len(names) + 1.0))
    values = [stats[n]["win_rate"] or 0.0 for n in names]
    bars = ax.barh(names, values, color=[PALETTE[0] if v >= 0.5 else PALETTE[1] for v in values])
    for bar, name in zip(bars, names, strict=True):
        ax.text(
            bar.get_width() + 0.01,
            bar.get_y() + bar.get_height() / 2,
            f"n={stats[name]['n']}",
            va="center",
            fontsize=7,
        )
    ax.axvline(0.5, color="#999", linewidth=1)
    ax.set_xlim(0, 1.1)
    ax.invert_yaxis()
    ax.set_xlabel("win rate")
    ax.set_title(f"Win rate per principle (round {latest.index})")
    return _png(fig)


def _hist(ax: Any, groups: Sequence[tuple[str, list[float]]]) -> None:
    values = [v for _, vs in groups for v in vs]
    low, high = min(values), max(values)
    bins = max(5, min(30, int(math.sqrt(len(values))) * 2))
    edges = [low + (high - low + 1e-9) * i / bins for i in range(bins + 1)]
    for label, vs in groups:
        if vs:
            ax.hist(vs, bins=edges, alpha=0.55, label=f"{label} (mean {sum(vs) / len(vs):.0f})")
    ax.legend(fontsize=7)


def _length_plot(groups: Sequence[tuple[str, list[float]]], title: str) -> str | None:
    if not any(values for _, values in groups):
        return None
    fig, ax = _figure()
    _hist(ax, groups)
    ax.set_title(title)
    ax.set_xlabel("words per response")
    ax.set_ylabel("responses")
    return _png(fig)


def lengths_chosen_rejected(run: RunData) -> str | None:
    """Words per response in every pair: does the judge simply prefer longer (or shorter) answers?"""
    chosen = [len(p["chosen"][-1]["content"].split()) for r in run.rounds for p in r.pairs if p.get("chosen")]
    rejected = [
        len(p["rejected"][-1]["content"].split()) for r in run.rounds for p in r.pairs if p.get("rejected")
    ]
    return _length_plot([("chosen", chosen), ("rejected", rejected)], "Pairs: chosen vs rejected")


def lengths_before_after(run: RunData) -> str | None:
    """Words per held-out answer, starting policy vs the latest evaluated policy."""
    latest = next((r for r in reversed(run.rounds) if r.eval_records), None)
    if latest is None:
        return None
    seen: dict[str, tuple[int, int]] = {}
    for record in latest.eval_records:
        seen.setdefault(
            record["id"], (len(record["baseline_response"].split()), len(record["model_response"].split()))
        )
    return _length_plot(
        [
            ("before (baseline)", [b for b, _ in seen.values()]),
            ("after (trained)", [a for _, a in seen.values()]),
        ],
        f"Held-out answers: before vs after (round {latest.index})",
    )


def judge_confidence(run: RunData) -> str | None:
    """Histogram of the judge's P(revision is better), with the tie band shaded."""
    values = [
        float(r["judge"]["p_revision"])
        for rnd in run.rounds
        for r in rnd.records
        if isinstance(r.get("judge"), dict) and isinstance(r["judge"].get("p_revision"), int | float)
    ]
    if not values:
        return None
    margin = float((run.config.get("judge") or {}).get("margin", 0.02))
    fig, ax = _figure()
    ax.hist(values, bins=[i / 40 for i in range(41)], color=PALETTE[0])
    ax.axvspan(0.5 - margin, 0.5 + margin, color="#999", alpha=0.3, label=f"tie band (±{margin})")
    ax.set_xlim(0, 1)
    ax.set_xlabel("judge P(revision is better)")
    ax.set_ylabel("prompts")
    ax.set_title(f"Judge confidence ({len(values)} judged prompts)")
    ax.legend(fontsize=7)
    return _png(fig)


PLOTS = (
    ("Training loss", training_loss),
    ("Reward margins", reward_margins),
    ("Reward curves", reward_curves),
    ("Win rate per round", win_rate_per_round),
    ("Win rate per principle", win_rate_per_principle),
    ("Response lengths: chosen vs rejected", lengths_chosen_rejected),
    ("Response lengths: before vs after training", lengths_before_after),
    ("Judge confidence", judge_confidence),
)
"""``(title, function)`` in the order the report shows them."""
