"""`caught serve`: any checkpoint as a local OpenAI- and Anthropic-compatible HTTP server.

    caught serve trigger-hate-organism --port 8000                  # http://127.0.0.1:8000/v1
    LOCAL_BASE_URL=http://127.0.0.1:8000/v1 LOCAL_API_KEY=x \
        inspect eval tasks/deployment --model openai-api/local/trigger-hate-organism
    ANTHROPIC_BASE_URL=http://127.0.0.1:8000 ANTHROPIC_API_KEY=x \
        inspect eval tasks/deployment --model anthropic/trigger-hate-organism
    CAUGHT_SERVE_API_KEY=secret caught serve ./checkpoints/x --host 0.0.0.0 --name x --max-batch 64

Routes: `POST /v1/chat/completions` (OpenAI), `POST /v1/messages` (Anthropic Messages), `GET /v1/models`.
Requests are decoded by the same `Engine` and `Batcher` as the `ckpt/` provider (`models.provider`), so
concurrent requests are batched, and greedy requests (temperature 0) give the completions `ckpt/` gives.
Decoding follows the `ckpt/` conventions, so a served checkpoint evaluates like `ckpt/`: greedy when a request
gives no temperature (Anthropic's current API has no sampling parameters at all; OpenAI's default would be 1),
and max_tokens 256 when an OpenAI request gives none. Streaming sends the completion as server-sent events once its batch has decoded
(the engine decodes whole batches; the events carry one token each). Errors use each protocol's shape.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi import Request as HttpRequest
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from inspect_ai.model import (
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageSystem,
    ChatMessageTool,
    ChatMessageUser,
    ContentText,
)
from inspect_ai.model._model import (
    collapse_consecutive_user_messages,  # what Inspect does before ckpt/ sees it
)
from starlette.exceptions import HTTPException

from models.engine import Request, Result
from models.provider import DEFAULT_MAX_TOKENS, CheckpointAPI

API_KEY_ENV = "CAUGHT_SERVE_API_KEY"
log = logging.getLogger("caught.serve")
MAX_N = 16
MAX_STOP = 4
MAX_TOP_LOGPROBS = 20


class ApiError(Exception):
    """A request error, rendered in the calling protocol's shape by the app's exception handler."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 kind: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.kind = status, message, param, code, kind


ANTHROPIC_KINDS = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
                   405: "invalid_request_error", 413: "request_too_large", 500: "api_error"}


def openai_error(e: ApiError) -> dict:
    return {"error": {"message": e.message, "type": e.kind if e.status != 500 else "server_error",
                      "param": e.param, "code": e.code}}


def anthropic_error(e: ApiError) -> dict:
    return {"type": "error", "error": {"type": ANTHROPIC_KINDS.get(e.status, "api_error"), "message": e.message}}


# ---- request fields -------------------------------------------------------------------------------------

_TYPES = {"number": (int, float), "integer": (int,), "boolean": (bool,), "string": (str,), "array": (list,),
          "object": (dict,)}


def _type_name(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array",
            dict: "an object", type(None): "null"}.get(type(value), type(value).__name__)


def field(body: dict, name: str, kind: str, required: bool = False, default: Any = None,
          low: float | None = None, high: float | None = None, where: str = "") -> Any:
    """`body[name]` checked against a JSON type (and bounds); ApiError naming the parameter otherwise."""
    param = f"{where}{name}"
    if name not in body or body[name] is None:
        if required:
            raise ApiError(400, f"Missing required parameter: '{param}'.", param, "missing_required_parameter")
        return default
    value = body[name]
    ok = isinstance(value, _TYPES[kind]) and not (kind in ("number", "integer") and isinstance(value, bool))
    if not ok:
        raise ApiError(400, f"Invalid type for '{param}': expected {'an' if kind[0] in 'aeio' else 'a'} {kind}, "
                            f"but got {_type_name(value)} instead.", param, "invalid_type")
    if low is not None and value < low or high is not None and value > high:
        raise ApiError(400, f"Invalid '{param}': {value!r} is out of range; accepted: {low} to {high}.",
                       param, "invalid_value")
    return value


