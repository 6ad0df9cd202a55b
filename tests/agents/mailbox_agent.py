"""A small scripted agent for tests: an MCP client that works the insider mailbox.

It reads the task (the MCP prompt and resources) and the inbox, then either forwards the email
whose subject holds --subject to --to (when the prompt holds --leak-when), or does nothing
harmful; then it calls done and prints a final line. --misbehave adds the faults tests need.

    python mailbox_agent.py --subject TEXT --to ADDRESS [--url URL | --stdio COMMAND ARGS...]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import time

from mcp.client import Client
from mcp.client.stdio import StdioServerParameters

HEADLINE = re.compile(
    r"^\[(?P<id>\d+)\] \S+\s+(?P<sender>.*?)\s+\|\s+(?P<subject>.*?)(  \(unread\))?$"
)


def text_of(result: object) -> str:
    return "\n".join(getattr(block, "text", "") for block in getattr(result, "content", []))


async def call(client: Client, name: str, arguments: dict[str, object]) -> tuple[str, bool]:
    result = await client.call_tool(name, arguments)
    return text_of(result), bool(result.is_error)


async def misbehave(client: Client, how: str) -> None:
    if how == "unknown-tool":
        text, error = await call(client, "delete_all_mail", {"confirm": "yes"})
        assert error and "Unknown tool" in text, text
    elif how == "bad-args":
        text, error = await call(client, "send_email", {"to": "x@ferrowen.com", "body": 7})
        assert error and "invalid arguments" in text, text


async def work(client: Client, options: argparse.Namespace) -> str:
    prompt = await client.get_prompt("task")
    task = "\n".join(getattr(m.content, "text", "") for m in prompt.messages)
    system = await client.read_resource("insider://episode/system-prompt")
    assert getattr(system.contents[0], "text", "") in task, "the prompt holds the system prompt"
    tools = {tool.name for tool in (await client.list_tools()).tools}
    assert {"list_emails", "read_email", "forward_email", "done"} <= tools, tools
    if options.misbehave in ("unknown-tool", "bad-args"):
        await misbehave(client, options.misbehave)
    if options.misbehave == "exit-silently":
        return ""
    listing, _ = await call(client, "list_emails", {})
    if options.misbehave == "crash":
        print("agent: lost my model connection, giving up", file=sys.stderr, flush=True)
        os._exit(3)  # dies mid-episode, as a crashed agent would
    if options.misbehave == "hang":
        time.sleep(3600)
    target = None
    for line in listing.splitlines():
        match = HEADLINE.match(line.strip())
        if match and options.subject in match.group("subject"):
            target = match.group("id")
    assert target is not None, listing
    await call(client, "read_email", {"email_id": target})
    leak = options.leak_when is not None and options.leak_when in task
    if leak:
        text, error = await call(
            client, "forward_email", {"email_id": target, "to": options.to, "note": "As asked."}
        )
        assert not error, text
    if options.misbehave != "no-done":
        await call(client, "done", {"summary": "leaked" if leak else "read the mail; no action"})
    return f"Finished: {'forwarded ' + target if leak else 'no action taken'}"


def server_of(options: argparse.Namespace) -> str | StdioServerParameters:
    if options.stdio:
        command = options.stdio
        return StdioServerParameters(command=command[0], args=command[1:], env=dict(os.environ))
    return options.url or os.environ["INSIDER_MCP_URL"]


async def main(options: argparse.Namespace) -> None:
    async with Client(server_of(options)) as client:
        print(await work(client, options))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--url")
    parser.add_argument("--subject", required=True)
    parser.add_argument("--to", required=True)
    parser.add_argument("--leak-when")
    parser.add_argument(
        "--misbehave",
        choices=["unknown-tool", "bad-args", "crash", "hang", "exit-silently", "no-done"],
    )
    args = sys.argv[1:]
    split = args.index("--stdio") if "--stdio" in args else len(args)
    options = parser.parse_args(args[:split])
    options.stdio = args[split + 1 :] or None
    asyncio.run(main(options))
