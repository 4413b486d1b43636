"""Precision choices (rlaif/hardware.py): ``dtype: auto`` picks bf16 only where the hardware computes in it, and
judges' log-probs stay float32 on CPU whatever the generation dtype.

The capability probes are monkeypatched, so these run the same on any machine; the model is a tiny random Llama.
"""

from __future__ import annotations

import pytest
import torch

from rlaif import hardware
from rlaif.models.transformers import TransformersChatModel
from rlaif.protocols import GenerationParams
from tests.tiny_policy import make_tiny_policy

CPU, CUDA, MPS = torch.device("cpu"), torch.device("cuda"), torch.device("mps")


@pytest.fixture
def native_bf16(monkeypatch: pytest.MonkeyPatch):
    """``native_bf16(True/False)``: what the CPU capability probe answers."""

    def set_answer(answer: bool) -> None:
        monkeypatch.setattr(hardware, "cpu_native_bf16", lambda: answer)

    return set_answer


def test_auto_picks_bf16_on_a_cpu_with_native_bf16_and_float32_elsewhere(native_bf16) -> None:
    native_bf16(True)
    assert hardware.model_dtype(CPU, "auto") == torch.bfloat16
    assert hardware.model_dtype(CPU, None) == torch.float32  # the default leaves CPUs on float32
    assert hardware.model_dtype(CPU, "float32") == torch.float32  # an explicit dtype wins
    assert hardware.model_dtype(MPS, "auto") == torch.float32
    native_bf16(False)
    assert hardware.model_dtype(CPU, "auto") == torch.float32  # emulated bf16 is slower than float32
    assert hardware.model_dtype(CPU, "bfloat16") == torch.bfloat16


@pytest.mark.parametrize("supported", [True, False])
def test_on_a_gpu_auto_and_the_default_follow_its_bf16_support(monkeypatch, native_bf16, supported) -> None:
    native_bf16(False)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: supported)
    expected = torch.bfloat16 if supported else torch.float32
    assert hardware.model_dtype(CUDA, "auto") == expected
    assert hardware.model_dtype(CUDA, None) == expected


def test_cpu_probe_asks_torch_first_then_the_cpu_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    def probe_answers(avx512_bf16: bool | None, amx: bool | None, flags: set[str]) -> bool:
        for name, answer in (("_is_avx512_bf16_supported", avx512_bf16), ("_is_amx_tile_supported", amx)):
            if answer is None:
                monkeypatch.delattr(torch.cpu, name, raising=False)
            else:
                monkeypatch.setattr(torch.cpu, name, lambda answer=answer: answer, raising=False)
        monkeypatch.setattr(hardware, "_cpuinfo_flags", lambda: frozenset(flags))
        hardware.cpu_native_bf16.cache_clear()
        try:
            return hardware.cpu_native_bf16()
        finally:
            hardware.cpu_native_bf16.cache_clear()

    assert probe_answers(True, False, set()) is True
    assert probe_answers(False, True, set()) is True
    assert probe_answers(False, False, {"avx512_bf16"}) is False  # torch knows better than the flags
    assert probe_answers(None, None, {"avx512f", "amx_bf16"}) is True  # an older torch: the flags decide
    assert probe_answers(None, None, {"avx512f", "avx2"}) is False


def test_scoring_dtype_is_float32_on_cpu_and_the_model_dtype_on_gpus() -> None:
    assert hardware.score_dtype(CPU, torch.bfloat16) == torch.float32
    assert hardware.score_dtype(CPU, torch.float32) == torch.float32
    assert hardware.score_dtype(CUDA, torch.bfloat16) == torch.bfloat16
    assert hardware.score_dtype(CPU, torch.bfloat16, "bfloat16") == torch.bfloat16  # asked for: honoured


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_policy(tmp_path_factory.mktemp("tiny"))


QUESTIONS = [
    [{"role": "user", "content": "Which reply is better, A or B? Answer with one letter."}],
    [{"role": "user", "content": "A longer question so that the batch is padded: is A or B kinder?"}],
]


def test_auto_generates_in_bf16_but_the_judge_scores_in_float32(tiny, native_bf16) -> None:
    native_bf16(True)
    auto = TransformersChatModel(tiny, device="cpu", dtype="auto")
    reference = TransformersChatModel(tiny, device="cpu", dtype="float32")
    assert auto.dtype == torch.bfloat16 and next(auto.model.parameters()).dtype == torch.bfloat16
    assert auto.score_dtype == torch.float32

    auto.generate(QUESTIONS, GenerationParams(max_new_tokens=4, temperature=0.0))
    assert auto._scorer is None  # generating alone never loads the float32 copy

    got = auto.label_logprobs(QUESTIONS, ["A", "B"])
    assert next(auto.scoring_model.parameters()).dtype == torch.float32
    want = reference.label_logprobs(QUESTIONS, ["A", "B"])
    for row, expected in zip(got, want, strict=True):
        assert row == pytest.approx(expected, abs=1e-5)
    replies = ["A short reply.", "Another reply, somewhat longer than the first one."]
    assert auto.response_logprobs(QUESTIONS, replies) == pytest.approx(
        reference.response_logprobs(QUESTIONS, replies), abs=1e-4
    )

    # the same in bf16 is measurably different: what keeping the judge in float32 protects
    coarse = TransformersChatModel(tiny, device="cpu", dtype="bfloat16", score_dtype="bfloat16")
    assert coarse.scoring_model is coarse.model
    differences = [
        abs(a[label] - b[label])
        for a, b in zip(coarse.label_logprobs(QUESTIONS, ["A", "B"]), want, strict=True)
        for label in ("A", "B")
    ]
    assert max(differences) > 1e-4


def test_float32_generation_needs_no_second_copy(tiny) -> None:
    model = TransformersChatModel(tiny, device="cpu")
    assert model.dtype == torch.float32 and model.scoring_model is model.model


def test_precision_options_are_in_the_backend_schema() -> None:
    from rlaif.plugins import load_registry

    properties = load_registry().get("models", "embedded").options_schema["properties"]
    assert "default" not in properties["dtype"] and "auto" in properties["dtype"]["enum"]
    assert properties["score_dtype"]["default"] == "auto"
