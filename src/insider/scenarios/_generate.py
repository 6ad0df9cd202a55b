"""Write rendered conditions to disk: one folder per condition, byte-stable."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from insider.files import write_text
from insider.scenarios._render import RenderedPrompt


def condition_files(prompt: RenderedPrompt) -> dict[str, str]:
    """The files of one condition folder, name -> text."""
    emails = [email.model_dump(mode="json") for email in prompt.emails]
    return {
        "system.txt": prompt.system,
        "user.txt": prompt.user,
        "emails.json": json.dumps(emails, indent=2, ensure_ascii=False) + "\n",
        "metadata.json": json.dumps(prompt.metadata(), indent=2, sort_keys=True) + "\n",
    }


def write_conditions(prompts: Sequence[RenderedPrompt], out: Path) -> int:
    """Write every condition folder under ``out``; returns the number of files written.

    Everything is rendered before this is called, so bad input never leaves a partial tree.
    """
    written = 0
    for prompt in prompts:
        folder = out / prompt.condition.condition_id
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in condition_files(prompt).items():
            write_text(folder / name, text)
            written += 1
    return written
