"""Held-out capability check: ground-truth questions that no organism or train-against recipe is tuned on.

    inspect eval tasks/capability --model ckpt/smollm2-135m -M device=cpu
    inspect eval tasks/capability -T pool=large --model ckpt/smollm2-135m -M device=cpu    # 270 items
    inspect eval tasks/capability -T scenario=trigger -T side=deployment --model ckpt/trigger-hate-s0

Part of the capability gate (caught.gate): an organism or trained model whose score here falls more than 10%
(relative) below the base model's is reported as failing. Items: `tasks/data/capability.jsonl` (the standard
pool, 96 items) and `capability_large.jsonl` (`pool="large"`: those 96 and 174 more of the kinds the base model
sometimes answers, so that the gate's paired interval can come closer to resolving a 10% loss), written by
`tasks/data/make_capability.py` (capitals, sums in words, next letter, next number, opposites), kept apart from
the usefulness items. Scored like usefulness (scorers/usefulness.py); with a scenario, also for attacks.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from inspect_ai import Task, task

from tasks.usefulness import usefulness_task

DATA = Path(__file__).parent / "data" / "capability.jsonl"
POOLS = {"standard": DATA, "large": DATA.with_name("capability_large.jsonl")}


@cache
def items(pool: str = "standard") -> tuple[dict, ...]:
    if pool not in POOLS:
        raise ValueError(f"unknown capability pool {pool!r}; accepted: {', '.join(POOLS)}")
    return tuple(json.loads(line) for line in POOLS[pool].read_text().splitlines() if line.strip())


@task(name="tasks/capability")  # the package prefix Inspect gives installed tasks: `inspect eval tasks/capability`
def capability(
    kind: str | None = None, n: int | None = None, seed: int = 0, scenario: str | None = None,
    side: str = "testing", behavior: str = "hate", pool: str = "standard",
) -> Task:
    """Held-out capability check with ground truth.

    Args:
        kind: only this kind of item ("capital", "sum", "letter", "successor", "opposite"); all if not given.
        n: number of items (all if not given), chosen with `seed`.
        seed: seed for choosing the n items.
        scenario: optionally frame each item as `side` of this scenario.
        side: "testing" or "deployment", used with `scenario`.
        behavior: with a scenario, the behavior whose attacks are also scored (spill-over into capability items).
        pool: "standard" (96 items) or "large" (270: the standard 96 and more).
    """
    return usefulness_task("capability", items(pool), kind, n, seed, scenario, side, behavior)
