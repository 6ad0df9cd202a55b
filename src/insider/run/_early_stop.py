"""The early stop of agentic runs: Inspect's eval loop told to take no new sample.

Single-turn runs feed samples to their workers themselves and stop feeding them
(``FailureStreak.guard``). Agentic runs go through Inspect's ``eval_set``, which schedules the
samples, so each sample's solver reports how it ended to the model's ``FailureStreak``, and
the streak's trip *drains* the task: Inspect's own graceful stop (``inspect ctl task drain``),
under which queued samples (retries of failed ones included) are abandoned, those in flight
finish, and the log ends as an ordinary one holding fewer samples than planned, which the next
``eval_set`` over the same log directory runs, i.e. the same command resumes them.
"""

from __future__ import annotations

import functools

from inspect_ai.solver import Generate, Solver, TaskState

from insider.failures import describe_failure
from insider.run._failures import FailureStreak


def stop_early(inner: Solver, streak: FailureStreak) -> Solver:
    """``inner``, whose failures and answers feed ``streak``; its trip drains the task.

    The wrapper carries ``inner``'s registry record (``functools.wraps`` copies its
    ``__dict__``), so the logged plan, and with it ``eval_set``'s identity of the task, stay
    those of ``inner``: logs written before or without this wrapper are resumed, not redone.
    """

    @functools.wraps(inner)
    async def solve(state: TaskState, generate: Generate) -> TaskState:
        try:
            state = await inner(state, generate)
        except Exception as exc:  # still the sample's error: Inspect records it
            if streak.record(describe_failure(exc)):
                _drain_current_task()
            raise
        streak.record(None)
        return state

    return solve


def _drain_current_task() -> None:
    """Drain the task of the running sample (Inspect internals; see docs/architecture.md)."""
    from inspect_ai._control.cancel import drain_task
    from inspect_ai._control.eval_state import stable_task_id_for_eval
    from inspect_ai.log._samples import sample_active

    active = sample_active()
    if active is not None:
        drain_task(stable_task_id_for_eval(active.eval_id))
