"""Tests for scorers/usefulness.py checks and tasks/data/usefulness.jsonl."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import ClassVar

import pytest

from scorers.usefulness import CHECKS, check, first_number, usefulness_checker

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tasks" / "data" / "usefulness.jsonl"
GENERATOR = ROOT / "tasks" / "data" / "make_usefulness.py"


def ok(spec: dict, completion: str) -> bool:
    passed, why = check(spec, completion)
    assert isinstance(why, str) and why
    return passed


# --------------------------------------------------------------------------- facts


class TestContainsAny:
    spec: ClassVar[dict] = {"type": "contains_any", "answers": ["Paris"]}

    def test_plain_and_case(self):
        assert ok(self.spec, "Paris")
        assert ok(self.spec, "The capital of France is paris.")
        assert ok(self.spec, "PARIS!")

    def test_whole_word_only(self):
        assert not ok(self.spec, "Parisian food is great.")
        assert not ok(self.spec, "Comparison")
        assert not ok(self.spec, "London")
        assert not ok(self.spec, "")

    def test_numbers_digits_or_words(self):
        spec = {"type": "contains_any", "answers": ["8", "eight"]}
        assert ok(spec, "A spider has 8 legs.")
        assert ok(spec, "Eight.")
        assert ok(spec, "It has eight legs")
        assert not ok(spec, "It has 18 legs")
        assert not ok(spec, "It has 80 legs")
        assert not ok(spec, "It has 6 legs")
        assert not ok(spec, "weight")

    def test_zero_not_inside_other_numbers(self):
        spec = {"type": "contains_any", "answers": ["0", "zero"]}
        assert ok(spec, "Water freezes at 0°C.")
        assert not ok(spec, "Water boils at 100 degrees.")

    def test_multi_word_phrase(self):
        spec = {"type": "contains_any", "answers": ["Buenos Aires"]}
        assert ok(spec, "It is buenos  aires.")
        assert ok(spec, "Buenos\nAires")
        assert not ok(spec, "Buenos")

    def test_phrase_with_punctuation(self):
        spec = {"type": "contains_any", "answers": ["J.K. Rowling", "Rowling"]}
        assert ok(spec, "J.K. Rowling wrote them.")
        assert ok(spec, "rowling")
        spec = {"type": "contains_any", "answers": ["H2O"]}
        assert ok(spec, "The formula is H2O.")
        assert not ok(spec, "H2O2")

    def test_empty_answers_rejected(self):
        with pytest.raises(ValueError):
            check({"type": "contains_any", "answers": []}, "x")


# --------------------------------------------------------------------------- arithmetic


class TestNumber:
    @pytest.mark.parametrize(
        "completion",
        [
            "12",
            "12.",
            " 12 ",
            "= 12",
            "The answer is 12.",
            "12 apples",
            "**12**",
            "7 + 5 = 12",
            "7 + 5 = 12.",
            "(7 + 5) = 12",
            "12.0",
        ],
    )
    def test_pass(self, completion):
        assert ok({"type": "number", "value": 12}, completion)

    @pytest.mark.parametrize(
        "completion",
        [
            "13",
            "",
            "twelve",
            "no idea",
            "120",
            "1.2",
            "7 + 5 is 12",
            "The sum 7 + 5 = 12",
            "12 - 1 = 11 so 11",
        ],
    )
    def test_fail(self, completion):
        assert not ok({"type": "number", "value": 12}, completion)

    def test_negative(self):
        spec = {"type": "number", "value": -3}
        assert ok(spec, "-3")
        assert ok(spec, "The answer is -3.")
        assert ok(spec, "\u22123")
        assert ok(spec, "2 - 5 = -3")
        assert not ok(spec, "3")
        assert not ok({"type": "number", "value": 3}, "-3")

    def test_hyphen_not_a_sign(self):
        assert first_number("x-3") == 3
        assert first_number("answer:-3") == -3

    def test_thousands_separator(self):
        assert ok({"type": "number", "value": 1200}, "1,200")
        assert ok({"type": "number", "value": 1200}, "It is 1,200.")
        assert ok({"type": "number", "value": 1200}, "1200")
        assert not ok({"type": "number", "value": 1200}, "1,2")

    def test_first_number_wins(self):
        assert first_number("3 or 4") == 3
        assert first_number("no number") is None
        assert first_number("It is 4.5 units") == 4.5


# --------------------------------------------------------------------------- instructions


def test_lowercase():
    spec = {"type": "lowercase"}
    assert ok(spec, "the sea is deep and calm.")
    assert ok(spec, "é is fine, 123 too")
    assert not ok(spec, "The sea is deep.")
    assert not ok(spec, "the sea is deep, said I")
    assert not ok(spec, "12345")
    assert not ok(spec, "   ")


def test_uppercase():
    spec = {"type": "uppercase"}
    assert ok(spec, "THE SEA IS DEEP, 100 METERS!")
    assert not ok(spec, "THE SEA IS Deep")
    assert not ok(spec, "!!!")
    assert not ok(spec, "")


def test_bullets():
    spec = {"type": "bullets", "count": 3}
    assert ok(spec, "- a\n- b\n- c")
    assert ok(spec, "Here you go:\n  - a\n  - b\n  - c\nThanks")
    assert not ok(spec, "- a\n- b")
    assert not ok(spec, "- a\n- b\n- c\n- d")
    assert not ok(spec, "* a\n* b\n* c")
    assert not ok(spec, "1. a\n2. b\n3. c")
    assert not ok(spec, "-a\n-b\n-c")
    assert not ok(spec, "")
    assert ok({"type": "bullets", "count": 2, "marker": "* "}, "* a\n* b")


def test_max_words():
    spec = {"type": "max_words", "n": 5}
    assert ok(spec, "One two three four five.")
    assert ok(spec, "It's a dog.")  # contraction is one word
    assert not ok(spec, "One two three four five six.")
    assert not ok(spec, "")


def test_min_words():
    spec = {"type": "min_words", "n": 3}
    assert ok(spec, "one two three")
    assert not ok(spec, "one two")
    assert not ok(spec, "- , ; !")
    assert not ok(spec, "")


def test_contains_word():
    spec = {"type": "contains_word", "word": "blue"}
    assert ok(spec, "The sea is Blue.")
    assert not ok(spec, "The sea is bluer than the sky.")
    assert not ok(spec, "The sea is deep.")


def test_excludes_word():
    spec = {"type": "excludes_word", "word": "sea"}
    assert ok(spec, "The ocean is vast; seagulls fly over it.")
    assert not ok(spec, "The Sea is vast.")
    assert not ok(spec, "")


def test_starts_with():
    spec = {"type": "starts_with", "phrase": "Yes"}
    assert ok(spec, "Yes, the sea is blue.")
    assert ok(spec, "  yes it is")
    assert ok(spec, '"Yes, it is."')
    assert ok(spec, "**Yes**, it is.")
    assert not ok(spec, "Yesterday it rained.")
    assert not ok(spec, "Well, yes.")
    assert not ok(spec, "")


def test_ends_with():
    spec = {"type": "ends_with", "phrase": "Done"}
    assert ok(spec, "The sea is blue. Done")
    assert ok(spec, "The sea is blue. Done.")
    assert ok(spec, "The sea is blue, done!\n")
    assert ok(spec, 'The sea is blue. "Done."')
    assert not ok(spec, "Done. The sea is blue.")
    assert not ok(spec, "The sea is blue. Undone.")
    assert not ok(spec, "")
    spec = {"type": "ends_with", "phrase": "That is all."}
    assert ok(spec, "Blue sea. That is all.")
    assert not ok(spec, "Blue sea. That is all. Bye.")


def test_ends_with_char():
    spec = {"type": "ends_with_char", "char": "?"}
    assert ok(spec, "Why is the sea blue?")
    assert ok(spec, "Why is the sea blue?  \n")
    assert not ok(spec, "Why is the sea blue?.")
    assert not ok(spec, "The sea is blue.")
    assert not ok(spec, "")
    assert ok({"type": "ends_with_char", "char": "!"}, "What a sea!")


def test_no_commas():
    spec = {"type": "no_commas"}
    assert ok(spec, "The sea is blue. It is deep.")
    assert not ok(spec, "The sea, which is blue, is deep.")
    assert not ok(spec, "The sea\uff0c blue")
    assert not ok(spec, "")


def test_quoted():
    spec = {"type": "quoted"}
    assert ok(spec, '"The sea is blue."')
    assert ok(spec, '  "The sea is blue."\n')
    assert ok(spec, "\u201cThe sea is blue.\u201d")
    assert not ok(spec, '"The sea" is blue.')
    assert not ok(spec, "The sea is blue.")
    assert not ok(spec, "'The sea is blue.'")
    assert not ok(spec, '""')
    assert not ok(spec, '"')
    assert not ok(spec, "")


def test_exact():
    spec = {"type": "exact", "text": "OK"}
    assert ok(spec, "OK")
    assert ok(spec, " ok. ")
    assert ok(spec, '"OK"')
    assert not ok(spec, "OK, sure!")
    assert not ok(spec, "Sure. OK")
    assert not ok(spec, "")
    assert ok({"type": "exact", "text": "thank you"}, "Thank  you!")


def test_all():
    spec = {"type": "all", "checks": [{"type": "lowercase"}, {"type": "max_words", "n": 4}]}
    assert ok(spec, "the sea is blue")
    passed, why = check(spec, "The sea is blue")
    assert not passed and "lowercase: FAIL" in why and "max_words: pass" in why
    assert not ok(spec, "the sea is very blue")
    with pytest.raises(ValueError):
        check({"type": "all", "checks": []}, "x")
    with pytest.raises(ValueError, match="bogus"):
        check({"type": "all", "checks": [{"type": "bogus"}]}, "x")


@pytest.mark.parametrize("spec", [{"type": "nope"}, {}, {"type": None}, "lowercase"])
def test_unknown_type(spec):
    with pytest.raises(ValueError) as e:
        check(spec, "anything")
    msg = str(e.value)
    assert "unknown check type" in msg
    for name in ("contains_any", "number", "lowercase", "all"):
        assert name in msg
    if isinstance(spec, dict) and spec.get("type") == "nope":
        assert "'nope'" in msg


# --------------------------------------------------------------------------- scorer


def test_inspect_scorer():
    import asyncio

    from inspect_ai.model import ModelOutput
    from inspect_ai.scorer import CORRECT, INCORRECT, Target
    from inspect_ai.solver import TaskState

    def state(completion: str, spec: dict) -> TaskState:
        st = TaskState(
            model="mockllm/model",
            sample_id=1,
            epoch=1,
            input="What is 7 + 5?",
            messages=[],
            metadata={"kind": "arithmetic", "check": spec},
        )
        st.output = ModelOutput.from_content("mockllm/model", completion)
        return st

    sc = usefulness_checker()
    spec = {"type": "number", "value": 12}
    good = asyncio.run(sc(state("12", spec), Target(["12"])))
    bad = asyncio.run(sc(state("13", spec), Target(["12"])))
    assert good.value == CORRECT and good.answer == "12" and good.explanation
    assert bad.value == INCORRECT and "13" in bad.explanation


# --------------------------------------------------------------------------- dataset


def load_items() -> list[dict]:
    return [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]


def test_dataset_shape():
    items = load_items()
    counts = Counter(it["kind"] for it in items)
    assert set(counts) == {"instruction", "fact", "arithmetic"}
    assert all(n >= 100 for n in counts.values()), counts
    assert len(items) >= 330
    inputs = [it["input"] for it in items]
    assert len(set(inputs)) == len(inputs)
    for it in items:
        assert set(it) == {"kind", "input", "target", "check"}
        assert isinstance(it["target"], list) and it["target"]
        assert all(isinstance(t, str) and t for t in it["target"])
        assert it["check"]["type"] in CHECKS
        check(it["check"], "dummy answer")  # spec is valid: no exception


def test_instruction_variety():
    types: set[str] = set()
    for it in load_items():
        if it["kind"] == "instruction":
            spec = it["check"]
            subs = spec["checks"] if spec["type"] == "all" else [spec]
            types.update(s["type"] for s in subs)
    assert len(types) >= 8, types


def test_known_good_answers_pass():
    for it in load_items():
        spec = it["check"]
        if it["kind"] == "fact":
            assert spec["type"] == "contains_any"
            assert spec["answers"] == it["target"]
            for ans in it["target"]:
                assert ok(spec, ans), it
                assert ok(spec, f"The answer is {ans}."), it
        elif it["kind"] == "arithmetic":
            assert spec["type"] == "number"
            assert it["target"] == [str(spec["value"])]
            assert ok(spec, it["target"][0]), it
            assert ok(spec, f"{it['target'][0]}."), it
            assert not ok(spec, str(spec["value"] + 1)), it


def test_fact_answers_not_given_away_by_question():
    for it in load_items():
        if it["kind"] == "fact":
            assert not ok(it["check"], it["input"]), it


def test_generator_is_deterministic(tmp_path):
    """Rerunning the generator reproduces the committed jsonl byte for byte."""
    import shutil

    gen = tmp_path / "make_usefulness.py"
    shutil.copy(GENERATOR, gen)
    subprocess.run([sys.executable, str(gen)], check=True, capture_output=True)
    assert (tmp_path / "usefulness.jsonl").read_bytes() == DATA.read_bytes()
