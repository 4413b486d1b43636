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
    from rlaif.plugins import get_registry

    schema = get_registry().get("models", "embedded").options_schema
    assert schema["properties"]["threads"]["minimum"] == 1
