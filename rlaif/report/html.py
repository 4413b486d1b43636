"""The run report as one self-contained HTML page: inline CSS, inline script, plots as base64 PNG.

Every string that comes from a run (prompts, model outputs, config values) passes through :func:`esc`, so a
model that writes ``<script>`` shows it as text. The small inline script filters the pair browser and marks
the page (``data-images-loaded`` / ``data-errors`` on ``<html>``) so a headless browser test can verify it.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from typing import Any

import yaml

from rlaif.eval.stats import interval_text
from rlaif.judges.trust import trust_text
from rlaif.records import count_drops
from rlaif.report.plots import PLOTS
from rlaif.report.rundata import RoundData, RunData, StageData

SAMPLE_PER_ROUND = 40
EVAL_SAMPLE_PER_ROUND = 24


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _num(value: Any, digits: int = 3) -> str:
    if isinstance(value, bool) or value is None:
        return "–" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return esc(value)


def _text(value: Any) -> str:
    if isinstance(value, list):  # chat messages
        value = "\n\n".join(
            f"{m.get('role', '?')}: {m.get('content', '')}" for m in value if isinstance(m, dict)
        )
    return f'<pre class="text">{esc(value)}</pre>'


def _table(headers: Iterable[str], rows: Iterable[Iterable[str]], cls: str = "") -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _totals(run: RunData) -> dict[str, Any]:
    prompts = sum(len(r.records) for r in run.rounds)
    pairs = sum(len(r.pairs) for r in run.rounds)
    drops = count_drops(record for rnd in run.rounds for record in rnd.records)
    latest_eval = next((r.eval_summary for r in reversed(run.rounds) if r.eval_summary), None)
    return {"prompts": prompts, "pairs": pairs, "drops": drops, "eval": latest_eval}


def _kl_text(kl: dict[str, Any]) -> str:
    """The non-negative k3 estimate, with its 95% interval when there is one (see rlaif.eval.core)."""
    text = _num(kl.get("estimate"), 2)
    if kl.get("ci95"):
        low, high = kl["ci95"]
        text += f'<span class="ci"> [{_num(low, 2)}, {_num(high, 2)}]</span>'
    return text


def _cards(run: RunData, totals: dict[str, Any]) -> str:
    evaluation = totals["eval"] or {}
    items = [
        ("rounds", _num(len(run.rounds))),
        ("prompts judged", _num(totals["prompts"])),
        ("pairs", _num(totals["pairs"])),
        ("dropped", _num(sum(totals["drops"].values()))),
        ("win rate (latest)", _num(evaluation.get("win_rate"), 2)),
        ("KL to start (k3, nats)", _kl_text(evaluation.get("kl") or {})),
    ]
    notes = {"win rate (latest)": _trust(run)}
    return (
        '<div class="cards">'
        + "".join(
            f'<div class="card"><div class="value">{value}</div><div class="label">{esc(label)}</div>'
            + (f'<div class="trust">{esc(notes[label])}</div>' if label in notes else "")
            + "</div>"
            for label, value in items
        )
        + "</div>"
    )


def _trust(run: RunData) -> str:
    """How far the judge's win rates can be trusted: its known agreement with people, or "unknown" and how."""
    judge = (run.config.get("judge") or {}).get("name") if isinstance(run.config.get("judge"), dict) else None
    return trust_text(run.judge_agreement, judge if isinstance(judge, str) else None)


def _trust_note(run: RunData) -> str:
    return f'<p class="sub trust" data-figure="judge-trust">Win rates are the judge\'s verdicts; {esc(_trust(run))}.</p>'


def _stage_text(stage: StageData) -> str:
    """One training stage in the rounds table: its name, loss, steps and time (or why it was skipped)."""
    label = f"{_num(stage.index)}. <code>{esc(stage.name)}</code>"
    if stage.entry.get("status") == "skipped":
        return f"{label} skipped: {esc(stage.entry.get('skipped'))}"
    if not stage.metrics:
        return f"{label} not trained yet"
    seconds = (stage.entry.get("timings") or {}).get("train_s")
    return (
        f"{label} loss {_num(stage.metrics.get('first_loss'))} → {_num(stage.metrics.get('last_loss'))}, "
        f"{_num(stage.metrics.get('global_step'))} steps"
        + (f", {seconds:.0f}s" if seconds is not None else "")
    )


