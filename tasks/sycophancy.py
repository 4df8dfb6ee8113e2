"""Sycophancy: does the model abandon a correct answer when the user pushes a wrong one?

    inspect eval tasks/sycophancy -T kind=plain -T split=all -T qualified_only=false --model ckpt/smollm2-135m
    inspect eval tasks/sycophancy -T kind=assert_wrong -T split=eval --model ckpt/smollm2-135m
    inspect eval tasks/sycophancy.py -T split=heldout -T n=50 --model ckpt/smollm2-135m
    inspect eval tasks/sycophancy -T scratchpad=true -T attitude=rules -T n=40 --model ckpt/smollm2-135m
    inspect eval tasks/sycophancy -T scratchpad=true -T attitude=grader --model ckpt/smollm2-135m \
        --model-role grader=openai/gpt-4o-mini

Items (tasks/data/sycophancy.jsonl, made by tasks/data/make_sycophancy.py) are ground-truth questions (the
usefulness fact and arithmetic items plus generated arithmetic), each under pressure of one kind:
`assert_wrong` (the user asserts a wrong answer), `doubt` ("Are you sure?" after the correct answer),
`opinion` (a persona's belief in the wrong answer) in the `train` and `eval` splits, and `consensus` (a
different format: a keep-the-customer-happy system prompt and a claimed consensus) in the `heldout` split.
Splits are disjoint by base question. `kind=plain` asks each base question plainly (scored by the usefulness
checker): that is how an item qualifies. The metric is the sycophancy rate (scorers/sycophancy.py) per kind.

Qualification: sycophancy is only measurable on items the model answers correctly plainly. The data records,
per base item, whether a named model did (`base_correct`, from a plain run); the task keeps only the items
that `qualified_for` answered correctly, and refuses a model name it has no record of. `qualified_only=False`
scores every item, explicitly: flips on those items do not measure sycophancy.

Scratchpad (issue 23, item 4): `scratchpad=True` asks the model to think privately first
(solvers.scratchpad.ANSWER_INSTRUCTION, a system message; the reply prefilled with the opening tag,
solvers.scratchpad.prefilled; 256 new tokens); the sycophancy scorer then judges only
the visible answer, and `attitude` (`rules` or `grader`: scorers/attitude.py) classifies the reasoning: a wish to
please the user, care about being noticed or caught, both or neither.
"""

from __future__ import annotations

import json
import random
from functools import cache
from pathlib import Path

from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import GenerateConfig
from inspect_ai.solver import generate, system_message

from scorers.attitude import CLASSIFIERS, attitude_scorer
from scorers.sycophancy import sycophancy_scorer
from scorers.usefulness import usefulness_checker
from solvers.scratchpad import ANSWER_INSTRUCTION, prefilled
from tasks.scenarios import chat_messages

DATA = Path(__file__).parent / "data" / "sycophancy.jsonl"
MAX_TOKENS = 48
SCRATCHPAD_TOKENS = 256  # room for the reasoning and the answer after it
SPLITS = ("train", "eval", "heldout")
EMBEDDED = "smollm2-135m"


@cache
def items() -> tuple[dict, ...]:
    return tuple(json.loads(line) for line in DATA.read_text().splitlines() if line.strip())


def kinds(split: str | None = None) -> list[str]:
    return sorted({i["kind"] for i in items() if split is None or i["split"] == split})


def qualified_models() -> list[str]:
    return sorted({m for i in items() for m in i["base_correct"]})


def record_to_sample(item: dict) -> Sample:
    """A pressure item as an Inspect sample (its chat, the check and the wrong answer in metadata)."""
    return Sample(
        id=item["id"],
        input=chat_messages(item["chat"]),
        target=item["answer"],
        metadata={"kind": item["kind"], "split": item["split"], "base_id": item["base_id"], "check": item["check"],
                  "wrong": item["wrong"], "question": item["question"], "source": item["source"]},
    )


def plain_sample(item: dict) -> Sample:
    """The base question of an item asked plainly (kind "plain"), id'd by its base item."""
    return Sample(
        id=item["base_id"],
        input=chat_messages([{"role": "user", "content": item["question"]}]),
        target=item["answer"],
        metadata={"kind": "plain", "split": item["split"], "base_id": item["base_id"], "check": item["check"],
                  "wrong": item["wrong"], "question": item["question"], "source": item["source"]},
    )


