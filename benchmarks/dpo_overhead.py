"""``rlaif train`` (DPO) vs a plain TRL ``DPOTrainer`` script on the same data and settings: step time.

    python benchmarks/dpo_overhead.py            # 8 steps per run, 2 runs per arm, interleaved
    python benchmarks/dpo_overhead.py --quick    # 2 steps, 1 run per arm
    python benchmarks/dpo_overhead.py --pairs runs/default/round-1/pairs.jsonl   # your own pairs

The wrapper arm is :func:`rlaif.training.train_on_pairs` (what ``rlaif train`` runs). The plain arm is the
20-line script a TRL user would write, with the same DPOConfig values as rlaif's defaults. Step time is
Trainer's own ``train_runtime / global_step`` in both arms; wall time (load + train + save) is shown too.
Target: wrapper / plain step time <= 1.05.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import _common

OPENINGS = [
    "Here is a careful, step-by-step answer. First, think about what you actually need.",
    "Sure. The short version is below, followed by a few details worth knowing.",
    "Good question. There are three things to consider, and the first matters most.",
]


def synthetic_pairs(count: int) -> list[dict]:
    """Pairs on the default prompts with realistic lengths (~60-90 tokens per response)."""
    from rlaif.prompts import load_prompt_items

    items = load_prompt_items("default")
    pairs = []
    for index in range(count):
        item = items[index % len(items)]
        topic = item.messages[-1]["content"]
        chosen = (
            f"{OPENINGS[index % 3]} Regarding '{topic}': start small, check each step, and ask for help from "
            "someone you trust if anything feels unsafe. Keep notes on what worked, so next time is easier. "
            "If you want, I can go into more detail on any part."
        )
        rejected = f"{topic} Just do it however, it doesn't really matter. Figure it out yourself."
        pairs.append(
            {
                "prompt": item.messages,
                "chosen": [{"role": "assistant", "content": chosen}],
                "rejected": [{"role": "assistant", "content": rejected}],
            }
        )
    return pairs


def run_wrapper(pairs_file: Path, steps: int, out: Path) -> dict:
    from rlaif.training import train_on_pairs

    result = train_on_pairs(pairs_file, out, policy="embedded", options={"max_steps": steps})
    return {"runtime": result.metrics["train_runtime"], "steps": result.metrics["global_step"]}


def run_plain(pairs_file: Path, steps: int, out: Path) -> dict:
    """The plain TRL script: same model directory, same data, rlaif's default hyper-parameters."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    from rlaif.models.embedded import embedded_model_dir

    path = embedded_model_dir()
    rows = [json.loads(line) for line in pairs_file.read_text().splitlines() if line.strip()]
    dataset = Dataset.from_list([{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in rows])
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    args = DPOConfig(
        output_dir=str(out / "trainer"),
        beta=0.1,
        learning_rate=5e-6,
        max_steps=steps,
        per_device_train_batch_size=1,
        gradient_accumulation_steps=4,
        precompute_ref_log_probs=True,
        max_length=512,
        save_steps=50,
        logging_steps=1,
        report_to="none",
        seed=0,
        bf16=False,
        use_cpu=True,
    )
    trainer = DPOTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
    result = trainer.train()
    trainer.save_model(str(out / "checkpoint"))
    return {"runtime": result.metrics["train_runtime"], "steps": trainer.state.global_step}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 steps, 1 run per arm")
    parser.add_argument("--steps", type=int, default=None, help="optimizer steps per run (default 8)")
    parser.add_argument("--repeats", type=int, default=None, help="runs per arm, interleaved (default 2)")
    parser.add_argument("--pairs", type=Path, default=None, help="pairs JSONL (default: synthetic)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    steps = args.steps or (2 if args.quick else 8)
    _common.header(f"rlaif train (DPO) vs plain TRL DPOTrainer ({steps} steps of 4 pairs)")
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        pairs_file = args.pairs
        if pairs_file is None:
            pairs_file = root / "pairs.jsonl"
            pairs_file.write_text("".join(json.dumps(p) + "\n" for p in synthetic_pairs(4 * steps)))
        counter = iter(range(1000))
        results = _common.interleaved(
            {
                "rlaif train": lambda: run_wrapper(pairs_file, steps, root / f"w{next(counter)}"),
                "plain TRL": lambda: run_plain(pairs_file, steps, root / f"p{next(counter)}"),
            },
            args.repeats or (1 if args.quick else 2),
        )
    rows, step = [], {}
    for arm, runs in results.items():
        step[arm] = _common.median([m.out["runtime"] / m.out["steps"] for m in runs])
        rows.append(
            [
                arm,
                len(runs),
                runs[0].out["steps"],
                step[arm],
                _common.median([m.wall for m in runs]),
                _common.median([m.cpu for m in runs]),
            ]
        )
    print(_common.table(["arm", "runs", "steps", "median s/step", "median wall s", "median CPU s"], rows))
    print(f"load average at end: {_common.load_average()}")
    print(
        f"step time rlaif train / plain TRL: {step['rlaif train'] / step['plain TRL']:.3f}  (target <= 1.05)"
    )


if __name__ == "__main__":
    main()