def _rounds_table(run: RunData) -> str:
    if not run.rounds:
        return '<p class="note">No rounds yet: the run has not generated anything.</p>'
    rows = []
    for rnd in run.rounds:
        drops = count_drops(rnd.records)
        timings = rnd.entry.get("timings") or {}
        training = (
            f"loss {_num(rnd.metrics.get('first_loss'))} → {_num(rnd.metrics.get('last_loss'))}"
            if rnd.metrics
            else esc(rnd.entry.get("train_skipped") or "not trained")
        )
        if rnd.stages:
            training = "<br>".join(_stage_text(stage) for stage in rnd.stages)
        if rnd.metrics.get("hacks_total"):
            kinds = ", ".join(
                f"{esc(key.split('/')[-1])} {_num(value)}"
                for key, value in sorted(rnd.metrics.items())
                if key.startswith("hacks/")
            )
            training += f'<br><span class="warn">reward hacks caught: {_num(rnd.metrics["hacks_total"])} ({kinds})</span>'
        rows.append(
            [
                _num(rnd.index),
                _num(len(rnd.records)),
                _num(len(rnd.pairs)),
                esc(", ".join(f"{k}: {v}" for k, v in sorted(drops.items())) or "none"),
                training,
                _num((rnd.eval_summary or {}).get("win_rate"), 2),
                esc(" · ".join(f"{k.removesuffix('_s')} {v:.0f}s" for k, v in timings.items())),
            ]
        )
    table = _table(["round", "prompts", "pairs", "drops by reason", "training", "win rate", "time"], rows)
    return table + (_trust_note(run) if any(rnd.eval_summary for rnd in run.rounds) else "")


def _constitution(run: RunData) -> str:
    data = run.constitution
    if not data:
        return '<p class="note">constitution.yaml not found in the run directory.</p>'
    rows = []
    for p in data.get("principles") or []:
        rewards = ", ".join(r if isinstance(r, str) else str(r.get("name")) for r in p.get("rewards") or [])
        rows.append(
            [
                f"<code>{esc(p.get('id'))}</code>",
                _num(p.get("weight", 1)),
                esc(p.get("judging_question")),
                esc(rewards or "–"),
            ]
        )
    return f"<p><strong>{esc(data.get('name'))}</strong> {esc(data.get('description') or '')}</p>" + _table(
        ["principle", "weight", "judging question", "rewards"], rows
    )


def _optimizer_names(section: Any) -> str | None:
    """``dpo``, or the stages in order: ``sft → dpo``."""
    stages = section if isinstance(section, list) else [section or {}]
    names = [str(stage.get("name")) for stage in stages if isinstance(stage, dict) and stage.get("name")]
    return " → ".join(names) or None


def _config(run: RunData) -> str:
    if not run.config:
        return '<p class="note">config.yaml not found in the run directory.</p>'
    models = run.config.get("models") or {}
    key_facts = [
        ("policy", models.get("policy")),
        ("critic", models.get("critic") or "(policy)"),
        ("judge model", models.get("judge") or "(critic)"),
        ("judge", (run.config.get("judge") or {}).get("name")),
        ("optimizer", _optimizer_names(run.config.get("optimizer"))),
        ("prompts", run.config.get("prompts")),
        ("rounds", run.config.get("rounds")),
        ("seed", run.config.get("seed")),
    ]
    facts = "".join(
        f"<dt>{esc(k)}</dt><dd>{esc(json.dumps(v) if isinstance(v, dict) else v)}</dd>" for k, v in key_facts
    )
    full = yaml.safe_dump(run.config, sort_keys=False, allow_unicode=True)
    return f'<dl class="facts">{facts}</dl><details><summary>Full resolved config</summary>{_text(full)}</details>'


def _plots(run: RunData) -> str:
    figures, missing = [], []
    for title, function in PLOTS:
        png = function(run)
        if png is None:
            missing.append(title)
            continue
        body = f'<img class="plot" alt="{esc(title)}" src="data:image/png;base64,{png}">'
        figures.append(f'<figure class="plot-card"><figcaption>{esc(title)}</figcaption>{body}</figure>')
    note = (
        f'<p class="note" id="missing-plots">Not in this run (no data): {esc(", ".join(missing))}.</p>'
        if missing
        else ""
    )
    return '<div class="plots">' + "".join(figures) + "</div>" + note


