"""Responses from any Inspect model for lists of chat inputs, with a file cache for deterministic ones.

Used to write good responses (the base model's benign answers for organism data, resampled answers for
train-against). Greedy responses of a checkpoint are cached under the cache dir, keyed by the checkpoint's
fingerprint and the decoding settings, so reruns reuse them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json

from inspect_ai.model import GenerateConfig

from models.embedded import cache_dir
from tasks.scenarios import chat_messages


def model_key(model: str) -> str:
    """A cache key for a model name: the weights' fingerprint for local checkpoints, else the name."""
    if model.startswith("ckpt/"):
        from models.registry import fingerprint, resolve

        return "ckpt-" + fingerprint(resolve(model.removeprefix("ckpt/")))
    return model.replace("/", "_")


def generate_all(model: str, chats: list[list[dict]], config: GenerateConfig, **model_args) -> list[str]:
    """Generate one response per chat with an Inspect model (batched through its provider)."""
    from models.registry import inspect_model

    m = inspect_model(model, **model_args)  # a local checkpoint stays loaded for the evaluations that follow

    async def run():
        return await asyncio.gather(*(m.generate(chat_messages(c), config=config) for c in chats))

    return [o.completion for o in asyncio.run(run())]


def cached_greedy(model: str, items: dict[str, list[dict]], max_tokens: int, **model_args) -> dict[str, str]:
    """Greedy responses for {id: chat}, reusing and extending a per-model cache file."""
    key = hashlib.sha256(f"{model_key(model)}:{max_tokens}:{sorted(model_args.items())}".encode()).hexdigest()[:16]
    file = cache_dir() / "responses" / f"{key}.jsonl"
    cache: dict[str, str] = {}
    if file.is_file():
        for line in file.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:  # a line cut short by an interrupted write
                continue
            cache[_item_key(row["chat"])] = row["response"]
    missing = {i: c for i, c in items.items() if _item_key(c) not in cache}
    if missing:
        texts = generate_all(model, list(missing.values()), GenerateConfig(max_tokens=max_tokens), **model_args)
        file.parent.mkdir(parents=True, exist_ok=True)
        with file.open("a") as f:
            for chat, text in zip(missing.values(), texts):
                cache[_item_key(chat)] = text
                f.write(json.dumps({"chat": chat, "response": text}) + "\n")
    return {i: cache[_item_key(c)] for i, c in items.items()}


def _item_key(chat: list[dict]) -> str:
    return hashlib.sha256(json.dumps(chat, sort_keys=True).encode()).hexdigest()
