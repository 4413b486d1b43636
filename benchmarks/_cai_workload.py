"""One CAI workload run three ways, for the engine benchmarks.

- ``engine``: :func:`rlaif.engine.run_cai` exactly as ``rlaif run`` calls it (journal, judge, meters, records).
- ``raw``: the same backend calls without the engine: per chunk, three batched ``generate`` calls and one
  batched ``label_logprobs`` call per judge order -- the floor the engine's bookkeeping sits on.
- ``engine-llamacpp``: the engine again, every role served from the embedded GGUF by an in-process llama.cpp
  server (``llamacpp:embedded``) -- what a round-1 run can use, since the policy is still the base model there.
- ``naive``: what a first script would do: one prompt at a time, Hugging Face ``model.generate`` per stage,
  one forward pass per judge order.

All three use the same loaded model, the same conversations, the same per-prompt seeds and the same seeded
sampler, so they generate the same tokens (up to float noise of batched vs single-row matmuls): the arms do the
same work and the time ratio is the speed-up. Each arm returns the number of new tokens it generated so the
report can show the work really was equal.
"""

from __future__ import annotations

import random
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import _common  # noqa: F401  (puts the repo on sys.path)
import torch

from rlaif.config import config_from_dict
from rlaif.constitution import Constitution, load_constitution
from rlaif.engine import EngineSettings, Journal, run_cai
from rlaif.engine.cai import (
    clean_revision,
    critique_conversation,
    prompt_seed,
    revision_conversation,
)
from rlaif.judges.pairwise import LABELS, PairwiseJudge, combine_orders, two_way_probability
from rlaif.prompts import PromptItem, load_prompt_items
from rlaif.protocols import Comparison, GenerationParams


@dataclass
class Workload:
    model: Any  # TransformersChatModel
    judge: PairwiseJudge
    constitution: Constitution
    items: list[PromptItem]
    settings: EngineSettings


def build(
    prompts: int,
    quick: bool,
    batch_size: int = 32,
    chunk_size: int | None = None,
    max_new_tokens: int | None = None,
) -> Workload:
    """The default run's workload (default constitution, prompts, sampling) on the embedded model."""
    from rlaif.models.embedded import embedded_model_dir
    from rlaif.models.transformers import TransformersChatModel

    config = config_from_dict({})
    answer, critique, revision = (config.sampling(s) for s in ("generation", "critique", "revision"))
    if quick:  # tiny generations: checks the script end to end in seconds
        answer, critique, revision = (
            replace(p, max_new_tokens=min(p.max_new_tokens, n))
            for p, n in ((answer, 12), (critique, 8), (revision, 12))
        )
    if max_new_tokens:  # one budget for all three stages (shorter runs that are still decode-bound)
        answer, critique, revision = (
            replace(p, max_new_tokens=max_new_tokens) for p in (answer, critique, revision)
        )
    settings = EngineSettings(
        answer=answer,
        critique=critique,
        revision=revision,
        margin=config.raw["judge"]["margin"],
        chunk_size=chunk_size or config.raw["chunk_size"],
        seed=config.raw["seed"],
    )
    model = TransformersChatModel(embedded_model_dir(), name="embedded", batch_size=batch_size)
    items = load_prompt_items(config.raw["prompts"], limit=prompts)
    return Workload(
        model=model,
        judge=PairwiseJudge(model),
        constitution=load_constitution(config.raw["constitution"]),
        items=items,
        settings=settings,
    )


def _count_tokens(model: Any, texts: list[str]) -> int:
    return sum(len(model.tokenizer(text, add_special_tokens=False)["input_ids"]) for text in texts)


def warm_up(w: Workload) -> None:
    """One prompt through the engine: first-call allocations and kernel choices happen outside the timings."""
    run_engine(replace(w, items=w.items[:1]))


