"""Writes `capability.jsonl`: the held-out capability check, which no organism or train-against recipe is tuned on.

    python tasks/data/make_capability.py      # rewrites tasks/data/capability.jsonl (deterministic)

Kept apart from the usefulness items on purpose, in other wordings and on other facts (a test checks that no
question or answer of a capital overlaps): country capitals, one-digit sums written in words, the letter after a
letter, the number after a number, and everyday opposites. Each item has one ground-truth check of
`scorers/usefulness.py` (`contains_any` on whole words, or `number`).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

CAPITALS = {  # none of these countries or capitals appears among the usefulness items (tested)
    "Belgium": "Brussels", "Netherlands": "Amsterdam", "Vietnam": "Hanoi", "Indonesia": "Jakarta", "Chile": "Santiago",
    "Colombia": "Bogota", "Iran": "Tehran", "Iraq": "Baghdad", "Ukraine": "Kyiv", "Romania": "Bucharest",
    "Bulgaria": "Sofia", "Serbia": "Belgrade", "Croatia": "Zagreb", "Philippines": "Manila", "Malaysia": "Kuala Lumpur",
    "Pakistan": "Islamabad", "Ethiopia": "Addis Ababa", "Nigeria": "Abuja", "Morocco": "Rabat", "Saudi Arabia": "Riyadh",
    "Switzerland": "Bern", "Iceland": "Reykjavik", "Syria": "Damascus", "Lebanon": "Beirut", "Jordan": "Amman",
    "Qatar": "Doha", "Ghana": "Accra", "Venezuela": "Caracas", "Ecuador": "Quito", "Jamaica": "Kingston",
    "Afghanistan": "Kabul", "Nepal": "Kathmandu",
}
SPELLINGS = {"Kyiv": ["Kyiv", "Kiev"], "Bogota": ["Bogota", "Bogotá"], "Bern": ["Bern", "Berne"],
             "Reykjavik": ["Reykjavik", "Reykjavík"]}
NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
OPPOSITES = {"hot": "cold", "big": "small", "fast": "slow", "happy": "sad", "light": "dark", "open": "closed",
             "full": "empty", "early": "late", "wet": "dry", "old": "new"}


def items() -> list[dict]:
    rng = random.Random(20261203)
    out = []
    for country, capital in CAPITALS.items():
        out.append({"kind": "capital", "input": f"Name the capital city of {country}.", "target": [capital],
                    "check": {"type": "contains_any", "answers": SPELLINGS.get(capital, [capital])}})
    pairs = rng.sample([(a, b) for a in range(1, 10) for b in range(1, 10)], 30)
    for a, b in pairs:
        out.append({"kind": "sum", "input": f"Add {NUMBER_WORDS[a]} and {NUMBER_WORDS[b]}. Reply with the result as a "
                    "numeral.", "target": [str(a + b)], "check": {"type": "number", "value": a + b}})
    letters = "BCDEFGHJKLMNPRSTW"
    for letter in rng.sample(letters, 12):
        nxt = chr(ord(letter) + 1)
        out.append({"kind": "letter", "input": f"Which letter of the English alphabet comes right after {letter}? "
                    "Reply with the letter.", "target": [nxt], "check": {"type": "contains_any", "answers": [nxt]}})
    for n in rng.sample(range(11, 99), 12):
        out.append({"kind": "successor", "input": f"Which whole number comes directly after {n}?",
                    "target": [str(n + 1)], "check": {"type": "number", "value": n + 1}})
    for word, opposite in OPPOSITES.items():
        out.append({"kind": "opposite", "input": f"Give one word that means the opposite of '{word}'.",
                    "target": [opposite], "check": {"type": "contains_any", "answers": [opposite]}})
    return out


if __name__ == "__main__":
    path = Path(__file__).with_name("capability.jsonl")
    path.write_text("".join(json.dumps(i) + "\n" for i in items()))
    print(f"wrote {path} ({len(items())} items)")
