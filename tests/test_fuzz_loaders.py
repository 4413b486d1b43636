"""Property: whatever a user writes, loading it gives a valid object or an RlaifError -- never anything else.

Hypothesis throws random YAML-ish text, random bytes and random structured mappings (near-valid ones too) at the
constitution and run-config loaders, and at what the pipeline does right after loading (hashing, model roles,
sampling settings, reference checks).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rlaif.config import RunConfig, check_config, config_from_dict, load_config
from rlaif.constitution import Constitution, constitution_from_dict, load_constitution
from rlaif.errors import RlaifError

FUZZ = settings(
    max_examples=int(os.environ.get("RLAIF_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

YAML_PIECES = [
    "name: x\n",
    "principles:\n",
    "- ",
    "  ",
    "id: a\n",
    "critique_request: c\n",
    "revision_request: r\n",
    "judging_question: j\n",
    "weight: -1\n",
    "weight: .nan\n",
    "weight: .inf\n",
    "tags: [a, 1]\n",
    "examples:\n",
    "principle: zz\n",
    "rounds: 0\n",
    "seed: 2020-01-01\n",
    "models:\n",
    "policy: ",
    "{spec: x, batch_size: -2}\n",
    "judge: {name: pairwise, margin: 9}\n",
    "optimizer: {options: {beta: 0}}\n",
    "generation: {stop: [1]}\n",
    "&a [1, 2]\n",
    "*a\n",
    "<<: *a\n",
    "? [x]\n: y\n",
    "!!binary aGk=\n",
    "!!python/object:os.system x\n",
    "[",
    "]",
    "{",
    "}",
    ":",
    ",",
    "'",
    '"',
    "#",
    "\t",
    "\n",
    "---\n",
    "...\n",
    "1: one\n",
    "null: 2\n",
    "~\n",
    "true: false\n",
    "%YAML 1.1\n",
    "- *b\n",
    "&b [*b]\n",
    "\x00",
    "\ufeff",
]

yamlish = st.lists(st.sampled_from(YAML_PIECES) | st.text(max_size=8), max_size=30).map("".join)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=10) | st.integers(-3, 3), inner, max_size=4)
    ),
    max_leaves=20,
)

PRINCIPLE_KEYS = [
    "id",
    "critique_request",
    "revision_request",
    "judging_question",
    "weight",
    "tags",
    "rewards",
]
principle = st.dictionaries(
    st.sampled_from(PRINCIPLE_KEYS) | st.text(max_size=6), values | st.text(max_size=8)
)
near_constitution = st.fixed_dictionaries(
    {"name": values | st.just("n"), "principles": st.lists(principle, max_size=3) | values},
    optional={
        "examples": st.lists(st.dictionaries(st.text(max_size=8), values), max_size=2),
        "version": values,
    },
)

CONFIG_KEYS = ["constitution", "prompts", "seed", "rounds", "train", "max_prompts", "chunk_size", "id_field"]
near_config = st.dictionaries(st.sampled_from(CONFIG_KEYS), values, max_size=4).flatmap(
    lambda base: st.fixed_dictionaries(
        {},
        optional={
            "models": st.dictionaries(
                st.sampled_from(["policy", "critic", "judge", "x"]), values, max_size=3
            ),
            "judge": st.dictionaries(st.sampled_from(["name", "margin", "options"]), values, max_size=3),
            "optimizer": st.fixed_dictionaries(
                {},
                optional={
                    "name": values | st.just("dpo"),
                    "options": st.dictionaries(
                        st.sampled_from(["beta", "max_steps", "trl_args", "lora", "max_length"]), values
                    ),
                },
            ),
            "generation": st.dictionaries(st.sampled_from(["max_new_tokens", "temperature", "stop"]), values),
        },
    ).map(lambda extra: {**base, **extra})
)


def _write(content: str | bytes) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="rlaif-fuzz-"))
    path = folder / "input.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass"))
    return path


def _use_config(config: RunConfig) -> None:
    """What the pipeline does with a loaded config before any model is involved."""
    config.result_hash()
    for role in ("policy", "critic", "judge"):
        config.model(role).key()
    for stage in ("generation", "critique", "revision"):
        config.sampling(stage)
    offline = config.with_overrides(plugins=[])  # never import modules named by random text
    offline.raw["plugins"] = []
    assert isinstance(check_config(offline), list)


def _load_both(path: Path) -> None:
    try:
        assert isinstance(load_constitution(str(path)), Constitution)
    except RlaifError:
        pass
    try:
        _use_config(load_config(path))
    except RlaifError:
        pass


@FUZZ
@given(yamlish)
def test_yamlish_text_loads_or_is_a_clean_error(text):
    _load_both(_write(text))


@FUZZ
@given(st.binary(max_size=64))
def test_random_bytes_load_or_are_a_clean_error(data):
    _load_both(_write(data))


@FUZZ
@given(near_constitution | st.dictionaries(st.text(max_size=8) | st.integers(), values, max_size=4))
def test_structured_constitutions_build_or_are_a_clean_error(data):
    try:
        constitution = constitution_from_dict(data, source="fuzz.yaml")
    except RlaifError:
        return
    assert constitution.principles and all(p.weight >= 0 for p in constitution.principles)
    constitution_from_dict(constitution.to_dict())  # what the run directory records loads back


@FUZZ
@given(near_config | st.dictionaries(st.text(max_size=8) | st.integers(), values, max_size=4))
def test_structured_configs_build_or_are_a_clean_error(data):
    try:
        config = config_from_dict(data, source="fuzz.yaml", base_dir=Path(tempfile.mkdtemp()))
    except RlaifError:
        return
    _use_config(config)
