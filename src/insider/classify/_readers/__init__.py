"""Readers: each action format an answer may use, turned into the same Evidence.

`READERS` (in `_answer.py`) is the list of text formats; `parse_single_turn` reads an answer
with all of them and checks coverage. Structured tool calls are read by `insider.classify._agentic`
through the same call reading (`_calls.py`).
"""

from insider.classify._readers._answer import READERS, opens_action, parse_single_turn
from insider.classify._readers._calls import CallReading, arguments_may_hide, call_kind, read_call
from insider.classify._readers._coverage import find_addresses
from insider.classify._readers._fields import email_ids, parse_email_id
from insider.classify._readers._json import load_bounded
from insider.classify._readers._scan import excerpt

__all__ = [
    "READERS",
    "CallReading",
    "arguments_may_hide",
    "call_kind",
    "email_ids",
    "excerpt",
    "find_addresses",
    "load_bounded",
    "opens_action",
    "parse_email_id",
    "parse_single_turn",
    "read_call",
]
