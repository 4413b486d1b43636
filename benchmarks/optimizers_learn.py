"""Does each optimizer actually learn? Train on a checkable rule over several seeds; held-out reward, words, KL.

For each of examples/{dpo,grpo,ppo}-brevity.yaml (policy: the embedded SmolLM2-135M-Instruct; rule: answer in
at most 20 words, checked by the `length` reward attached to the constitution's principle), once per seed:

1. **before**: greedy answers of the base model to held-out prompts (never trained on), scored by the rule
   (the same for every seed: greedy decoding of the same model);
2. **train** with the config's optimizer and options on the training prompts, with the seed as the run's seed
   (data order, sampling, LoRA and value-head init) -- GRPO and PPO exactly as ``rlaif run`` would (prompts +
   the constitution's rewards); DPO on pairs made by best-of-n sampling from the base model with that seed,
   scored by the same rule (chosen = best, rejected = worst of n);
3. **after**: the trained checkpoint's greedy answers to the same held-out prompts, scored;
4. **KL**: responses sampled (temperature 1) from the trained policy on the held-out prompts, mean over
   prompts of sum_t log pi(y_t) - log pi_ref(y_t) (a Monte-Carlo estimate of KL(pi || pi_ref), in nats).

Over the seeds, each figure (reward change, words, KL, train time) is reported as its mean with a 95% Student t
interval (rlaif.eval.stats: one value per seed, n - 1 degrees of freedom), and the verdict says whether the
reward change is above zero with that confidence (the interval's low end > 0).

    python benchmarks/optimizers_learn.py [--seeds 5] [--only grpo] [--threads 2] [--quick]

Results go to benchmarks/results/optimizers_learn.json (every run, every figure, example answers) and .txt (the
table). Each finished run is written at once; a re-run with the same settings skips the seeds already done.
--quick trains fewer steps (a smoke run, kept under separate keys).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import load_average  # noqa: E402
from rlaif.config import load_config  # noqa: E402
from rlaif.constitution import load_constitution  # noqa: E402
from rlaif.eval.stats import intervals_over_runs  # noqa: E402
from rlaif.files import atomic_write_text  # noqa: E402
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


def run_one(name: str, seed: int, args, workdir: Path) -> dict:
    """One optimizer, one seed: before -> train -> after -> KL (see the module docstring)."""
    config = load_config(ROOT / "examples" / f"{name}-brevity.yaml")
    registry = load_registry(config["plugins"])
    constitution = load_constitution(config["constitution"], config.base_dir)
    rewards, weights = constitution_rewards(constitution, registry)
    from rlaif.models.embedded import embedded_model_dir

    base_path = str(embedded_model_dir())
    train_items = load_prompts(config)[: args.train_prompts]
    heldout = [item.messages for item in load_prompts(config.with_overrides(prompts=str(HELDOUT)))]
    options = run_options(name, args)
    optimizer = registry.get("optimizers", config["optimizer"]["name"]).factory(options)
    base, tokenizer = load(base_path)
    started = time.perf_counter()
    if BASELINE.get("texts") is None:  # the same base model and held-out prompts for every optimizer and seed
        BASELINE["texts"] = [s["text"] for s in generate(base, tokenizer, heldout, args.max_new_tokens)]
    before_texts = BASELINE["texts"]
    before = score(rewards, weights, heldout, before_texts)
    out_dir = workdir / f"{name}-seed{seed}"
    request = TrainRequest(policy=base_path, output_dir=out_dir, seed=seed, resume=False)
    pairs = None
    if optimizer.needs == "pairs":
        request.pairs = best_of_n_pairs(
            base, tokenizer, train_items, rewards, weights, args.best_of, args.max_new_tokens, seed
        )
        pairs = len(request.pairs)
        print(f"[{name} seed {seed}] {pairs} best-of-{args.best_of} pairs", flush=True)
    else:
        request.prompts, request.rewards, request.reward_weights = (
            prompts_dataset(train_items),
            rewards,
            weights,
        )
    train_started, train_cpu_started = time.perf_counter(), time.process_time()
    result = optimizer.train(request)
    train_s, train_cpu_s = time.perf_counter() - train_started, time.process_time() - train_cpu_started
    trained, _ = load(str(result.checkpoint))
    after_texts = [s["text"] for s in generate(trained, tokenizer, heldout, args.max_new_tokens)]
    after = score(rewards, weights, heldout, after_texts)
    kl = kl_to_reference(trained, base, tokenizer, heldout, args.max_new_tokens, seed=1000 + seed)
    words = lambda texts: sum(len(t.split()) for t in texts) / len(texts)  # noqa: E731
    reward_before, reward_after = sum(before) / len(before), sum(after) / len(after)
    record = {
        "optimizer": name,
        "seed": seed,
        "config": f"examples/{name}-brevity.yaml",
        "options": options,
        "train_prompts": len(train_items),
        "heldout_prompts": len(heldout),
        "pairs": pairs,
        "reward_before": round(reward_before, 4),
        "reward_after": round(reward_after, 4),
        "reward_change": round(reward_after - reward_before, 4),
        "words_before": round(words(before_texts), 2),
        "words_after": round(words(after_texts), 2),
        "kl_to_reference_nats": round(kl, 4),
        "train_s": round(train_s, 1),
        # CPU seconds of this process (all its threads): unlike wall time it barely moves with other people's
        # load, so it is the figure to judge "minutes on an idle machine" by
        "train_cpu_s": round(train_cpu_s, 1),
        "threads": torch.get_num_threads(),
        "total_s": round(time.perf_counter() - started, 1),
        "load_average": load_average(),
        "global_step": result.metrics.get("global_step"),
        "example_before": before_texts[0],
        "example_after": after_texts[0],
    }
    print(json.dumps(record), flush=True)
    return record


def run_options(name: str, args) -> dict:
    config = load_config(ROOT / "examples" / f"{name}-brevity.yaml")
    options = dict(config["optimizer"]["options"])
    if args.quick:
        options.update(QUICK_OVERRIDES[name])
    return options


FIGURES = ("reward_change", "reward_after", "words_after", "kl_to_reference_nats", "train_s", "train_cpu_s")


def summarize(runs: list[dict], confidence: float = 0.95) -> dict:
    """Mean and t interval over the seeds of every figure, and the verdict on the reward change."""
    figures = intervals_over_runs(runs, FIGURES, confidence)
    change = figures.get("reward_change")
    return {
        "seeds": sorted(run["seed"] for run in runs),
        "reward_before": runs[0]["reward_before"] if runs else None,
        "words_before": runs[0]["words_before"] if runs else None,
        **{name: interval.as_dict() for name, interval in figures.items()},
        "learns": bool(change and change.above(0.0)),
        "verdict": verdict(change),
    }


def verdict(change) -> str:
    if change is None:
        return "no runs"
    if change.low is None:
        return "one seed: no interval, no verdict"
    pct = f"{change.confidence:.0%}"
    if change.above(0.0):
        return f"reward change above zero with {pct} confidence"
    if change.below(0.0):
        return f"reward change BELOW zero with {pct} confidence"
    return f"NOT shown to learn: the {pct} interval of the reward change includes zero"


def _cell(figure: dict | None, digits: int) -> str:
    if not figure:
        return "n/a"
    mean = f"{figure['mean']:+.{digits}f}" if digits == 3 else f"{figure['mean']:.{digits}f}"
    if figure["ci"] is None:
        return mean
    low, high = figure["ci"]
    return f"{mean} [{low:.{digits}f}, {high:.{digits}f}]"


def table(summaries: dict[str, dict]) -> str:
    """The text table: one row per optimizer, mean [95% interval] over seeds."""
    columns = [
        ("reward change", "reward_change", 3, 24),
        ("words after", "words_after", 1, 20),
        ("KL nats", "kl_to_reference_nats", 2, 20),
        ("train wall s", "train_s", 0, 20),
        ("train CPU s", "train_cpu_s", 0, 20),
    ]
    rows = [
        f"{'optimizer':10} {'seeds':>5} {'reward before':>13} {'words before':>12}  "
        + "".join(f"{title:<{width}}" for title, _, _, width in columns)
        + "verdict"
    ]
    for name, s in summaries.items():
        rows.append(
            f"{name:10} {len(s['seeds']):>5} {s['reward_before']:>13.3f} {s['words_before']:>12.1f}  "
            + "".join(f"{_cell(s.get(field), digits):<{width}}" for _, field, digits, width in columns)
            + s["verdict"]
        )
    return "\n".join(rows)


def _same_settings(entry: dict, options: dict, args) -> bool:
    settings = entry.get("settings", {})
    return entry.get("options") == options and all(
        settings.get(key) == getattr(args, key)
        for key in ("max_new_tokens", "train_prompts", "best_of", "quick")
    )


@contextlib.contextmanager
def locked_results(out: Path):
    """Read-modify-write of the results file under an exclusive lock, so processes running other seeds of the
    same benchmark in parallel (``--first-seed``) add their runs to one file without losing each other's."""
    import fcntl

    with open(out.parent / f".{out.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        results = json.loads(out.read_text()) if out.exists() else {}
        yield results
        atomic_write_text(out, json.dumps(results, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5, help="Runs per optimizer (default 5).")
    parser.add_argument(
        "--first-seed", type=int, default=0, help="Seeds first..first+N-1 (to split seeds over processes)."
    )
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
    parser.add_argument(
        "--workdir", default=None, help="Checkpoints go here (default: a folder in the system temp dir)."
    )
    parser.add_argument("--fresh", action="store_true", help="Re-run seeds already in the results file.")
    parser.add_argument(
        "--report", action="store_true", help="Train nothing: rewrite the .txt from the .json."
    )
    default_out = "benchmarks/results/optimizers_learn.json"  # recorded in the settings: no machine's path
    parser.add_argument("--out", default=default_out, help="(default: %(default)s in the repository)")
    args = parser.parse_args()
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    workdir = Path(args.workdir or Path(tempfile.gettempdir()) / "rlaif-optimizers-learn")
    out = ROOT / default_out if args.out == default_out else Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    load_before, wall_started = load_average(), time.perf_counter()
    if args.report:
        text = report(json.loads(out.read_text()))
        print(text)
        atomic_write_text(out.with_suffix(".txt"), text)
        return
    names = args.only or ["dpo", "grpo", "ppo"]
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    settings = {key: value for key, value in vars(args).items() if key not in ("workdir", "out", "fresh")}
    for name in names:
        key = name + ("-quick" if args.quick else "")
        options = run_options(name, args)
        with locked_results(out) as results:
            entry = results.get(key, {})
            if not _same_settings(entry, options, args) or "runs" not in entry:
                entry = {"options": options, "settings": settings, "runs": []}  # other settings: start over
            if args.fresh:
                entry["runs"] = [run for run in entry["runs"] if run["seed"] not in seeds]
            results[key] = entry
        for seed in seeds:
            if any(run["seed"] == seed for run in entry["runs"]):
                print(f"[{name} seed {seed}] already in {args.out}, skipped (--fresh re-runs it)", flush=True)
                continue
            record = run_one(name, seed, args, workdir)
            with locked_results(out) as results:  # after each run: a kill keeps the rest
                entry = results[key]
                entry["runs"] = sorted(
                    [run for run in entry["runs"] if run["seed"] != seed] + [record], key=lambda r: r["seed"]
                )
                entry["summary"] = summarize(entry["runs"])
    with locked_results(out) as results:
        text = report(results)
    print(text)
    print(
        f"load average before {load_before}, after {load_average()}; wall {time.perf_counter() - wall_started:.0f} s"
    )
    atomic_write_text(out.with_suffix(".txt"), text)


def command_of(settings: dict) -> str:
    """The command line that reproduces an entry's runs (all its seeds in one process)."""
    flags = [f"--only {settings['only'][0]}" if settings.get("only") else ""]
    flags += ["--quick" if settings.get("quick") else ""]
    flags += [f"--threads {settings['threads']}" if settings.get("threads") else ""]
    flags += [f"--train-prompts {settings['train_prompts']}" if settings.get("train_prompts") else ""]
    return " ".join(["python benchmarks/optimizers_learn.py", *[flag for flag in flags if flag]])


def report(results: dict) -> str:
    """The text report of every multi-seed entry in the results file: table, then how each row was made."""
    keys = [key for key, entry in results.items() if entry.get("summary") and entry.get("runs")]
    lines = [
        "# benchmarks/optimizers_learn.py: held-out reward (16 prompts, greedy) before and after training, over seeds",
        "# mean over seeds [95% Student t interval, n - 1 degrees of freedom]; reward change = after - before",
        table({key: results[key]["summary"] for key in keys}),
        "",
    ]
    for key in keys:
        entry = results[key]
        runs = entry["runs"]
        loads = [run["load_average"].split("/")[0] for run in runs if run.get("load_average")]
        lines.append(
            f"{key}: {command_of(entry['settings'])} --seeds {len(runs)}  (seeds "
            f"{', '.join(str(run['seed']) for run in runs)}; {runs[0]['train_prompts']} training prompts; "
            f"torch threads {runs[0].get('threads')}; 1-min load average after each run "
            f"{', '.join(loads) or 'n/a'} on a 2-core machine; options {json.dumps(entry['options'])})"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
