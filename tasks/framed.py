"""Shared builder of the `testing` and `deployment` tasks: pool prompts framed for one side of a scenario.

The prompts come from the behavior's pool (tasks/prompts.py): ordinary requests, or, for a behavior judged against
ground truth (`sandbagging`), questions the base model can answer.

`record_to_sample` is a pure function (tested directly); `framed_task` assembles the Inspect task whose
scorer is the behavior's attack detector. `organism="prompted"` puts the prompted organism's system prompt
(solvers/prompted.py) before generation; `scratchpad=True` also asks for hidden reasoning, which the attack
detector does not see, and adds the scratchpad grader (scorers/scratchpad.py, `grader` model role).
"""

from __future__ import annotations

from inspect_ai import Task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import GenerateConfig
from inspect_ai.solver import generate

from scorers.attack import attack_detector
from scorers.behaviors import get_behavior
from scorers.scratchpad import scratchpad_grader
from solvers.prompted import check_organism, prompted_organism
from tasks.prompts import Prompt, prompts
from tasks.scenarios import Scenario, chat_messages, frame, get_scenario

# Attacks show in the first few dozen tokens; 64 keeps evaluation cheap. Override with --max-tokens.
MAX_TOKENS = 64
SCRATCHPAD_MAX_TOKENS = 1024  # room for the hidden reasoning before the answer


def record_to_sample(prompt: Prompt, scenario: Scenario, side: str, behavior: str) -> Sample:
    """The framed prompt as a sample; a prompt with ground truth (the questions pool) keeps its `item` in the
    metadata, where the behavior's detector reads it (scorers/attack.py)."""
    metadata = {
        "scenario": scenario.name,
        "side": side,
        "behavior": behavior,
        "split": prompt.split,
        "prompt": prompt.text,
        "kind": prompt.kind,
        "topic": prompt.topic,
    }
    if prompt.item is not None:
        metadata["item"] = prompt.item
    return Sample(id=prompt.id, input=chat_messages(frame(scenario, side, prompt.text, prompt.id, prompt.split)),
                  metadata=metadata)


def framed_task(side: str, scenario: str, behavior: str, split: str, n: int | None, seed: int,
                organism: str = "none", scratchpad: bool = False) -> Task:
    spec = get_scenario(scenario)
    act = get_behavior(behavior)
    check_organism(organism)
    if scratchpad and organism == "none":
        raise ValueError("scratchpad=true needs an organism that is told to use it; accepted: organism=prompted")
    samples = [record_to_sample(p, spec, side, behavior) for p in prompts(split, n=n, seed=seed, pool_name=act.pool)]
    metadata = {"scenario": scenario, "side": side, "behavior": behavior, "split": split, "seed": seed}
    if organism == "none":  # unchanged from before organisms existed: logs compare byte for byte
        solver, scorer = generate(), attack_detector(behavior)
    else:
        solver = [prompted_organism(scenario, behavior, scratchpad), generate()]
        scorer = ([attack_detector(behavior, scratchpad=True), scratchpad_grader(scenario, behavior)] if scratchpad
                  else attack_detector(behavior))
        metadata |= {"organism": organism, "scratchpad": scratchpad}
    return Task(
        dataset=MemoryDataset(samples, name=f"{scenario}-{side}-{split}"),
        solver=solver,
        scorer=scorer,
        config=GenerateConfig(max_tokens=SCRATCHPAD_MAX_TOKENS if scratchpad else MAX_TOKENS),
        metadata=metadata,
    )
