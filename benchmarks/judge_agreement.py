"""Judge agreement with human preference labels (HH-RLHF helpful-base / harmless-base), embedded model.

Runs several judge configurations through :func:`rlaif.judges.on_file.evaluate_judge_on_file` and writes
one JSON line per (dataset, configuration) to ``--out`` as soon as it finishes (so a long run can be
watched and interrupted). Each line holds the summary (n, agreement, single-order agreement, position
consistency, tie rate, mean confidence, ECE, pairs/second) plus the per-pair P(chosen), so derived figures
(e.g. a mean-probability ensemble of two members, which equals the ensemble judge's verdict exactly because
members are deterministic) can be recomputed offline.

Data: the full HH-RLHF files (400 pairs each) in ``../shared/data`` next to the repository, or in
``$RLAIF_DATA_DIR`` (see ``_common.data_dir``). They are random permutations, so any slice is a random sample.
Tune on the first half (``--offset 0``), report on the second (``--offset 200``, the default).

    python benchmarks/judge_agreement.py --quick            # 8 pairs per configuration, a smoke run
    python benchmarks/judge_agreement.py --n 100 --configs pairwise,likelihood
    # a reward model distilled from the first half (rlaif judge train-rm ... --limit 200 -o rm/):
    python benchmarks/judge_agreement.py --n 200 --configs reward-model --rm-path rm/ --datasets hh_helpful_base
    # an ensemble fitted on the first half (rlaif judge fit-ensemble ... --limit 200 -o ens.json):
    python benchmarks/judge_agreement.py --n 200 --configs fitted,fitted-no-length --fitted ens.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import _common

CONFIGS: dict[str, tuple[str, dict]] = {
    "pairwise": ("pairwise", {}),  # both orders; single-order figures come from the same run
    "pairwise-single": ("pairwise", {"both_orders": False}),
    "pairwise-calibrated-single": ("pairwise", {"both_orders": False, "calibrate": True}),
    "pairwise-cot": ("pairwise", {"cot": True, "cot_max_tokens": 48}),
    "score": ("score", {}),
    "likelihood": ("likelihood", {}),
    "likelihood-contrast": ("likelihood", {"contrast": "plain"}),
    "likelihood-pmi": ("likelihood", {"contrast": "prompt"}),
    "ensemble": ("ensemble", {"members": [{"name": "pairwise"}, {"name": "likelihood"}]}),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="8 pairs per configuration.")
    parser.add_argument("--n", type=int, default=100, help="Pairs per configuration.")
    parser.add_argument("--offset", type=int, default=200, help="Skip this many pairs (200 = second half).")
    parser.add_argument("--configs", default="pairwise,likelihood,likelihood-contrast,score")
    parser.add_argument("--datasets", default="hh_helpful_base,hh_harmless_base")
    parser.add_argument("--context-turns", type=int, default=2, help="Last N prompt messages kept (speed).")
    parser.add_argument("--rm-path", help="Directory of a trained reward model (config reward-model).")
    parser.add_argument(
        "--fitted",
        help="A fitted ensemble (rlaif judge fit-ensemble on pairs 0-199): configs fitted, fitted-no-length.",
    )
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's).")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=1,
        help="Comparisons per judge call (1 is fastest on CPU: no padding to the longest sequence).",
    )
    parser.add_argument("--out", default="benchmarks/results/judge_agreement.jsonl")
    args = parser.parse_args(argv)
    n = 8 if args.quick else args.n
    data = _common.data_dir()  # before the model imports: a missing data folder fails at once

    from rlaif.judges.on_file import evaluate_judge_on_file
    from rlaif.judges.reward_model import read_training_metadata

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.rm_path:
        CONFIGS["reward-model"] = ("reward-model", {"path": args.rm_path})
    if args.fitted:
        CONFIGS["fitted"] = ("ensemble", {"fitted": args.fitted})
        CONFIGS["fitted-no-length"] = ("ensemble", {"fitted": args.fitted, "length": False})

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for dataset in args.datasets.split(","):
        principle = "harmlessness" if "harmless" in dataset else "helpfulness"
        for config in args.configs.split(","):
            judge, options = CONFIGS[config]
            started = time.perf_counter()
            result = evaluate_judge_on_file(
                str(data / f"{dataset}.jsonl"),
                judge_name=judge,
                options=options,
                limit=n,
                offset=args.offset,
                principle_id=principle,
                batch_size=args.batch_size,
                context_turns=args.context_turns,
            )
            line = {
                "dataset": dataset,
                "config": config,
                "options": options,
                "offset": args.offset,
                "context_turns": args.context_turns,
                "threads": args.threads,
                "batch_size": args.batch_size,
                **(
                    {"rm_training": read_training_metadata(options["path"])}
                    if judge == "reward-model"
                    else {}
                ),
                **(
                    {"fitted_ensemble": json.loads(Path(options["fitted"]).read_text(encoding="utf-8"))}
                    if "fitted" in options
                    else {}
                ),
                "wall_s": round(time.perf_counter() - started, 1),
                **result.summary(),
                "p_chosen": [round(p["p_chosen"], 5) for p in result.per_pair],
                "ids": [p["id"] for p in result.per_pair],
            }
            with out.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(line) + "\n")
            print(
                f"{dataset:<18} {config:<28} n={result.n:<4} agreement={result.agreement:.3f} "
                f"single={result.single_order_agreement if result.single_order_agreement is None else round(result.single_order_agreement, 3)} "
                f"consistency={result.position_consistency:.3f} ties={result.tie_rate:.2f} ece={result.ece:.3f} "
                f"pairs/s={result.pairs_per_second:.2f}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
