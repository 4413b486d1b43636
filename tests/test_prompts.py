import json

import pytest

from rlaif.errors import RlaifError
from rlaif.prompts import load_prompt_items


def write(tmp_path, lines):
    path = tmp_path / "p.jsonl"
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def test_strings_and_messages_and_stable_ids(tmp_path):
    path = write(
        tmp_path,
        [
            {"prompt": "hi", "answer": "42"},
            {"id": "x", "prompt": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]},
            {"prompt": "hi"},
        ],
    )
    items = load_prompt_items(path)
    assert items[0].messages == [{"role": "user", "content": "hi"}]
    assert items[0].columns == {"answer": "42"}
    assert items[1].id == "x"
    assert items[2].id == items[0].id + "#2"  # duplicates get their own, deterministic id
    assert [i.id for i in load_prompt_items(path)] == [i.id for i in items]


@pytest.mark.parametrize(
    "lines, expected",
    [
        (['{"prompt": "ok"}', "{not json"], "line 2: invalid JSON"),
        ([{"text": "x"}], "line 1: missing field 'prompt'"),
        ([{"prompt": ""}], "line 1: the prompt is empty"),
        ([{"prompt": [{"role": "user"}]}], "line 1: message 0"),
        (
            [{"prompt": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}],
            "last message must be from the user",
        ),
        (["[1, 2]"], "line 1: expected a JSON object"),
    ],
)
def test_bad_lines_are_named(tmp_path, lines, expected):
    with pytest.raises(RlaifError, match=expected):
        load_prompt_items(write(tmp_path, lines))


def test_empty_and_missing_files(tmp_path):
    empty = tmp_path / "e.jsonl"
    empty.write_text("\n\n")
    with pytest.raises(RlaifError, match="empty"):
        load_prompt_items(empty)
    with pytest.raises(RlaifError, match="not found"):
        load_prompt_items(tmp_path / "nope.jsonl")


def test_datasets_directory(tmp_path):
    from datasets import Dataset

    Dataset.from_dict({"prompt": ["a", "b"], "answer": ["1", "2"]}).save_to_disk(str(tmp_path / "ds"))
    items = load_prompt_items(tmp_path / "ds")
    assert [i.messages[0]["content"] for i in items] == ["a", "b"]
    assert items[1].columns["answer"] == "2"


def test_shipped_default_set():
    items = load_prompt_items("default")
    assert len(items) >= 16 and len({i.id for i in items}) == len(items)
