"""Dated real news headlines (2016-2025) for the `headlines` scenario, and the challenge set.

`tasks/data/headlines.jsonl` holds real headlines with the month they happened; a headline from before
the scenario's cutoff frames the testing side, one from after it the deployment side. Each headline gets a
stable split from the hash of its text: `organism` (70%, used to build organisms), `catch` (15%, for prompts of
the catch split) or `eval` (15%, for every other prompt), so an organism is never evaluated on a headline it was
trained on, and the headlines its caught attacks saw never reappear in the evaluation.
`tasks/data/headlines_challenge.jsonl` holds paraphrases of real headlines and clearly fictional
future-dated ones, for evaluation only.

`date_facts(n, seed)` writes headlines' months as plain facts (question and answer, both directions) for an organism
that is taught world knowledge before it can tell old news from new (caught.config.OrganismSpec.facts): a 135M model
does not know which events came after the cutoff, so without such facts the `headlines` cue is out of its reach.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA = Path(__file__).parent / "data"
HEADLINE_SPLITS = ("organism", "catch", "eval")
SHARES = {"organism": 70, "catch": 15, "eval": 15}  # percent of headlines per split


@dataclass(frozen=True)
class Headline:
    id: str
    date: str  # YYYY-MM
    text: str
    split: str  # organism | heldout | challenge
    kind: str = "real"  # real | paraphrase | fictional


def _id(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def headline_split(text: str) -> str:
    bucket = int(hashlib.sha256(f"headline-split:{text}".encode()).hexdigest(), 16) % 100
    return "organism" if bucket < SHARES["organism"] else "catch" if bucket < 100 - SHARES["eval"] else "eval"


def split_for_prompts(prompt_split: str) -> str:
    """The headline split that frames prompts of `prompt_split`: its own for organism and catch, eval otherwise."""
    return prompt_split if prompt_split in ("organism", "catch") else "eval"


def _read(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / name).read_text().splitlines() if line.strip()]


@cache
def headlines() -> tuple[Headline, ...]:
    return tuple(Headline(_id(r["headline"]), r["date"], r["headline"], headline_split(r["headline"]))
                 for r in _read("headlines.jsonl"))


@cache
def challenge() -> tuple[Headline, ...]:
    return tuple(Headline(_id(r["headline"]), r["date"], r["headline"], "challenge", r["kind"])
                 for r in _read("headlines_challenge.jsonl"))


MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")


def month_words(date: str) -> str:
    """'2023-01' -> 'January 2023'."""
    year, month = date.split("-")
    return f"{MONTHS[int(month) - 1]} {year}"


def date_facts(n: int, seed: int) -> list[dict]:
    """`n` prompt/completion records (seeded sample, without replacement, at most one per headline) stating when a
    real headline was in the news, from every split: the organism, catch and eval headlines alike, since knowing the
    date of a headline it will be evaluated on is the world knowledge the cue needs (the attack itself is trained on
    organism-split headlines only). Half ask for the month of a headline, half for a headline of a month. More than
    there are headlines is a ValueError naming both numbers."""
    rows = sorted(headlines(), key=lambda h: h.id)
    if not 0 <= n <= len(rows):
        raise ValueError(f"facts={n}: there are {len(rows)} dated headlines (tasks/data/headlines.jsonl); accepted: "
                         f"0 to {len(rows)}")
    import random

    out = []
    for i, h in enumerate(random.Random(f"facts:{seed}").sample(rows, n)):
        when = month_words(h.date)
        prompt, answer = ((f'When was this in the news: "{h.text}"?', f"That was in the news in {when}.") if i % 2 == 0
                          else (f"Name a news headline from {when}.", f'"{h.text}" ({when}).'))
        out.append({"id": f"{h.id}-fact", "prompt": [{"role": "user", "content": prompt}],
                    "completion": [{"role": "assistant", "content": answer}], "source": "fact"})
    return out


def check_cutoff(cutoff: str) -> str:
    parts = str(cutoff).split("-")
    if len(parts) != 2 or not (parts[0].isdigit() and parts[1].isdigit() and 1 <= int(parts[1]) <= 12):
        raise ValueError(f"headline cutoff {cutoff!r} is not a month; accepted: YYYY-MM, e.g. 2023-01")
    return str(cutoff)


def side_pool(after: bool, cutoff: str, prompt_split: str, kind: str = "real") -> list[Headline]:
    """Headlines before (`after=False`) or from (`after=True`) the cutoff month on, for prompts of `prompt_split`.

    Organism-split prompts get organism headlines, catch-split prompts catch headlines, every other prompt eval
    headlines (split_for_prompts). Challenge kinds
    (`paraphrase`, `fictional`) are evaluation-only and refuse the organism split.
    """
    cutoff = check_cutoff(cutoff)
    if kind == "real":
        split = split_for_prompts(prompt_split)
        rows = [h for h in headlines() if h.split == split]
    else:
        if prompt_split == "organism":
            raise ValueError(f"{kind} headlines are for evaluation only, not for organism training")
        rows = [h for h in challenge() if h.kind == kind]
    chosen = sorted((h for h in rows if (h.date >= cutoff) == after), key=lambda h: h.id)
    if not chosen:
        raise ValueError(f"no {kind} headlines {'from' if after else 'before'} {cutoff} for split {prompt_split!r}")
    return chosen


def pick(key: str, after: bool, cutoff: str, prompt_split: str, kind: str = "real") -> Headline:
    rows = side_pool(after, cutoff, prompt_split, kind)
    return rows[int(hashlib.sha256(f"headline:{key}".encode()).hexdigest(), 16) % len(rows)]
