"""Every user-facing input, broken on purpose: a clear paragraph naming the file and line or field, exit code 2,
no traceback -- through every command that reads it.

Each case writes its broken files into a fresh folder, then runs the CLI on them. ``{dir}`` in arguments and
expected text is that folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest
import yaml
from click.testing import CliRunner

from rlaif.cli import build_cli

GOOD_PRINCIPLE = {
    "id": "p1",
    "critique_request": "Identify problems.",
    "revision_request": "Rewrite it.",
    "judging_question": "Which is better?",
}
GOOD_PROMPTS = "".join(json.dumps({"prompt": f"question {i}"}) + "\n" for i in range(3))
ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
)  # 9 levels of 9: 81 aliases, 9**9 values once followed


def config_text(**fields) -> str:
    base = {
        "plugins": ["tests.doubles"],
        "models": {"policy": "fake:p"},
        "prompts": "prompts.jsonl",
        "train": False,
        "output_dir": "{dir}/run",
    }
    return yaml.safe_dump({**base, **fields})


def constitution_text(**fields) -> str:
    return yaml.safe_dump({"name": "c", "principles": [GOOD_PRINCIPLE], **fields})


@dataclass
class Case:
    id: str
    files: dict[str, str | bytes]
    commands: list[list[str]]
    expected: list[str]
    """Text every command's output must contain (besides exit 2 and no traceback)."""
    forbidden: list[str] = field(default_factory=list)


RUN_ALL = [
    ["run", "{dir}/rlaif.yaml"],
    ["generate", "{dir}/rlaif.yaml"],
    ["config", "check", "{dir}/rlaif.yaml"],
]
CONSTITUTION_ALL = [*RUN_ALL, ["constitution", "check", "{dir}/c.yaml"]]


def with_prompts(files: dict) -> dict:
    return {"prompts.jsonl": GOOD_PROMPTS, **files}


def broken_config(case_id: str, content: str | bytes, *expected: str) -> Case:
    return Case(case_id, with_prompts({"rlaif.yaml": content}), RUN_ALL, ["{dir}/rlaif.yaml", *expected])


def broken_constitution(case_id: str, content: str | bytes, *expected: str) -> Case:
    files = with_prompts({"rlaif.yaml": config_text(constitution="c.yaml"), "c.yaml": content})
    return Case(case_id, files, CONSTITUTION_ALL, ["{dir}/c.yaml", *expected])


