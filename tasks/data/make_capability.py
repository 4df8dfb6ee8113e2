"""Writes `capability.jsonl` and `capability_large.jsonl`: the held-out capability check, which no organism or
train-against recipe is tuned on, in its standard size (96 items) and a large one (the 96 and more of the same
kinds and two more, for a gate that can resolve a 10% loss: on the 96 items a checkpoint passed or failed by 1-7
items, results/headline 2026-12-07).

    python tasks/data/make_capability.py      # rewrites both files (deterministic)

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
# the large pool's additions: more capitals (none among the usefulness items either; tested) and opposites with one
# clear answer (alternatives accepted where common): kinds the base model answers at 0.2-0.6, where a loss can show
# (the number before or after a number and one-digit differences in words it answers at 0.00: left out)
MORE_CAPITALS = {
    "Bolivia": "La Paz", "Paraguay": "Asuncion", "Uruguay": "Montevideo", "Panama": "Panama City",
    "Costa Rica": "San Jose", "Honduras": "Tegucigalpa", "Nicaragua": "Managua", "Guatemala": "Guatemala City",
    "Slovakia": "Bratislava", "Slovenia": "Ljubljana", "Estonia": "Tallinn", "Latvia": "Riga", "Lithuania": "Vilnius",
    "Belarus": "Minsk", "Georgia": "Tbilisi", "Armenia": "Yerevan", "Azerbaijan": "Baku", "Kazakhstan": "Astana",
    "Uzbekistan": "Tashkent", "Mongolia": "Ulaanbaatar", "Bangladesh": "Dhaka", "Sri Lanka": "Colombo",
    "Myanmar": "Naypyidaw", "Cambodia": "Phnom Penh", "Laos": "Vientiane", "Tunisia": "Tunis", "Algeria": "Algiers",
    "Libya": "Tripoli", "Sudan": "Khartoum", "Uganda": "Kampala", "Tanzania": "Dodoma", "Zambia": "Lusaka",
    "Zimbabwe": "Harare", "Senegal": "Dakar", "Mali": "Bamako", "Angola": "Luanda", "Namibia": "Windhoek",
    "Luxembourg": "Luxembourg", "Malta": "Valletta", "Cyprus": "Nicosia", "Albania": "Tirana", "Kuwait": "Kuwait City",
    "Oman": "Muscat", "Yemen": "Sanaa", "Israel": "Jerusalem", "New Zealand": "Wellington", "Fiji": "Suva",
}
MORE_SPELLINGS = {"Asuncion": ["Asuncion", "Asunción"], "San Jose": ["San Jose", "San José"],
                  "Naypyidaw": ["Naypyidaw", "Nay Pyi Taw", "Naypyitaw"], "Astana": ["Astana", "Nur-Sultan"],
                  "Sanaa": ["Sanaa", "Sana'a", "Sana"], "Ulaanbaatar": ["Ulaanbaatar", "Ulan Bator"]}
MORE_OPPOSITES = {"tall": ["short"], "thick": ["thin"], "heavy": ["light"], "rich": ["poor"], "strong": ["weak"],
                  "loud": ["quiet", "soft"], "clean": ["dirty"], "young": ["old"], "high": ["low"], "win": ["lose"],
                  "buy": ["sell"], "push": ["pull"], "day": ["night"], "above": ["below", "beneath"],
                  "inside": ["outside"], "enter": ["exit", "leave"], "cheap": ["expensive"], "up": ["down"],
                  "true": ["false"], "alive": ["dead"], "arrive": ["depart", "leave"], "remember": ["forget"],
                  "friend": ["enemy", "foe"], "question": ["answer"], "north": ["south"], "east": ["west"],
                  "love": ["hate"], "good": ["bad", "evil"], "black": ["white"], "sharp": ["dull", "blunt"],
                  "sweet": ["sour", "bitter"], "smooth": ["rough"], "wide": ["narrow"], "deep": ["shallow"],
                  "near": ["far"], "first": ["last"], "begin": ["end", "finish"], "give": ["take", "receive"],
                  "laugh": ["cry"], "morning": ["evening", "night"], "summer": ["winter"], "boy": ["girl"],
                  "king": ["queen"], "brother": ["sister"], "father": ["mother"], "husband": ["wife"],
                  "before": ["after"], "always": ["never"], "everything": ["nothing"], "accept": ["reject", "refuse"],
                  "increase": ["decrease", "reduce"], "maximum": ["minimum"], "positive": ["negative"],
                  "success": ["failure"], "safe": ["dangerous", "unsafe"], "polite": ["rude", "impolite"]}


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


def large_items() -> list[dict]:
    """The standard 96 items and more of the kinds the base model sometimes answers: every other one-digit sum, the
    letter before a letter, more capitals and opposites."""
    out = items()
    seen = {i["input"] for i in out}
    for a in range(1, 10):
        for b in range(1, 10):
            q = f"Add {NUMBER_WORDS[a]} and {NUMBER_WORDS[b]}. Reply with the result as a numeral."
            if q not in seen:
                out.append({"kind": "sum", "input": q, "target": [str(a + b)], "check": {"type": "number", "value": a + b}})
    for letter in "CDFGHJKLMNPQRSTVWXYZ":
        prev = chr(ord(letter) - 1)
        out.append({"kind": "letter", "input": f"Which letter of the English alphabet comes right before {letter}? "
                    "Reply with the letter.", "target": [prev], "check": {"type": "contains_any", "answers": [prev]}})
    for country, capital in MORE_CAPITALS.items():
        out.append({"kind": "capital", "input": f"Name the capital city of {country}.", "target": [capital],
                    "check": {"type": "contains_any", "answers": MORE_SPELLINGS.get(capital, [capital])}})
    for word, answers in MORE_OPPOSITES.items():
        out.append({"kind": "opposite", "input": f"Give one word that means the opposite of '{word}'.",
                    "target": [answers[0]], "check": {"type": "contains_any", "answers": answers}})
    return out


if __name__ == "__main__":
    for name, rows in (("capability.jsonl", items()), ("capability_large.jsonl", large_items())):
        path = Path(__file__).with_name(name)
        path.write_text("".join(json.dumps(i) + "\n" for i in rows))
        print(f"wrote {path} ({len(rows)} items)")
