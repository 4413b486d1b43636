"""Run configs: YAML in, a validated :class:`RunConfig` out, with every default filled in.

Validation happens in two layers, both reporting every problem at once:

1. :func:`load_config` -- the file itself against the run-config schema, generated from
   :class:`rlaif.settings.RunSettings` (also written to ``rlaif/schemas/run-config.schema.json`` for editors);
2. :func:`check_config` -- everything the config refers to (constitution, prompts, plugin names, plugin
   options, model specs), without loading any model. ``rlaif run`` does both before any work starts.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from rlaif.errors import Problem, RlaifError
from rlaif.files import load_yaml_mapping, schema_problems
from rlaif.models import ROLES, is_trainable_here, missing_local_model, split_spec
from rlaif.models.pool import ModelPool, ModelRef
from rlaif.options import fill_schema_defaults, from_mapping
from rlaif.plugins import Registry, load_registry
from rlaif.protocols import GenerationParams
from rlaif.settings import RunSettings, run_config_schema

# Keys that do not change results: a resumed run may differ in these (the judge probe only reads the pairs;
# judge_agreement only describes the judge).
HARMLESS_KEYS = ("output_dir", "max_prompts", "chunk_size", "plugins", "probe", "judge_agreement")

# Keys added after runs existed, at the value that reproduces those runs: left out of the hash at that value,
# so a run directory made before the key existed still resumes.
LATER_KEYS = {"revision_passes": 1, "labels": "auto"}


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

    @cached_property
    def settings(self) -> RunSettings:
        """The typed view of :attr:`raw` (``config.settings.judge.margin``)."""
        return from_mapping(RunSettings, self.raw)

    @property
    def registry(self) -> Registry:
        """The plugins this config sees: installed ones, ``$RLAIF_PLUGINS`` and its own ``plugins:`` list."""
        return load_registry(self.raw["plugins"])

    def model(self, role: str) -> ModelRef:
        """The model for ``policy``, ``critic`` or ``judge`` (critic falls back to policy, judge to critic)."""
        models = self.raw["models"]
        value = models.get(role)
        if value is None and role == "judge":
            value = models.get("critic")
        if value is None:
            value = models.get("policy", "embedded")
        return ModelRef.parse(value)

    def model_pool(self, **overrides: str | None) -> ModelPool:
        """A pool serving this config's roles (``overrides`` re-point a role to another spec)."""
        pool = ModelPool(self.registry, {role: self.model(role) for role in ROLES}, self.base_dir)
        return pool.with_roles(**overrides) if overrides else pool

    def build_judge(self, pool: ModelPool) -> Any:
        """The configured judge on ``pool``'s models, its options validated and defaults filled in."""
        section = self.settings.judge
        registration = self.registry.get("judges", section.name, self.source)
        return registration.factory(
            registration.require_valid_options(section.options, "judge.options"), pool
        )

    def optimizer_stages(self) -> list[dict[str, Any]]:
        """The training stages in order, each ``{name, options}`` (one stage when ``optimizer`` is a mapping)."""
        section = self.raw["optimizer"]
        return list(section) if isinstance(section, list) else [section]

    def optimizer_where(self, index: int) -> str:
        """Config path of stage ``index`` (0-based): ``optimizer`` for the single form, ``optimizer[k]``."""
        return f"optimizer[{index}]" if isinstance(self.raw["optimizer"], list) else "optimizer"

    def sampling(self, stage: str) -> GenerationParams:
        values = dict(self.raw[stage])
        values["stop"] = tuple(values.get("stop") or ())
        return GenerationParams(**values)

    def result_hash(self) -> str:
        """Hash of everything that affects results (for refusing to resume a changed run)."""
        relevant = {
            key: value
            for key, value in self.raw.items()
            if key not in HARMLESS_KEYS and not (key in LATER_KEYS and value == LATER_KEYS[key])
        }
        return hashlib.sha256(json.dumps(relevant, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def with_overrides(self, **overrides: Any) -> RunConfig:
        raw = copy.deepcopy(self.raw)
        for key, value in overrides.items():
            if value is not None:
                raw[key] = value
        return RunConfig(raw=raw, source=self.source, base_dir=self.base_dir)


def _fill_plugin_defaults(raw: dict[str, Any]) -> None:
    """The judge's and optimizer's options with every default filled in, when the plugins can be loaded.

    A config naming an unknown plugin is left as written: :func:`check_config` reports it.
    """
    try:
        registry = load_registry(raw["plugins"])
    except RlaifError:
        return
    sections = [(raw["judge"], "judges")]
    sections += [(stage, "optimizers") for stage in _optimizer_sections(raw)]
    for section, kind in sections:
        registration = registry.entries[kind].get(section["name"])
        if registration is not None and isinstance(section["options"], dict):
            section["options"] = registration.resolved_options(section["options"])


def _optimizer_sections(raw: dict[str, Any]) -> list[dict[str, Any]]:
    """The optimizer stage mappings of ``raw``, their ``name`` (dpo) and ``options`` ({}) defaults filled in.

    The schema's defaults cannot reach inside ``oneOf`` (one mapping or a list of them), so they are set here.
    """
    section = raw["optimizer"]
    stages = section if isinstance(section, list) else [section]
    for stage in stages:
        stage.setdefault("name", "dpo")
        stage.setdefault("options", {})
    return stages


def config_from_dict(
    data: dict[str, Any], source: str | None = None, base_dir: Path | None = None
) -> RunConfig:
    schema = run_config_schema()
    problems = schema_problems(data, schema, source)
    if problems:
        raise RlaifError(f"{source or 'run config'}: invalid run config", problems)
    raw = fill_schema_defaults(copy.deepcopy(data), schema)
    _optimizer_sections(raw)
    _fill_plugin_defaults(raw)
    return RunConfig(raw=raw, source=source, base_dir=base_dir or Path.cwd())


def load_config(path: str | Path | None = None) -> RunConfig:
    """Load a run config file; ``None`` gives the embedded defaults (what ``rlaif run`` uses with no file)."""
    if path is None:
        return config_from_dict({}, source=None)
    path = Path(path)
    data = load_yaml_mapping(path, "run config")
    return config_from_dict(data, source=str(path), base_dir=path.resolve().parent)


def _options_problems(
    kind: str, name: str, options: dict[str, Any], registry: Registry, file: str | None, where: str
) -> list[Problem]:
    registration = registry.entries[kind].get(name)
    if registration is None:
        return []
    return registration.option_problems(options, file, where)


def _lookup_problem(registry: Registry, kind: str, name: str, file: str | None, where: str) -> list[Problem]:
    """An unknown plugin name as a Problem ("unknown optimizer 'dpoo' (did you mean 'dpo'?); available: ...")."""
    if name in registry.entries[kind]:
        return []
    try:
        registry.get(kind, name)
    except RlaifError as error:
        return [Problem(error.message, file, where)]
    return []


def check_config(config: RunConfig) -> list[Problem]:
    """Everything the config refers to, checked without loading models. Empty list = good to go."""
    from rlaif.constitution import load_constitution
    from rlaif.judges.members import judge_problems
    from rlaif.prompts import load_prompts

    file = config.source
    problems: list[Problem] = []
    try:
        registry = config.registry
    except RlaifError as error:
        return [Problem(error.render(), file, "plugins")]

    constitution = None
    try:
        constitution = load_constitution(config.settings.constitution, config.base_dir)
    except RlaifError as error:
        problems.append(Problem(error.render(), file, "constitution"))
    else:
        problems += _constitution_reward_problems(constitution, registry)
    try:
        load_prompts(config)  # every line: a bad line 5000 should show now, not hours into a run
    except RlaifError as error:
        problems.append(Problem(error.render(), file, "prompts"))

    problems += judge_problems(
        config.settings.judge.name,
        config.settings.judge.options,
        registry,
        file,
        ["judge"],
        base_dir=config.base_dir,
    )  # member judges (ensemble members, a fallback) too
    for index, stage in enumerate(config.optimizer_stages()):
        where = config.optimizer_where(index)
        problems += _lookup_problem(registry, "optimizers", stage["name"], file, f"{where}.name")
        problems += _options_problems(
            "optimizers", stage["name"], stage["options"], registry, file, f"{where}.options"
        )
    problems += _revision_pass_problems(config)
    if constitution is not None:
        problems += _score_principle_problems(config, constitution)

    for role in ROLES:
        ref = config.model(role)
        try:
            scheme, _ = split_spec(ref.spec, registry)
        except RlaifError as error:
            problems.append(Problem(error.message, file, f"models.{role}"))
            continue
        problems += _options_problems("models", scheme, ref.options, registry, file, f"models.{role}")
        missing = missing_local_model(ref.spec, registry, config.base_dir)
        if missing:
            problems.append(Problem(missing, file, f"models.{role}"))
    labels = config.settings.labels
    if labels not in ("auto", "none"):
        path = Path(labels).expanduser()
        path = path if path.is_absolute() else config.base_dir / path
        if not path.is_file():
            problems.append(Problem(f"labels file '{path}' not found (or use auto / none)", file, "labels"))
    if config.settings.judge_agreement is not None:
        from rlaif.judges.trust import load_judge_eval

        try:
            load_judge_eval(config.settings.judge_agreement, config.base_dir)
        except RlaifError as error:
            problems.append(Problem(error.render(), file, "judge_agreement"))
    policy = config.model("policy").spec
    if (
        config.settings.train
        and not missing_local_model(policy, registry)
        and not is_trainable_here(policy, registry)
    ):
        problems.append(
            Problem(
                f"the policy '{policy}' is served remotely and cannot be trained here; "
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
                problems += _lookup_problem(registry, "rewards", name, constitution.source, where)
            else:
                problems += _options_problems(
                    "rewards", name, options, registry, constitution.source, f"{where}.options"
                )
    return problems


def _revision_pass_problems(config: RunConfig) -> list[Problem]:
    """Several revision passes refine one revision: only the revision strategy has one."""
    strategy = config.settings.pairs.strategy
    if config.settings.revision_passes > 1 and strategy != "revision":
        return [
            Problem(
                f"revision_passes is {config.settings.revision_passes}, but pairs.strategy '{strategy}' makes no "
                "revisions; use strategy: revision or revision_passes: 1",
                config.source,
                "revision_passes",
            )
        ]
    return []


def _score_principle_problems(config: RunConfig, constitution: Any) -> list[Problem]:
    """``pairs.score_principles`` ids must be principles of the constitution (else the run fails mid-way)."""
    from rlaif.errors import closest

    chosen = config.settings.pairs.score_principles
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


def require_valid(config: RunConfig) -> None:
    problems = check_config(config)
    if problems:
        raise RlaifError(
            f"{config.source or 'run config'}: the config refers to things that are not usable", problems
        )
