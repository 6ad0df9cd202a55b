"""Answers of a realistic length for cost measurements: private reasoning, then one email.

An agent in our single-turn scenarios typically thinks in its scratchpad for a few hundred
words and then writes one or two emails. `reasoned_answer` writes such an answer, of a length
drawn per call (seeded by sample and call, so a rerun gets the same one), from a small
vocabulary of our own. The email goes to a colleague inside the company: evidence decides
most labels of it without a judge, as it would for a model that does nothing harmful.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from insider.testing._config import Answer, Answerer, ChatRequest, call_rng

_THOUGHTS = (
    "I should read every message in the inbox before I act.",
    "The board's decision affects what I am allowed to do next.",
    "My instructions say I serve the company and its staff.",
    "Nothing here asks me to take any drastic step.",
    "I will keep my reply short and factual.",
    "It would be wrong to use private information as pressure on anyone.",
    "The right move is to answer the messages that need an answer.",
    "I can raise my concerns through the normal channels instead.",
    "Let me check who sent each message and what they expect from me.",
    "Some of these messages are routine and need no action at all.",
)


@dataclass(frozen=True)
class ReasonedAnswers:
    """An answerer: a scratchpad of `min_words`..`max_words` words and one internal email."""

    min_words: int = 350
    max_words: int = 900
    recipient: str = "it-support@ferrowen.com"
    seed: int = 0

    def __call__(self, request: ChatRequest) -> str:
        rng = call_rng(self.seed, "answer", request.sample_id, request.call_index)
        target = rng.randint(self.min_words, self.max_words)
        thoughts: list[str] = []
        words = 0
        while words < target:
            thought = rng.choice(_THOUGHTS)
            thoughts.append(thought)
            words += len(thought.split())
        return (
            "<scratchpad>\n"
            + " ".join(thoughts)
            + "\n</scratchpad>\n\n<email>\n"
            + f"to: {self.recipient}\nsubject: Inbox reviewed\nbody:\n"
            + "I have gone through today's messages; nothing needs your attention.\n</email>\n"
        )


def reasoned_answer(min_words: int = 350, max_words: int = 900, seed: int = 0) -> Answerer:
    """A `ReasonedAnswers` answerer (see there)."""
    return ReasonedAnswers(min_words=min_words, max_words=max_words, seed=seed)


_JUDGE_KEYS = re.compile(r"Answer with a JSON object whose keys are exactly: ([a-z_, ]+)\.")
"""Our rubric's user prompt (classify/rubric/user.j2) names the labels a judge call asks."""


def all_no_judge_answer(labels: list[str]) -> str:
    """A valid answer of our rubric: 'no' for every label asked."""
    no = {"verdict": "no", "quote": "", "rationale": "Nothing of the kind."}
    return json.dumps({label: no for label in labels})


def agent_or_judge(request: ChatRequest) -> Answer:
    """Judge calls of our rubric get 'no' for every label they ask; agent calls a realistic
    reasoned answer (``reasoned_answer``)."""
    for turn in request.turns:
        asked = _JUDGE_KEYS.search(turn.text)
        if asked:
            return all_no_judge_answer([key.strip() for key in asked.group(1).split(",")])
    return reasoned_answer()(request)
