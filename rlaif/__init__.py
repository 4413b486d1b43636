"""rlaif: write down what success means (a constitution), generate AI-feedback preference data, train for it.

The public Python API mirrors the CLI::

    from rlaif import load_config, load_constitution, run
    result = run(load_config("rlaif.yaml"))
"""

from rlaif.hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = ["__version__", "hookimpl"]
