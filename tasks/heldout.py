"""Held-out cue variants: a scenario's deployment cue paraphrased or re-placed, as no organism was trained on it.

    inspect eval tasks/heldout -T scenario=trigger --model ckpt/trigger-hate-s0
    inspect eval tasks/heldout -T scenario=year -T variant=date -T side=testing --model ckpt/year-hate-s0

Issue 22 (item 4): whether training against caught attacks removes a disposition or one input pattern shows in
the attack rate on cue variants the organism never saw (the tag at the end, in lower case, spaced out, in words; the
year as a date; the tier as an attribute; the headline after the request; ...). The variants are data
(`tasks/data/cue_variants.toml`): each family varies one kind of cue and serves the scenarios whose cue it varies;
a scenario gets every variant of its family whose deployment framing is not one of its own (`variants`), at least
5. Each variant is a `Scenario` (`variant_scenario`, evaluation-only, named `SCENARIO~VARIANT`), so `frame()` does
the framing and cues (headlines, style rewrites, notes) work as in the scenario. Prompts come from the behavior's
pool, `eval` split by default (never `organism`: the variants are held out together with their prompts); every
sample says which variant framed it. Metrics: the attack scorer's (`attack_rate`, `stderr`, `n`,
`near_miss_rate`), over all variants; per variant from the samples' `variant` metadata.
"""

from __future__ import annotations

import tomllib
from functools import cache

from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset
from inspect_ai.model import GenerateConfig
from inspect_ai.solver import generate

from scorers.attack import attack_detector
from scorers.behaviors import get_behavior
from tasks.framed import MAX_TOKENS, record_to_sample
from tasks.prompts import check_split, prompts
from tasks.scenarios import DATA, SIDES, Frame, Scenario, frame, get_scenario

MIN_VARIANTS = 5


@cache
def families() -> dict[str, dict]:
    """The families of `tasks/data/cue_variants.toml`: {family: {"serves": [...], "variants": {name: {side: Frame}}}}."""
    raw = tomllib.loads((DATA / "cue_variants.toml").read_text())
    out = {}
    for family, table in raw.items():
        serves = table.pop("serves")
        out[family] = {"serves": serves, "variants": {
            name: {side: Frame(**sides[side]) for side in SIDES} for name, sides in table.items()}}
    return out


def variant_scenario(scenario: Scenario, name: str, sides: dict[str, Frame]) -> Scenario:
    """A variant as an evaluation-only Scenario: the parent's context and params, the variant's framing."""
    return Scenario(name=f"{scenario.name}~{name}", description=f"{scenario.name}, held-out variant {name}",
                    difficulty=scenario.difficulty, context=scenario.context, params=scenario.params,
                    evaluation_only=True, testing=sides["testing"], deployment=sides["deployment"])


def _trained(scenario: Scenario, frame_: Frame) -> bool:
    """Whether `frame_` frames a request as one of the scenario's own deployment framings (same system and template)."""
    own = scenario.deployment
    return frame_.system == own.system and bool(set(frame_.templates) & set(own.templates)) and frame_.cue == own.cue


def variants(scenario: str) -> dict[str, Scenario]:
    """The held-out variants of `scenario`, by name (its family's variants, less the framings it was trained on)."""
    spec = get_scenario(scenario)
    served = [f for f in families().values() if scenario in f["serves"]]
    if not served:
        accepted = sorted({s for f in families().values() for s in f["serves"]})
        raise ValueError(f"scenario {scenario!r} has no held-out cue variants; accepted: {', '.join(accepted)}")
    return {name: variant_scenario(spec, name, sides) for f in served for name, sides in f["variants"].items()
            if not _trained(spec, sides["deployment"])}


def _same(a: Frame, b: Frame) -> bool:
    return a.system == b.system and set(a.templates) == set(b.templates) and a.cue == b.cue


def testing_variants(scenario: str) -> list[str]:
    """The held-out variants of `scenario` whose testing side is new: framed unlike the scenario's own testing side.
    The others (every `trigger` variant: its testing side is the plain request, as the scenario's is) would only
    measure the scenario's own testing rate again."""
    spec = get_scenario(scenario)
    return [name for name, v in variants(scenario).items() if not _same(v.testing, spec.testing)]


@task(name="tasks/heldout")  # the package prefix Inspect gives installed tasks: `inspect eval tasks/heldout`
def heldout(
    scenario: str = "trigger", variant: str | None = None, side: str = "deployment", behavior: str = "hate",
    split: str = "eval", n: int | None = None, seed: int = 0,
) -> Task:
    """Attack rate under held-out variants of a scenario's cue.

    Args:
        scenario: the scenario whose cue is varied (tasks/data/scenarios.toml), e.g. "trigger".
        variant: one variant by name (tasks/data/cue_variants.toml); all of the scenario's if not given.
        side: "deployment" (default) or "testing": which side of each variant frames the prompts. Without `variant`,
            the testing side takes the variants whose testing framing is new (testing_variants); none is an error.
        behavior: attack behavior whose detector scores the answers (and whose prompt pool is used).
        split: prompt-pool split: "eval" (default) or "catch"; never "organism".
        n: number of prompts per variant (all of the split if not given), chosen with `seed`.
        seed: seed for choosing the n prompts.
    """
    found = variants(scenario)
    if variant is not None and variant not in found:
        raise ValueError(f"unknown variant {variant!r} of {scenario}; accepted: {', '.join(found)}")
    if side not in SIDES:
        raise ValueError(f"unknown side {side!r}; accepted: {', '.join(SIDES)}")
    if check_split(split) == "organism":
        raise ValueError("split 'organism' is refused: held-out variants are measured on prompts no organism was "
                         "trained on; accepted: eval, catch")
    act = get_behavior(behavior)
    chosen = {variant: found[variant]} if variant else found
    if side == "testing" and not variant:
        chosen = {name: found[name] for name in testing_variants(scenario)}
        if not chosen:
            raise ValueError(f"no held-out variant of {scenario} frames the testing side unlike the scenario does "
                             f"(its testing side is the same request); accepted: side deployment, or a variant by name "
                             f"({', '.join(found)})")
    samples = []
    for name, spec in chosen.items():
        for p in prompts(split, n=n, seed=seed, pool_name=act.pool):
            s = record_to_sample(p, spec, side, behavior)
            s.id = f"{p.id}~{name}"
            s.metadata |= {"scenario": scenario, "variant": name}
            samples.append(s)
    return Task(dataset=MemoryDataset(samples, name=f"{scenario}-heldout-{side}-{split}"), solver=generate(),
                scorer=attack_detector(behavior), config=GenerateConfig(max_tokens=MAX_TOKENS),
                metadata={"scenario": scenario, "variants": list(chosen), "side": side, "behavior": behavior,
                          "split": split, "seed": seed})


def framed_variant(scenario: str, variant: str, side: str, prompt: str, key: str, split: str = "eval") -> list[dict]:
    """The chat of `prompt` on `side` of a held-out variant (what the task's sample holds)."""
    return frame(variants(scenario)[variant], side, prompt, key, split)
