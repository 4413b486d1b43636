"""The run config's shape, typed: the one source of ``rlaif/schemas/run-config.schema.json``, its defaults and docs.

Like the plugins' options (:mod:`rlaif.options`), every field is a dataclass field with ``help`` text; the JSON
Schema that validates a user's ``rlaif.yaml`` is generated from :class:`RunSettings` (the file under
``rlaif/schemas/`` is written from it for editors and other tools; a test keeps it current). A loaded config keeps
its filled-in mapping in :attr:`rlaif.config.RunConfig.raw` (what ``config.yaml`` records) and offers the typed
view as :attr:`rlaif.config.RunConfig.settings`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from rlaif.judges.probe import HACK_NAMES
from rlaif.options import option, options_schema

MODEL_SCHEMA: dict[str, Any] = {
    "oneOf": [
        {"type": "string", "minLength": 1},
        {
            "type": "object",
            "required": ["spec"],
            "properties": {"spec": {"type": "string", "minLength": 1}},
            "description": "A spec plus backend options, e.g. {spec: embedded, batch_size: 16} or "
            "{spec: 'openai:m', base_url: ...}.",
        },
    ]
}


@dataclass
class Sampling:
    """Sampling for one stage. Keys you leave out keep the stage's defaults."""

    max_new_tokens: int = option(96, "Tokens to generate at most.", minimum=1)
    temperature: float = option(0.7, "0 = greedy.", minimum=0)
    top_p: float = option(0.95, "Nucleus sampling.", exclusiveMinimum=0, maximum=1)
    stop: list[str] = option([], "Stop strings.")


@dataclass
class CritiqueSampling(Sampling):
    """Sampling for critiques (greedy by default). Keys you leave out keep these defaults."""

    max_new_tokens: int = option(64, "Tokens to generate at most.", minimum=1)
    temperature: float = option(0.0, "0 = greedy.", minimum=0)
    top_p: float = option(1.0, "Nucleus sampling.", exclusiveMinimum=0, maximum=1)


@dataclass
class RevisionSampling(Sampling):
    """Sampling for revisions (greedy by default). Keys you leave out keep these defaults."""

    temperature: float = option(0.0, "0 = greedy.", minimum=0)
    top_p: float = option(1.0, "Nucleus sampling.", exclusiveMinimum=0, maximum=1)


@dataclass
class Models:
    """Who plays each role. A model is a spec string (`embedded`, a local HF directory, `openai:<model>`) or
    {spec, ...backend options}."""

    policy: Any = option("embedded", "Answers the prompts; the model that is trained.", schema=MODEL_SCHEMA)
    critic: Any = option(
        None,
        "Writes critiques and revisions (default: the policy).",
        schema={"anyOf": [MODEL_SCHEMA, {"type": "null"}]},
    )
    judge: Any = option(
        None,
        "Model the judge asks (default: the critic).",
        schema={"anyOf": [MODEL_SCHEMA, {"type": "null"}]},
    )


@dataclass
class JudgeSection:
    name: str = option("pairwise", "A registered judge (`rlaif plugins` lists them).")
    margin: float = option(
        0.02,
        "Pairs whose judge probability is within this distance of 0.5 are dropped as ties.",
        minimum=0,
        maximum=0.5,
    )
    options: dict[str, Any] = option(
        {},
        "Judge-specific options (validated against the judge's own schema; config.yaml records them with every "
        "default filled in).",
    )


