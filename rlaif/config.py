"""Run configs: YAML in, a validated :class:`RunConfig` out, with every default filled in.

Validation happens in two layers, both reporting every problem at once:

1. :func:`load_config` -- the file itself against ``rlaif/schemas/run-config.schema.json``;
2. :func:`check_config` -- everything the config refers to (constitution, prompts, plugin names, plugin
   options, model specs), without loading any model. ``rlaif run`` does both before any work starts.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlaif.errors import Problem, RlaifError
from rlaif.files import load_schema, load_yaml_mapping, schema_problems
from rlaif.protocols import GenerationParams

SCHEMA_FILE = "run-config.schema.json"

STAGE_DEFAULTS = {
    "generation": GenerationParams(max_new_tokens=96, temperature=0.7, top_p=0.95),
    "critique": GenerationParams(max_new_tokens=64, temperature=0.0),
    "revision": GenerationParams(max_new_tokens=96, temperature=0.0),
}

# Keys that do not change results: a resumed run may differ in these.
HARMLESS_KEYS = ("output_dir", "max_prompts", "chunk_size", "plugins")


@dataclass(frozen=True)
class ModelRef:
    """A role's model: a spec string plus backend options (``batch_size``, ``base_url``, ...)."""

    spec: str
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, value: str | dict[str, Any]) -> ModelRef:
        if isinstance(value, str):
            return cls(value)
        options = {key: val for key, val in value.items() if key != "spec"}
        return cls(value["spec"], options)

    def key(self) -> str:
        """Identity for sharing one loaded model between roles."""
        return json.dumps([self.spec, self.options], sort_keys=True, default=str)


