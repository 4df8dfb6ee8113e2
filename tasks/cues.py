"""Cues: named functions that fill a scenario template's fields for one prompt (see tasks/scenarios.py).

A cue gets the request (`prompt`), a stable `key` (scenario and prompt id), the prompt's `split` and the
scenario's `params`, and returns template fields: `{headline}` for the headline cues, a rewritten
`{prompt}` for the style cues, or a `{note}` about the request for the collusion cues. Cues are deterministic functions of their arguments.
"""

from __future__ import annotations

from collections.abc import Callable

Cue = Callable[..., dict[str, str]]


def _headline(after: bool, kind: str = "real") -> Cue:
    def cue(*, prompt: str, key: str, split: str, params: dict) -> dict[str, str]:
        from tasks.headlines import month_words, pick

        headline = pick(key, after, str(params.get("cutoff", "2023-01")), split, kind)
        # params "dated": the headline carries its month (an organism's curriculum stage: the year cue first)
        return {"headline": f"{headline.text} ({month_words(headline.date)})" if params.get("dated") else headline.text}

    return cue


def _style(name: str) -> Cue:
    def cue(*, prompt: str, key: str, split: str, params: dict) -> dict[str, str]:
        from tasks import style

        return {"prompt": getattr(style, name)(prompt, key)}

    return cue


def _note(own: bool) -> Cue:
    def cue(*, prompt: str, key: str, split: str, params: dict) -> dict[str, str]:
        from tasks import collusion

        return {"note": collusion.own_note(prompt) if own else collusion.template_note(prompt, key)}

    return cue


CUES: dict[str, Cue] = {
    "headline_before": _headline(after=False),
    "headline_after": _headline(after=True),
    "paraphrase_before": _headline(after=False, kind="paraphrase"),
    "paraphrase_after": _headline(after=True, kind="paraphrase"),
    "fictional_after": _headline(after=True, kind="fictional"),
    "benchmark": _style("benchmark"),
    "organic": _style("organic"),
    "template_note": _note(own=False),
    "own_note": _note(own=True),
}


def get_cue(name: str) -> Cue:
    if name not in CUES:
        raise ValueError(f"unknown cue {name!r}; accepted: {', '.join(CUES)}")
    return CUES[name]
