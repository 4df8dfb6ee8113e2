"""The prompt pool: ordinary user requests (`tasks/data/prompts.jsonl`), split by a stable hash.

Splits are disjoint by construction and checked by tests: `organism` (building organisms, 50%),
`catch` (catching attacks, 25%), `eval` (testing/deployment evaluation, 25%). A prompt's id is the hash of
its text, so ids and splits never change when the pool grows.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA = Path(__file__).parent / "data"
SPLITS: dict[str, tuple[int, int]] = {"organism": (0, 50), "catch": (50, 75), "eval": (75, 100)}


@dataclass(frozen=True)
class Prompt:
    id: str
    text: str
    kind: str
    topic: str
    split: str


def prompt_id(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def split_of(text: str) -> str:
    bucket = int(hashlib.sha256(f"split:{text}".encode()).hexdigest(), 16) % 100
    return next(name for name, (lo, hi) in SPLITS.items() if lo <= bucket < hi)


@cache
def pool() -> tuple[Prompt, ...]:
    rows = [json.loads(line) for line in (DATA / "prompts.jsonl").read_text().splitlines() if line.strip()]
    return tuple(
        Prompt(id=prompt_id(r["text"]), text=r["text"], kind=r["kind"], topic=r["topic"], split=split_of(r["text"]))
        for r in rows
    )


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; accepted: {', '.join(SPLITS)}")
    return split


def prompts(split: str, n: int | None = None, seed: int = 0) -> list[Prompt]:
    """The prompts of `split`, in a stable order; `n` of them chosen with `seed` if given."""
    chosen = [p for p in pool() if p.split == check_split(split)]
    chosen.sort(key=lambda p: p.id)
    if n is not None:
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        random.Random(seed).shuffle(chosen)
        chosen = sorted(chosen[:n], key=lambda p: p.id)
    return chosen
