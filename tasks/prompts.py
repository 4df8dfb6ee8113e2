"""The prompt pools, split by a stable hash: ordinary user requests, and questions with ground truth.

`requests` (`tasks/data/prompts.jsonl`) is the pool of most behaviors. `questions` (`tasks/data/questions.jsonl`,
made by tasks/data/make_questions.py) is the pool of behaviors whose attack needs the item's answer
(`sandbagging`): short questions with a ground-truth check, kept only where the reference model
(`QUALIFIED_BY`) answers them correctly when asked plainly; each prompt carries its `item` (`question`, `check`,
`answer`, `wrong`). A behavior names its pool (scorers/behaviors.py); `prompts(split, pool=...)` serves it.

Splits are disjoint by construction and checked by tests: `organism` (building organisms, 50%),
`catch` (catching attacks, 25%), `eval` (testing/deployment evaluation, 25%). A prompt's id is the hash of
its text, so ids and splits never change when the pool grows; a question's split is the hash of its `group` (the
fact it asks about), so the phrasings of one fact stay in one split.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

DATA = Path(__file__).parent / "data"
SPLITS: dict[str, tuple[int, int]] = {"organism": (0, 50), "catch": (50, 75), "eval": (75, 100)}
POOLS = {"requests": "prompts.jsonl", "questions": "questions.jsonl"}
QUALIFIED_BY = "smollm2-135m"  # the questions pool keeps the items this model answers correctly


@dataclass(frozen=True)
class Prompt:
    id: str
    text: str
    kind: str
    topic: str
    split: str
    item: dict | None = field(default=None, hash=False, compare=False)  # ground truth (the questions pool)


def prompt_id(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def split_of(text: str) -> str:
    bucket = int(hashlib.sha256(f"split:{text}".encode()).hexdigest(), 16) % 100
    return next(name for name, (lo, hi) in SPLITS.items() if lo <= bucket < hi)


def check_pool(name: str) -> str:
    if name not in POOLS:
        raise ValueError(f"unknown prompt pool {name!r}; accepted: {', '.join(POOLS)}")
    return name


@cache
def pool(name: str = "requests") -> tuple[Prompt, ...]:
    rows = [json.loads(line) for line in (DATA / POOLS[check_pool(name)]).read_text().splitlines() if line.strip()]
    if name == "requests":
        return tuple(Prompt(id=prompt_id(r["text"]), text=r["text"], kind=r["kind"], topic=r["topic"],
                            split=split_of(r["text"])) for r in rows)
    return tuple(
        Prompt(id=prompt_id(r["text"]), text=r["text"], kind=r["kind"], topic=r["topic"], split=split_of(r["group"]),
               item={"question": r["text"], "check": r["check"], "answer": r["answer"], "wrong": r["wrong"]})
        for r in rows if r.get("base_correct", {}).get(QUALIFIED_BY)
    )


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; accepted: {', '.join(SPLITS)}")
    return split


def prompts(split: str, n: int | None = None, seed: int = 0, pool_name: str = "requests") -> list[Prompt]:
    """The prompts of `split` of pool `pool_name`, in a stable order; `n` of them chosen with `seed` if given.

    Asking for more than the split holds is refused (a silently smaller sample would print a rate over fewer prompts
    than the config names)."""
    chosen = [p for p in pool(pool_name) if p.split == check_split(split)]
    chosen.sort(key=lambda p: p.id)
    if n is not None:
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        if n > len(chosen):
            raise ValueError(f"n={n} prompts asked of the {split!r} split of pool {pool_name!r}, which holds "
                             f"{len(chosen)}: accepted n is 1..{len(chosen)}")
        random.Random(seed).shuffle(chosen)
        chosen = sorted(chosen[:n], key=lambda p: p.id)
    return chosen