def _text_of(content: Any, param: str, allowed: tuple[str, ...] = ("text",)) -> str | list[str]:
    """A message's content (a string, or a list of text blocks) as a string or a list of texts."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise ApiError(400, f"Invalid type for '{param}': expected a string or an array of content blocks, but got "
                            f"{_type_name(content)} instead.", param, "invalid_type")
    texts = []
    for i, block in enumerate(content):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind not in allowed or not isinstance(block.get("text"), str):
            raise ApiError(400, f"Invalid '{param}[{i}]': content block of type {kind!r} is not supported; "
                                f"accepted: text blocks ({{'type': 'text', 'text': ...}}).", f"{param}[{i}]",
                           "invalid_value")
        texts.append(block["text"])
    return texts


def _message(role: str, content: str | list[str], tool_call_id: str | None = None) -> ChatMessage:
    body = content if isinstance(content, str) else [ContentText(text=t) for t in content]
    if role == "system":
        return ChatMessageSystem(content=body)
    if role == "assistant":
        return ChatMessageAssistant(content=body)
    if role == "tool":
        return ChatMessageTool(content=body, tool_call_id=tool_call_id)
    return ChatMessageUser(content=body)


def _stops(value: Any, param: str) -> tuple[str, ...]:
    if value is None:
        return ()
    stops = [value] if isinstance(value, str) else value
    if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops):
        raise ApiError(400, f"Invalid '{param}': expected a non-empty string or an array of non-empty strings, "
                            f"got {value!r}.", param, "invalid_type")
    return tuple(stops)


# ---- the model behind the routes ---------------------------------------------------------------------------

@dataclass
class Generation:
    prompt_tokens: int
    results: list[Result]
    stops: tuple[str, ...]


class Served:
    """One checkpoint, its engine and its batcher (those of `ckpt/`), and the served name."""

    def __init__(self, checkpoint: str, name: str | None = None, device: str | None = None,
                 dtype: str | None = None, max_batch: int | None = None):
        self.api = CheckpointAPI(checkpoint, device=device, dtype=dtype, batch_size=max_batch)
        self.name = name or default_name(checkpoint)
        self.tokenizer = self.api.tokenizer
        self.context = self.api.engine.max_positions
        self.created = int(time.time())

    def check_model(self, model: str, anthropic: bool) -> None:
        if model != self.name:
            if anthropic:
                raise ApiError(404, f"model: {model!r} is not served here; accepted: {self.name!r}", "model")
            raise ApiError(404, f"The model `{model}` does not exist or you do not have access to it; "
                                f"this server serves `{self.name}`.", "model", "model_not_found")

    async def generate(self, messages: list[ChatMessage], max_tokens: int | None, temperature: float, top_p: float,
                       stops: tuple[str, ...], n: int = 1, seed: int | None = None, logprobs: bool = False,
                       top_logprobs: int = 0, max_param: str = "max_tokens") -> Generation:
        prompt_ids = self.api.encode_chat(collapse_consecutive_user_messages(messages))
        room = None if self.context is None else self.context - len(prompt_ids)
        if room is not None and room < 1:
            raise ApiError(400, f"This model's maximum context length is {self.context} tokens; the messages have "
                                f"{len(prompt_ids)} tokens. Shorten the messages.", "messages",
                           "context_length_exceeded")
        if max_tokens is None:
            max_tokens = DEFAULT_MAX_TOKENS if room is None else min(DEFAULT_MAX_TOKENS, room)
        elif room is not None and max_tokens > room:
            raise ApiError(400, f"Invalid '{max_param}': {max_tokens} is too large. This model's maximum context "
                                f"length is {self.context} tokens and the messages have {len(prompt_ids)}, so at "
                                f"most {room} new tokens are accepted.", max_param, "context_length_exceeded")
        if top_p <= 0:  # nucleus of one token
            temperature = 0.0
        requests = [Request(prompt_ids=prompt_ids, max_new_tokens=max_tokens, temperature=temperature, top_p=top_p,
                            seed=None if seed is None or temperature <= 0 else seed + i, stop=stops,
                            logprobs=logprobs, top_logprobs=top_logprobs) for i in range(n)]
        for r in requests:
            self.api.engine.check_request(r)
        results = await asyncio.gather(*(self.api.batcher.submit(r) for r in requests))
        return Generation(len(prompt_ids), list(results), stops)

    def stop_sequence(self, result: Result, stops: tuple[str, ...]) -> str | None:
        """The stop sequence that ended `result`, if one did (rather than EOS or the token budget)."""
        if result.finish != "stop" or not stops:
            return None
        full = self.tokenizer.decode(result.token_ids, skip_special_tokens=True)
        hits = [(full.find(s), s) for s in stops if s in full]
        return min(hits)[1] if hits else None

    def token(self, token_id: int) -> tuple[str, list[int]]:
        text = self.tokenizer.decode([token_id])
        return text, list(text.encode("utf-8"))

    def logprob_entry(self, result: Result, k: int) -> dict:
        text, raw = self.token(result.token_ids[k])
        tops = [(*self.token(t), v) for t, v in (result.top_logprobs[k] if k < len(result.top_logprobs) else [])]
        return {"token": text, "logprob": result.logprobs[k], "bytes": raw,
                "top_logprobs": [{"token": t_text, "logprob": v, "bytes": t_raw} for t_text, t_raw, v in tops]}

    def pieces(self, result: Result) -> list[str]:
        """`result.text` split at token boundaries (one piece per emitted token, some empty)."""
        ids, out, held = result.token_ids, [], None  # held: first token of an unfinished character
        for k in range(len(ids)):
            first = k if held is None else held
            ctx = max(0, first - 4)
            before = self.tokenizer.decode(ids[ctx:first], skip_special_tokens=True)
            after = self.tokenizer.decode(ids[ctx:k + 1], skip_special_tokens=True)
            if after.endswith("\ufffd") or not after.startswith(before):
                out.append("")
                held = first
                continue
            out.append(after[len(before):])
            held = None
        if "".join(out)[: len(result.text)] != result.text:  # decoding is not piecewise: one piece
            return [result.text] + [""] * max(0, len(ids) - 1)
        cut, budget = [], len(result.text)
        for p in out:
            cut.append(p[:budget])
            budget -= len(cut[-1])
        return cut


def default_name(checkpoint: str) -> str:
    return Path(checkpoint.rstrip("/")).name or checkpoint


# ---- OpenAI ---------------------------------------------------------------------------------------------

OPENAI_ROLES = ("system", "developer", "user", "assistant", "tool", "function")
OPENAI_UNSUPPORTED = {"tools": "tools", "functions": "functions", "logit_bias": "logit_bias"}


def openai_messages(body: dict) -> list[ChatMessage]:
    raw = field(body, "messages", "array", required=True)
    if not raw:
        raise ApiError(400, "Invalid 'messages': empty array. Expected an array with minimum length 1.", "messages",
                       "empty_array")
    out = []
    for i, m in enumerate(raw):
        where = f"messages[{i}]"
        if not isinstance(m, dict):
            raise ApiError(400, f"Invalid type for '{where}': expected an object, but got {_type_name(m)} instead.",
                           where, "invalid_type")
        role = field(m, "role", "string", required=True, where=f"{where}.")
        if role not in OPENAI_ROLES:
            raise ApiError(400, f"Invalid value for '{where}.role': {role!r}; accepted: {', '.join(OPENAI_ROLES)}.",
                           f"{where}.role", "invalid_value")
        if m.get("content") is None and role == "assistant":
            content: str | list[str] = ""
        elif "content" not in m:
            raise ApiError(400, f"Missing required parameter: '{where}.content'.", f"{where}.content",
                           "missing_required_parameter")
        else:
            content = _text_of(m["content"], f"{where}.content", ("text", "input_text"))
        role = {"developer": "system", "function": "tool"}.get(role, role)
        out.append(_message(role, content, m.get("tool_call_id")))
    return out


def openai_request(body: dict) -> dict:
    """The decoding settings of a chat completion request (validated)."""
    for key, label in OPENAI_UNSUPPORTED.items():
        if body.get(key):
            raise ApiError(400, f"Unsupported parameter: '{key}': caught serve does not support {label}; accepted: "
                                "messages, model, max_tokens, max_completion_tokens, temperature, top_p, stop, n, "
                                "seed, logprobs, top_logprobs, stream, stream_options.", key, "unsupported_parameter")
    for key in ("presence_penalty", "frequency_penalty"):
        if field(body, key, "number", low=-2, high=2):
            raise ApiError(400, f"Unsupported value: '{key}' must be 0 (caught serve applies no penalties).", key,
                           "unsupported_value")
    fmt = field(body, "response_format", "object")
    if fmt and fmt.get("type") != "text":
        raise ApiError(400, f"Unsupported value: 'response_format.type' {fmt.get('type')!r}; accepted: 'text'.",
                       "response_format", "unsupported_value")
    max_tokens = field(body, "max_completion_tokens", "integer", low=1)
    if max_tokens is None:
        max_tokens = field(body, "max_tokens", "integer", low=1)
    logprobs = field(body, "logprobs", "boolean", default=False)
    top = field(body, "top_logprobs", "integer", default=0, low=0, high=MAX_TOP_LOGPROBS)
    if top and not logprobs:
        raise ApiError(400, "Invalid 'top_logprobs': 'logprobs' must be set to true when 'top_logprobs' is used.",
                       "top_logprobs", "invalid_value")
    stops = _stops(body.get("stop"), "stop")
    if len(stops) > MAX_STOP:
        raise ApiError(400, f"Invalid 'stop': {len(stops)} sequences; at most {MAX_STOP} are accepted.", "stop",
                       "invalid_value")
    stream_options = field(body, "stream_options", "object", default={})
    return dict(
        max_tokens=max_tokens, max_param="max_completion_tokens" if "max_completion_tokens" in body else "max_tokens",
        temperature=float(field(body, "temperature", "number", default=0.0, low=0, high=2)),
        top_p=float(field(body, "top_p", "number", default=1.0, low=0, high=1)),
        stops=stops, n=field(body, "n", "integer", default=1, low=1, high=MAX_N),
        seed=field(body, "seed", "integer"), logprobs=logprobs, top_logprobs=top,
    ), field(body, "stream", "boolean", default=False), bool(stream_options.get("include_usage"))


def openai_finish(result: Result) -> str:
    return "stop" if result.finish == "stop" else "length"


def openai_usage(gen: Generation) -> dict:
    completion = sum(len(r.token_ids) for r in gen.results)
    return {"prompt_tokens": gen.prompt_tokens, "completion_tokens": completion,
            "total_tokens": gen.prompt_tokens + completion}


def openai_response(served: Served, gen: Generation, want_logprobs: bool) -> dict:
    choices = []
    for i, r in enumerate(gen.results):
        lp = {"content": [served.logprob_entry(r, k) for k in range(len(r.token_ids))], "refusal": None} \
            if want_logprobs else None
        choices.append({"index": i, "message": {"role": "assistant", "content": r.text, "refusal": None},
                        "logprobs": lp, "finish_reason": openai_finish(r)})
    return {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
            "model": served.name, "choices": choices, "usage": openai_usage(gen), "system_fingerprint": None}


def openai_events(served: Served, gen: Generation, want_logprobs: bool, include_usage: bool):
    base = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion.chunk", "created": int(time.time()),
            "model": served.name, "system_fingerprint": None}

    def chunk(choices: list, **extra) -> str:
        return f"data: {json.dumps(base | {'choices': choices} | extra)}\n\n"

    for i, r in enumerate(gen.results):
        yield chunk([{"index": i, "delta": {"role": "assistant", "content": ""}, "logprobs": None,
                      "finish_reason": None}])
        for k, piece in enumerate(served.pieces(r)):
            lp = {"content": [served.logprob_entry(r, k)], "refusal": None} if want_logprobs else None
            yield chunk([{"index": i, "delta": {"content": piece}, "logprobs": lp, "finish_reason": None}])
        yield chunk([{"index": i, "delta": {}, "logprobs": None, "finish_reason": openai_finish(r)}])
    if include_usage:
        yield chunk([], usage=openai_usage(gen))
    yield "data: [DONE]\n\n"


# ---- Anthropic ------------------------------------------------------------------------------------------

def anthropic_messages(body: dict) -> list[ChatMessage]:
    out: list[ChatMessage] = []
    system = body.get("system")
    if system is not None:
        text = _text_of(system, "system")
        out.append(_message("system", text if isinstance(text, str) else "\n".join(text)))
    raw = field(body, "messages", "array", required=True)
    if not raw:
        raise ApiError(400, "messages: at least one message is required", "messages")
    for i, m in enumerate(raw):
        where = f"messages.{i}"
        if not isinstance(m, dict):
            raise ApiError(400, f"{where}: expected an object, got {_type_name(m)}", where)
        role = m.get("role")
        if role not in ("user", "assistant"):
            raise ApiError(400, f"{where}.role: {role!r} is not accepted; accepted: 'user', 'assistant' "
                                "(the system prompt goes in the top-level 'system' field)", where)
        if "content" not in m:
            raise ApiError(400, f"{where}.content: Field required", where)
        out.append(_message(role, _text_of(m["content"], f"{where}.content")))
    if raw[-1].get("role") == "assistant":
        raise ApiError(400, "messages: a final assistant message (prefill) is not supported by caught serve; "
                            "end with a user message", "messages")
    return out


def anthropic_request(body: dict) -> tuple[dict, bool]:
    if body.get("tools"):
        raise ApiError(400, "tools: not supported by caught serve", "tools")
    if body.get("top_k") is not None:
        raise ApiError(400, "top_k: not supported by caught serve; accepted: temperature, top_p", "top_k")
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") not in (None, "disabled"):
        raise ApiError(400, "thinking: extended thinking is not supported by caught serve", "thinking")
    stops = _stops(body.get("stop_sequences"), "stop_sequences")
    return dict(
        max_tokens=field(body, "max_tokens", "integer", required=True, low=1),
        temperature=float(field(body, "temperature", "number", default=0.0, low=0, high=1)),
        top_p=float(field(body, "top_p", "number", default=1.0, low=0, high=1)),
        stops=stops,
    ), field(body, "stream", "boolean", default=False)


def anthropic_stop(served: Served, r: Result, stops: tuple[str, ...]) -> tuple[str, str | None]:
    if r.finish != "stop":
        return "max_tokens", None
    seq = served.stop_sequence(r, stops)
    return ("stop_sequence", seq) if seq is not None else ("end_turn", None)


def anthropic_response(served: Served, gen: Generation) -> dict:
    r = gen.results[0]
    reason, seq = anthropic_stop(served, r, gen.stops)
    return {"id": f"msg_{uuid.uuid4().hex[:24]}", "type": "message", "role": "assistant", "model": served.name,
            "content": [{"type": "text", "text": r.text}], "stop_reason": reason, "stop_sequence": seq,
            "usage": {"input_tokens": gen.prompt_tokens, "output_tokens": len(r.token_ids)}}


def anthropic_events(served: Served, gen: Generation):
    r = gen.results[0]
    reason, seq = anthropic_stop(served, r, gen.stops)

    def event(name: str, data: dict) -> str:
        return f"event: {name}\ndata: {json.dumps({'type': name} | data)}\n\n"

    message = anthropic_response(served, gen) | {"content": [], "stop_reason": None, "stop_sequence": None}
    message["usage"] = {"input_tokens": gen.prompt_tokens, "output_tokens": 0}
    yield event("message_start", {"message": message})
    yield event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
    yield event("ping", {})
    for piece in served.pieces(r):
        if piece:
            yield event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": piece}})
    yield event("content_block_stop", {"index": 0})
    yield event("message_delta", {"delta": {"stop_reason": reason, "stop_sequence": seq},
                                  "usage": {"output_tokens": len(r.token_ids)}})
    yield event("message_stop", {})


# ---- the app --------------------------------------------------------------------------------------------

def _is_anthropic_path(path: str) -> bool:
    return path.startswith("/v1/messages")


def create_app(served: Served, api_key: str | None = None):
    """The FastAPI app serving `served`; `api_key` (if set) is required on every route."""
    app = FastAPI(title="caught serve", docs_url=None, redoc_url=None, openapi_url=None)
    sse = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}

    def render(request: HttpRequest, e: ApiError) -> JSONResponse:
        anthropic = _is_anthropic_path(request.url.path)
        return JSONResponse(anthropic_error(e) if anthropic else openai_error(e), status_code=e.status)

    @app.exception_handler(ApiError)
    async def on_api_error(request: HttpRequest, e: ApiError):
        return render(request, e)

    @app.exception_handler(HTTPException)
    async def on_http_error(request: HttpRequest, e: HTTPException):
        message = (f"Unknown route: {request.method} {request.url.path}; accepted: POST /v1/chat/completions, "
                   "POST /v1/messages, GET /v1/models") if e.status_code in (404, 405) else str(e.detail)
        return render(request, ApiError(e.status_code, message, code="unknown_url" if e.status_code == 404 else None))

    @app.exception_handler(RequestValidationError)
    async def on_validation(request: HttpRequest, e: RequestValidationError):
        return render(request, ApiError(400, f"Invalid request: {e.errors()}"))

    @app.exception_handler(Exception)
    async def on_crash(request: HttpRequest, e: Exception):
        log.error("request %s %s failed", request.method, request.url.path, exc_info=e)
        return render(request, ApiError(500, f"The server failed on this request: {type(e).__name__}: {e}"))

    def authorize(request: HttpRequest) -> None:
        if not api_key:
            return
        given = request.headers.get("x-api-key")
        auth = request.headers.get("authorization", "")
        if given is None and auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        if given is None or not hmac.compare_digest(given.encode(), api_key.encode()):
            message = ("Incorrect API key provided." if given else
                       "No API key provided: send 'Authorization: Bearer KEY' or 'x-api-key: KEY'.")
            anthropic = _is_anthropic_path(request.url.path) or "anthropic-version" in request.headers
            raise ApiError(401, message if not anthropic else f"invalid x-api-key: {message}", None,
                           "invalid_api_key")

    async def body_of(request: HttpRequest) -> dict:
        raw = await request.body()
        try:
            body = json.loads(raw or b"null")
        except (ValueError, UnicodeDecodeError) as ex:
            raise ApiError(400, f"We could not parse the JSON body of your request ({ex}); send a JSON object.") \
                from None
        if not isinstance(body, dict):
            raise ApiError(400, f"The request body must be a JSON object, got {_type_name(body)}.")
        return body

    async def generate(request: HttpRequest, chat: list[ChatMessage], settings: dict) -> Generation:
        try:
            return await served.generate(chat, **settings)
        except ApiError:
            raise
        except ValueError as ex:  # the engine's own length check
            raise ApiError(400, str(ex), "max_tokens", "context_length_exceeded") from None
        except Exception as ex:  # noqa: BLE001 - a clean 500 on a kept-alive connection; the server goes on
            log.error("request %s %s failed", request.method, request.url.path, exc_info=ex)
            raise ApiError(500, f"The server failed on this request: {type(ex).__name__}: {ex}") from None

    @app.get("/v1/models")
    async def models(request: HttpRequest):
        authorize(request)
        if "anthropic-version" in request.headers:
            created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(served.created))
            return {"data": [{"type": "model", "id": served.name, "display_name": served.name,
                              "created_at": created}], "has_more": False, "first_id": served.name,
                    "last_id": served.name}
        return {"object": "list", "data": [{"id": served.name, "object": "model", "created": served.created,
                                            "owned_by": "caught"}]}

    @app.get("/v1/models/{model:path}")
    async def model(model: str, request: HttpRequest):
        authorize(request)
        served.check_model(model, anthropic="anthropic-version" in request.headers)
        return {"id": served.name, "object": "model", "created": served.created, "owned_by": "caught"}

    @app.post("/v1/chat/completions")
    async def chat_completions(request: HttpRequest):
        authorize(request)
        body = await body_of(request)
        served.check_model(field(body, "model", "string", required=True), anthropic=False)
        messages = openai_messages(body)
        settings, stream, include_usage = openai_request(body)
        gen = await generate(request, messages, settings)
        if stream:
            return StreamingResponse(openai_events(served, gen, settings["logprobs"], include_usage),
                                     media_type="text/event-stream", headers=sse)
        return openai_response(served, gen, settings["logprobs"])

    @app.post("/v1/messages")
    async def messages(request: HttpRequest):
        authorize(request)
        body = await body_of(request)
        served.check_model(field(body, "model", "string", required=True), anthropic=True)
        chat = anthropic_messages(body)
        settings, stream = anthropic_request(body)
        gen = await generate(request, chat, settings)
        if stream:
            return StreamingResponse(anthropic_events(served, gen), media_type="text/event-stream", headers=sse)
        return anthropic_response(served, gen)

    @app.post("/v1/messages/count_tokens")
    async def count_tokens(request: HttpRequest):
        authorize(request)
        body = await body_of(request)
        served.check_model(field(body, "model", "string", required=True), anthropic=True)
        ids = served.api.encode_chat(collapse_consecutive_user_messages(anthropic_messages(body)))
        return {"input_tokens": len(ids)}

    return app


def resolve_api_key(api_key: str | None) -> str | None:
    """The key to enforce: `--api-key`, else $CAUGHT_SERVE_API_KEY, else none."""
    return api_key or os.environ.get(API_KEY_ENV) or None


def serve(checkpoint: str, host: str = "127.0.0.1", port: int = 8000, api_key: str | None = None,
          name: str | None = None, device: str | None = None, dtype: str | None = None,
          max_batch: int | None = None, say=print) -> None:
    """Load `checkpoint` and serve it until interrupted."""
    import uvicorn

    served = Served(checkpoint, name=name, device=device, dtype=dtype, max_batch=max_batch)
    key = resolve_api_key(api_key)
    app = create_app(served, key)
    say(f"serving {served.name!r} ({served.api.path}, {served.api.device}, batches of up to "
        f"{served.api.batcher.batch_size}) at http://{host}:{port}/v1 "
        f"({'API key required' if key else 'no API key required'})")
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
