"""Label efficiency: does labelling the judge's *uncertain* pairs first calibrate it better than random ones?

`rlaif label --order uncertain` (the default) shows experts the pairs where the judge is least sure first. This
measures what that buys, with HH-RLHF's human choices standing in for the experts:

1. the judge (default: the embedded ``likelihood`` judge, order-free) scores a labelling pool (pairs
   ``[0, pool)`` of ``hh_helpful_base.jsonl``) and a held-out set (``[pool, pool + eval)``); its per-pair
   probabilities are cached in a JSON file, so re-runs only redo the cheap part;
2. for k in ``--labels`` and each seed, the first k pool pairs in ``uncertain`` order (|p - 0.5| smallest first,
   ties broken by the seed) or ``random`` order (seeded shuffle) get their human label;
3. a logistic fit on those k labels, features [judge log-odds, length term] exactly as ``rlaif judge
   fit-ensemble`` fits (``rlaif.judges.fitting.fit_logistic``), is scored on the held-out set: agreement with
   the human choice, mean over seeds with a 95% t-interval across seeds.

Usage: python benchmarks/label_efficiency.py [--pool 200 --eval 200 --labels 50 100 --seeds 5]
The data come from ``../shared/data`` or ``$RLAIF_DATA_DIR``.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import data_dir  # noqa: E402


def judge_probabilities(args: argparse.Namespace) -> dict:
    """p(human-chosen is better) per pair from the judge, cached."""
    cache = Path(args.cache)
    key = {"judge": args.judge, "pool": args.pool, "eval": args.eval, "context_turns": args.context_turns}
    if cache.exists():
        saved = json.loads(cache.read_text())
        if saved.get("key") == key:
            return saved
    from rlaif.judges.on_file import evaluate_judge_on_file

    started = time.perf_counter()
    result = evaluate_judge_on_file(
        str(data_dir() / "hh_helpful_base.jsonl"),
        judge_name=args.judge,
        limit=args.pool + args.eval,
        batch_size=args.batch_size,
        context_turns=args.context_turns,
        progress=True,
    )
    from rlaif.judges.data import load_preference_pairs

    pairs = load_preference_pairs(str(data_dir() / "hh_helpful_base.jsonl"), limit=args.pool + args.eval)
    rows = [
        {
            "id": pair.id,
            "p_chosen": entry["p_chosen"],
            "chosen_chars": len(pair.chosen),
            "rejected_chars": len(pair.rejected),
        }
        for pair, entry in zip(pairs, result.per_pair, strict=True)
    ]
    saved = {"key": key, "rows": rows, "judge_s": round(time.perf_counter() - started, 1)}
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(saved))
    return saved


def features(row: dict, a_is_chosen: bool) -> list[float]:
    """[judge log-odds, length term] for the pair shown with the chosen side as ``a`` (or as ``b``), as
    ``rlaif.judges.fitting`` computes them (the length term only needs the character counts)."""
    from rlaif.judges.arithmetic import logit

    p_a = row["p_chosen"] if a_is_chosen else 1.0 - row["p_chosen"]
    a, b = row["chosen_chars"], row["rejected_chars"]
    if not a_is_chosen:
        a, b = b, a
    return [logit(p_a, 1e-4), math.log((1 + a) / (1 + b))]


def fitted_agreement(labelled: list[dict], held_out: list[dict]) -> float:
    """Fit on ``labelled`` (both presentations of each pair, so no position is learnt) and score held-out."""
    from rlaif.judges.fitting import fit_logistic

    x = [features(row, side) for row in labelled for side in (True, False)]
    y = [1.0 if side else 0.0 for _ in labelled for side in (True, False)]
    weights = fit_logistic(x, y)
    hits = []
    for row in held_out:
        z = sum(w * f for w, f in zip(weights, features(row, True), strict=True))
        hits.append(0.5 if z == 0 else float(z > 0))
    return sum(hits) / len(hits)


def order(pool: list[dict], how: str, seed: int) -> list[dict]:
    rng = random.Random(seed)
    if how == "random":
        shuffled = list(pool)
        rng.shuffle(shuffled)
        return shuffled
    jitter = {row["id"]: rng.random() for row in pool}
    return sorted(pool, key=lambda row: (abs(row["p_chosen"] - 0.5), jitter[row["id"]]))


def interval(values: list[float]) -> tuple[float, float, float]:
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, mean, mean
    t = {2: 12.71, 3: 4.30, 4: 3.18, 5: 2.78, 6: 2.57, 8: 2.36, 10: 2.26}.get(len(values), 2.0)
    half = t * statistics.stdev(values) / math.sqrt(len(values))
    return mean, max(0.0, mean - half), min(1.0, mean + half)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pool", type=int, default=200)
    parser.add_argument("--eval", type=int, default=200)
    parser.add_argument("--labels", type=int, nargs="+", default=[50, 100])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--judge", default="likelihood")
    parser.add_argument("--context-turns", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument(
        "--cache", default=str(ROOT / "benchmarks" / "results" / "label_efficiency_judge.json")
    )
    args = parser.parse_args(argv)
    saved = judge_probabilities(args)
    rows = saved["rows"]
    pool, held_out = rows[: args.pool], rows[args.pool :]
    unfitted = sum(0.5 if r["p_chosen"] == 0.5 else float(r["p_chosen"] > 0.5) for r in held_out) / len(
        held_out
    )
    longer = sum(
        0.5 if r["chosen_chars"] == r["rejected_chars"] else float(r["chosen_chars"] > r["rejected_chars"])
        for r in held_out
    ) / len(held_out)
    print(
        f"# label efficiency: judge {args.judge}, pool {len(pool)}, held-out {len(held_out)}, "
        f"seeds {args.seeds} (judge pass {saved.get('judge_s')} s)"
    )
    print(f"held-out agreement: judge as is {unfitted:.3f}; longer-wins baseline {longer:.3f}")
    print("labels  order      agreement (mean over seeds)  95% interval")
    results = []
    for k in args.labels:
        for how in ("uncertain", "random"):
            values = [fitted_agreement(order(pool, how, seed)[:k], held_out) for seed in range(args.seeds)]
            mean, low, high = interval(values)
            results.append(
                {"labels": k, "order": how, "mean": mean, "low": low, "high": high, "values": values}
            )
            print(f"{k:>6}  {how:<9}  {mean:.3f}                        [{low:.3f}, {high:.3f}]")
    out = ROOT / "benchmarks" / "results" / "label_efficiency.json"
    out.write_text(
        json.dumps(
            {
                "args": vars(args) | {"cache": "benchmarks/results/label_efficiency_judge.json"},
                "judge_as_is": unfitted,
                "longer_wins": longer,
                "results": results,
            },
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