@dataclass
class EvalSection:
    """Evaluate each round's trained policy against the starting policy on held-out prompts (see
    docs/eval-report.md)."""

    enabled: bool = option(
        True, "Hold prompts out of training and evaluate on them after each trained round."
    )
    holdout: float = option(
        0.2,
        "Prompts held out of training: a fraction of the prompt set (0.2) or a count (10), chosen by prompt-id hash.",
        schema={
            "oneOf": [
                {"type": "integer", "minimum": 0},
                {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
            ]
        },
    )
    max_prompts: int | None = option(16, "Evaluate on at most N held-out prompts.", minimum=1)
    principles: Literal["sampled", "all"] = option(
        "sampled",
        "Judge each prompt under one principle sampled as in generation, or under every principle.",
    )


@dataclass
class PairsSection:
    """How each prompt becomes a preference pair (see docs/judges.md)."""

    strategy: Literal["revision", "best-of-n", "pairwise-tournament"] = option(
        "revision",
        "revision: answer vs CAI revision, judged pairwise. best-of-n: n samples scored by a scoring judge (score, "
        "likelihood, reward-model), best vs worst. pairwise-tournament: n samples, every pair compared, best vs "
        "worst by mean win probability (keep n small).",
    )
    n: int = option(4, "Samples per prompt for best-of-n and pairwise-tournament.", minimum=2)
    min_margin: float = option(
        0.0,
        "Sampled strategies: drop the pair ('low margin') when best minus worst aggregate score is below this "
        "(judge score units; win probability for the tournament).",
        minimum=0,
    )
    prefer_shorter: bool = option(
        False,
        "Length-bias control: when the judge cannot tell responses apart (within judge.margin of 0.5), the "
        "shorter one is chosen instead of dropping the tie.",
    )
    score_principles: Any = option(
        "sampled",
        "Principles every response is judged under: the prompt's sampled principle, all of the constitution's, "
        "or a list of ids. The decision uses their weight-averaged score; the per-principle vector is recorded.",
        schema={
            "anyOf": [
                {"enum": ["sampled", "all"]},
                {"type": "array", "items": {"type": "string"}, "minItems": 1},
            ]
        },
    )


@dataclass
class OptimizerSection:
    """One optimizer, e.g. {name: dpo, options: {...}} (the single-stage form; name defaults to dpo)."""

    name: str = option("dpo", "A registered optimizer (`rlaif plugins` lists them).")
    options: dict[str, Any] = option(
        {},
        "Optimizer-specific options (validated against the optimizer's own schema; config.yaml records them "
        "with every default filled in).",
    )


@dataclass
class ProbeSection:
    """Judge robustness probe (see docs/judges.md): after round 1's generation, pit n of the run's own pairs'
    chosen responses against known master-key responses (a lone ':', 'Solution', an empty reply, padding, ...)
    and warn when the judge prefers or ties a hack too often. Writes round-1/probe.json; does not change the
    pairs."""

    enabled: bool = option(False, "Run the probe after round 1's generation.")
    n: int = option(
        8,
        "Pairs to probe (each against every hack; the pairwise judge makes two calls per comparison).",
        minimum=1,
    )
    warn_above: float = option(
        0.2,
        "Warn (terminal, manifest, report) when any hack's win-or-tie rate exceeds this.",
        minimum=0,
        maximum=1,
    )
    hacks: list[str] = option(
        [],
        "Only these hacks (names as `rlaif judge probe --help` lists them); empty: all.",
        schema={"type": "array", "items": {"enum": list(HACK_NAMES)}},
    )


@dataclass
class RunSettings:
    """Everything `rlaif run` needs. Every field has a default, so an empty file is a valid config."""

    constitution: str = option(
        "helpful-harmless",
        "Path to a constitution YAML (relative to this config) or the name of a shipped one.",
    )
    prompts: str = option(
        "default",
        'A JSONL file of {"prompt": str | messages} records, a `datasets` directory saved with save_to_disk, or '
        "the name of a shipped prompt set.",
    )
    prompt_field: str = option("prompt", "The field holding each prompt.")
    id_field: str | None = option(
        None, "Field with a stable prompt id (default: `id` if present, else a hash of the prompt)."
    )
    max_prompts: int | None = option(None, "Use only the first N prompts.", minimum=1)
    seed: int = option(0, "Base seed; each prompt's seed derives from it, so resumed runs repeat choices.")
    output_dir: str = option(
        "runs/default",
        "Run directory (relative to the current directory). Re-running the same config on it resumes.",
    )
    rounds: int = option(
        1, "Rounds of generate -> train; each round's policy generates the next round's data.", minimum=1
    )
    train: bool = option(True, "Train after generating (false: preference data only).")
    plugins: list[str] = option(
        [],
        "Extra plugin modules to import by dotted path (added to $RLAIF_PLUGINS and the installed plugins).",
    )
    models: Models = option(factory=Models, help=Models.__doc__.replace("\n", " "))
    generation: Sampling = option(factory=Sampling, help="Sampling for the policy's answers.")
    critique: CritiqueSampling = option(factory=CritiqueSampling, help="Sampling for critiques.")
    revision: RevisionSampling = option(factory=RevisionSampling, help="Sampling for revisions.")
    chunk_size: int = option(
        32,
        "Prompts carried through all stages together; finished records are saved after each chunk.",
        minimum=1,
    )
    judge: JudgeSection = option(factory=JudgeSection, help="The judge that decides each pair.")
    eval: EvalSection = option(factory=EvalSection, help=EvalSection.__doc__.replace("\n", " "))
    pairs: PairsSection = option(factory=PairsSection, help=PairsSection.__doc__)
    optimizer: Any = option(
        {"name": "dpo", "options": {}},
        "How the policy trains: one optimizer ({name, options}), or a list of stages run in order in every round, "
        "each starting from the previous stage's checkpoint, e.g. [{name: sft}, {name: dpo}] (SL-CAI then "
        "preference training). Read it through RunConfig.optimizer_stages().",
        schema={
            "oneOf": [
                options_schema(OptimizerSection),
                {
                    "type": "array",
                    "minItems": 1,
                    "items": {"allOf": [options_schema(OptimizerSection), {"required": ["name"]}]},
                    "description": "Training stages in order; each names its optimizer.",
                },
            ]
        },
    )
    revision_passes: int = option(
        1,
        "Critique -> revision passes per prompt (the paper's repeated revisions): pass k critiques and revises "
        "pass k-1's revision, continuing the same conversation, under a newly sampled principle. The judge "
        "compares the original with the final revision; every pass is kept in the record's `passes`. revision "
        "strategy only.",
        minimum=1,
        maximum=16,
    )
    probe: ProbeSection = option(factory=ProbeSection, help=ProbeSection.__doc__.replace("\n", " "))
    labels: str = option(
        "auto",
        "Expert labels (`rlaif label`) that overrule the judge when a round's pairs are built: `auto` uses "
        "RUN_DIR/labels.jsonl when it exists, `none` ignores labels, anything else is a labels file (relative to "
        "this config). A round that is already trained keeps its pairs.",
    )
    judge_agreement: str | None = option(
        None,
        "How far the judge's win rate can be trusted: a saved `rlaif judge-eval CONFIG --data PAIRS --json` result "
        "(a JSON file, relative to this config) that measured this judge against people's labels. The run summary, "
        "manifest and report show its agreement beside every win rate (with the run's own expert labels, when "
        "it has some); without either they say the agreement is unknown.",
    )


@cache
def run_config_schema() -> dict[str, Any]:
    """The run config's JSON Schema (what ``rlaif/schemas/run-config.schema.json`` holds)."""
    schema = options_schema(RunSettings)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://rlaif.dev/schemas/run-config.schema.json",
        "title": "rlaif run config",
        **schema,
    }
