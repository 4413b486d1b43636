"""Built-in rewards: behaviour, options validation, and the TRL calling convention."""

from __future__ import annotations

import pytest

from rlaif import build_reward
from rlaif.errors import RlaifError
from rlaif.plugins import load_registry
from rlaif.rewards import text_of
from rlaif.rewards.base import rows_from_columns

BUILTINS = ("regex", "contains", "not-contains", "json-schema", "length", "exact-match")


def scores(name: str, options: dict, completions: list, **columns) -> list:
    return build_reward(name, options)(None, completions, **columns)


def test_builtins_are_registered_with_schemas_and_descriptions():
    registry = load_registry()
    for name in BUILTINS:
        registration = registry.get("rewards", name)
        assert registration.plugin == "rlaif"
        assert registration.description and registration.options_schema["type"] == "object"


def test_text_of_handles_strings_and_conversations():
    assert text_of("plain") == "plain"
    conversation = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    assert text_of(conversation) == "a"
    assert (
        text_of([{"role": "assistant", "content": [{"type": "text", "text": "x"}, {"type": "image"}]}]) == "x"
    )
    assert text_of(None) == ""


def test_rows_ignore_trl_extras_that_are_not_aligned_columns():
    rows = rows_from_columns(2, {"answer": ["1", "2"], "trainer_state": object(), "other": [1, 2, 3]})
    assert rows == [{"answer": "1"}, {"answer": "2"}]


def test_regex_search_and_fullmatch():
    assert scores("regex", {"pattern": r"Final answer: \d+"}, ["...Final answer: 42", "no"]) == [1.0, 0.0]
    assert scores("regex", {"pattern": r"\d+", "mode": "fullmatch"}, [" 42 ", "42 apples"]) == [1.0, 0.0]
    assert scores("regex", {"pattern": "yes", "ignore_case": True}, ["YES"]) == [1.0]


def test_regex_bad_pattern_is_a_user_error():
    with pytest.raises(RlaifError, match="invalid pattern"):
        build_reward("regex", {"pattern": "("})


def test_contains_all_any_case_and_partial():
    texts = ["I am not a doctor; see a professional.", "Just take it."]
    assert scores("contains", {"strings": ["not a doctor", "professional"]}, texts) == [1.0, 0.0]
    assert scores("contains", {"strings": ["NOT A DOCTOR"], "case_sensitive": True}, texts) == [0.0, 0.0]
    assert scores("contains", {"strings": ["doctor", "lawyer"], "match": "any"}, texts) == [1.0, 0.0]
    assert scores("contains", {"strings": ["doctor", "lawyer"], "partial_credit": True}, texts) == [0.5, 0.0]


def test_not_contains():
    texts = ["As an AI language model, I cannot", "Here is the answer"]
    assert scores("not-contains", {"strings": "as an ai language model"}, texts) == [0.0, 1.0]
    details = build_reward("not-contains", {"strings": ["foo", "bar"], "partial_credit": True}).details(
        None, ["foo only"]
    )
    assert details == [{"score": 0.5, "status": "partial", "message": "contains ['foo']"}]


def test_json_schema_parses_fenced_json_and_validates():
    schema = {"type": "object", "properties": {"score": {"type": "integer"}}, "required": ["score"]}
    completions = ['{"score": 3}', 'Sure:\n```json\n{"score": 4}\n```', '{"score": "high"}', "not json"]
    assert scores("json-schema", {"schema": schema}, completions) == [1.0, 1.0, 0.0, 0.0]
    assert scores("json-schema", {"schema": schema, "extract": "strict"}, completions[:2]) == [1.0, 0.0]
    details = build_reward("json-schema", {"schema": schema}).details(None, completions[2:])
    assert "schema violation at '/score'" in details[0]["message"]
    assert details[1]["message"].startswith("not JSON")


def test_json_schema_rejects_an_invalid_schema():
    with pytest.raises(RlaifError, match="schema itself is invalid"):
        build_reward("json-schema", {"schema": {"type": "no-such-type"}})


def test_length_hard_and_soft():
    assert scores("length", {"min": 2, "max": 4}, ["one", "one two three", "a b c d e f"]) == [0.0, 1.0, 0.0]
    assert scores("length", {"unit": "chars", "max": 5}, ["abcde", "abcdef"]) == [1.0, 0.0]
    soft = build_reward("length", {"max": 10, "soft": True, "ramp": 10})
    assert soft(None, [" ".join(["w"] * n) for n in (10, 15, 25)]) == [1.0, 0.5, 0.0]
    with pytest.raises(RlaifError, match="max"):
        build_reward("length", {"min": 5, "max": 2})


def test_exact_match_normalises_and_skips_rows_without_gold():
    reward = build_reward("exact-match", {})
    assert reward(None, ["  Paris ", "paris\n", "Lyon", "x"], answer=["paris", "PARIS", "Paris", None]) == [
        1.0,
        1.0,
        0.0,
        None,
    ]
    assert scores(
        "exact-match", {"column": "label", "strip_punctuation": True}, ['"Yes."'], label=["yes"]
    ) == [1.0]
    assert scores("exact-match", {"case_sensitive": True}, ["paris"], answer=[["Paris", "paris"]]) == [1.0]


@pytest.mark.parametrize(
    ("name", "options", "fragment"),
    [
        ("regex", {}, "'pattern' is required"),
        ("length", {"min": -1}, "options.min"),
        ("contains", {"strings": []}, "options.strings"),
        ("exact-match", {"colum": "x"}, "did you mean 'column'"),
    ],
)
def test_invalid_options_list_every_problem(name, options, fragment):
    with pytest.raises(RlaifError, match="invalid options") as info:
        build_reward(name, options)
    assert fragment in str(info.value)


def test_unknown_reward_suggests_the_closest_name():
    with pytest.raises(RlaifError, match="did you mean 'contains'"):
        build_reward("contain", {})


def test_rewards_work_as_trl_reward_functions():
    reward = build_reward("contains", {"strings": "ok"})
    prompts = [[{"role": "user", "content": "say ok"}]] * 2
    completions = [[{"role": "assistant", "content": "ok!"}], [{"role": "assistant", "content": "no"}]]
    assert reward(
        prompts=prompts, completions=completions, completion_ids=[[1], [2]], trainer_state=None
    ) == [1.0, 0.0]
    assert reward.__name__ == "contains"