CASES = [
    # -- run configs -------------------------------------------------------------------------------------------
    broken_config("config-malformed-yaml", "seed: 1\nmodels: [\n", "line 3", "invalid YAML"),
    broken_config("config-not-a-mapping", "- seed\n- rounds\n", "must be a YAML mapping", "found list"),
    broken_config("config-scalar", "just words\n", "must be a YAML mapping", "found str"),
    broken_config(
        "config-wrong-types-all-at-once",
        config_text(seed="abc", rounds="two", train="maybe"),
        "seed: expected integer",
        "rounds: expected integer",
        "train: expected boolean",
    ),
    broken_config("config-unknown-key", config_text(sed=1), "unknown key 'sed'", "did you mean 'seed'"),
    broken_config(
        "config-unknown-nested-key",
        config_text(judge={"nmae": "pairwise"}),
        "judge",
        "unknown key 'nmae'",
        "did you mean 'name'",
    ),
    broken_config("config-rounds-zero", config_text(rounds=0), "rounds", "minimum of 1"),
    broken_config("config-margin-too-big", config_text(judge={"margin": 0.9}), "judge.margin"),
    broken_config("config-nan", config_text().replace("train: false", "train: false\nseed: .nan"), "seed"),
    broken_config("config-not-utf8", b"seed: 1\nname: caf\xe9\n", "line 2", "not valid UTF-8"),
    broken_config("config-empty", "", "is empty"),
    broken_config("config-whitespace-only", "\n   \n", "is empty"),
    broken_config("config-oversized", "#" * (5 * 1024 * 1024 + 10), "bytes; the limit is"),
    broken_config("config-alias-bomb", ALIAS_BOMB, "alias bomb"),
    broken_config("config-alias-cycle", "models: &m [*m]\n", "cycle"),
    broken_config("config-int-key", "1: one\n", "keys must be text"),
    broken_config(
        "config-model-missing-spec", config_text(models={"policy": {"batch_size": 2}}), "models.policy"
    ),
    broken_config(
        "config-missing-constitution", config_text(constitution="nowhere.yaml"), "nowhere.yaml", "not found"
    ),
    broken_config(
        "config-unknown-shipped-constitution",
        config_text(constitution="helpful-harmles"),
        "did you mean 'helpful-harmless'",
    ),
    broken_config(
        "config-missing-prompts",
        config_text(prompts="nowhere.jsonl"),
        "prompts",
        "nowhere.jsonl",
        "not found",
    ),
    broken_config(
        "config-unknown-plugin-module",
        config_text(plugins=["tests.doubles", "no_such_plugin_mod"]),
        "cannot import plugin module 'no_such_plugin_mod'",
        "installed plugins",
    ),
    broken_config(
        "config-unknown-judge",
        config_text(judge={"name": "pairwize"}),
        "judge.name",
        "did you mean 'pairwise'",
        "available: ensemble, likelihood, pairwise",
    ),
    broken_config(
        "config-unknown-optimizer", config_text(optimizer={"name": "dpp"}), "optimizer.name", "dpo"
    ),
    broken_config(
        "config-optimizer-option-type",
        config_text(optimizer={"options": {"beta": "high"}}),
        "optimizer.options.beta",
        "expected number",
    ),
    broken_config(
        "config-optimizer-unknown-option",
        config_text(optimizer={"options": {"betta": 0.1}}),
        "did you mean 'beta'",
    ),
    broken_config(
        "config-dpo-max-steps-zero",
        config_text(optimizer={"options": {"max_steps": 0}}),
        "optimizer.options.max_steps",
        "positive number of steps",
    ),
    broken_config(
        "config-dpo-trl-args-collision",
        config_text(optimizer={"options": {"trl_args": {"beta": 0.5, "output_dir": "x"}}}),
        "optimizer.options.trl_args.beta",
        "set optimizer.options.beta",
        "optimizer.options.trl_args.output_dir",
        "set by rlaif",
    ),
    broken_config(
        "config-unknown-model-scheme-option",
        config_text(models={"policy": {"spec": "fake:p", "dealy": 1}}),
        "models.policy",
        "did you mean 'delay'",
    ),
    Case(
        "config-everything-wrong-at-once",
        with_prompts(
            {
                "rlaif.yaml": config_text(
                    judge={"name": "pairwize"}, constitution="none.yaml", prompts="none.jsonl"
                )
            }
        ),
        [["config", "check", "{dir}/rlaif.yaml"]],
        ["3 problem(s)", "judge.name", "constitution", "prompts"],
    ),
    Case(
        "config-is-a-directory",
        {"rlaif.yaml/keep": ""},
        [["config", "check", "{dir}/rlaif.yaml"], ["run", "{dir}/rlaif.yaml"]],
        ["{dir}/rlaif.yaml", "directory"],
    ),
    Case(
        "config-missing-file",
        {},
        [["config", "check", "{dir}/rlaif.yaml"], ["generate", "{dir}/rlaif.yaml"]],
        ["{dir}/rlaif.yaml", "not found"],
    ),
    # -- prompts -----------------------------------------------------------------------------------------------
    Case(
        "prompts-bad-json-line",
        {"rlaif.yaml": config_text(), "prompts.jsonl": GOOD_PROMPTS + "{not json\n"},
        RUN_ALL,
        ["prompts.jsonl: line 4", "invalid JSON"],
    ),
    Case(
        "prompts-not-an-object",
        {"rlaif.yaml": config_text(), "prompts.jsonl": '{"prompt": "a"}\n[1, 2]\n'},
        RUN_ALL,
        ["prompts.jsonl: line 2", "expected a JSON object"],
    ),
    Case(
        "prompts-missing-field",
        {"rlaif.yaml": config_text(), "prompts.jsonl": '{"prompt": "a"}\n{"text": "b"}\n'},
        RUN_ALL,
        ["prompts.jsonl: line 2", "missing field 'prompt'", "text"],
    ),
    Case(
        "prompts-bad-messages",
        {"rlaif.yaml": config_text(), "prompts.jsonl": '{"prompt": [{"role": "bot", "content": "x"}]}\n'},
        RUN_ALL,
        ["prompts.jsonl: line 1", "message 0"],
    ),
    Case(
        "prompts-empty",
        {"rlaif.yaml": config_text(), "prompts.jsonl": ""},
        RUN_ALL,
        ["prompts.jsonl", "empty"],
    ),
    Case(
        "prompts-not-utf8",
        {"rlaif.yaml": config_text(), "prompts.jsonl": b'{"prompt": "a"}\n{"prompt": "\xff"}\n'},
        RUN_ALL,
        ["prompts.jsonl: line 2", "not valid UTF-8"],
    ),
    # -- constitutions -----------------------------------------------------------------------------------------
    broken_constitution(
        "constitution-malformed-yaml", "name: c\nprinciples:\n  - id: [\n", "line", "invalid YAML"
    ),
    broken_constitution("constitution-not-a-mapping", "- a\n", "must be a YAML mapping"),
    broken_constitution(
        "constitution-missing-texts",
        yaml.safe_dump({"name": "c", "principles": [{"id": "p1"}]}),
        "principles[0]",
        "'critique_request' is required",
        "'revision_request' is required",
        "'judging_question' is required",
    ),
    broken_constitution(
        "constitution-empty-principles", yaml.safe_dump({"name": "c", "principles": []}), "principles"
    ),
    broken_constitution(
        "constitution-duplicate-ids",
        yaml.safe_dump({"name": "c", "principles": [GOOD_PRINCIPLE, GOOD_PRINCIPLE]}),
        "principles[1].id",
        "duplicate principle id 'p1'",
    ),
    broken_constitution(
        "constitution-negative-weight",
        yaml.safe_dump({"name": "c", "principles": [{**GOOD_PRINCIPLE, "weight": -2}]}),
        "principles[0].weight",
        "minimum of 0",
    ),
    broken_constitution(
        "constitution-unknown-key",
        yaml.safe_dump({"name": "c", "principles": [{**GOOD_PRINCIPLE, "critque": "x"}]}),
        "principles[0]",
        "unknown key 'critque'",
        "did you mean",
    ),
    broken_constitution("constitution-not-utf8", b"name: \xc3\x28\n", "line 1", "not valid UTF-8"),
    broken_constitution("constitution-empty", "", "is empty"),
    broken_constitution("constitution-alias-bomb", ALIAS_BOMB, "alias bomb"),
    broken_constitution(
        "constitution-wrong-types",
        yaml.safe_dump({"name": 5, "principles": [{**GOOD_PRINCIPLE, "weight": "heavy", "tags": "x"}]}),
        "name: expected string",
        "principles[0].weight",
        "principles[0].tags",
    ),
    # -- run directory and command-line options ----------------------------------------------------------------
    Case(
        "output-dir-is-a-file",
        with_prompts({"rlaif.yaml": config_text(), "run": "not a directory"}),
        [["run", "{dir}/rlaif.yaml"], ["generate", "{dir}/rlaif.yaml"]],
        ["{dir}/run", "output directory is a file"],
    ),
    Case(
        "output-dir-option-is-a-file",
        with_prompts({"rlaif.yaml": config_text(), "out": "x"}),
        [["generate", "{dir}/rlaif.yaml", "-o", "{dir}/out"], ["run", "{dir}/rlaif.yaml", "-o", "{dir}/out"]],
        ["{dir}/out", "is a file"],
    ),
    Case(
        "max-prompts-zero",
        with_prompts({"rlaif.yaml": config_text()}),
        [["run", "{dir}/rlaif.yaml", "--max-prompts", "0"], ["generate", "{dir}/rlaif.yaml", "-n", "0"]],
        ["max-prompts", "0"],
    ),
    # -- rlaif train -------------------------------------------------------------------------------------------
    *[
        Case(
            f"train-pairs-{name}",
            {"pairs.jsonl": content},
            [["train", "{dir}/pairs.jsonl", "-o", "{dir}/out"]],
            ["{dir}/pairs.jsonl", *expected],
        )
        for name, content, expected in [
            (
                "bad-json",
                '{"prompt": "p", "chosen": "a", "rejected": "b"}\n{oops\n',
                ["line 2", "invalid JSON"],
            ),
            ("missing-key", '{"prompt": "p", "chosen": "a"}\n', ["line 1", "missing rejected"]),
            ("wrong-type", '{"prompt": "p", "chosen": 5, "rejected": "b"}\n', ["line 1", "'chosen' must be"]),
            ("empty", "", ["empty"]),
            ("only-drops", '{"status": "drop", "reason": "tie", "prompt": "p"}\n', ["no pairs to train on"]),
        ]
    ],
    *[
        Case(
            f"train-option-{name}",
            {"pairs.jsonl": '{"prompt": "p", "chosen": "a", "rejected": "b"}\n'},
            [["train", "{dir}/pairs.jsonl", "-o", "{dir}/out", "--option", option]],
            expected,
        )
        for name, option, expected in [
            ("no-equals", "beta", ["--option 'beta'", "KEY=VALUE"]),
            ("bad-yaml", "beta=[0.1", ["--option 'beta=[0.1'", "not valid YAML"]),
            ("unknown", "betta=0.1", ["unknown key 'betta'", "did you mean 'beta'"]),
            ("wrong-type", "beta=high", ["options.beta", "expected number"]),
            ("max-steps-zero", "max_steps=0", ["options.max_steps", "positive number of steps"]),
        ]
    ],
    Case(
        "train-unknown-optimizer",
        {"pairs.jsonl": '{"prompt": "p", "chosen": "a", "rejected": "b"}\n'},
        [["train", "{dir}/pairs.jsonl", "-o", "{dir}/out", "--optimizer", "dpp"]],
        ["unknown optimizer 'dpp'", "dpo"],
    ),
    Case(
        "train-missing-policy",
        {"pairs.jsonl": '{"prompt": "p", "chosen": "a", "rejected": "b"}\n'},
        [["train", "{dir}/pairs.jsonl", "-o", "{dir}/out", "--policy", "{dir}/no-model"]],
        ["{dir}/no-model", "no model directory"],
    ),
    Case(
        "train-output-dir-is-a-file",
        {"pairs.jsonl": '{"prompt": "p", "chosen": "a", "rejected": "b"}\n', "out": "x"},
        [["train", "{dir}/pairs.jsonl", "-o", "{dir}/out"]],
        ["{dir}/out", "is a file"],
    ),
    Case(
        "train-missing-pairs",
        {},
        [["train", "{dir}/nothing.jsonl", "-o", "{dir}/out"]],
        ["{dir}/nothing.jsonl", "does not exist"],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_is_a_clear_error(case: Case, tmp_path):
    for name, content in case.files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content.replace("{dir}", str(tmp_path)))
    runner = CliRunner()
    for command in case.commands:
        argv = [arg.replace("{dir}", str(tmp_path)) for arg in command]
        result = runner.invoke(build_cli(), argv)
        shown = f"$ rlaif {' '.join(argv)}\n{result.output}"
        assert result.exit_code == 2, shown
        assert result.exception is None or isinstance(result.exception, SystemExit), shown
        assert "Traceback" not in result.output, shown
        for text in case.expected:
            assert text.replace("{dir}", str(tmp_path)) in result.output, f"missing {text!r} in\n{shown}"
    assert not (tmp_path / "run" / "manifest.json").exists()  # nothing started
