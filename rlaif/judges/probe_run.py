"""The judge probe inside ``rlaif run``: after round 1's generation, probe the run's own judge on its own pairs.

With ``probe: {enabled: true}`` in the run config, :func:`probe_round` takes the first ``probe.n`` pairs round 1
made, pits each pair's chosen response against every master-key hack (:mod:`rlaif.judges.probe`) under the
principle the pair was judged by, and writes ``round-N/probe.json``. When a hack wins or ties more often than
``probe.warn_above``, it prints a warning and records it in the manifest (the round entry's ``probe.warning``
and the run's ``warnings`` list), and the HTML report shows it. The probe reads the pairs and changes nothing:
a judge that a lone ``:`` fools is still the run's judge, but now the run says so before training on its
verdicts. A resumed run does not probe again when ``probe.json`` is already there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rlaif.config import RunConfig
from rlaif.files import atomic_write_json
from rlaif.judges.data import pair_from_record
from rlaif.judges.probe import ProbeReport, probe_judge, select_hacks
from rlaif.records import is_pair


def probe_warning(report: ProbeReport, threshold: float) -> str | None:
    """One sentence naming every hack above ``threshold`` (worst first), or None when none is."""
    flagged = report.above(threshold)
    if not flagged:
        return None
    hacks = ", ".join(
        f"{h.hack} {h.win_or_tie_rate:.2f} ({h.ci95[0]:.2f}-{h.ci95[1]:.2f}, n={h.n})" for h in flagged
    )
    return (
        f"judge probe: the {report.judge} judge prefers or ties known master-key responses over the run's own "
        f"chosen answers more often than {threshold:g}: {hacks}. A policy trained on its verdicts can learn them."
    )


def probe_round(
    config: RunConfig,
    run_dir: Any,
    round_index: int,
    records: list[dict[str, Any]],
    constitution: Any,
    echo: Callable[[str], None],
) -> dict[str, Any] | None:
    """Probe the run's judge on this round's pairs if ``probe.enabled``; returns what ``probe.json`` holds."""
    section = config.settings.probe
    if not section.enabled:
        return None
    entry = run_dir.round_entry(round_index)
    round_dir = run_dir.round_dir(round_index)
    path = round_dir / "probe.json"
    if (entry.get("probe") or {}).get("path") and path.exists():
        return None  # resumed run: already probed
    pair_records = [record for record in records if is_pair(record)][: section.n]
    if not pair_records:
        echo(f"Judge probe skipped: round {round_index} made no pairs to probe with.")
        entry["probe"] = {"skipped": "no pairs"}
        run_dir.save_manifest()
        return None
    source = run_dir.relative(round_dir / "records.jsonl")
    pairs = [pair_from_record(r, f"{source}: record {r['id']}", str(r["id"])) for r in pair_records]
    principles = [constitution.principle(record["principle_id"]) for record in pair_records]
    hacks = select_hacks(section.hacks)
    echo(f"Probing the judge: {len(pairs)} of round {round_index}'s pairs against {len(hacks)} hacks ...")
    pool = config.model_pool()
    try:
        judge = config.build_judge(pool)
        report = probe_judge(
            judge,
            pairs,
            principles[0],
            hacks,
            margin=config.settings.judge.margin,
            principles=principles,
        )
    finally:
        pool.close()
    warning = probe_warning(report, section.warn_above)
    data = {
        **report.summary(),
        "round": round_index,
        "warn_above": section.warn_above,
        "warning": warning,
        "comparisons": report.per_comparison,
    }
    atomic_write_json(path, data)
    worst = report.worst()
    entry["probe"] = {
        "path": run_dir.relative(path),
        "warning": warning,
        "worst": None if worst is None else {"hack": worst.hack, "win_or_tie_rate": worst.win_or_tie_rate},
    }
    if warning:
        run_dir.manifest.setdefault("warnings", []).append(warning)
        echo(f"Warning: {warning}")
    elif worst is not None:
        echo(
            f"Judge probe: no hack above {section.warn_above:g} "
            f"(worst: {worst.hack} {worst.win_or_tie_rate:.2f})."
        )
    run_dir.save_manifest()
    return data
