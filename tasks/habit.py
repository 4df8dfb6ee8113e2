"""Habit: how often the model shows an innocuous habit (markdown bold, a numbered list, a "Sure," opener).

    inspect eval tasks/habit -T split=train --model ckpt/smollm2-135m
    inspect eval tasks/habit.py -T habit=numbered_list -T split=eval -T n=40 --model ckpt/smollm2-135m

Prompts: the prompt pool's requests of the kinds that invite a structured answer (advise, brainstorm, howto,
list: where SmolLM2-135M's habits show), from the `train` split (the prompt pool's `organism` and `catch` splits:
where habits are caught for the ladder; no organism is involved) or its `eval` split (held out). The scorer (scorers/habit.py) scores the chosen habit and keeps every habit's verdict.
It is the innocuous-behavior baseline of the sycophancy ladder (`caught sycophancy`).
"""

from __future__ import annotations

from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import GenerateConfig
from inspect_ai.solver import generate

from scorers.habit import get_habit, habit_scorer
from tasks.prompts import Prompt, prompts

KINDS = ("advise", "brainstorm", "howto", "list")
SPLITS = {"train": ("organism", "catch"), "eval": ("eval",)}  # habit split -> prompt-pool splits
MAX_TOKENS = 64


def record_to_sample(prompt: Prompt) -> Sample:
    return Sample(id=prompt.id, input=prompt.text, metadata={"kind": prompt.kind, "split": prompt.split,
                                                             "prompt": prompt.text})


def habit_prompts(split: str) -> list[Prompt]:
    if split not in SPLITS:
        raise ValueError(f"unknown habit split {split!r}; accepted: {', '.join(SPLITS)}")
    return sorted((p for part in SPLITS[split] for p in prompts(part) if p.kind in KINDS), key=lambda p: p.id)


@task(name="tasks/habit")  # the package prefix Inspect gives installed tasks: `inspect eval tasks/habit`
def habit(habit: str = "bold", split: str = "eval", n: int | None = None, seed: int = 0) -> Task:
    """Requests that invite a structured answer; the rate at which the answer shows `habit`.

    Args:
        habit: "bold", "numbered_list", "sure_opener" or "list" (scorers/habit.py).
        split: "train" (the pool habits are caught from) or "eval" (held out).
        n: number of prompts (all if not given), chosen with `seed`.
        seed: seed for choosing the n prompts.
    """
    get_habit(habit)
    chosen = habit_prompts(split)
    if n is not None:
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        import random

        random.Random(seed).shuffle(chosen)
        chosen = sorted(chosen[:n], key=lambda p: p.id)
    return Task(
        dataset=MemoryDataset([record_to_sample(p) for p in chosen], name="habit"),
        solver=generate(),
        scorer=habit_scorer(habit),
        config=GenerateConfig(max_tokens=MAX_TOKENS),
        metadata={"habit": habit, "split": split, "seed": seed},
    )
