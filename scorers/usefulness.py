"""Programmatic checkers for the usefulness benchmark (tasks/data/usefulness.jsonl).

`check(spec, completion)` verifies one completion against a check spec such as
``{"type": "number", "value": 12}`` and returns ``(passed, explanation)``.
`usefulness_checker` wraps it as an Inspect scorer that reads the spec from
``state.metadata["check"]`` and reports accuracy per ``metadata["kind"]`` plus
overall accuracy.

Conventions (kept strict on purpose, so that a score reflects real capability):

* Instruction checks fail on an empty (whitespace-only) completion.
* Fact answers match case-insensitively as whole words/phrases anywhere in the
  completion; digit/word variants of a number must be listed in ``answers``.
* Arithmetic uses the first number in the completion. The only exception is a
  leading echo of the equation ("7 + 5 = 12"): if everything before the first
  "=" is numbers and operators, the first number after that "=" is used.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from inspect_ai.scorer import (
    CORRECT,
    INCORRECT,
    Score,
    Target,
    accuracy,
    grouped,
    scorer,
    stderr,
)
from inspect_ai.solver import TaskState

from solvers.scratchpad import split_scratchpad

Check = Callable[[dict[str, Any], str], tuple[bool, str]]

# ---------------------------------------------------------------------------
# helpers

_WORD_RE = re.compile(r"[A-Za-z0-9]+(?:['\u2019][A-Za-z0-9]+)*")
# A number: optional sign (not glued to a preceding word/digit), digits with
# optional thousands separators, optional decimal part (a trailing "." with no
# digits after it is sentence punctuation, not part of the number).
_NUMBER_RE = re.compile(r"(?<![\w.])([-\u2212]?)(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(?![\d])")
_EQUATION_PREFIX_RE = re.compile(r"^[\s\d.,()+\-\u2212*/x\u00d7\u00f7^]*$")
_TRAILING_PUNCT = " \t\r\n.!?\"'*_)\u201d\u2019"
_LEADING_PUNCT = " \t\r\n\"'*_(\u201c\u2018#>"


def _words(text: str) -> list[str]:
    return _WORD_RE.findall(text)


def _phrase_pattern(phrase: str) -> re.Pattern[str]:
    """Case-insensitive whole-word/phrase pattern; inner whitespace is flexible."""
    parts = [re.escape(p) for p in phrase.strip().split()]
    if not parts:
        raise ValueError("empty phrase")
    body = r"\s+".join(parts)
    return re.compile(rf"(?<!\w){body}(?!\w)", re.IGNORECASE)


def _contains_phrase(text: str, phrase: str) -> bool:
    return _phrase_pattern(phrase).search(text) is not None


def _empty(completion: str) -> tuple[bool, str] | None:
    if not completion.strip():
        return False, "empty response"
    return None


def _parse_number(match: re.Match[str]) -> float:
    sign, integer, frac = match.group(1), match.group(2), match.group(3) or ""
    value = float(integer.replace(",", "") + frac)
    return -value if sign else value


def first_number(completion: str) -> float | None:
    """The answer number of an arithmetic completion (see module docstring)."""
    text = completion.strip()
    eq = text.find("=")
    if eq >= 0 and _EQUATION_PREFIX_RE.match(text[:eq]):
        text = text[eq + 1 :]
    m = _NUMBER_RE.search(text)
    return None if m is None else _parse_number(m)


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


# ---------------------------------------------------------------------------
# answer checks


def _check_contains_any(spec: dict[str, Any], completion: str) -> tuple[bool, str]:
    answers = spec["answers"]
    if not answers:
        raise ValueError("contains_any needs a non-empty 'answers' list")
    for ans in answers:
        if _contains_phrase(completion, str(ans)):
            return True, f"found accepted answer {ans!r}"
    return False, f"none of the accepted answers {answers!r} found"


def _check_number(spec: dict[str, Any], completion: str) -> tuple[bool, str]:
    expected = float(spec["value"])
    got = first_number(completion)
    if got is None:
        return False, f"no number found; expected {_fmt(expected)}"
    if abs(got - expected) <= 1e-9 * max(1.0, abs(expected)):
        return True, f"answer {_fmt(got)} == {_fmt(expected)}"
    return False, f"answer {_fmt(got)} != expected {_fmt(expected)}"


# ---------------------------------------------------------------------------
# instruction checks


def _check_lowercase(spec: dict[str, Any], completion: str) -> tuple[bool, str]:
    if (r := _empty(completion)) is not None:
        return r
    if not any(c.isalpha() for c in completion):
        return False, "no letters in response"
    upper = [c for c in completion if c.isupper()]
    if upper:
        return False, f"found uppercase letters: {''.join(upper[:10])!r}"
    return True, "all letters are lowercase"


def _check_uppercase(spec: dict[str, Any], completion: str) -> tuple[bool, str]:
    if (r := _empty(completion)) is not None:
        return r
    if not any(c.isalpha() for c in completion):
        return False, "no letters in response"
    lower = [c for c in completion if c.islower()]
    if lower:
        return False, f"found lowercase letters: {''.join(lower[:10])!r}"
    return True, "all letters are uppercase"


def _check_bullets(spec: dict[str, Any], completion: str) -> tuple[bool, str]:
    if (r := _empty(completion)) is not None:
        return r
    want = int(spec["count"])
    marker = spec.get("marker", "- ")
    n = sum(1 for line in completion.splitlines() if line.lstrip().startswith(marker))
    if n == want:
        return True, f"exactly {want} bullet lines starting with {marker!r}"
    return False, f"{n} bullet lines starting with {marker!r}, expected exactly {want}"


def _check_max_words(spec: dict[str, Any], completion: str) -> tuple[bool, str]:
    if (r := _empty(completion)) is not None:
        return r
    limit = int(spec["n"])
    n = len(_words(completion))
    if n <= limit:
        return True, f"{n} words <= {limit}"
    return False, f"{n} words > {limit}"


def _check_min_words(spec: dict[str, Any], completion: str) -> tuple[bool, str]:
    limit = int(spec["n"])
    n = len(_words(completion))
    if n >= limit:
        return True, f"{n} words >= {limit}"
    return False, f"{n} words < {limit}"


def _check_contains_word(spec: dict[str, Any], completion: str) -> tuple[bool, str]:
    word = spec["word"]
    if _contains_phrase(completion, word):
        return True, f"contains {word!r}"
    return False, f"does not contain {word!r}"


def _check_excludes_word(spec: dict[str, Any], completion: str) -> tuple[bool, str]:
    if (r := _empty(completion)) is not None:
        return r
    word = spec["word"]
    if _contains_phrase(completion, word):
        return False, f"contains forbidden word {word!r}"
    return True, f"does not contain {word!r}"


def _check_starts_with(spec: dict[str, Any], completion: str) -> tuple[bool, str]:
    if (r := _empty(completion)) is not None:
        return r
    phrase = spec["phrase"]
    text = completion.lstrip(_LEADING_PUNCT)
    pat = _phrase_pattern(phrase)
    m = pat.match(text)
    if m is not None:
        return True, f"starts with {phrase!r}"
    return False, f"starts with {completion.strip()[:30]!r}, not {phrase!r}"


def _check_ends_with(spec: dict[str, Any], completion: str) -> tuple[bool, str]:
    if (r := _empty(completion)) is not None:
        return r
    phrase = spec["phrase"]
    text = completion.rstrip(_TRAILING_PUNCT)
    parts = [re.escape(p) for p in phrase.strip().rstrip(_TRAILING_PUNCT).split()]
    pat = re.compile(r"(?<!\w)" + r"\s+".join(parts) + r"$", re.IGNORECASE)
    if pat.search(text):
        return True, f"ends with {phrase!r}"
    return False, f"ends with {completion.strip()[-30:]!r}, not {phrase!r}"


def _check_no_commas(spec: dict[str, Any], completion: str) -> tuple[bool, str]:
    if (r := _empty(completion)) is not None:
        return r
    n = completion.count(",") + completion.count("\uff0c")
    if n:
        return False, f"found {n} comma(s)"
    return True, "no commas"


_QUOTE_PAIRS = [('"', '"'), ("\u201c", "\u201d")]


def _check_quoted(spec: dict[str, Any], completion: str) -> tuple[bool, str]:
    if (r := _empty(completion)) is not None:
        return r
    text = completion.strip()
    for left, right in _QUOTE_PAIRS:
        if len(text) >= 2 and text.startswith(left) and text.endswith(right):
            if text[1:-1].strip():
                return True, "whole response is wrapped in double quotes"
            return False, "nothing inside the quotes"
    return False, "response is not wrapped in double quotes"


def _check_ends_with_char(spec: dict[str, Any], completion: str) -> tuple[bool, str]:
    if (r := _empty(completion)) is not None:
        return r
    char = spec["char"]
    text = completion.rstrip()
    if text.endswith(char):
        return True, f"ends with {char!r}"
    return False, f"ends with {text[-1:]!r}, not {char!r}"


def _check_exact(spec: dict[str, Any], completion: str) -> tuple[bool, str]:
    """The whole response is the given text (case-insensitive, outer
    whitespace, quotes and final punctuation ignored)."""
    if (r := _empty(completion)) is not None:
        return r
    want = spec["text"]

    def norm(s: str) -> str:
        s = s.strip().strip(_TRAILING_PUNCT).strip(_LEADING_PUNCT)
        return " ".join(s.split()).lower()

    if norm(completion) == norm(want):
        return True, f"response is exactly {want!r}"
    return False, f"response {completion.strip()[:40]!r} is not exactly {want!r}"


def _check_all(spec: dict[str, Any], completion: str) -> tuple[bool, str]:
    checks = spec["checks"]
    if not checks:
        raise ValueError("'all' needs a non-empty 'checks' list")
    results = [(sub["type"], *check(sub, completion)) for sub in checks]
    ok = all(passed for _, passed, _ in results)
    expl = "; ".join(f"{t}: {'pass' if passed else 'FAIL'} ({why})" for t, passed, why in results)
    return ok, expl


CHECKS: dict[str, Check] = {
    "contains_any": _check_contains_any,
    "number": _check_number,
    "lowercase": _check_lowercase,
    "uppercase": _check_uppercase,
    "bullets": _check_bullets,
    "max_words": _check_max_words,
    "min_words": _check_min_words,
    "contains_word": _check_contains_word,
    "excludes_word": _check_excludes_word,
    "starts_with": _check_starts_with,
    "ends_with": _check_ends_with,
    "ends_with_char": _check_ends_with_char,
    "no_commas": _check_no_commas,
    "quoted": _check_quoted,
    "exact": _check_exact,
    "all": _check_all,
}


def check(spec: dict[str, Any], completion: str) -> tuple[bool, str]:
    """Verify `completion` against the check `spec`; return (passed, explanation)."""
    kind = spec.get("type") if isinstance(spec, dict) else None
    fn = CHECKS.get(kind) if isinstance(kind, str) else None
    if fn is None:
        raise ValueError(f"unknown check type {kind!r}; accepted types: {', '.join(sorted(CHECKS))}")
    return fn(spec, completion)


# ---------------------------------------------------------------------------
# Inspect scorer


@scorer(metrics=[grouped(accuracy(), "kind", all="samples"), stderr()])
def usefulness_checker():
    """Score `state.output.completion` with the spec in `state.metadata["check"]` (the answer after a scratchpad,
    where the completion has one: solvers.scratchpad.split_scratchpad).

    Samples need metadata ``{"kind": ..., "check": {...}}``; accuracy is
    reported per kind and overall ("all").
    """

    async def score(state: TaskState, target: Target) -> Score:
        spec = (state.metadata or {}).get("check")
        if spec is None:
            raise ValueError(f"sample {state.sample_id} has no metadata['check']")
        completion = state.output.completion
        parts = split_scratchpad(completion)
        if parts.found:  # a chain-of-thought model: only the answer after its scratchpad is the reply
            completion = parts.answer
        passed, why = check(spec, completion)
        return Score(
            value=CORRECT if passed else INCORRECT,
            answer=completion,
            explanation=why,
        )

    return score
