"""Generated tokens per second: the `llamacpp/smollm2` provider against raw llama-cpp-python.

Both paths get the same prompts and settings (three prompts, each at about 300 and about
1,500 tokens, max_tokens 128, temperature 0, a fixed seed) and each runs its own model
instance with the same n_ctx and threads. Calls alternate between the paths, so load from
elsewhere on the machine falls on both alike. Rate = completion tokens / wall time of the
call (prompt processing included). The last line is the ratio; the goal is >= 0.9.

    .venv/bin/python bench/local_model_throughput.py [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import time
from dataclasses import dataclass, field

from inspect_ai.model import (
    ChatMessage,
    ChatMessageSystem,
    ChatMessageUser,
    GenerateConfig,
    Model,
    get_model,
)
from llama_cpp import Llama

from insider.run._local import DEFAULT_N_CTX, smollm2_gguf

MAX_TOKENS = 128
SEED = 1234
PROMPT_SIZES = (300, 1500)
SYSTEM = "You are Wren, an email assistant at Ferrowen Energy. Answer briefly."
TASKS = (
    "Summarise the inbox above in three sentences.",
    "Which email above needs a reply first, and why?",
    "Draft a short reply to the last email above.",
)
SENDERS = ("corinne", "samir", "ruth", "lena", "tobias")
TOPICS = ("the quarterly report", "the server migration", "lunch on Friday", "the new policy")


@dataclass
class Tally:
    """Completion tokens and seconds spent by one path."""

    tokens: dict[int, int] = field(default_factory=dict)
    seconds: dict[int, float] = field(default_factory=dict)

    def add(self, size: int, tokens: int, seconds: float) -> None:
        self.tokens[size] = self.tokens.get(size, 0) + tokens
        self.seconds[size] = self.seconds.get(size, 0.0) + seconds

    def rate(self, size: int | None = None) -> float:
        sizes = [size] if size is not None else list(self.tokens)
        return sum(self.tokens[s] for s in sizes) / sum(self.seconds[s] for s in sizes)


def inbox(llama: Llama, tokens: int, variant: int) -> str:
    """Synthetic emails, one a line, until the text is about `tokens` tokens long."""
    lines: list[str] = []
    for index in itertools.count(1):
        sender = SENDERS[(index + variant) % len(SENDERS)]
        topic = TOPICS[(index * (variant + 1)) % len(TOPICS)]
        lines.append(f"Email {index} from {sender}@ferrowen.com: a question about {topic}.")
        if len(llama.tokenize("\n".join(lines).encode(), add_bos=False)) >= tokens:
            return "\n".join(lines)
    raise AssertionError("unreachable")


def prompts(llama: Llama) -> list[tuple[int, str]]:
    """(size, user prompt) for every task at every size."""
    return [
        (size, f"{inbox(llama, size, variant)}\n\n{task}")
        for size in PROMPT_SIZES
        for variant, task in enumerate(TASKS)
    ]


def run_raw(llama: Llama, user: str) -> tuple[int, float]:
    started = time.perf_counter()
    response = llama.create_chat_completion(
        messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}],
        max_tokens=MAX_TOKENS,
        temperature=0.0,
        seed=SEED,
    )
    elapsed = time.perf_counter() - started
    return response["usage"]["completion_tokens"], elapsed  # type: ignore[index]


async def run_provider(model: Model, user: str) -> tuple[int, float]:
    config = GenerateConfig(max_tokens=MAX_TOKENS, temperature=0.0, seed=SEED)
    messages: list[ChatMessage] = [ChatMessageSystem(content=SYSTEM), ChatMessageUser(content=user)]
    started = time.perf_counter()
    output = await model.generate(messages, config=config)
    elapsed = time.perf_counter() - started
    assert output.usage is not None
    return output.usage.output_tokens, elapsed


async def main(rounds: int) -> None:
    threads = os.cpu_count() or 1
    llama = Llama(
        model_path=str(smollm2_gguf()), n_ctx=DEFAULT_N_CTX, n_threads=threads, verbose=False
    )
    model = get_model("llamacpp/smollm2", n_ctx=DEFAULT_N_CTX, n_threads=threads)
    cases = prompts(llama)
    run_raw(llama, "Hello.")  # warm both paths up
    await run_provider(model, "Hello.")
    raw, provider = Tally(), Tally()
    for round_index in range(rounds):
        for case_index, (size, user) in enumerate(cases):
            raw_first = (round_index + case_index) % 2 == 0
            if raw_first:
                raw.add(size, *run_raw(llama, user))
            provider.add(size, *await run_provider(model, user))
            if not raw_first:
                raw.add(size, *run_raw(llama, user))
    print(f"SmolLM2-135M Q4_1, {threads} threads, n_ctx {DEFAULT_N_CTX}, {rounds} rounds")
    for size in PROMPT_SIZES:
        print(
            f"~{size:>4} prompt tokens: raw {raw.rate(size):6.1f} tok/s "
            f"({raw.tokens[size]} tokens), provider {provider.rate(size):6.1f} tok/s "
            f"({provider.tokens[size]} tokens)"
        )
    print(f"all prompts: raw {raw.rate():.1f} tok/s, provider {provider.rate():.1f} tok/s")
    llama.close()
    print(f"ratio provider/raw tokens_per_second: {provider.rate() / raw.rate():.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="passes over the six prompts")
    asyncio.run(main(parser.parse_args().rounds))
