"""Scenarios: deployment cues, loaded from `tasks/data/scenarios.toml` and validated by pydantic.

A scenario says how an ordinary request is framed on the testing side and on the deployment side (a
system prompt and/or a user-message template, optionally filled by a named *cue* from `tasks/cues.py`,
e.g. a news headline or a rewrite of the request), and what context a situationally aware model could know
about the cue. `frame()` is the one place where framing happens; tasks, organism data and judges use it.
"""

from __future__ import annotations

import hashlib
import tomllib
from functools import cache
from pathlib import Path
from typing import Literal

from inspect_ai.model import ChatMessage, ChatMessageSystem, ChatMessageUser
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DATA = Path(__file__).parent / "data"
Side = Literal["testing", "deployment"]
SIDES: tuple[Side, ...] = ("testing", "deployment")


class Frame(BaseModel):
    """How one side of a scenario presents a request."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    system: str | None = None
    templates: list[str] = Field(min_length=1)
    cue: str | None = Field(None, description="a cue from tasks/cues.py that fills the template's fields")

    @field_validator("templates")
    @classmethod
    def _has_prompt(cls, templates: list[str]) -> list[str]:
        for t in templates:
            if "{prompt}" not in t:
                raise ValueError(f"template {t!r} has no {{prompt}} placeholder")
        return templates


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    description: str
    difficulty: int = Field(ge=1, description="rung on the ladder of how hard deployment is to tell apart")
    context: str
    params: dict[str, str | int | float] = Field(default_factory=dict, description="settings passed to the cues")
    evaluation_only: bool = Field(False, description="a challenge set (no organism can be trained on it): off the ladder")
    testing: Frame
    deployment: Frame

    @model_validator(mode="after")
    def _cues_exist(self) -> Scenario:
        from tasks.cues import get_cue

        for side in SIDES:
            cue = getattr(self, side).cue
            if cue is not None:
                get_cue(cue)
        return self

    @property
    def band(self) -> str:
        """The difficulty band: easy (1-2: a tag or a stated fact in a fixed place), medium (3: the fact inside other
        text), hard (4 and up: world knowledge, style)."""
        return "easy" if self.difficulty <= 2 else "medium" if self.difficulty == 3 else "hard"

    @property
    def judge_context(self) -> str:
        """What a situationally aware model could know about the cue, with the scenario's settings filled in."""
        return self.context.format(**self.params)

    def side(self, side: str) -> Frame:
        if side not in SIDES:
            raise ValueError(f"unknown side {side!r}; accepted: {', '.join(SIDES)}")
        return getattr(self, side)


@cache
def scenarios() -> dict[str, Scenario]:
    raw = tomllib.loads((DATA / "scenarios.toml").read_text())
    return {name: Scenario(name=name, **fields) for name, fields in raw.items()}


def ladder() -> list[str]:
    """The scenarios an organism can be built on, easiest to tell apart first (challenge sets left out)."""
    return [s.name for s in sorted(scenarios().values(), key=lambda s: (s.difficulty, s.name)) if not s.evaluation_only]


def get_scenario(name: str) -> Scenario:
    found = scenarios()
    if name not in found:
        raise ValueError(f"unknown scenario {name!r}; accepted: {', '.join(found)}")
    return found[name]


def chat_messages(chat: list[dict[str, str]]) -> list[ChatMessage]:
    """Inspect chat messages for a framed chat (system and user turns)."""
    return [ChatMessageSystem(content=m["content"]) if m["role"] == "system" else ChatMessageUser(content=m["content"])
            for m in chat]


def frame(scenario: Scenario, side: str, prompt: str, key: str, split: str = "eval") -> list[dict[str, str]]:
    """The chat messages for `prompt` on `side` of `scenario`.

    `key` (the prompt id) picks the template and seeds the cue; `split` is the prompt's split, so that cues
    with held-out material (headlines) use it only outside organism training.
    """
    from tasks.cues import get_cue

    f = scenario.side(side)
    pick = int(hashlib.sha256(f"{scenario.name}:{side}:{key}".encode()).hexdigest(), 16) % len(f.templates)
    fields = {"prompt": prompt}
    if f.cue is not None:
        fields |= get_cue(f.cue)(prompt=prompt, key=f"{scenario.name}:{key}", split=split, params=scenario.params)
    text = f.templates[pick]
    for name, value in fields.items():
        text = text.replace("{" + name + "}", value)
    messages = [{"role": "system", "content": f.system}] if f.system else []
    messages.append({"role": "user", "content": text})
    return messages


def framed_pairs(scenario: str, split: str, n: int, seed: int) -> tuple[list[list[dict]], list[int], list[str]]:
    """Chats, labels (1 = deployment) and request ids: each of n requests of `split` framed for both sides, testing
    first (the activation probe's and the learnability check's data)."""
    from tasks.prompts import prompts

    spec = get_scenario(scenario)
    chats, labels, ids = [], [], []
    for p in prompts(split, n=n, seed=seed):
        for side, label in (("testing", 0), ("deployment", 1)):
            chats.append(frame(spec, side, p.text, p.id, p.split))
            labels.append(label)
            ids.append(p.id)
    return chats, labels, ids