@dataclass
class RunConfig:
    """A validated run config. ``raw`` keeps the full, defaults-filled mapping (what ``config.yaml`` records)."""

    raw: dict[str, Any]
    source: str | None = None
    base_dir: Path = field(default_factory=Path.cwd)

    # -- convenience views -------------------------------------------------------------------------------------
    def __getitem__(self, key: str) -> Any:
        return self.raw[key]

    @property
    def output_dir(self) -> Path:
        return Path(self.raw["output_dir"]).expanduser()

    def model(self, role: str) -> ModelRef:
        """The model for ``policy``, ``critic`` or ``judge`` (critic falls back to policy, judge to critic)."""
        models = self.raw["models"]
        value = models.get(role)
        if value is None and role == "judge":
            value = models.get("critic")
        if value is None:
            value = models.get("policy", "embedded")
        return ModelRef.parse(value)

    def sampling(self, stage: str) -> GenerationParams:
        base = STAGE_DEFAULTS[stage]
        overrides = dict(self.raw.get(stage) or {})
        if "stop" in overrides:
            overrides["stop"] = tuple(overrides["stop"])
        return GenerationParams(**{**vars(base), **overrides})

    def result_hash(self) -> str:
        """Hash of everything that affects results (for refusing to resume a changed run)."""
        relevant = {key: value for key, value in self.raw.items() if key not in HARMLESS_KEYS}
        return hashlib.sha256(json.dumps(relevant, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def with_overrides(self, **overrides: Any) -> RunConfig:
        raw = copy.deepcopy(self.raw)
        for key, value in overrides.items():
            if value is not None:
                raw[key] = value
        return RunConfig(raw=raw, source=self.source, base_dir=self.base_dir)


def _fill_defaults(instance: Any, schema: dict[str, Any], root: dict[str, Any]) -> Any:
    """Fill ``default`` values from the schema into ``instance`` (objects only, recursively)."""
    if "$ref" in schema:
        schema = root["$defs"][schema["$ref"].split("/")[-1]]
    if not isinstance(instance, dict) or schema.get("type") != "object":
        return instance
    for key, sub in schema.get("properties", {}).items():
        if key not in instance and "default" in sub:
            instance[key] = copy.deepcopy(sub["default"])
        if key in instance:
            instance[key] = _fill_defaults(instance[key], sub, root)
    return instance


def config_from_dict(
    data: dict[str, Any], source: str | None = None, base_dir: Path | None = None
) -> RunConfig:
    schema = load_schema(SCHEMA_FILE)
    problems = schema_problems(data, schema, source)
    if problems:
        raise RlaifError(f"{source or 'run config'}: invalid run config", problems)
    raw = _fill_defaults(copy.deepcopy(data), schema, schema)
    return RunConfig(raw=raw, source=source, base_dir=base_dir or Path.cwd())


def load_config(path: str | Path | None = None) -> RunConfig:
    """Load a run config file; ``None`` gives the embedded defaults (what ``rlaif run`` uses with no file)."""
    if path is None:
        return config_from_dict({}, source=None)
    path = Path(path)
    data = load_yaml_mapping(path, "run config")
    return config_from_dict(data, source=str(path), base_dir=path.resolve().parent)


def _options_problems(
    kind: str, name: str, options: dict[str, Any], registry: Any, file: str | None, where: str
) -> list[Problem]:
    registration = registry.entries[kind].get(name)
    if registration is None:
        return []
    return plugin_option_problems(registration, options, file, where)


def plugin_option_problems(registration: Any, options: Any, file: str | None, where: str) -> list[Problem]:
    """Options against the plugin's schema, then (if those pass) against its own ``check`` hook."""
    if registration.options_schema:
        problems = schema_problems(options, registration.options_schema, file, prefix=tuple(where.split(".")))
        if problems:
            return problems
    if registration.check is None:
        return []
    try:
        found = list(registration.check(dict(options)))
    except Exception as exc:  # a plugin's broken check must not hide the rest of the report
        return [Problem(f"the {registration.name} plugin's option check failed: {exc!r}", file, where)]
    return [
        Problem(problem.message, file, f"{where}.{problem.where}" if problem.where else where)
        for problem in found
    ]


def check_config(config: RunConfig) -> list[Problem]:
    """Everything the config refers to, checked without loading models. Empty list = good to go."""
    from rlaif.models import split_spec
    from rlaif.plugins import get_registry
    from rlaif.prompts import load_prompts

    file = config.source
    problems: list[Problem] = []
    try:
        registry = get_registry(config["plugins"])
    except RlaifError as error:
        return [Problem(error.render(), file, "plugins")]

    from rlaif.constitution import load_constitution

    constitution = None
    try:
        constitution = load_constitution(config["constitution"], config.base_dir)
    except RlaifError as error:
        problems.append(Problem(error.render(), file, "constitution"))
    else:
        problems += _constitution_reward_problems(constitution, registry)
    try:
        load_prompts(config)  # every line: a bad line 5000 should show now, not hours into a run
    except RlaifError as error:
        problems.append(Problem(error.render(), file, "prompts"))

    from rlaif.judges.members import judge_problems

    problems += judge_problems(
        config["judge"]["name"],
        config["judge"]["options"],
        registry,
        file,
        ["judge"],
        base_dir=config.base_dir,
    )  # member judges (ensemble members, a fallback) too
    name = config["optimizer"]["name"]
    if name not in registry.entries["optimizers"]:
        problems.append(
            Problem(str(registry_lookup_error(registry, "optimizers", name)), file, "optimizer.name")
        )
    else:
        problems += _options_problems(
            "optimizers", name, config["optimizer"]["options"], registry, file, "optimizer.options"
        )
    if constitution is not None:
        problems += _score_principle_problems(config, constitution)

    for role in ("policy", "critic", "judge"):
        ref = config.model(role)
        scheme, rest = split_spec(ref.spec, registry)
        if scheme not in registry.entries["models"]:
            problems.append(Problem(f"no model backend for '{ref.spec}'", file, f"models.{role}"))
            continue
        problems += _options_problems("models", scheme, ref.options, registry, file, f"models.{role}")
        if scheme == "hf":
            path = Path(rest).expanduser()
            if not path.is_absolute():
                path = config.base_dir / path
            if not path.exists() and not _looks_like_hub_id(rest):
                problems.append(
                    Problem(
                        f"model directory '{rest}' not found (use 'embedded', a local directory or 'openai:<model>')",
                        file,
                        f"models.{role}",
                    )
                )
    if config["train"]:
        scheme, _ = split_spec(config.model("policy").spec, registry)
        if scheme not in ("embedded", "hf"):
            problems.append(
                Problem(
                    f"the policy '{config.model('policy').spec}' is served remotely and cannot be trained here; "
                    "use a local model as policy or set train: false",
                    file,
                    "models.policy",
                )
            )
    return problems


def _constitution_reward_problems(constitution: Any, registry: Any) -> list[Problem]:
    """Rewards a constitution attaches to its principles must exist and take the options given."""
    problems = []
    for p_index, principle in enumerate(constitution.principles):
        for r_index, (name, options) in enumerate(principle.reward_specs()):
            where = f"principles[{p_index}].rewards[{r_index}]"
            if name not in registry.entries["rewards"]:
                problems.append(
                    Problem(str(registry_lookup_error(registry, "rewards", name)), constitution.source, where)
                )
            else:
                problems += _options_problems(
                    "rewards", name, options, registry, constitution.source, f"{where}.options"
                )
    return problems


def _score_principle_problems(config: RunConfig, constitution: Any) -> list[Problem]:
    """``pairs.score_principles`` ids must be principles of the constitution (else the run fails mid-way)."""
    from rlaif.errors import closest

    chosen = (config.raw.get("pairs") or {}).get("score_principles")
    if not isinstance(chosen, list):
        return []
    known = [p.id for p in constitution.principles]
    problems = []
    for index, pid in enumerate(chosen):
        if pid not in known:
            suggestion = closest(str(pid), known)
            hint = f" (did you mean '{suggestion}'?)" if suggestion else ""
            problems.append(
                Problem(
                    f"unknown principle id '{pid}'{hint}; the constitution ({constitution.source}) has: "
                    f"{', '.join(known)}",
                    config.source,
                    f"pairs.score_principles[{index}]",
                )
            )
    return problems


def _looks_like_hub_id(spec: str) -> bool:
    parts = spec.split("/")
    return len(parts) == 2 and all(parts) and not spec.startswith((".", "~"))


def registry_lookup_error(registry: Any, kind: str, name: str) -> RlaifError:
    try:
        registry.get(kind, name)
    except RlaifError as error:
        return error
    raise AssertionError("name is registered")


def require_valid(config: RunConfig) -> None:
    problems = check_config(config)
    if problems:
        raise RlaifError(
            f"{config.source or 'run config'}: the config refers to things that are not usable", problems
        )


def resolve_path(config: RunConfig, value: str) -> Path:
    """A path from the config, relative to the config file's folder."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else config.base_dir / path
