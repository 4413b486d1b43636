"""One judge-sized forward pass on the embedded model: torch threads x last-position-only logits.

    python benchmarks/forward_paths.py            # batch 8 x 300 tokens, 3 interleaved repeats
    python benchmarks/forward_paths.py --quick    # batch 4 x 64 tokens, 1 repeat

Answers two questions behind the transformers backend's settings: how much does ``logits_to_keep=1`` (what
``label_logprobs`` now uses) save over full logits, and is 1 torch thread or one per core faster on this machine
right now (it depends on what else is running: see docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import time

import _common
import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--length", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args()
    from transformers import AutoModelForCausalLM

    from rlaif.models.embedded import embedded_model_dir

    batch, length = args.batch or (4 if args.quick else 8), args.length or (64 if args.quick else 300)
    default_threads = torch.get_num_threads()
    _common.header(f"forward pass, batch {batch} x {length} tokens")
    model = AutoModelForCausalLM.from_pretrained(embedded_model_dir()).eval()
    ids = torch.randint(100, 40000, (batch, length), generator=torch.Generator().manual_seed(0))
    arms = [(threads, keep) for threads in sorted({1, default_threads}) for keep in (0, 1)]
    times: dict[tuple[int, int], list[float]] = {arm: [] for arm in arms}
    with torch.inference_mode():
        model(input_ids=ids[:, :8])  # warm-up
        for repeat in range(args.repeats or (1 if args.quick else 3)):
            for threads, keep in arms if repeat % 2 == 0 else list(reversed(arms)):
                torch.set_num_threads(threads)
                start = time.perf_counter()
                model(input_ids=ids, logits_to_keep=keep)
                times[(threads, keep)].append(time.perf_counter() - start)
    baseline = _common.median(times[(default_threads, 0)])
    rows = [
        [
            threads,
            "last position" if keep else "all positions",
            len(times[(threads, keep)]),
            _common.median(times[(threads, keep)]),
            baseline / _common.median(times[(threads, keep)]),
        ]
        for threads, keep in arms
    ]
    print(_common.table(["threads", "logits", "runs", "median s", "speed vs default"], rows))
    print(f"load average at end: {_common.load_average()}")


if __name__ == "__main__":
    main()
