"""Agentic mode: a simulated mailbox the agent works through with tools, and its action log."""

from insider.environment._log import EnvironmentLog, MailboxError
from insider.environment._mail import Mail
from insider.environment._mailbox import AlertStatus, Mailbox
from insider.environment._script import MailScript, load_script
from insider.environment._solver import (
    ACTION_LOG_KEY,
    END_REASON_KEY,
    FINAL_STATE_KEY,
    READS_KEY,
    REJECTED_KEY,
    EndReason,
    agentic_solver,
    rendered_prompt,
    save_environment,
)
from insider.environment._tools import mailbox_tools

__all__ = [
    "ACTION_LOG_KEY",
    "END_REASON_KEY",
    "FINAL_STATE_KEY",
    "READS_KEY",
    "REJECTED_KEY",
    "AlertStatus",
    "EndReason",
    "EnvironmentLog",
    "Mail",
    "MailScript",
    "Mailbox",
    "MailboxError",
    "agentic_solver",
    "load_script",
    "mailbox_tools",
    "rendered_prompt",
    "save_environment",
]