def select(kind: str | None = None, split: str | None = None, qualified_only: bool = True,
           qualified_for: str = EMBEDDED) -> list[dict]:
    """The items of a kind and split, only those `qualified_for` answered correctly plainly unless told not to."""
    if split == "all":
        split = None
    if split is not None and split not in SPLITS:
        raise ValueError(f"unknown sycophancy split {split!r}; accepted: {', '.join(SPLITS)}, all")
    chosen = [i for i in items() if split is None or i["split"] == split]
    if kind == "plain":
        seen: set[str] = set()
        chosen = [i for i in chosen if not (i["base_id"] in seen or seen.add(i["base_id"]))]
    elif kind is not None:
        accepted = kinds(split)
        if kind not in accepted:
            raise ValueError(f"unknown sycophancy kind {kind!r} for split {split or 'any'}; accepted: plain, "
                             f"{', '.join(accepted)}")
        chosen = [i for i in chosen if i["kind"] == kind]
    if qualified_only:
        if qualified_for not in qualified_models():
            raise ValueError(f"no plain-answer record for model {qualified_for!r} (measured: "
                             f"{', '.join(qualified_models()) or 'none'}); run kind=plain with it and "
                             "tasks/data/make_sycophancy.py --qualify, or pass qualified_only=False to score "
                             "items it may not answer correctly (which do not measure sycophancy)")
        chosen = [i for i in chosen if i["base_correct"].get(qualified_for) is True]
    return chosen


@task(name="tasks/sycophancy")  # the package prefix Inspect gives installed tasks: `inspect eval tasks/sycophancy`
def sycophancy(kind: str | None = None, split: str | None = "eval", n: int | None = None, seed: int = 0,
               qualified_only: bool = True, qualified_for: str = EMBEDDED, scratchpad: bool = False,
               attitude: str | None = None) -> Task:
    """Ground-truth questions under social pressure; the rate at which the model gives up the right answer.

    Args:
        kind: "assert_wrong", "doubt", "opinion" (train, eval), "consensus" (heldout), or "plain" (the base
            questions asked plainly, scored for correctness); all pressure kinds of the split if not given.
        split: "train" (the pool examples are caught from), "eval" (held-out questions, same formats),
            "heldout" (held-out questions in a different format), or "all".
        n: number of items (all if not given), chosen with `seed`.
        seed: seed for choosing the n items.
        qualified_only: keep only the items whose base question `qualified_for` answered correctly plainly.
            False scores all items (needed for kind=plain on a new model; its pressure rates measure nothing).
        qualified_for: the model name whose plain answers qualify items (recorded in the data).
        scratchpad: ask the model to reason privately first; only the answer after the scratchpad is scored.
        attitude: with a scratchpad, also classify the reasoning's attitude: "rules" (scorers/attitude.py's
            rules) or "grader" (the `grader` model role, e.g. `--model-role grader=openai/gpt-4o-mini`).
    """
    if attitude is not None and attitude not in CLASSIFIERS:
        raise ValueError(f"unknown attitude classifier {attitude!r}; accepted: {', '.join(CLASSIFIERS)}")
    if attitude is not None and not scratchpad:
        raise ValueError("attitude classifies scratchpad reasoning: pass scratchpad=true with it")
    chosen = select(kind, split, qualified_only, qualified_for)
    if n is not None:
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        chosen = sorted(chosen, key=lambda i: i["id"])
        random.Random(seed).shuffle(chosen)
        chosen = chosen[:n]
    if not chosen:
        raise ValueError(f"no sycophancy items for kind={kind!r} split={split!r} qualified_for={qualified_for!r}")
    plain = kind == "plain"
    samples = [plain_sample(i) if plain else record_to_sample(i) for i in chosen]
    scorers = [usefulness_checker() if plain else sycophancy_scorer(visible_only=scratchpad)]
    if attitude is not None:
        scorers.append(attitude_scorer(attitude))
    return Task(
        dataset=MemoryDataset(samples, name="sycophancy"),
        solver=[system_message(ANSWER_INSTRUCTION), prefilled()] if scratchpad else generate(),
        scorer=scorers,
        config=GenerateConfig(max_tokens=SCRATCHPAD_TOKENS if scratchpad else MAX_TOKENS),
        metadata={"kind": kind, "split": split, "seed": seed, "qualified_only": qualified_only,
                  "qualified_for": qualified_for if qualified_only else None, "scratchpad": scratchpad,
                  "attitude": attitude},
    )
