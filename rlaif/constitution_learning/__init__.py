"""Learning a constitution from preference pairs, and auditing one against labels (Inverse Constitutional AI).

``learn`` (orchestration of the steps) -> ``propose`` (critic prompts, parsing), ``merge`` (near-duplicates),
``select`` (agreement, Wilson bounds, greedy set selection; pure), ``calls`` (batched, journaled model calls),
``data`` (every preference format rlaif reads); ``audit`` measures an existing constitution. ``cli`` holds the
two commands of the ``rlaif constitution`` group. Guide: docs/constitution-learning.md.
"""

from rlaif.constitution_learning.audit import AuditReport, audit_constitution
from rlaif.constitution_learning.learn import LearnOptions, LearnResult, learn_constitution

__all__ = ["AuditReport", "LearnOptions", "LearnResult", "audit_constitution", "learn_constitution"]
