"""Tests a plugin author keeps: the reward scores right, and the installed entry point is discovered."""

from __future__ import annotations

from importlib import metadata

import pytest
import rlaif_template

from rlaif import build_reward
from rlaif.errors import RlaifError
from rlaif.plugins import load_registry


def test_scores_replies():
    reward = rlaif_template.make_ends_with_question({})
    completions = [
        "Here you go. Anything else?",
        "Here you go.",
        [{"role": "assistant", "content": "Which one?"}],
        "",
    ]
    assert reward(None, completions) == [1.0, 0.0, 1.0, None]
    assert reward.__name__ == "ends-with-question"


def test_option_limits_the_window():
    reward = rlaif_template.make_ends_with_question({"last_chars": 5})
    assert reward(None, ["Why? Because it is so.", "Is it so?"]) == [0.0, 1.0]


def test_registered_through_the_installed_entry_point():
    names = {ep.name for ep in metadata.entry_points(group="rlaif")}
    if "template" not in names:
        pytest.skip("rlaif-template is not pip-installed (pip install -e plugins/rlaif-template)")
    registration = load_registry().get("rewards", "ends-with-question")
    assert registration.plugin == "template"
    assert build_reward("ends-with-question", {"last_chars": 10})(None, ["ok?"]) == [1.0]
    with pytest.raises(RlaifError, match="invalid options"):
        build_reward("ends-with-question", {"last_chars": 0})
