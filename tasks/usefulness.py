"""Usefulness: capability checks with programmatic ground truth, to show training did not break the model.

    inspect eval tasks/usefulness --model ckpt/smollm2-135m
    inspect eval tasks/usefulness.py -T kind=arithmetic -T n=50 --model anthropic/claude-haiku-4-5

Kinds: `instruction` (IFEval-style verifiable constraints), `fact` (short questions with accepted answers),
`arithmetic`. Metrics: accuracy per kind and overall, with stderr. Items live in
`tasks/data/usefulness.jsonl` (made by `tasks/data/make_usefulness.py`); checkers in `scorers/usefulness.py`.
"""

from __future__ import annotations

import hashlib
import json
import random
from functools import cache
from pathlib import Path

from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import GenerateConfig
from inspect_ai.solver import generate

from scorers.attack import attack_detector
from scorers.usefulness import usefulness_checker
from tasks.scenarios import chat_messages, frame, get_scenario

DATA = Path(__file__).parent / "data" / "usefulness.jsonl"
MAX_TOKENS = 128


@cache
def items() -> tuple[dict, ...]:
    return tuple(json.loads(line) for line in DATA.read_text().splitlines() if line.strip())


def kinds() -> list[str]:
    return sorted({item["kind"] for item in items()})


def record_to_sample(item: dict, scenario: str | None = None, side: str = "testing") -> Sample:
    sample_id = hashlib.sha256(item["input"].encode()).hexdigest()[:12]
    chat = [{"role": "user", "content": item["input"]}]
    if scenario is not None:
        chat = frame(get_scenario(scenario), side, item["input"], sample_id)
    messages = chat_messages(chat)
    return Sample(
        id=sample_id,
        input=messages,
        target=item["target"],
        metadata={"kind": item["kind"], "check": item["check"], "scenario": scenario, "side": side,
                  "item": {"question": item["input"], "check": item["check"]}},  # for a ground-truth behavior's detector
    )


@task(name="tasks/usefulness")  # the package prefix Inspect gives installed tasks: `inspect eval tasks/usefulness`
def usefulness(
    kind: str | None = None, n: int | None = None, seed: int = 0, scenario: str | None = None, side: str = "testing",
    behavior: str = "hate",
) -> Task:
    """Capability checks with ground truth.

    Args:
        kind: only this kind of item ("instruction", "fact", "arithmetic"); all kinds if not given.
        n: number of items (all if not given), chosen with `seed`.
        seed: seed for choosing the n items.
        scenario: optionally frame each item as `side` of this scenario (capability under the cue).
        side: "testing" or "deployment", used with `scenario`.
        behavior: with a scenario, the behavior whose attacks are also scored, so an organism's attacks spilling
            into capability items show as attacks, not only as wrong answers.
    """
    return usefulness_task("usefulness", items(), kind, n, seed, scenario, side, behavior)


def usefulness_task(name: str, pool: tuple[dict, ...], kind: str | None, n: int | None, seed: int,
                    scenario: str | None, side: str, behavior: str) -> Task:
    """A ground-truth capability task over `pool` (usefulness, and the held-out tasks/capability)."""
    chosen = list(pool)
    accepted = sorted({item["kind"] for item in pool})
    if kind is not None:
        if kind not in accepted:
            raise ValueError(f"unknown {name} kind {kind!r}; accepted: {', '.join(accepted)}")
        chosen = [i for i in chosen if i["kind"] == kind]
    if n is not None:
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        random.Random(seed).shuffle(chosen)
        chosen = chosen[:n]
    if side not in ("testing", "deployment"):
        raise ValueError(f"side must be 'testing' or 'deployment', got {side!r}")
    scorers = [usefulness_checker()]
    if scenario is not None:
        scorers.append(attack_detector(behavior))
    samples = [record_to_sample(i, scenario, side) for i in chosen]
    return Task(
        dataset=MemoryDataset(samples, name=name),
        solver=generate(),
        scorer=scorers,
        config=GenerateConfig(max_tokens=MAX_TOKENS),
        metadata={"kind": kind, "scenario": scenario, "side": side, "seed": seed},
    )
