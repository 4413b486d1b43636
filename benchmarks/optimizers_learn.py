"""Does each optimizer actually learn? Train on a checkable rule, measure reward on held-out prompts + KL.

For each of examples/{dpo,grpo,ppo}-brevity.yaml (policy: the embedded SmolLM2-135M-Instruct; rule: answer in
at most 20 words, checked by the `length` reward attached to the constitution's principle):

1. **before**: greedy answers of the base model to held-out prompts (never trained on), scored by the rule;
2. **train** with the config's optimizer and options on the training prompts -- GRPO and PPO exactly as
   ``rlaif run`` would (prompts + the constitution's rewards); DPO on pairs made by best-of-n sampling from
   the base model scored by the same rule (chosen = best, rejected = worst of n);
3. **after**: the trained checkpoint's greedy answers to the same held-out prompts, scored;
4. **KL**: responses sampled (temperature 1) from the trained policy on the held-out prompts, mean over
   prompts of sum_t log pi(y_t) - log pi_ref(y_t) (a Monte-Carlo estimate of KL(pi || pi_ref), in nats).

    python benchmarks/optimizers_learn.py [--quick] [--only grpo] [--out benchmarks/results/optimizers_learn.json]

--quick trains fewer steps (a smoke run); the figures in docs/optimizers.md come from the full run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rlaif.config import load_config  # noqa: E402
from rlaif.constitution import load_constitution  # noqa: E402
from rlaif.optimizers import ppo_core  # noqa: E402
from rlaif.optimizers.online import constitution_rewards, prompts_dataset  # noqa: E402
from rlaif.optimizers.scorers import weighted_scores  # noqa: E402
from rlaif.plugins import load_registry  # noqa: E402
from rlaif.prompts import load_prompts  # noqa: E402
from rlaif.protocols import TrainRequest  # noqa: E402

HELDOUT = ROOT / "examples" / "prompts" / "brevity-heldout.jsonl"
BASELINE: dict = {}
QUICK_OVERRIDES = {
    "dpo": {"max_steps": 4},
    "grpo": {"max_steps": 3},
    "ppo": {"max_steps": 2},
}


def load(path: str):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    return model, tokenizer


@torch.no_grad()
def generate(model, tokenizer, conversations, max_new_tokens, temperature=0.0, seed=0, batch=16):
    """Texts, response token ids and masks (cut at the first EOS)."""
    torch.manual_seed(seed)
    out = []
    for start in range(0, len(conversations), batch):
        chunk = conversations[start : start + batch]
        texts = [tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in chunk]
        enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        sampling = (
            {"do_sample": True, "temperature": temperature, "top_k": 0, "top_p": 1.0}
            if temperature
            else {"do_sample": False}
        )
        ids = model.generate(
            **enc, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id, **sampling
        )
        responses = ids[:, enc["input_ids"].shape[1] :]
        mask, _ = ppo_core.response_mask(responses, tokenizer.eos_token_id)
        for i in range(len(chunk)):
            out.append(
                {
                    "text": tokenizer.decode(responses[i][mask[i]], skip_special_tokens=True).strip(),
                    "input_ids": enc["input_ids"][i][enc["attention_mask"][i].bool()],
                    "response": responses[i][mask[i]],
                }
            )
    return out


def score(rewards, weights, conversations, texts):
    scores, _ = weighted_scores(
        rewards, weights, conversations, [[{"role": "assistant", "content": t}] for t in texts]
    )
    return scores


@torch.no_grad()
def sequence_logprob(model, prompt_ids, response_ids):
    ids = torch.cat([prompt_ids, response_ids]).unsqueeze(0)
    logits = model(ids).logits[0, len(prompt_ids) - 1 : -1]
    return float(torch.log_softmax(logits.float(), -1).gather(1, response_ids.unsqueeze(1)).sum())


def kl_to_reference(policy, reference, tokenizer, conversations, max_new_tokens, seed):
    samples = generate(policy, tokenizer, conversations, max_new_tokens, temperature=1.0, seed=seed)
    kls = [
        sequence_logprob(policy, s["input_ids"], s["response"])
        - sequence_logprob(reference, s["input_ids"], s["response"])
        for s in samples
    ]
    return sum(kls) / len(kls)


def best_of_n_pairs(model, tokenizer, items, rewards, weights, n, max_new_tokens, seed):
    """DPO pairs from the base model itself: best vs worst of n samples by the rule (ties dropped)."""
    from datasets import Dataset

    conversations = [item.messages for item in items for _ in range(n)]
    samples = generate(model, tokenizer, conversations, max_new_tokens, temperature=1.0, seed=seed)
    scores = score(rewards, weights, conversations, [s["text"] for s in samples])
    rows = []
    for i, item in enumerate(items):
        group = list(
            zip(scores[i * n : (i + 1) * n], [s["text"] for s in samples[i * n : (i + 1) * n]], strict=True)
        )
        best, worst = max(group), min(group)
        if best[0] - worst[0] > 0.05:
            rows.append(
                {
                    "prompt": item.messages,
                    "chosen": [{"role": "assistant", "content": best[1]}],
                    "rejected": [{"role": "assistant", "content": worst[1]}],
                }
            )
    return Dataset.from_list(rows)


def run_one(name: str, args, workdir: Path) -> dict:
    config = load_config(ROOT / "examples" / f"{name}-brevity.yaml")
    registry = load_registry(config["plugins"])
    constitution = load_constitution(config["constitution"], config.base_dir)
    rewards, weights = constitution_rewards(constitution, registry)
    from rlaif.models.embedded import embedded_model_dir

    base_path = str(embedded_model_dir())
    train_items = load_prompts(config)[: args.train_prompts]
    heldout = [item.messages for item in load_prompts(config.with_overrides(prompts=str(HELDOUT)))]
    options = dict(config["optimizer"]["options"])
    if args.quick:
        options.update(QUICK_OVERRIDES[name])
    optimizer = registry.get("optimizers", config["optimizer"]["name"]).factory(options)
    base, tokenizer = load(base_path)
    started = time.perf_counter()
    if BASELINE.get("texts") is None:  # the same base model and held-out prompts for every optimizer
        BASELINE["texts"] = [s["text"] for s in generate(base, tokenizer, heldout, args.max_new_tokens)]
    before_texts = BASELINE["texts"]
    before = score(rewards, weights, heldout, before_texts)
    out_dir = workdir / name
    request = TrainRequest(policy=base_path, output_dir=out_dir, seed=config["seed"], resume=False)
    if optimizer.needs == "pairs":
        request.pairs = best_of_n_pairs(
            base, tokenizer, train_items, rewards, weights, args.best_of, args.max_new_tokens, config["seed"]
        )
        print(f"[{name}] {len(request.pairs)} best-of-{args.best_of} pairs", flush=True)
    else:
        request.prompts, request.rewards, request.reward_weights = (
            prompts_dataset(train_items),
            rewards,
            weights,
        )
    train_started = time.perf_counter()
    result = optimizer.train(request)
    train_s = time.perf_counter() - train_started
    trained, _ = load(str(result.checkpoint))
    after_texts = [s["text"] for s in generate(trained, tokenizer, heldout, args.max_new_tokens)]
    after = score(rewards, weights, heldout, after_texts)
    kl = kl_to_reference(trained, base, tokenizer, heldout, args.max_new_tokens, seed=1)
    words = lambda texts: sum(len(t.split()) for t in texts) / len(texts)  # noqa: E731
    record = {
        "optimizer": name,
        "config": f"examples/{name}-brevity.yaml",
        "options": options,
        "train_prompts": len(train_items),
        "heldout_prompts": len(heldout),
        "reward_before": round(sum(before) / len(before), 4),
        "reward_after": round(sum(after) / len(after), 4),
        "words_before": round(words(before_texts), 1),
        "words_after": round(words(after_texts), 1),
        "kl_to_reference_nats": round(kl, 4),
        "train_s": round(train_s, 1),
        "total_s": round(time.perf_counter() - started, 1),
        "global_step": result.metrics.get("global_step"),
        "example_before": before_texts[0],
        "example_after": after_texts[0],
    }
    print(json.dumps(record), flush=True)
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", action="append", choices=["dpo", "grpo", "ppo"])
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument(
        "--train-prompts", type=int, default=None, help="Use only the first N training prompts."
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (1 on an oversubscribed machine)."
    )
    parser.add_argument("--best-of", type=int, default=4)
    parser.add_argument("--workdir", default="/tmp/rlaif-optimizers-learn")
    default_out = "benchmarks/results/optimizers_learn.json"  # recorded in the settings: no machine's path
    parser.add_argument("--out", default=default_out, help="(default: %(default)s in the repository)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    out = ROOT / default_out if args.out == default_out else Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    records = []
    for name in args.only or ["dpo", "grpo", "ppo"]:
        records.append(run_one(name, args, Path(args.workdir)))
        previous = json.loads(out.read_text()) if out.exists() else {}
        previous[name + ("-quick" if args.quick else "")] = {**records[-1], "settings": vars(args)}
        out.write_text(json.dumps(previous, indent=2) + "\n")  # after each optimizer: a crash keeps the rest
    print(
        f"{'optimizer':10} {'reward before':>14} {'after':>8} {'words before':>13} {'after':>7} {'KL nats':>8} {'train s':>8}"
    )
    for r in records:
        print(
            f"{r['optimizer']:10} {r['reward_before']:14.3f} {r['reward_after']:8.3f} {r['words_before']:13.1f} "
            f"{r['words_after']:7.1f} {r['kl_to_reference_nats']:8.3f} {r['train_s']:8.1f}"
        )


if __name__ == "__main__":
    main()
