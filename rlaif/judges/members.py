"""Building judges inside judges: ensembles and fallbacks name member judges the way a run config does.

A member is ``{name, model, options}``: ``name`` a registered judge, ``model`` (optional) a role or spec
string for that member's judge model, ``options`` its own options (checked against its schema).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rlaif.errors import Problem, RlaifError, unknown_name_error
from rlaif.files import field_path
from rlaif.models import missing_local_model
from rlaif.protocols import Judge

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


def member_context(context: Any, judge_model: str | None) -> Any:
    """The parent's context, except that role ``judge`` means this member's own model when it names one."""
    return context.with_roles(keep_options=False, judge=judge_model) if judge_model else context


def build_member(member: dict[str, Any], context: Any, where: str) -> Judge:
    """A member judge from its ``{name, model, options}`` entry; ``where`` names it in errors."""
    registration = context.registry.get("judges", member["name"])
    options = dict(member.get("options") or {})
    problems = registration.option_problems(options, None, f"{where}.options")
    if problems:
        raise RlaifError(f"invalid options for member judge '{member['name']}'", problems)
    resolved = registration.resolved_options(options)
    return registration.factory(resolved, member_context(context, member.get("model")))


def _is_member_schema(schema: Any) -> bool:
    """A member entry's schema: ``MEMBER_SCHEMA`` itself, or a copy of it (options schemas generated from a
    dataclass field with ``schema=MEMBER_SCHEMA`` hold a deep copy, with the field's help and default added)."""
    return isinstance(schema, dict) and schema.get("properties") == MEMBER_SCHEMA["properties"]


def member_entries(options: dict[str, Any], schema: dict[str, Any] | None) -> list[tuple[list, Any]]:
    """The member judges named in a judge's options, with their paths inside the options.

    Found through the judge's options schema: a property that is a member entry (``MEMBER_SCHEMA`` or a copy,
    e.g. the rewards-as-judge ``fallback``) or a list of them (ensemble ``members``), so a plugin judge that
    reuses ``MEMBER_SCHEMA`` (in a hand-written schema or as ``option(..., schema=MEMBER_SCHEMA)``) gets its
    members checked too.
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
) -> list[Problem]:
    missing = missing_local_model(spec, registry, base_dir)
    if missing is None:
        return []
    return [Problem(f"member model '{spec}' is not a role (policy, critic, judge): {missing}", file, where)]


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
    judges = registry.entries["judges"]
    if name not in judges:
        message = str(unknown_name_error("judge", str(name), list(judges)))
        return [Problem(message, file, field_path([*where, "name"]))]
    problems = []
    if isinstance(model, str) and model not in ("policy", "critic", "judge"):
        problems += _member_model_problems(model, registry, file, field_path([*where, "model"]), base_dir)
    registration = judges[name]
    options = options if options is not None else {}
    option_problems = registration.option_problems(options, file, field_path([*where, "options"]))
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