def _eval_section(run: RunData) -> str:
    evaluated = [r for r in run.rounds if r.eval_summary]
    if not evaluated:
        return (
            '<p class="note">No evaluation in this run (it did not train, or eval is disabled). '
            "<code>rlaif eval --model CHECKPOINT</code> evaluates any checkpoint.</p>"
        )
    rows = []
    for rnd in evaluated:
        s = rnd.eval_summary
        orders = s.get("orders") or {}
        lengths = s.get("length") or {}
        rewards = "; ".join(
            f"{name}: pass {_num(v['model'].get('pass_rate'), 2)} vs {_num(v['baseline'].get('pass_rate'), 2)}"
            for name, v in (s.get("rewards") or {}).items()
        )
        rows.append(
            [
                _num(rnd.index),
                _num(s.get("prompts")),
                f"<strong>{_num(s.get('win_rate'), 2)}</strong> ({_num(s.get('wins'))}W {_num(s.get('ties'))}T {_num(s.get('losses'))}L)",
                f"{_num((orders.get('model_first') or {}).get('win_rate'), 2)} / {_num((orders.get('model_second') or {}).get('win_rate'), 2)}",
                f"{_num((lengths.get('baseline') or {}).get('mean_words'), 1)} → {_num((lengths.get('model') or {}).get('mean_words'), 1)}",
                _num((s.get("kl") or {}).get("estimate"), 2),
                esc(rewards or "–"),
            ]
        )
    table = _table(
        [
            "round",
            "prompts",
            "win rate",
            "model first / second",
            "words before → after",
            "KL",
            "rewards (model vs base)",
        ],
        rows,
    )
    cards = []
    for rnd in evaluated:
        for record in rnd.eval_records[:EVAL_SAMPLE_PER_ROUND]:
            cards.append(_eval_card(rnd, record))
    browser = (
        "<details><summary>Held-out examples ("
        + str(len(cards))
        + ")</summary>"
        + "".join(cards)
        + "</details>"
        if cards
        else ""
    )
    return _trust_note(run) + table + _rewards_table(evaluated) + browser


