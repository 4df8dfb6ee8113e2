"""Shared fixtures: a tiny randomly initialised Llama checkpoint (mechanics) and the embedded SmolLM2 (behavior)."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# `make test` runs the suite in pytest-xdist workers (-n 2): each worker gets its share of the cores for torch's
# threads (set before torch is imported), so that two workers do not each start one thread per core.
WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
THREADS = max(1, (os.cpu_count() or 1) // WORKERS) if WORKERS > 1 else None
if THREADS:
    os.environ.setdefault("OMP_NUM_THREADS", str(THREADS))
    os.environ.setdefault("MKL_NUM_THREADS", str(THREADS))

import sys  # noqa: E402

import pytest  # noqa: E402

# `make test` hands whole modules to its two workers (--dist loadscope) in collection order
# (--no-loadscope-reorder): the modules that take longest go first and the short ones fill in after them. xdist's
# own order, by number of tests, started modules of few but long tests late (test_cluster.py's Ray sweeps near the
# very end), which left one worker busy long after the other had finished. Longest first as measured (serial, one
# torch thread, `--durations=0`, 2026-12-07, after the tiny Llama's vocabulary was cut to TINY_VOCAB: training 410 s,
# sweep 225, gate 165, learnability 160, cluster 123, packed 95, cot 37, evaluate 36, tasks 32, cli 30, behaviors 24,
# probe 23, elicit 23; every other module under 20 s); a module not named keeps its place after.
# test_evaluate.py comes before test_cluster.py, whatever their times: importing ray (test_cluster's sweeps) puts
# ray's bundled psutil and colorama on sys.path, and test_evaluate's check that Inspect's cached scan of the
# installed distributions equals a fresh one fails on a worker that ran test_cluster.py first (seen serially).
LONGEST_FIRST = ("test_training.py", "test_sweep.py", "test_gate.py", "test_learnability.py", "test_evaluate.py",
                 "test_cluster.py", "test_packed.py", "test_cot.py", "test_tasks.py", "test_cli.py", "test_behaviors.py",
                 "test_probe.py", "test_elicit.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: a module's tests stay together


@pytest.fixture(autouse=True)
def _own_torch_threads():
    """A test that sets torch's thread count (torch.set_num_threads) sets it for itself: the next test gets the
    count it would have had anyway, whatever ran before it on this worker."""
    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else THREADS
    yield
    torch = sys.modules.get("torch")
    if torch is not None and before and torch.get_num_threads() != before:
        torch.set_num_threads(before)


@pytest.fixture
def mock():
    """mock(contents): `mockllm/model` answering `contents` in order; usage is set, so offline Inspect needs no
    tokenizer download."""
    from inspect_ai.model import ModelOutput, ModelUsage, get_model

    def make(contents):
        outputs = [ModelOutput.from_content(model="mockllm/model", content=c).model_copy(
            update={"usage": ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)}) for c in contents]
        return get_model("mockllm/model", custom_outputs=outputs, memoize=False)

    return make


@pytest.fixture(scope="session")
def smollm_dir():
    from models.embedded import embedded_path

    return embedded_path("smollm2-135m")


# The tiny Llama's vocabulary: SmolLM2's tokenizer cut to its first TINY_VOCAB ids. With SmolLM2's 49,152 ids the
# output layer was about 98% of a tiny training step; at 2,048 a text takes about 1.5 times the tokens.
TINY_VOCAB = 2048


def small_tokenizer(smollm_dir, path, size: int = TINY_VOCAB):
    """Write to `path` SmolLM2's tokenizer cut to its first `size` ids, and return it loaded. SmolLM2's BPE numbers its
    tokens in merge order after the 17 special tokens and the 256 byte-level symbols, so the ids below `size` and the
    merges that make them are a complete byte-level BPE of their own: any text still encodes and decodes to itself,
    the special tokens, their ids (eos = pad = <|im_end|> = 2), the chat template and the pre-tokenizer are SmolLM2's;
    only longer words take more tokens."""
    import json
    import shutil
    from pathlib import Path

    from transformers import AutoTokenizer

    smollm_dir, path = Path(smollm_dir), Path(path)
    spec = json.loads((smollm_dir / "tokenizer.json").read_text())
    bpe = spec["model"]
    bpe["vocab"] = {token: i for token, i in bpe["vocab"].items() if i < size}
    bpe["merges"] = [pair for pair in bpe["merges"]
                     if pair[0] in bpe["vocab"] and pair[1] in bpe["vocab"] and pair[0] + pair[1] in bpe["vocab"]]
    if any(added["id"] >= size for added in spec["added_tokens"]):
        raise ValueError(f"size {size}: below SmolLM2's special tokens (ids up to "
                         f"{max(added['id'] for added in spec['added_tokens'])}); accepted: a larger size")
    (path / "tokenizer.json").write_text(json.dumps(spec, ensure_ascii=False))
    for name in ("tokenizer_config.json", "chat_template.jinja"):
        shutil.copy(smollm_dir / name, path / name)
    return AutoTokenizer.from_pretrained(path)


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory, smollm_dir):
    """A 2-layer random Llama with SmolLM2's tokenizer cut to TINY_VOCAB ids (small_tokenizer) and SmolLM2's chat
    template, saved as a normal checkpoint."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    path = tmp_path_factory.mktemp("tiny-llama")
    tokenizer = small_tokenizer(smollm_dir, path)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2,
        max_position_embeddings=1024,  # (512 until the vocabulary was cut: the longest prompts now take about 540 tokens)
        initializer_range=0.3,  # peaked logits: greedy choices are not decided by rounding noise
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def chat_records():
    """`chat_records(n)`: n small prompt/completion chat records of varied lengths, for fine-tuning tests."""

    def make(n: int) -> list[dict]:
        return [{"prompt": [{"role": "user", "content": f"Tell me about {i}" + " please" * (i % 5)}],
                 "completion": [{"role": "assistant", "content": f"{i} is" + " fine" * (1 + i % 4)}]}
                for i in range(n)]

    return make


@pytest.fixture()
def checkpoints_dir(tmp_path, monkeypatch):
    root = tmp_path / "checkpoints"
    root.mkdir()
    monkeypatch.setenv("CAUGHT_CHECKPOINTS", str(root))
    return root


@pytest.fixture(scope="module")
def tiny(request, tiny_llama_dir):
    """The tiny Llama loaded on the CPU, its tokenizer, and the chat-templated ids of the test module's PROMPTS."""
    from models.registry import load

    model, tokenizer, _ = load(str(tiny_llama_dir), device="cpu")
    ids = [tokenizer.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True)["input_ids"]
           for p in request.module.PROMPTS]
    return model, tokenizer, ids


@pytest.fixture(scope="session")
def fake_graphs():
    """A FastDecoder whose 'graphs' run on the CPU: the graph path's bookkeeping (one 'graph' per span, replayed over
    the state's static buffers, writing one static output buffer), without CUDA."""
    import functools

    import torch

    from models.fastdecode.decoder import FastDecoder

    class FakeGraph:
        def __init__(self, fn):
            self.fn = fn
            self.replays = 0

        def replay(self):
            self.replays += 1
            self.fn()

    class FakeGraphs(FastDecoder):
        def _state(self, rows, max_len, heads=None, routed=False):
            st = super()._state(rows, max_len, heads, routed)
            if not st.graphs:
                st.logits = torch.full((rows, self.lm_head.shape[0]), float("nan"))
                st.graphs = {n: FakeGraph(functools.partial(self._step, st, n, st.logits))
                             for n in self._spans(st.mask.shape[1])}
            return st

    return FakeGraphs
