"""bfloat16 vs float32 on this CPU: generation speed, batch dependence, and how often bf16 moves judge verdicts.

What ``dtype: auto`` on the transformers backend rests on (rlaif/hardware.py):

1. **speed** -- the CAI engine (16 prompts, default budgets) with the model in float32 vs ``dtype: auto`` (bf16
   generation where the CPU has native bf16, float32 scoring), interleaved, plus plain generation tokens/s;
2. **batch dependence** -- greedy answers generated in one batch vs one prompt at a time: how many differ in
   each dtype (a sample that depends on its batch makes resumes and reruns differ);
3. **verdicts** -- the pairwise and likelihood judges on HH-RLHF pairs with float32 vs bf16 log-probs: how often
   the preferred response flips, the mean change of P(chosen), and agreement with the human label.

    python benchmarks/cpu_bf16.py --quick                      # a smoke run (tests/data sample, tiny budgets)
    python benchmarks/cpu_bf16.py --pairs 60 --repeats 2       # the figures in docs/benchmarks.md
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import _cai_workload as cai
import _common
import torch

from rlaif.hardware import cpu_native_bf16, model_dtype
from rlaif.judges.pairwise import PairwiseJudge


def _load(dtype: str, score: str | None = None):
    from rlaif.models.embedded import embedded_model_dir
    from rlaif.models.transformers import TransformersChatModel

    return TransformersChatModel(
        embedded_model_dir(), name=f"embedded-{dtype}", dtype=dtype, score_dtype=score, batch_size=32
    )


def _generate_arm(model, workload) -> dict:
    items = workload.items
    seeds = list(range(len(items)))
    replies = model.generate([item.messages for item in items], workload.settings.answer, seeds)
    tokens = sum(len(model.tokenizer(r, add_special_tokens=False)["input_ids"]) for r in replies)
    return {"tokens": tokens, "records": len(items), "pairs": 0}


def _batch_dependence(model, workload, max_new_tokens: int) -> int:
    """Greedy answers: how many differ between one batch of all prompts and one prompt per call."""
    from rlaif.protocols import GenerationParams

    params = GenerationParams(max_new_tokens=max_new_tokens, temperature=0.0)
    conversations = [item.messages for item in workload.items]
    cache, model.prefix_cache = model.prefix_cache, None  # the cache is not what is measured here
    try:
        batched = model.generate(conversations, params)
        alone = [model.generate([c], params)[0] for c in conversations]
    finally:
        model.prefix_cache = cache
    return sum(a != b for a, b in zip(batched, alone, strict=True))


def _verdicts(model, pairs, principle, judge: str) -> list[float]:
    from rlaif.judges.evaluation import evaluate_judge
    from rlaif.judges.likelihood import LikelihoodJudge

    made = PairwiseJudge(model) if judge == "pairwise" else LikelihoodJudge(model)
    result = evaluate_judge(made, pairs, principle, batch_size=8)
    return [entry["p_chosen"] for entry in result.per_pair]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="4 prompts, tiny budgets, 8 pairs from tests/data"
    )
    parser.add_argument("--prompts", type=int, default=None, help="CAI prompts (default 16; quick 4)")
    parser.add_argument("--repeats", type=int, default=2, help="engine runs per arm, interleaved")
    parser.add_argument("--pairs", type=int, default=60, help="HH-RLHF pairs for the verdict comparison")
    parser.add_argument(
        "--dataset", default="hh_helpful_base", help="file in the data folder, without .jsonl"
    )
    parser.add_argument("--context-turns", type=int, default=2, help="last N prompt messages kept")
    parser.add_argument(
        "--invariance-tokens", type=int, default=48, help="greedy budget for batch dependence"
    )
    parser.add_argument(
        "--max-new-tokens", type=int, default=None, help="one token budget for all CAI stages"
    )
    parser.add_argument(
        "--answers-only", action="store_true", help="speed: the answer stage only, no engine arms"
    )
    parser.add_argument("--skip", default="", help="comma list of parts to skip: speed,batch,verdicts")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    prompts = args.prompts or (4 if args.quick else 16)

    _common.header(f"bf16 vs float32 on CPU ({prompts} prompts, {args.pairs} pairs, quick={args.quick})")
    print(
        f"native bf16 (torch probes / cpuinfo): {cpu_native_bf16()}; torch CPU capability "
        f"{torch.backends.cpu.get_cpu_capability()}; dtype auto picks "
        f"{model_dtype(torch.device('cpu'), 'auto')}"
    )
    workload = cai.build(prompts, args.quick, max_new_tokens=args.max_new_tokens)
    fp32 = replace(workload, model=_load("float32"))
    fp32 = replace(fp32, judge=PairwiseJudge(fp32.model))
    auto = replace(workload, model=_load("auto"))  # bf16 generation here, float32 scoring (score_dtype auto)
    auto = replace(auto, judge=PairwiseJudge(auto.model))
    bf16_all = _load("bfloat16", "bfloat16")  # bf16 everywhere: what scoring in bf16 would do
    print(f"auto model: generation {auto.model.dtype}, scoring {auto.model.score_dtype}")

    if "speed" not in skip:
        arms = {
            "answers float32": lambda: _generate_arm(fp32.model, fp32),
            "answers bf16": lambda: _generate_arm(auto.model, auto),
        }
        _generate_arm(fp32.model, replace(fp32, items=fp32.items[:2]))  # warm-up
        _generate_arm(auto.model, replace(auto, items=auto.items[:2]))
        if not args.answers_only:
            cai.warm_up(fp32)
            cai.warm_up(auto)
            arms["engine float32"] = lambda: cai.run_engine(fp32)
            arms["engine auto (bf16 gen, fp32 judge)"] = lambda: cai.run_engine(auto)
        results = _common.interleaved(arms, args.repeats)
        rows, seconds = [], {}
        for arm, runs in results.items():
            seconds[arm] = _common.median([m.wall for m in runs])
            out = runs[0].out
            rows.append(
                [
                    arm,
                    len(runs),
                    seconds[arm],
                    _common.median([m.cpu for m in runs]),
                    out["tokens"],
                    out["tokens"] / seconds[arm],
                    out["pairs"],
                ]
            )
        print(
            _common.table(
                ["arm", "runs", "median wall s", "median CPU s", "new tokens", "tokens/s", "pairs"], rows
            )
        )
        cpu = {arm: _common.median([m.cpu for m in runs]) for arm, runs in results.items()}
        pairs = [("answers", "answers float32", "answers bf16")]
        if not args.answers_only:
            pairs.append(("engine", "engine float32", "engine auto (bf16 gen, fp32 judge)"))
        for label, slow, fast in pairs:
            print(
                f"speed-up bf16 / float32, {label}: {seconds[slow] / seconds[fast]:.2f}x wall, "
                f"{cpu[slow] / cpu[fast]:.2f}x CPU time (same prompts; token counts differ where the numerics "
                "change a sample)"
            )

    if "batch" not in skip:
        for name, model in (("float32", fp32.model), ("bf16", auto.model)):
            changed = _batch_dependence(model, workload, 12 if args.quick else args.invariance_tokens)
            print(
                f"batch dependence {name}: {changed}/{len(workload.items)} greedy answers differ batched vs alone"
            )

    if "verdicts" not in skip:
        from rlaif.judges.data import load_preference_pairs, trim_context

        n = 8 if args.quick else args.pairs
        source = (
            Path(__file__).resolve().parent.parent / "tests" / "data" / f"{args.dataset}.sample.jsonl"
            if args.quick
            else _common.data_dir() / f"{args.dataset}.jsonl"
        )
        pairs = [trim_context(p, args.context_turns) for p in load_preference_pairs(source, limit=n)]
        principle = workload.constitution.principles[0]
        for judge in ("pairwise", "likelihood"):
            p32 = _verdicts(fp32.model, pairs, principle, judge)
            p16 = _verdicts(bf16_all, pairs, principle, judge)
            flips = sum((a > 0.5) != (b > 0.5) for a, b in zip(p32, p16, strict=True))
            delta = sum(abs(a - b) for a, b in zip(p32, p16, strict=True)) / len(p32)
            agree32 = sum(p > 0.5 for p in p32) / len(p32)
            agree16 = sum(p > 0.5 for p in p16) / len(p16)
            print(
                f"verdicts {judge:<10} n={len(p32)}: bf16 flips {flips} ({flips / len(p32):.1%}); mean |dP(chosen)| "
                f"{delta:.4f}; agreement with humans float32 {agree32:.3f}, bf16 {agree16:.3f} ({source.name})"
            )
    print(f"load average at end: {_common.load_average()}")


if __name__ == "__main__":
    main()
