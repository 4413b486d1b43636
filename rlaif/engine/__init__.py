"""The generate -> critique -> revise -> judge engine and its crash-safe journal."""

from rlaif.engine.cai import EngineResult, EngineSettings, prompt_seed, run_cai
from rlaif.engine.journal import Journal

__all__ = ["EngineResult", "EngineSettings", "Journal", "prompt_seed", "run_cai"]
