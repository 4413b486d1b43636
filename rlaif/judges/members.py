"""Building judges inside judges: ensembles and fallbacks name member judges the way a run config does.

A member is ``{name, model, options}``: ``name`` a registered judge, ``model`` (optional) a role or spec
string for that member's judge model, ``options`` its own options (checked against its schema).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlaif.errors import RlaifError
from rlaif.files import schema_problems
from rlaif.protocols import ChatModel, Judge

MEMBER_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "description": "A registered judge."},
        "model": {
            "type": "string",
            "description": "Role (policy/critic/judge) or model spec for this member.",
        },
        "options": {"type": "object", "default": {}},
    },
}


@dataclass
class MemberContext:
    """The parent's context, except that role ``judge`` means this member's own model when it names one."""

    parent: Any
    judge_model: str | None = None

    @property
    def registry(self) -> Any:
        return registry_of(self.parent)

    def model(self, role_or_spec: str) -> ChatModel:
        if role_or_spec == "judge" and self.judge_model:
            return self.parent.model(self.judge_model)
        return self.parent.model(role_or_spec)


def registry_of(context: Any) -> Any:
    registry = getattr(context, "registry", None)
    if registry is None:
        from rlaif.plugins import get_registry

        registry = get_registry()
    return registry


def build_member(member: dict[str, Any], context: Any, where: str) -> Judge:
    """A member judge from its ``{name, model, options}`` entry; ``where`` names it in errors."""
    registry = registry_of(context)
    registration = registry.get("judges", member["name"])
    options = dict(member.get("options") or {})
    if registration.options_schema:
        problems = schema_problems(
            options, registration.options_schema, None, prefix=(*where.split("."), "options")
        )
        if problems:
            raise RlaifError(f"invalid options for member judge '{member['name']}'", problems)
    return registration.factory(options, MemberContext(context, member.get("model")))


def _is_member_schema(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("properties") is MEMBER_SCHEMA["properties"]


def member_entries(options: dict[str, Any], schema: dict[str, Any] | None) -> list[tuple[list, Any]]:
    """The member judges named in a judge's options, with their paths inside the options.

    Found through the judge's options schema: a property that is a member entry (``MEMBER_SCHEMA``, e.g. the
    rewards-as-judge ``fallback``) or a list of them (ensemble ``members``), so a plugin judge that reuses
    ``MEMBER_SCHEMA`` gets its members checked too.
    """
    found: list[tuple[list, Any]] = []
    for key, prop in ((schema or {}).get("properties") or {}).items():
        value = options.get(key) if isinstance(options, dict) else None
        if value is None:
            continue
        if _is_member_schema(prop):
            found.append(([key], value))
        elif isinstance(prop, dict) and _is_member_schema(prop.get("items")) and isinstance(value, list):
            found += [([key, index], item) for index, item in enumerate(value)]
    return found


def _member_model_problems(
    spec: str, registry: Any, file: str | None, where: str, base_dir: Path | None
) -> list[Any]:
    from rlaif.config import _looks_like_hub_id
    from rlaif.errors import Problem
    from rlaif.models import split_spec

    scheme, rest = split_spec(spec, registry)
    if scheme != "hf":
        return []
    path = Path(rest).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    if path.exists() or _looks_like_hub_id(rest):
        return []
    return [
        Problem(
            f"member model '{spec}' is not a role (policy, critic, judge), a known backend "
            f"({', '.join(sorted(registry.entries['models']))}:...) or an existing model directory",
            file,
            where,
        )
    ]


def judge_problems(
    name: Any,
    options: Any,
    registry: Any,
    file: str | None,
    where: list,
    model: Any = None,
    base_dir: Path | None = None,
) -> list[Any]:
    """``rlaif config check`` for one judge entry: its name is registered, its options fit its schema (and its
    own check), its model names a role or a known backend, and so on for every member judge it names."""
    from rlaif.config import plugin_option_problems
    from rlaif.errors import Problem, unknown_name_error
    from rlaif.files import field_path

    judges = registry.entries["judges"]
    if name not in judges:
        message = str(unknown_name_error("judge", str(name), list(judges)))
        return [Problem(message, file, field_path([*where, "name"]))]
    problems = []
    if isinstance(model, str) and model not in ("policy", "critic", "judge"):
        problems += _member_model_problems(model, registry, file, field_path([*where, "model"]), base_dir)
    registration = judges[name]
    options = options if options is not None else {}
    option_problems = plugin_option_problems(registration, options, file, field_path([*where, "options"]))
    if option_problems:  # members are only looked at once the options have the expected shape
        return problems + option_problems
    for path, member in member_entries(options, registration.options_schema):
        problems += judge_problems(
            member.get("name"),
            member.get("options") or {},
            registry,
            file,
            [*where, "options", *path],
            model=member.get("model"),
            base_dir=base_dir,
        )
    return problems
