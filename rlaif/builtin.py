"""The built-in plugins: each module below implements hooks from :mod:`rlaif.hookspecs` exactly as a
third-party plugin would, and is registered under its module name (shown as ``rlaif`` by ``rlaif plugins``).

Adding a built-in means adding its module here; nothing else in the core knows the list.
"""

BUILTIN_MODULES = (
    "rlaif.models.builtin",
    "rlaif.judges",
    "rlaif.rewards",
    "rlaif.optimizers",
    "rlaif.feedback",
    "rlaif.cli.commands",
    "rlaif.eval",
    "rlaif.report",
    "rlaif.label",
)
