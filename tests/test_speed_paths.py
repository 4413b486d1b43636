"""The speed-motivated code paths of the transformers backend give the same answers as the plain ones."""

from __future__ import annotations

import pytest
import torch

from rlaif.models.transformers import TransformersChatModel


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    """A 2-layer Llama with the embedded model's tokenizer (random weights, built offline in a second)."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from rlaif.models.embedded import embedded_model_dir

    tokenizer = AutoTokenizer.from_pretrained(embedded_model_dir())
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
    )
    folder = tmp_path_factory.mktemp("tiny")
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_label_logprobs_last_position_only_matches_full_forward(tiny_model_dir):
    model = TransformersChatModel(tiny_model_dir, device="cpu", batch_size=4)
    conversations = [
        [{"role": "user", "content": "Which is better, A or B?"}],
        [
            {
                "role": "user",
                "content": "A much longer question, so that this batch needs left padding: A or B?",
            }
        ],
        [{"role": "user", "content": "Pick one."}],
    ]
    batched = model.label_logprobs(conversations, ["A", "B"])
    ids = [model.tokenizer(label, add_special_tokens=False)["input_ids"][0] for label in ("A", "B")]
    for conversation, got in zip(conversations, batched, strict=True):
        encoded = model.tokenizer(model.render(conversation), return_tensors="pt", add_special_tokens=False)
        with torch.inference_mode():
            full = torch.log_softmax(model.model(**encoded).logits[0, -1].float(), dim=-1)
        assert got["A"] == pytest.approx(float(full[ids[0]]), abs=1e-4)
        assert got["B"] == pytest.approx(float(full[ids[1]]), abs=1e-4)


def test_threads_option_sets_torch_threads(tiny_model_dir):
    before = torch.get_num_threads()
    try:
        TransformersChatModel(tiny_model_dir, device="cpu", threads=1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_threads_option_is_in_the_backend_schema():
    from rlaif.plugins import load_registry

    schema = load_registry().get("models", "embedded").options_schema
    assert schema["properties"]["threads"]["minimum"] == 1


# -- prefix cache ------------------------------------------------------------------------------------------------
def _stage_conversations(model, prompts):
    """An answer call, then critique-shaped prompts that start with each prompt and its answer (as the engine's)."""
    from rlaif.protocols import GenerationParams

    answers = model.generate(prompts, GenerationParams(max_new_tokens=12, temperature=0.0))
    return [
        [
            *prompt,
            {"role": "assistant", "content": answer},
            {"role": "user", "content": "Critique that reply."},
        ]
        for prompt, answer in zip(prompts, answers, strict=True)
    ]


_PROMPTS = [
    [{"role": "user", "content": "Name a colour."}],
    [
        {
            "role": "user",
            "content": "Write one sentence about rivers and the sea, please, as plainly as you can.",
        }
    ],
    [{"role": "user", "content": "What is two plus two?"}],
]


def test_prefix_cache_reuses_the_previous_call_and_gives_the_same_tokens(tiny_model_dir):
    from rlaif.protocols import GenerationParams

    params = GenerationParams(max_new_tokens=10, temperature=0.0)
    cached = TransformersChatModel(tiny_model_dir, device="cpu", batch_size=2)
    plain = TransformersChatModel(tiny_model_dir, device="cpu", batch_size=2, prefix_cache_mb=0)
    assert plain.prefix_cache is None

    follow_ups = _stage_conversations(cached, _PROMPTS)
    assert follow_ups == _stage_conversations(plain, _PROMPTS)
    fed_before = cached.prefix_cache.fed_tokens
    with_cache = cached.generate(follow_ups, params)
    assert cached.prefix_cache.reused_tokens > 0  # each prompt + answer came from the answer call's keys
    total = sum(
        len(cached.tokenizer(cached.render(c), add_special_tokens=False)["input_ids"]) for c in follow_ups
    )
    assert cached.prefix_cache.fed_tokens - fed_before < total / 2
    assert with_cache == plain.generate(follow_ups, params)

    # Sampled generation reuses the cache too and still draws each row's own seeded sample.
    sampled = GenerationParams(max_new_tokens=10, temperature=0.8, top_p=0.9)
    cached.generate(_PROMPTS, GenerationParams(max_new_tokens=12, temperature=0.0))
    assert cached.generate(follow_ups, sampled, seeds=[1, 2, 3]) == plain.generate(
        follow_ups, sampled, seeds=[1, 2, 3]
    )


def test_prefix_cache_is_dropped_when_the_weights_change(tiny_model_dir):
    from rlaif.protocols import GenerationParams

    params = GenerationParams(max_new_tokens=10, temperature=0.0)
    cached = TransformersChatModel(tiny_model_dir, device="cpu", batch_size=4)
    plain = TransformersChatModel(tiny_model_dir, device="cpu", batch_size=4, prefix_cache_mb=0)
    follow_ups = _stage_conversations(cached, _PROMPTS)
    _stage_conversations(plain, _PROMPTS)
    with torch.no_grad():  # an optimizer step, in effect: the same in-place update on both copies
        for model in (cached, plain):
            for parameter in model.model.parameters():
                parameter.mul_(1.5)
    reused = cached.prefix_cache.reused_tokens
    assert cached.generate(follow_ups, params) == plain.generate(follow_ups, params)
    assert cached.prefix_cache.reused_tokens == reused  # stale keys were not used


def test_prefix_cache_keeps_within_its_memory_budget(tiny_model_dir):
    from rlaif.models.prefix_cache import PrefixCache

    model = TransformersChatModel(tiny_model_dir, device="cpu", batch_size=4)
    _stage_conversations(model, _PROMPTS)
    assert len(model.prefix_cache.rows) == len(_PROMPTS)
    one_row = model.prefix_cache.rows[0].nbytes
    budget = PrefixCache(max_bytes=one_row)
    budget.stage(model.prefix_cache.rows)
    budget.commit()
    assert len(budget.rows) == 1 and sum(r.nbytes for r in budget.rows) <= one_row


def test_prefix_cache_option_is_in_the_backend_schema():
    from rlaif.plugins import load_registry

    schema = load_registry().get("models", "embedded").options_schema
    assert schema["properties"]["prefix_cache_mb"]["minimum"] == 0


def test_sliding_window_models_do_not_cache():
    from types import SimpleNamespace

    from rlaif.models.prefix_cache import supports_prefix_cache

    def model(**config):
        return SimpleNamespace(config=SimpleNamespace(**config))

    assert supports_prefix_cache(model())
    assert supports_prefix_cache(model(sliding_window=4096, use_sliding_window=False))
    assert not supports_prefix_cache(model(sliding_window=4096))
    assert not supports_prefix_cache(model(layer_types=["full_attention", "sliding_attention"]))


@pytest.mark.slow
def test_prefix_cache_on_the_embedded_model_matches_recomputing():
    """Real weights are position-sensitive where a random tiny model is not: a cached prefix at the wrong
    positions changes these log-probs by ~0.1, against ~1e-5 of float noise."""
    from rlaif.constitution import Principle
    from rlaif.judges.pairwise import PairwiseJudge
    from rlaif.models.embedded import embedded_model_dir
    from rlaif.protocols import Comparison, GenerationParams

    cached = TransformersChatModel(embedded_model_dir(), device="cpu", batch_size=2)
    plain = TransformersChatModel(embedded_model_dir(), device="cpu", batch_size=2, prefix_cache_mb=0)
    params = GenerationParams(max_new_tokens=16, temperature=0.0)
    answers = {}
    for name, model in (("cached", cached), ("plain", plain)):
        follow_ups = _stage_conversations(model, _PROMPTS)
        answers[name] = model.generate(follow_ups, params)
    assert cached.prefix_cache.reused_tokens > 0
    assert answers["cached"] == answers["plain"]

    principle = Principle(
        id="p", critique_request="c", revision_request="r", judging_question="Which reply is more helpful?"
    )
    comparisons = [
        Comparison(prompt=prompt, a=answer, b="I do not know.", principle=principle)
        for prompt, answer in zip(_PROMPTS, answers["plain"], strict=True)
    ]
    reused = cached.prefix_cache.reused_tokens
    got, expected = PairwiseJudge(cached).compare(comparisons), PairwiseJudge(plain).compare(comparisons)
    assert cached.prefix_cache.reused_tokens > reused  # the second order reused the first's prefix
    for a, b in zip(got, expected, strict=True):
        for key in ("raw_p_a_order_ab", "raw_p_a_order_ba"):
            assert a.details[key] == pytest.approx(b.details[key], abs=1e-3)


def test_prefix_cache_feeds_a_shared_head_once_per_call_not_once_per_batch(tiny_model_dir):
    """Few-shot examples open every critique prompt: later batches of the same call reuse their keys."""
    from rlaif.protocols import GenerationParams

    params = GenerationParams(max_new_tokens=6, temperature=0.0)
    head = [
        {"role": "user", "content": "What is 2+2? Please explain how you got there, in a few words."},
        {"role": "assistant", "content": "Well, let me think about it: two and two make four, so 4."},
        {"role": "user", "content": "Point out anything that delays the answer."},
        {"role": "assistant", "content": "The preamble before the answer."},
    ]
    prompts = [[*head, *prompt] for prompt in _PROMPTS]
    cached = TransformersChatModel(tiny_model_dir, device="cpu", batch_size=1)
    plain = TransformersChatModel(tiny_model_dir, device="cpu", batch_size=1, prefix_cache_mb=0)
    assert cached.generate(prompts, params) == plain.generate(prompts, params)
    head_tokens = len(cached.tokenizer(cached.render(head), add_special_tokens=False)["input_ids"])
    assert cached.prefix_cache.reused_tokens >= 2 * (head_tokens - 2)  # batches 2 and 3 reused the head