# -- engine ---------------------------------------------------------------------------------------------------
def run_engine(w: Workload, tokenizer_of: Any = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        journal = Journal(Path(folder) / "records.jsonl")
        result = run_cai(
            w.items, w.constitution, w.model, w.model, w.judge, w.settings, journal, progress=False
        )
        records = Journal(Path(folder) / "records.jsonl").records
    texts = [r[k] for r in records for k in ("original", "critique", "revision")]
    tokens = _count_tokens(tokenizer_of or w.model, texts)
    return {"pairs": result.pairs, "records": len(records), "tokens": tokens}


def run_engine_without_prefix_cache(w: Workload) -> dict[str, Any]:
    """The engine with the backend's prefix cache off: every prompt is fed whole, as before the cache."""
    cache, w.model.prefix_cache = w.model.prefix_cache, None
    try:
        return run_engine(w)
    finally:
        w.model.prefix_cache = cache


def run_engine_llamacpp(w: Workload, served: Any) -> dict[str, Any]:
    """The engine with policy, critic and judge on ``served`` (a :class:`LlamaCppChatModel`)."""
    return run_engine(replace(w, model=served, judge=PairwiseJudge(served)), tokenizer_of=w.model)


# -- raw backend ----------------------------------------------------------------------------------------------
def _keep_for_judging(answer: str, critique: str, revision: str) -> bool:
    a, r = answer.strip(), revision.strip()
    return bool(a) and bool(r) and r != a and r != critique.strip()


def run_raw(w: Workload) -> dict[str, Any]:
    s, model = w.settings, w.model
    pairs = records = tokens = 0
    for start in range(0, len(w.items), s.chunk_size):
        chunk = w.items[start : start + s.chunk_size]
        seeds = [prompt_seed(s.seed, s.round, item.id) for item in chunk]
        principles = [w.constitution.sample(random.Random(seed)) for seed in seeds]
        answers = model.generate([i.messages for i in chunk], s.answer, seeds)
        turns = [
            critique_conversation(w.constitution, p, i.messages, a)
            for i, p, a in zip(chunk, principles, answers, strict=True)
        ]
        critiques = model.generate(turns, s.critique, seeds)
        revisions = model.generate(
            [revision_conversation(t, c, p) for t, c, p in zip(turns, critiques, principles, strict=True)],
            s.revision,
            seeds,
        )
        revisions = [clean_revision(text) for text in revisions]
        tokens += _count_tokens(model, answers + critiques + revisions)
        records += len(chunk)
        judged = [
            Comparison(prompt=chunk[i].messages, a=answers[i], b=revisions[i], principle=principles[i])
            for i in range(len(chunk))
            if _keep_for_judging(answers[i], critiques[i], revisions[i])
        ]
        if judged:
            # One call per order, as the pairwise judge makes them (the second reuses the first's prefix).
            logprobs = model.label_logprobs([w.judge._question(c, c.a, c.b) for c in judged], LABELS)
            logprobs += model.label_logprobs([w.judge._question(c, c.b, c.a) for c in judged], LABELS)
            n = len(judged)
            for k in range(n):
                forward = two_way_probability(logprobs[k])
                backward = 1 - two_way_probability(logprobs[n + k])
                p_revision = 1 - combine_orders([forward, backward], w.judge.debias)
                pairs += abs(p_revision - 0.5) >= s.margin
    return {"pairs": pairs, "records": records, "tokens": tokens}


# -- naive loop -----------------------------------------------------------------------------------------------
@torch.inference_mode()
def _naive_generate(w: Workload, conversation: list, params: GenerationParams, seed: int) -> str:
    from transformers import GenerationConfig, LogitsProcessorList

    from rlaif.models.transformers import _SeededSampler

    tokenizer, hf = w.model.tokenizer, w.model.model
    text = tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
    encoded = tokenizer(text, return_tensors="pt", add_special_tokens=False)
    processors = LogitsProcessorList()
    if params.temperature > 0:
        generator = torch.Generator()
        generator.manual_seed(seed)
        processors.append(_SeededSampler([generator], params.temperature, params.top_p))
    config = GenerationConfig(
        max_new_tokens=params.max_new_tokens,
        do_sample=False,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    output = hf.generate(**encoded, generation_config=config, logits_processor=processors)
    return tokenizer.decode(output[0, encoded["input_ids"].shape[1] :], skip_special_tokens=True).strip()


@torch.inference_mode()
def _naive_first_wins(w: Workload, question: list) -> float:
    tokenizer, hf = w.model.tokenizer, w.model.model
    text = tokenizer.apply_chat_template(question, tokenize=False, add_generation_prompt=True)
    encoded = tokenizer(text, return_tensors="pt", add_special_tokens=False)
    logprobs = torch.log_softmax(hf(**encoded).logits[0, -1].float(), dim=-1)
    ids = [tokenizer(label, add_special_tokens=False)["input_ids"][0] for label in LABELS]
    return two_way_probability({label: float(logprobs[i]) for label, i in zip(LABELS, ids, strict=True)})


def run_naive(w: Workload) -> dict[str, Any]:
    s = w.settings
    pairs = tokens = 0
    for item in w.items:
        seed = prompt_seed(s.seed, s.round, item.id)
        principle = w.constitution.sample(random.Random(seed))
        answer = _naive_generate(w, item.messages, s.answer, seed)
        turns = critique_conversation(w.constitution, principle, item.messages, answer)
        critique = _naive_generate(w, turns, s.critique, seed)
        revision = clean_revision(
            _naive_generate(w, revision_conversation(turns, critique, principle), s.revision, seed)
        )
        tokens += _count_tokens(w.model, [answer, critique, revision])
        if _keep_for_judging(answer, critique, revision):
            c = Comparison(prompt=item.messages, a=answer, b=revision, principle=principle)
            forward = _naive_first_wins(w, w.judge._question(c, c.a, c.b))
            backward = 1 - _naive_first_wins(w, w.judge._question(c, c.b, c.a))
            p_revision = 1 - combine_orders([forward, backward], w.judge.debias)
            pairs += abs(p_revision - 0.5) >= s.margin
    return {"pairs": pairs, "records": len(w.items), "tokens": tokens}
