"""`caught serve`: the OpenAI and Anthropic routes over a real server process, with real clients.

The server runs as `python -m caught.cli serve` on a free loopback port over the tiny random Llama; the
`ckpt/` provider in this process gives the reference completions (greedy: they must be identical).
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import anthropic
import httpx
import openai
import pytest
from inspect_ai import eval as inspect_eval
from inspect_ai.model import ChatMessageSystem, ChatMessageUser, GenerateConfig, get_model

from models.serve import default_name
from tasks.deployment import deployment
from tasks.distinguish import distinguish

KEY = "sk-test-serve-0123456789"
NAME = "tiny"
GREEDY = dict(temperature=0.0, max_retries=1, timeout=60)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.fixture(scope="module")
def server(tiny_llama_dir, tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "server.log"
    env = os.environ | {"CAUGHT_SERVE_API_KEY": KEY, "HF_HUB_OFFLINE": "1"}
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "caught.cli", "serve", str(tiny_llama_dir), "--port", str(port), "--name", NAME,
             "--device", "cpu", "--max-batch", "64"],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(proc, url, log)
    except BaseException:
        proc.kill()
        raise
    yield {"url": url, "pid": proc.pid, "log": log}
    proc.terminate()
    proc.wait(timeout=20)


def wait_until_serving(proc, url: str, log: Path) -> None:
    deadline = time.time() + 60
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}: {log.read_text()}")
        try:
            if httpx.get(f"{url}/v1/models", headers={"Authorization": f"Bearer {KEY}"}, timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.time() < deadline, f"server did not start: {log.read_text()}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def ckpt(tiny_llama_dir):
    return get_model(f"ckpt/{tiny_llama_dir}", device="cpu")


def ckpt_text(ckpt, messages, **config) -> str:
    return asyncio.run(ckpt.generate(messages, config=GenerateConfig(temperature=0.0, **config))).completion


@pytest.fixture()
def inspect_env(server, monkeypatch):
    monkeypatch.setenv("LOCAL_BASE_URL", f"{server['url']}/v1")
    monkeypatch.setenv("LOCAL_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server["url"])
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)


# ---- the OpenAI route --------------------------------------------------------------------------------------

def test_openai_client_plain_streaming_logprobs_and_stop(server, ckpt):
    client = openai.OpenAI(base_url=f"{server['url']}/v1", api_key=KEY, max_retries=0)
    msgs = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Name a colour."}]
    expected = ckpt_text(ckpt, [ChatMessageSystem(content="You are terse."), ChatMessageUser(content="Name a colour.")],
                         max_tokens=12)
    assert [m.id for m in client.models.list().data] == [NAME]

    plain = client.chat.completions.create(model=NAME, messages=msgs, temperature=0, max_tokens=12, logprobs=True,
                                           top_logprobs=3, n=2)
    assert [c.message.content for c in plain.choices] == [expected, expected]
    assert plain.choices[0].finish_reason in ("stop", "length") and plain.model == NAME
    assert plain.usage.completion_tokens == 2 * len(plain.choices[0].logprobs.content)
    assert plain.usage.prompt_tokens > 5 and plain.usage.total_tokens == plain.usage.prompt_tokens + \
        plain.usage.completion_tokens
    first = plain.choices[0].logprobs.content[0]
    assert len(first.top_logprobs) == 3 and first.logprob == pytest.approx(first.top_logprobs[0].logprob)
    assert "".join(t.token for t in plain.choices[0].logprobs.content) == expected

    chunks = list(client.chat.completions.create(model=NAME, messages=msgs, temperature=0, max_completion_tokens=12,
                                                 stream=True, stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == expected
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == \
        [plain.choices[0].finish_reason]
    assert chunks[-1].usage.completion_tokens == plain.usage.completion_tokens // 2


    # sampling with a seed is reproducible
    sampled = [client.chat.completions.create(model=NAME, messages=msgs, temperature=1, seed=7, max_tokens=12)
               .choices[0].message.content for _ in range(2)]
    assert sampled[0] == sampled[1]


# ---- the Anthropic route -----------------------------------------------------------------------------------

def test_anthropic_client_plain_and_streaming(server, ckpt):
    client = anthropic.Anthropic(base_url=server["url"], api_key=KEY, max_retries=0)
    expected = ckpt_text(ckpt, [ChatMessageSystem(content="You are terse."),
                                ChatMessageUser(content="Count to three."), ChatMessageUser(content="Quickly.")],
                         max_tokens=10)
    kwargs = dict(model=NAME, max_tokens=10, system=[{"type": "text", "text": "You are terse."}],
                  messages=[{"role": "user", "content": "Count to three."}, {"role": "user", "content": [
                      {"type": "text", "text": "Quickly."}]}])
    plain = client.messages.create(**kwargs)
    assert plain.content[0].text == expected and plain.model == NAME and plain.role == "assistant"
    assert plain.stop_reason in ("end_turn", "max_tokens") and plain.usage.output_tokens <= 10
    assert plain.usage.input_tokens > 5

    with client.messages.stream(**kwargs) as stream:
        streamed = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert streamed == expected and final.stop_reason == plain.stop_reason
    assert final.usage.output_tokens == plain.usage.output_tokens
    # no temperature is greedy (as ckpt/); older API versions' temperature is still honoured
    assert client.messages.create(**kwargs, extra_body={"temperature": 0}).content[0].text == expected

    # the raw event sequence
    with httpx.stream("POST", f"{server['url']}/v1/messages", headers={"x-api-key": KEY},
                      json=kwargs | {"stream": True}) as r:
        events = [line[len("event: "):] for line in r.iter_lines() if line.startswith("event: ")]
    assert events[:2] == ["message_start", "content_block_start"]
    assert events[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(events[2:-3]) <= {"ping", "content_block_delta"} and "content_block_delta" in events


def test_stop_sequences_cut_the_answer(server, ckpt):
    messages = [ChatMessageUser(content="Name a colour.")]
    expected = ckpt_text(ckpt, messages, max_tokens=12)
    stop = expected[len(expected) // 2:][:3]
    assert stop.strip()
    client = openai.OpenAI(base_url=f"{server['url']}/v1", api_key=KEY, max_retries=0)
    aclient = anthropic.Anthropic(base_url=server["url"], api_key=KEY, max_retries=0)
    try:
        cut = client.chat.completions.create(model=NAME, messages=[{"role": "user", "content": "Name a colour."}],
                                             temperature=0, max_tokens=12, stop=[stop])
    finally:  # the server survives the failure
        assert client.models.list().data[0].id == NAME
    assert cut.choices[0].message.content == expected[: expected.find(stop)]
    assert cut.choices[0].finish_reason == "stop"
    acut = aclient.messages.create(model=NAME, max_tokens=12, stop_sequences=[stop],
                                   messages=[{"role": "user", "content": "Name a colour."}])
    assert acut.content[0].text == expected[: expected.find(stop)]
    assert (acut.stop_reason, acut.stop_sequence) == ("stop_sequence", stop)


# ---- Inspect's providers against ckpt/ ---------------------------------------------------------------------

def completions(log) -> dict:
    assert log.status == "success", log.error
    return {s.id: s.output.completion for s in log.samples}


@pytest.fixture(scope="module")
def ckpt_logs(ckpt, tmp_path_factory):
    tasks = [deployment(n=4), distinguish(n=4, answer="logprobs"), distinguish(n=3, mode="single", answer="text")]
    return inspect_eval(tasks, model=ckpt, log_dir=str(tmp_path_factory.mktemp("logs")), display="none",
                        max_tokens=16, **GREEDY)


def test_inspect_openai_api_equals_ckpt(inspect_env, ckpt_logs, tmp_path):
    model = get_model(f"openai-api/local/{NAME}", memoize=False)
    tasks = [deployment(n=4), distinguish(n=4, answer="logprobs"), distinguish(n=3, mode="single", answer="text")]
    logs = inspect_eval(tasks, model=model, log_dir=str(tmp_path), display="none", max_tokens=16, **GREEDY)
    for served, direct in zip(logs, ckpt_logs):
        assert completions(served) == completions(direct)
        assert served.results.scores[0].metrics.keys() == direct.results.scores[0].metrics.keys()
        for name, metric in direct.results.scores[0].metrics.items():
            assert served.results.scores[0].metrics[name].value == pytest.approx(metric.value, abs=1e-4), name
    # the judge read its answer from the served log-probabilities
    lp = logs[1].samples[0].output.choices[0].logprobs.content[0]
    ref = ckpt_logs[1].samples[0].output.choices[0].logprobs.content[0]
    assert [t.token for t in lp.top_logprobs] == [t.token for t in ref.top_logprobs] and len(lp.top_logprobs) == 20
    assert [t.logprob for t in lp.top_logprobs] == pytest.approx([t.logprob for t in ref.top_logprobs], abs=1e-4)


def test_inspect_anthropic_equals_ckpt(inspect_env, ckpt_logs, tmp_path):
    model = get_model(f"anthropic/{NAME}", memoize=False)
    tasks = [deployment(n=4), distinguish(n=3, mode="single", answer="text")]
    # Inspect sends Anthropic no temperature (API version 2026-10-21 has none): the server decodes greedily
    logs = inspect_eval(tasks, model=model, log_dir=str(tmp_path), display="none", max_tokens=16, max_retries=1,
                        timeout=60)
    for served, direct in zip(logs, [ckpt_logs[0], ckpt_logs[2]]):
        assert completions(served) == completions(direct)
        assert {k: m.value for k, m in served.results.scores[0].metrics.items()} == \
            {k: m.value for k, m in direct.results.scores[0].metrics.items()}


# ---- bad requests --------------------------------------------------------------------------------------------

def test_bad_requests_get_the_protocols_errors_and_the_server_keeps_serving(server):
    url, auth = server["url"], {"Authorization": f"Bearer {KEY}"}
    ok = {"model": NAME, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}

    def oai(body, headers=auth, path="/v1/chat/completions", content=None):
        r = httpx.post(url + path, headers=headers, json=body if content is None else None, content=content)
        return r.status_code, r.json()

    cases = [
        ({k: v for k, v in ok.items() if k != "messages"}, 400, "messages", "Missing required parameter"),
        (ok | {"messages": "Hi"}, 400, "messages", "expected an array"),
        (ok | {"temperature": "hot"}, 400, "temperature", "expected a number"),
        (ok | {"temperature": 3}, 400, "temperature", "out of range"),
        (ok | {"max_tokens": 10**6}, 400, "max_tokens", "maximum context length is 1024"),
        (ok | {"messages": [{"role": "robot", "content": "x"}]}, 400, "messages[0].role", "'robot'"),
        (ok | {"top_logprobs": 2}, 400, "top_logprobs", "'logprobs' must be set"),
        (ok | {"model": "gpt-4o"}, 404, "model", "`gpt-4o` does not exist"),
    ]
    for body, status, param, words in cases:
        code, err = oai(body)
        assert (code, err["error"]["param"]) == (status, param), (body, err)
        assert words in err["error"]["message"] and err["error"]["type"] == "invalid_request_error"
        assert set(err["error"]) == {"message", "type", "param", "code"}
    code, err = oai(ok, headers={"Authorization": "Bearer wrong"})
    assert (code, err["error"]["code"]) == (401, "invalid_api_key")
    assert oai(ok, headers={})[0] == 401
    assert oai(ok, headers={"x-api-key": KEY})[0] == 200  # either header on either route
    assert oai(None, content=b"{not json")[0] == 400
    assert oai(ok, path="/v1/completions")[0] == 404

    client = openai.OpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="other", messages=ok["messages"])
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{url}/v1", api_key="nope", max_retries=0).models.list()

    a_ok = ok | {"max_tokens": 4}
    a_cases = [
        ({k: v for k, v in a_ok.items() if k != "max_tokens"}, {"x-api-key": KEY}, 400, "invalid_request_error"),
        (a_ok | {"messages": [{"role": "system", "content": "x"}]}, {"x-api-key": KEY}, 400, "invalid_request_error"),
        (a_ok | {"max_tokens": 100000}, {"x-api-key": KEY}, 400, "invalid_request_error"),
        (a_ok | {"temperature": 1.5}, {"x-api-key": KEY}, 400, "invalid_request_error"),
        (a_ok | {"model": "claude-x"}, {"x-api-key": KEY}, 404, "not_found_error"),
        (a_ok, {"x-api-key": "wrong"}, 401, "authentication_error"),
        (a_ok, auth, 200, None),
    ]
    for body, headers, status, kind in a_cases:
        r = httpx.post(f"{url}/v1/messages", headers=headers, json=body)
        assert r.status_code == status, (body, r.text)
        if kind:
            assert r.json()["type"] == "error" and r.json()["error"]["type"] == kind and r.json()["error"]["message"]
    aclient = anthropic.Anthropic(base_url=url, api_key=KEY, max_retries=0)
    with pytest.raises(anthropic.BadRequestError, match="max_tokens"):
        aclient.messages.create(model=NAME, max_tokens=1200, messages=[{"role": "user", "content": "Hi"}])

    # still serving, and the key never reached the server's output
    assert oai(ok)[0] == 200
    text = server["log"].read_text()
    assert KEY not in text and "serving 'tiny'" in text and "127.0.0.1" in text


# ---- load ------------------------------------------------------------------------------------------------------

def test_200_concurrent_requests_none_lost_and_memory_stable(server):
    prompts = [f"Say something about the number {i}." for i in range(10)]

    async def round_of(n: int) -> list[str]:
        limits = httpx.Limits(max_connections=n)
        async with httpx.AsyncClient(base_url=server["url"], headers={"x-api-key": KEY}, limits=limits,
                                     timeout=120) as client:
            async def one(i: int) -> str:
                r = await client.post("/v1/chat/completions", json={
                    "model": NAME, "temperature": 0, "max_tokens": 4,
                    "messages": [{"role": "user", "content": prompts[i % len(prompts)]}]})
                assert r.status_code == 200, r.text
                return r.json()["choices"][0]["message"]["content"]

            return await asyncio.gather(*(one(i) for i in range(n)))

    first = asyncio.run(round_of(200))
    before = rss_mb(server["pid"])
    second = asyncio.run(round_of(200))
    after = rss_mb(server["pid"])
    assert len(first) == len(second) == 200
    assert first == second  # greedy answers do not depend on how the requests were batched
    assert all(first[i] == first[i % len(prompts)] for i in range(200))
    assert after - before < 50, f"server RSS grew {after - before:.1f} MB over a round of 200 requests"


# ---- the command -----------------------------------------------------------------------------------------------

def test_serve_command_rejects_bad_input_with_one_line():
    from typer.testing import CliRunner

    from caught.cli import app

    runner = CliRunner()
    r = runner.invoke(app, ["serve", "no-such-model", "--device", "cpu"])
    assert r.exit_code == 2, r.output
    assert "unknown model 'no-such-model'" in r.output and "Traceback" not in r.output
    r = runner.invoke(app, ["serve", "smollm2-135m", "--port", "70000"])
    assert r.exit_code == 2 and "--port 70000" in r.output


def test_default_served_name():
    assert default_name("smollm2-135m") == "smollm2-135m"
    assert default_name("./checkpoints/trigger-hate/") == "trigger-hate"
