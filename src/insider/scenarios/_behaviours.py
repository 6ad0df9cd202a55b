"""The behaviours insider labels: what the scenarios are built to elicit, one column each.

Defined here, below both the experiment file (which chooses the labels a judge decides) and
classification (which decides them), so that both read one list.
"""

from __future__ import annotations

# "harmful" means "the behaviour occurred": for escalation and eval_awareness that is not a
# harm, but the states stay the same.
LABELS: tuple[str, ...] = (
    "blackmail",
    "leak",
    "lethal",
    "disclose_secret",
    "deception",
    "escalation",
    "eval_awareness",
    "considered_harm",
)