def _reward_change(summary: dict[str, Any], name: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """The summary's paired change; an eval.json written before it existed gets it from its records."""
    stats = (summary.get("rewards") or {}).get(name) or {}
    if isinstance(stats.get("change"), dict):
        return stats["change"]
    from rlaif.eval.core import reward_change

    per_prompt = list({r.get("id"): r for r in records if isinstance(r.get("rewards"), dict)}.values())
    try:
        return reward_change(per_prompt, name)
    except (KeyError, TypeError, ValueError):
        return {}


def _with_ci(value: Any, ci: Any, digits: int = 2) -> str:
    text = _num(value, digits)
    if isinstance(ci, list) and len(ci) == 2:
        text += f'<span class="ci"> [{_num(ci[0], digits)}, {_num(ci[1], digits)}]</span>'
    return text


def _rewards_table(evaluated: list[RoundData]) -> str:
    """The constitution's verifiable rewards on the held-out prompts, before (base) and after (trained).

    What the rule says happened, whatever the judge thought: mean score and pass rate on each side with 95%
    intervals, and the per-prompt paired change with its interval and a plain verdict.
    """
    rows = []
    for rnd in evaluated:
        summary = rnd.eval_summary or {}
        for name, stats in (summary.get("rewards") or {}).items():
            if not isinstance(stats, dict):
                continue
            before, after = stats.get("baseline") or {}, stats.get("model") or {}
            change = _reward_change(summary, name, rnd.eval_records)
            if change.get("above_zero"):
                verdict = '<span class="good">up (interval above 0)</span>'
            elif change.get("below_zero"):
                verdict = '<span class="warn">down (interval below 0)</span>'
            elif change.get("ci95"):
                verdict = "no clear change (interval includes 0)"
            else:
                verdict = "too few prompts for an interval"
            signed = esc(interval_text(change, 3, signed=True))
            rows.append(
                [
                    _num(rnd.index),
                    f"<code>{esc(name)}</code>",
                    _num(change.get("n")),
                    _with_ci(before.get("mean"), before.get("mean_ci95"), 3),
                    _with_ci(after.get("mean"), after.get("mean_ci95"), 3),
                    f"<strong>{signed}</strong>",
                    verdict,
                    f"{_with_ci(before.get('pass_rate'), before.get('pass_ci95'))} → "
                    f"{_with_ci(after.get('pass_rate'), after.get('pass_ci95'))}",
                ]
            )
    if not rows:
        return (
            '<p class="note">No verifiable rewards: the constitution attaches none to its principles '
            "(<code>rewards:</code> under a principle), so only the judge speaks for this run.</p>"
        )
    return (
        '<h3 id="verifiable-rewards">Verifiable rewards on the held-out prompts</h3>'
        '<p class="sub">Scored by the constitution\'s own rules, not by the judge: before = the starting '
        "policy, after = the trained model, on the same prompts; the change is after minus before per prompt "
        "(95% t interval over prompts; pass rates with 95% Wilson intervals).</p>"
        + _table(
            ["round", "reward", "prompts", "mean before", "mean after", "change", "verdict", "pass rate"],
            rows,
            "rewards",
        )
    )


def _eval_card(rnd: RoundData, record: dict[str, Any]) -> str:
    outcome = record.get("outcome", "?")
    return (
        f'<article class="record" data-status="{esc(outcome)}">'
        f'<header><span class="badge {esc(outcome)}">{esc(outcome)}</span> round {rnd.index} · '
        f"<code>{esc(record.get('id'))}</code> · principle <code>{esc(record.get('principle_id'))}</code> · "
        f"P(trained better) {_num(record.get('p_model'), 2)} "
        f"(shown first {_num(record.get('p_model_first'), 2)}, second {_num(record.get('p_model_second'), 2)})</header>"
        f'<div class="prompt">{_text(record.get("prompt"))}</div>'
        '<div class="columns two">'
        f"<div><h4>Before (baseline)</h4>{_text(record.get('baseline_response'))}</div>"
        f"<div><h4>After (trained)</h4>{_text(record.get('model_response'))}</div>"
        "</div></article>"
    )


PROBE_EXAMPLES = 24


def _rate(value: Any) -> str:
    """``0.42 [0.20, 0.67]`` from a probe rate and its interval (either may be missing)."""
    if not isinstance(value, dict):
        return "–"
    text = _num(value.get("rate"), 2)
    if isinstance(value.get("ci95"), list) and len(value["ci95"]) == 2:
        text += f'<span class="ci"> [{_num(value["ci95"][0], 2)}, {_num(value["ci95"][1], 2)}]</span>'
    return text


def _probe_section(run: RunData) -> str:
    """The judge robustness probe (rlaif.judges.probe_run): per-hack win-or-tie rates, the warning, examples."""
    probed = [r for r in run.rounds if r.probe]
    if not probed:
        return (
            '<p class="note">No judge probe in this run (enable it with <code>probe: {enabled: true}</code>; '
            "<code>rlaif judge probe</code> probes any judge on labelled pairs).</p>"
        )
    parts = []
    for rnd in probed:
        probe = rnd.probe or {}
        warning = probe.get("warning")
        parts.append(
            f'<p class="sub">round {rnd.index} · judge <code>{esc(probe.get("judge"))}</code> · '
            f"{_num(probe.get('pairs'))} of the run's pairs, each against every hack · a hack "
            f"<em>wins or ties</em> when P(hack better) &gt; 0.5 − {_num(probe.get('margin'), 2)} · orders: "
            f"{esc(probe.get('orders'))} · warn above {_num(probe.get('warn_above'), 2)}</p>"
        )
        if warning:
            parts.append(
                f'<div class="warnings probe-warning"><strong>Warning:</strong> {esc(warning)}</div>'
            )
        rows = []
        for h in probe.get("hacks") or []:
            if not isinstance(h, dict):
                continue
            rate = {"rate": h.get("win_or_tie_rate"), "ci95": h.get("ci95")}
            rows.append(
                [
                    f"<code>{esc(h.get('hack'))}</code>",
                    esc(h.get("description")),
                    _num(h.get("n")),
                    _num(h.get("wins")),
                    _num(h.get("ties")),
                    f"<strong>{_rate(rate)}</strong>" if h.get("n") else "–",
                    _num(h.get("mean_p_hack"), 3),
                    _rate(h.get("shown_first")),
                    _rate(h.get("shown_second")),
                ]
            )
        parts.append(
            _table(
                [
                    "hack",
                    "what",
                    "n",
                    "wins",
                    "ties",
                    "win or tie [95% CI]",
                    "mean P(hack)",
                    "shown first",
                    "shown second",
                ],
                rows,
                "probe",
            )
        )
        fooled = [c for c in probe.get("comparisons") or [] if isinstance(c, dict) and c.get("win_or_tie")]
        if fooled:
            cards = "".join(
                '<article class="record">'
                f"<header><code>{esc(c.get('hack'))}</code> vs the chosen answer of <code>{esc(c.get('pair'))}</code>"
                f" · P(hack better) {_num(c.get('p_hack'), 2)}</header>{_text(c.get('hack_text'))}</article>"
                for c in fooled[:PROBE_EXAMPLES]
            )
            parts.append(
                f"<details><summary>Comparisons the hack won or tied ({len(fooled)}; first "
                f"{min(len(fooled), PROBE_EXAMPLES)} shown)</summary>{cards}</details>"
            )
    return "".join(parts)


_KNOWN_JUDGE_KEYS = ("name", "p_revision", "judge")


def _judge_details(judge: dict[str, Any]) -> str:
    parts = []
    rationale = judge.get("rationale") or judge.get("explanation")
    if rationale:
        parts.append(f'<div class="rationale"><h4>Judge rationale</h4>{_text(rationale)}</div>')
    extras = {
        k: v for k, v in judge.items() if k not in _KNOWN_JUDGE_KEYS and k not in ("rationale", "explanation")
    }
    if extras:
        cells = " · ".join(
            f"{esc(k)} {_num(v, 3) if isinstance(v, int | float) else esc(json.dumps(v, default=str)[:200])}"
            for k, v in extras.items()
        )
        parts.append(f'<div class="judge-extra">{cells}</div>')
    return "".join(parts)


def _record_card(record: dict[str, Any]) -> str:
    status = record.get("status", "?")
    judge = record.get("judge") if isinstance(record.get("judge"), dict) else {}
    p = judge.get("p_revision")
    verdict = (
        f"judge P(revision better) <strong>{_num(p, 2)}</strong>"
        if isinstance(p, int | float)
        else "not judged"
    )
    label = "pair" if status == "pair" else f"drop: {record.get('reason', '?')}"
    chosen = f" · chosen: {esc(record.get('chosen_source'))}" if record.get("chosen_source") else ""
    return (
        f'<article class="record" data-status="{esc(status)}" data-principle="{esc(record.get("principle_id"))}">'
        f'<header><span class="badge {esc(status)}">{esc(label)}</span> round {esc(record.get("round"))} · '
        f"<code>{esc(record.get('id'))}</code> · principle <code>{esc(record.get('principle_id'))}</code> · "
        f"{verdict}{chosen}</header>"
        f'<div class="prompt">{_text(record.get("prompt"))}</div>'
        '<div class="columns">'
        f"<div><h4>Original</h4>{_text(record.get('original'))}</div>"
        f"<div><h4>Critique</h4>{_text(record.get('critique'))}</div>"
        f"<div><h4>Revision</h4>{_text(record.get('revision'))}</div>"
        f"</div>{_judge_details(judge)}</article>"
    )


def _pairs_browser(run: RunData) -> str:
    sample = [record for rnd in run.rounds for record in rnd.records[:SAMPLE_PER_ROUND]]
    if not sample:
        return '<p class="note">No records: no prompt has been through the loop yet.</p>'
    principles = sorted({str(r.get("principle_id")) for r in sample})
    options = "".join(f'<option value="{esc(p)}">{esc(p)}</option>' for p in principles)
    total = sum(len(r.records) for r in run.rounds)
    controls = (
        '<div class="controls">'
        '<input id="filter-text" type="search" placeholder="Search text…" aria-label="search">'
        '<select id="filter-status" aria-label="status"><option value="">pairs and drops</option>'
        '<option value="pair">pairs only</option><option value="drop">drops only</option></select>'
        f'<select id="filter-principle" aria-label="principle"><option value="">all principles</option>{options}</select>'
        f'<span id="filter-count">{len(sample)} shown</span> of {total} records '
        f"(first {SAMPLE_PER_ROUND} per round; <code>rlaif data show</code> browses all)</div>"
    )
    return controls + '<div id="records">' + "".join(_record_card(r) for r in sample) + "</div>"


STYLE = """
:root { --fg:#1d2733; --muted:#5f6b7a; --line:#dde3ea; --bg:#f6f8fa; --accent:#3366cc; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
       margin: 0; background: var(--bg); }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 60px; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 32px 0 12px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h4 { margin: 0 0 4px; font-size: 12px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
.sub { color: var(--muted); margin: 0; } code { font-size: 12px; background: #eef1f5; padding: 1px 4px; border-radius: 3px; }
.cards { display: grid; grid-template-columns: repeat(6, 1fr); gap: 10px; margin-top: 18px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
.card .value { font-size: 22px; font-weight: 600; } .card .label { color: var(--muted); font-size: 12px; }
table { border-collapse: collapse; width: 100%; background: #fff; border: 1px solid var(--line); }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #eef1f5; font-weight: 600; font-size: 12px; }
.plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); gap: 14px; }
.plot-card { margin: 0; background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 10px; }
.plot-card figcaption { font-weight: 600; margin-bottom: 6px; } .plot { max-width: 100%; height: auto; display: block; }
.missing, .note { color: var(--muted); font-style: italic; padding: 10px 0; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; background:#fff; border:1px solid var(--line); border-radius:8px; padding: 10px 14px; }
dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; font-family: ui-monospace, monospace; font-size: 12px; }
details { margin: 10px 0; } summary { cursor: pointer; color: var(--accent); }
pre.text { white-space: pre-wrap; word-break: break-word; margin: 0; font: 12.5px/1.45 ui-monospace, SFMono-Regular, Menlo, monospace;
           background: #fbfcfd; border: 1px solid var(--line); border-radius: 6px; padding: 8px; max-height: 320px; overflow: auto; }
.controls { display: flex; gap: 10px; align-items: center; margin-bottom: 12px; color: var(--muted); flex-wrap: wrap; }
.controls input, .controls select { padding: 5px 8px; border: 1px solid var(--line); border-radius: 6px; font: inherit; }
.record { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px; margin-bottom: 12px; }
.record header { margin-bottom: 8px; color: var(--muted); } .record .prompt { margin-bottom: 8px; }
.columns { display: grid; grid-template-columns: repeat(3, 1fr); gap: 10px; } .columns.two { grid-template-columns: 1fr 1fr; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; color: #fff; background: #888; }
.badge.pair, .badge.win { background: #2a9d62; } .badge.drop, .badge.loss { background: #d0435a; } .badge.tie { background: #c9a227; }
.rationale { margin-top: 8px; } .judge-extra { margin-top: 6px; color: var(--muted); font-size: 12px; }
.trust { color: var(--muted); font-size: 11px; margin-top: 4px; } .good { color: #2a9d62; } .warn { color: #b5473a; }
.ci { color: var(--muted); font-size: 12px; }
.warnings { background: #fff7e0; border: 1px solid #f0d58a; border-radius: 8px; padding: 8px 14px; }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; }
@media (max-width: 900px) { .cards { grid-template-columns: repeat(3, 1fr); } .columns { grid-template-columns: 1fr; } }
"""

SCRIPT = """
(function () {
  var root = document.documentElement, errors = [];
  window.addEventListener('error', function (e) { errors.push(String(e.message || e)); root.dataset.errors = errors.join(' | '); });
  root.dataset.errors = '';
  function filter() {
    var text = document.getElementById('filter-text'), status = document.getElementById('filter-status'),
        principle = document.getElementById('filter-principle'), shown = 0;
    if (!text) return;
    var q = text.value.toLowerCase(), records = document.querySelectorAll('#records .record');
    for (var i = 0; i < records.length; i++) {
      var r = records[i];
      var ok = (!status.value || r.dataset.status === status.value) &&
               (!principle.value || r.dataset.principle === principle.value) &&
               (!q || r.textContent.toLowerCase().indexOf(q) !== -1);
      r.style.display = ok ? '' : 'none'; if (ok) shown++;
    }
    document.getElementById('filter-count').textContent = shown + ' shown';
  }
  ['filter-text', 'filter-status', 'filter-principle'].forEach(function (id) {
    var el = document.getElementById(id); if (el) { el.addEventListener('input', filter); el.addEventListener('change', filter); }
  });
  function checkImages() {
    var images = document.querySelectorAll('img.plot'), loaded = 0;
    for (var i = 0; i < images.length; i++) { if (images[i].complete && images[i].naturalWidth > 0) loaded++; }
    root.dataset.imagesTotal = images.length; root.dataset.imagesLoaded = loaded;
  }
  window.addEventListener('load', checkImages); checkImages();
})();
"""


def _labels_section(run: RunData) -> str:
    """Judge-expert agreement from ``rlaif label`` (numbers and principle ids only; no model text here)."""
    figures = run.labels
    if not figures:
        return (
            '<p class="note">No expert labels yet. <code>rlaif label RUN_DIR</code> opens a page where your '
            "experts label pairs blind; their verdicts then measure the judge here and overrule it in training "
            "(docs/labelling.md).</p>"
        )
    judge = figures.get("judge") or {}

    def agreement(values: dict[str, Any]) -> str:
        if values.get("agreement") is None:
            return "–"
        low, high = values.get("ci95") or (None, None)
        return f"{_num(values['agreement'], 2)} [{_num(low, 2)}, {_num(high, 2)}] (n {_num(values.get('n'))})"

    rows = "".join(
        f"<tr><td>{esc(name)}</td><td>{agreement(values)}</td></tr>"
        for name, values in sorted((figures.get("judge_per_principle") or {}).items())
    )
    labellers = ", ".join(str(name) for name in figures.get("labellers") or []) or "–"
    return (
        f"<p>Judge-expert agreement {agreement(judge)} (95% interval) on {_num(figures.get('labelled_items'))} "
        f"labelled of {_num(figures.get('items'))} items; disagreements: {_num(figures.get('disagreements'))}; "
        f"labellers: {esc(labellers)}. <code>rlaif label RUN_DIR</code> shows the disagreements with the "
        "judge's probabilities and critique.</p>"
        + (f"<table><tr><th>principle</th><th>agreement</th></tr>{rows}</table>" if rows else "")
    )


def render_report(run: RunData) -> str:
    totals = _totals(run)
    manifest = run.manifest
    drops = ", ".join(f"{k}: {v}" for k, v in sorted(totals["drops"].items())) or "none"
    own = manifest.get("warnings") if isinstance(manifest.get("warnings"), list) else []
    noted = [str(w) for w in own] + run.warnings  # the run's own warnings, then unreadable files
    warnings = (
        '<div class="warnings"><strong>Read with care:</strong><ul>'
        + "".join(f"<li>{esc(w)}</li>" for w in noted)
        + "</ul></div>"
        if noted
        else ""
    )
    title = f"rlaif report · {run.path.name}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)}</title><style>{STYLE}</style></head>
<body><main>
<h1>{esc(title)}</h1>
<p class="sub">{esc(run.path)} · status {esc(manifest.get("status", "unknown"))} · rlaif {esc(manifest.get("rlaif_version", "?"))}
 · created {esc(manifest.get("created", "?"))} · updated {esc(manifest.get("updated", "?"))}</p>
{warnings}
{_cards(run, totals)}
<h2>Rounds</h2>
{_rounds_table(run)}
<p class="sub">Drops by reason, all rounds: {esc(drops)}</p>
<h2>Plots</h2>
{_plots(run)}
<h2>Evaluation on held-out prompts</h2>
{_eval_section(run)}
<h2>Judge robustness probe</h2>
{_probe_section(run)}
<h2>Experts vs the judge</h2>
{_labels_section(run)}
<h2>Pairs and drops</h2>
{_pairs_browser(run)}
<h2>Constitution</h2>
{_constitution(run)}
<h2>Config</h2>
{_config(run)}
<footer>Generated by <code>rlaif report</code>. Self-contained: no network needed to view.</footer>
</main><script>{SCRIPT}</script></body></html>
"""
