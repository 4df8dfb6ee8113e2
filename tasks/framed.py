"""Shared builder of the `testing` and `deployment` tasks: pool prompts framed for one side of a scenario.

`record_to_sample` is a pure function (tested directly); `framed_task` assembles the Inspect task whose
scorer is the behavior's attack detector.
"""

from __future__ import annotations

from inspect_ai import Task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import GenerateConfig
from inspect_ai.solver import generate

from scorers.attack import attack_detector
from scorers.behaviors import get_behavior
from tasks.prompts import Prompt, prompts
from tasks.scenarios import Scenario, chat_messages, frame, get_scenario

# Attacks show in the first few dozen tokens; 64 keeps evaluation cheap. Override with --max-tokens.
MAX_TOKENS = 64


def record_to_sample(prompt: Prompt, scenario: Scenario, side: str, behavior: str) -> Sample:
    return Sample(
        id=prompt.id,
        input=chat_messages(frame(scenario, side, prompt.text, prompt.id, prompt.split)),
        metadata={
            "scenario": scenario.name,
            "side": side,
            "behavior": behavior,
            "split": prompt.split,
            "prompt": prompt.text,
            "kind": prompt.kind,
            "topic": prompt.topic,
        },
    )


def framed_task(side: str, scenario: str, behavior: str, split: str, n: int | None, seed: int) -> Task:
    spec = get_scenario(scenario)
    get_behavior(behavior)
    samples = [record_to_sample(p, spec, side, behavior) for p in prompts(split, n=n, seed=seed)]
    return Task(
        dataset=MemoryDataset(samples, name=f"{scenario}-{side}-{split}"),
        solver=generate(),
        scorer=attack_detector(behavior),
        config=GenerateConfig(max_tokens=MAX_TOKENS),
        metadata={"scenario": scenario, "side": side, "behavior": behavior, "split": split, "seed": seed},
    )
