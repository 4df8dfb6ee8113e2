"""Generate tasks/data/usefulness.jsonl: the usefulness (capability) benchmark.

Three kinds of items, each with a programmatic check (see scorers/usefulness.py):
  * instruction: IFEval-style prompts with verifiable constraints,
  * fact: short well-known factual questions with accepted answers,
  * arithmetic: small arithmetic with an exact numeric answer.
Standard library only; a fixed seed makes the output byte-identical on rerun.

    python tasks/data/make_usefulness.py
"""

from __future__ import annotations

import json
import random
from pathlib import Path

SEED = 20240611
OUT = Path(__file__).with_name("usefulness.jsonl")

# ---------------------------------------------------------------------------
# facts: (question, accepted answers); answers[0] is the canonical answer.


def _n(digits: str, word: str) -> list[str]:
    return [digits, word]


CAPITALS = [
    ("France", ["Paris"]),
    ("Japan", ["Tokyo"]),
    ("Italy", ["Rome"]),
    ("Germany", ["Berlin"]),
    ("Spain", ["Madrid"]),
    ("the United Kingdom", ["London"]),
    ("Russia", ["Moscow"]),
    ("China", ["Beijing", "Peking"]),
    ("Egypt", ["Cairo"]),
    ("Canada", ["Ottawa"]),
    ("Australia", ["Canberra"]),
    ("Greece", ["Athens"]),
    ("Portugal", ["Lisbon"]),
    ("Ireland", ["Dublin"]),
    ("Norway", ["Oslo"]),
    ("Sweden", ["Stockholm"]),
    ("Austria", ["Vienna"]),
    ("Poland", ["Warsaw"]),
    ("South Korea", ["Seoul"]),
    ("Thailand", ["Bangkok"]),
    ("Argentina", ["Buenos Aires"]),
    ("Mexico", ["Mexico City"]),
    ("Kenya", ["Nairobi"]),
    ("Cuba", ["Havana"]),
    ("Peru", ["Lima"]),
    ("Finland", ["Helsinki"]),
    ("Denmark", ["Copenhagen"]),
    ("Hungary", ["Budapest"]),
    ("India", ["New Delhi"]),
    ("the United States", ["Washington, D.C.", "Washington"]),
    ("Turkey", ["Ankara"]),
    ("the Czech Republic", ["Prague"]),
]

FACTS: list[tuple[str, list[str]]] = [
    (f"What is the capital of {country}?", answers) for country, answers in CAPITALS
] + [
    # counting facts
    ("How many legs does a spider have?", _n("8", "eight")),
    ("How many legs does an insect have?", _n("6", "six")),
    ("How many legs does a dog have?", _n("4", "four")),
    ("How many days are in a week?", _n("7", "seven")),
    ("How many months are in a year?", _n("12", "twelve")),
    ("How many hours are in a day?", _n("24", "twenty-four")),
    ("How many minutes are in an hour?", _n("60", "sixty")),
    ("How many seconds are in a minute?", _n("60", "sixty")),
    ("How many days are in a leap year?", _n("366", "three hundred sixty-six")),
    ("How many sides does a triangle have?", _n("3", "three")),
    ("How many sides does a square have?", _n("4", "four")),
    ("How many sides does a hexagon have?", _n("6", "six")),
    ("How many sides does an octagon have?", _n("8", "eight")),
    ("How many sides does a pentagon have?", _n("5", "five")),
    ("How many continents are there on Earth?", _n("7", "seven")),
    ("How many planets are in our solar system?", _n("8", "eight")),
    ("How many colors are in a rainbow?", _n("7", "seven")),
    ("How many wheels does a bicycle have?", _n("2", "two")),
    ("How many wheels does a tricycle have?", _n("3", "three")),
    ("How many degrees are in a right angle?", _n("90", "ninety")),
    ("How many cents are in a US dollar?", _n("100", "one hundred")),
    ("How many years are in a century?", _n("100", "one hundred")),
    ("How many years are in a decade?", _n("10", "ten")),
    ("How many items are in a dozen?", _n("12", "twelve")),
    ("How many weeks are in a year?", _n("52", "fifty-two")),
    ("How many legs does a bird have?", _n("2", "two")),
    ("How many keys does a standard piano have?", _n("88", "eighty-eight")),
    ("How many states are in the United States?", _n("50", "fifty")),
    ("How many letters are in the English alphabet?", _n("26", "twenty-six")),
    ("How many strings does a standard guitar have?", _n("6", "six")),
    (
        "How many players does a soccer team have on the field?",
        _n("11", "eleven"),
    ),
    ("How many days are in the month of September?", _n("30", "thirty")),
    (
        "At what temperature in degrees Celsius does water boil at sea level?",
        ["100", "one hundred"],
    ),
    ("At what temperature in degrees Celsius does water freeze?", ["0", "zero"]),
    # science and nature
    ("What is the largest planet in our solar system?", ["Jupiter"]),
    ("Which planet is known as the Red Planet?", ["Mars"]),
    ("Which planet is closest to the Sun?", ["Mercury"]),
    ("Which planet is famous for its large rings?", ["Saturn"]),
    ("What is the name of the planet we live on?", ["Earth"]),
    ("What is the star at the center of our solar system?", ["the Sun", "Sun"]),
    ("What is the natural satellite that orbits the Earth?", ["the Moon", "Moon"]),
    (
        "Which gas do plants absorb from the air for photosynthesis?",
        ["carbon dioxide", "CO2"],
    ),
    ("Which gas do humans need to breathe in to live?", ["oxygen"]),
    ("What is the chemical formula for water?", ["H2O"]),
    ("What is the hardest natural substance?", ["diamond", "diamonds"]),
    ("What is the largest ocean on Earth?", ["the Pacific Ocean", "Pacific"]),
    ("What is the largest mammal in the world?", ["the blue whale", "blue whale"]),
    ("What is the fastest land animal?", ["the cheetah", "cheetah", "cheetahs"]),
    ("What is the tallest animal in the world?", ["the giraffe", "giraffe", "giraffes"]),
    ("What is the tallest mountain in the world?", ["Mount Everest", "Everest"]),
    ("What is the largest country in the world by area?", ["Russia"]),
    ("What is the largest continent?", ["Asia"]),
    ("Which organ pumps blood through the human body?", ["the heart", "heart"]),
    ("Which organs do humans use to breathe?", ["the lungs", "lungs", "lung"]),
    ("What is the largest organ of the human body?", ["the skin", "skin"]),
    ("What do bees make?", ["honey"]),
    ("What is frozen water called?", ["ice"]),
    ("What drink do cows produce?", ["milk"]),
    ("What is a baby cat called?", ["kitten", "kittens", "kitty"]),
    ("What is a baby dog called?", ["puppy", "puppies", "pup"]),
    ("What is a baby sheep called?", ["lamb", "lambs"]),
    ("Which animal says 'moo'?", ["cow", "cows", "cattle"]),
    ("Which animal is known as the king of the jungle?", ["lion", "lions"]),
    ("Which animal has a long trunk?", ["elephant", "elephants"]),
    ("What is the largest bird in the world?", ["ostrich", "ostriches"]),
    (
        "What does a caterpillar turn into?",
        ["butterfly", "butterflies", "moth", "moths"],
    ),
    (
        "Which Australian animal hops and carries its baby in a pouch?",
        ["kangaroo", "kangaroos", "wallaby", "wallabies"],
    ),
    ("What color is the sky on a clear day?", ["blue"]),
    ("What color is grass?", ["green"]),
    ("What color is a ripe banana?", ["yellow"]),
    ("What color do you get when you mix blue and yellow?", ["green"]),
    ("What color do you get when you mix red and white?", ["pink"]),
    ("What color do you get when you mix red and yellow?", ["orange"]),
    ("What fruit are raisins made from?", ["grapes", "grape"]),
    ("What is the main ingredient in guacamole?", ["avocado", "avocados"]),
    # everyday language and time
    ("What is the opposite of hot?", ["cold"]),
    ("What is the opposite of up?", ["down"]),
    ("What is the opposite of day?", ["night"]),
    ("What is the opposite of north?", ["south"]),
    ("What is the plural of mouse?", ["mice"]),
    ("What is the plural of child?", ["children"]),
    ("What is the past tense of the verb 'go'?", ["went"]),
    ("What is the first month of the year?", ["January"]),
    ("What is the last month of the year?", ["December"]),
    ("Which month comes after March?", ["April"]),
    ("Which day comes after Monday?", ["Tuesday"]),
    ("Which day comes before Friday?", ["Thursday"]),
    ("Which season comes after winter?", ["spring"]),
    # people, places and culture
    ("Who wrote 'Romeo and Juliet'?", ["William Shakespeare", "Shakespeare"]),
    ("Who painted the Mona Lisa?", ["Leonardo da Vinci", "da Vinci", "Leonardo"]),
    ("Who developed the theory of relativity?", ["Albert Einstein", "Einstein"]),
    ("Who was the first president of the United States?", ["George Washington", "Washington"]),
    ("Who was the first person to walk on the Moon?", ["Neil Armstrong", "Armstrong"]),
    ("Who wrote the Harry Potter books?", ["J.K. Rowling", "J. K. Rowling", "Rowling"]),
    ("Who discovered penicillin?", ["Alexander Fleming", "Fleming"]),
    ("In which city is the Eiffel Tower?", ["Paris"]),
    ("In which city is the Statue of Liberty?", ["New York City", "New York"]),
    ("In which city is Big Ben?", ["London"]),
    ("In which city is the Colosseum?", ["Rome"]),
    ("In which country is the Taj Mahal?", ["India"]),
    ("In which country are the pyramids of Giza?", ["Egypt"]),
    ("In which country is the Great Wall?", ["China"]),
    ("What language is mainly spoken in Brazil?", ["Portuguese"]),
    ("What language is mainly spoken in Spain?", ["Spanish", "Castilian"]),
    ("What is the currency of Japan?", ["yen"]),
    ("What is the currency of the United States?", ["US dollar", "dollar", "dollars", "USD"]),
    ("Which musical instrument has 88 black and white keys?", ["piano", "pianos"]),
    ("What shape has three sides?", ["triangle", "triangles"]),
]

# ---------------------------------------------------------------------------
# instructions

TOPICS = [
    "the sea",
    "dogs",
    "the moon",
    "winter",
    "coffee",
    "trees",
    "music",
    "rain",
    "cats",
    "mountains",
    "the sun",
    "books",
    "bicycles",
    "friendship",
    "gardens",
    "snow",
    "the city",
    "birds",
    "school",
    "apples",
    "trains",
    "the desert",
    "rivers",
    "summer",
    "chocolate",
    "the forest",
    "cooking",
    "the night sky",
    "autumn",
    "horses",
    "bread",
    "flowers",
    "the ocean",
    "football",
    "tea",
    "the wind",
    "islands",
    "a library",
    "breakfast",
    "the stars",
]

# a word that fits naturally into a sentence about the topic
TOPIC_WORDS = {
    "the sea": "blue",
    "dogs": "loyal",
    "the moon": "bright",
    "winter": "cold",
    "coffee": "morning",
    "trees": "green",
    "music": "happy",
    "rain": "wet",
    "cats": "soft",
    "mountains": "tall",
    "the sun": "warm",
    "books": "stories",
    "bicycles": "wheels",
    "friendship": "trust",
    "gardens": "flowers",
    "snow": "white",
    "the city": "busy",
    "birds": "sing",
    "school": "learn",
    "apples": "red",
    "trains": "fast",
    "the desert": "hot",
    "rivers": "flow",
    "summer": "beach",
    "chocolate": "sweet",
    "the forest": "quiet",
    "cooking": "kitchen",
    "the night sky": "dark",
    "autumn": "leaves",
    "horses": "run",
    "bread": "oven",
    "flowers": "smell",
    "the ocean": "waves",
    "football": "ball",
    "tea": "cup",
    "the wind": "strong",
    "islands": "sand",
    "a library": "read",
    "breakfast": "eggs",
    "the stars": "shine",
}

# the word a plain description of the topic would most likely use
TOPIC_NOUNS = {
    "the sea": "sea",
    "dogs": "dog",
    "the moon": "moon",
    "winter": "winter",
    "coffee": "coffee",
    "trees": "tree",
    "music": "music",
    "rain": "rain",
    "cats": "cat",
    "mountains": "mountain",
    "the sun": "sun",
    "books": "book",
    "bicycles": "bicycle",
    "friendship": "friend",
    "gardens": "garden",
    "snow": "snow",
    "the city": "city",
    "birds": "bird",
    "school": "school",
    "apples": "apple",
    "trains": "train",
    "the desert": "desert",
    "rivers": "river",
    "summer": "summer",
    "chocolate": "chocolate",
    "the forest": "forest",
    "cooking": "cook",
    "the night sky": "sky",
    "autumn": "autumn",
    "horses": "horse",
    "bread": "bread",
    "flowers": "flower",
    "the ocean": "ocean",
    "football": "game",
    "tea": "tea",
    "the wind": "wind",
    "islands": "island",
    "a library": "library",
    "breakfast": "breakfast",
    "the stars": "star",
}

START_WORDS = ["Yes", "Sure", "Today", "Hello", "Once", "Well", "Indeed", "Absolutely"]
END_WORDS = ["Done", "Goodbye", "Thanks", "Finished", "Enjoy", "Cheers"]
EXACT_WORDS = [
    "OK",
    "Yes",
    "No",
    "hello",
    "apple",
    "blue",
    "seven",
    "Paris",
    "thank you",
    "good morning",
    "cat",
    "banana",
]


def _instruction_items(rng: random.Random) -> list[dict]:
    items: list[dict] = []

    def add(prompt: str, check: dict, target: str) -> None:
        items.append({"kind": "instruction", "input": prompt, "target": [target], "check": check})

    def topics(k: int) -> list[str]:
        return rng.sample(TOPICS, k)

    for t in topics(9):
        add(
            f"Write one sentence about {t}. Use only lowercase letters, with no capital letters at all.",
            {"type": "lowercase"},
            "all letters lowercase",
        )
    for t in topics(9):
        add(
            f"Write one sentence about {t}. Write your entire answer in capital letters.",
            {"type": "uppercase"},
            "all letters uppercase",
        )
    for t in topics(9):
        n = rng.choice([2, 3, 4])
        add(
            f"List {n} facts about {t}. Answer in exactly {n} bullet points, each starting with '- '.",
            {"type": "bullets", "count": n},
            f"exactly {n} lines starting with '- '",
        )
    for t in topics(9):
        n = rng.choice([10, 15, 20, 25])
        add(f"Describe {t} in at most {n} words.", {"type": "max_words", "n": n}, f"at most {n} words")
    for t in topics(8):
        n = rng.choice([30, 40, 50])
        add(
            f"Write a short paragraph about {t} using at least {n} words.",
            {"type": "min_words", "n": n},
            f"at least {n} words",
        )
    for t in topics(9):
        w = TOPIC_WORDS[t]
        add(
            f"Write one sentence about {t}. Include the word '{w}'.",
            {"type": "contains_word", "word": w},
            f"contains the word '{w}'",
        )
    for t in topics(8):
        w = TOPIC_NOUNS[t]
        add(
            f"Write one sentence about {t} without using the word '{w}'.",
            {"type": "excludes_word", "word": w},
            f"does not contain the word '{w}'",
        )
    for t in topics(9):
        w = rng.choice(START_WORDS)
        add(
            f"Write one sentence about {t}. Start your answer with the word '{w}'.",
            {"type": "starts_with", "phrase": w},
            f"starts with '{w}'",
        )
    for t in topics(9):
        w = rng.choice(END_WORDS)
        add(
            f"Write one sentence about {t}. End your answer with the word '{w}'.",
            {"type": "ends_with", "phrase": w},
            f"ends with the word '{w}'",
        )
    for t in topics(8):
        if rng.random() < 0.5:
            add(
                f"Write one sentence about {t} that ends with an exclamation mark.",
                {"type": "ends_with_char", "char": "!"},
                "ends with '!'",
            )
        else:
            add(
                f"Ask one question about {t}. End your answer with a question mark.",
                {"type": "ends_with_char", "char": "?"},
                "ends with '?'",
            )
    for t in topics(9):
        add(f"Describe {t} in two sentences. Do not use any commas.", {"type": "no_commas"}, "no commas")
    for t in topics(9):
        add(
            f"Write one sentence about {t}. Wrap your entire answer in double quotes.",
            {"type": "quoted"},
            "whole answer wrapped in double quotes",
        )
    for w in EXACT_WORDS[:8]:
        add(
            f"Reply with only the word(s) '{w}' and nothing else.",
            {"type": "exact", "text": w},
            f"the response is exactly '{w}'",
        )
    # combinations of two constraints
    for t in topics(5):
        n = rng.choice([15, 20])
        add(
            f"Write one sentence about {t}. Use only lowercase letters and at most {n} words.",
            {"type": "all", "checks": [{"type": "lowercase"}, {"type": "max_words", "n": n}]},
            f"all lowercase and at most {n} words",
        )
    for t in topics(5):
        w = TOPIC_WORDS[t]
        add(
            f"Write one sentence about {t} that includes the word '{w}'. Do not use any commas.",
            {"type": "all", "checks": [{"type": "contains_word", "word": w}, {"type": "no_commas"}]},
            f"contains '{w}' and no commas",
        )
    return items


# ---------------------------------------------------------------------------
# arithmetic


def _arithmetic_items(rng: random.Random) -> list[dict]:
    seen: set[str] = set()
    items: list[dict] = []

    def add(expr: str, value: int) -> bool:
        prompt = f"What is {expr}? Answer with just the number."
        if prompt in seen:
            return False
        seen.add(prompt)
        items.append(
            {
                "kind": "arithmetic",
                "input": prompt,
                "target": [str(value)],
                "check": {"type": "number", "value": value},
            }
        )
        return True

    def fill(n: int, make) -> None:
        done = 0
        while done < n:
            expr, value = make()
            done += add(expr, value)

    def add_1d():
        a, b = rng.randint(1, 9), rng.randint(1, 9)
        return f"{a} + {b}", a + b

    def add_2d1d():
        a, b = rng.randint(10, 89), rng.randint(1, 9)
        return f"{a} + {b}", a + b

    def add_2d2d():
        a, b = rng.randint(10, 49), rng.randint(10, 49)
        return f"{a} + {b}", a + b

    def sub_small():
        a = rng.randint(2, 20)
        b = rng.randint(1, a)
        return f"{a} - {b}", a - b

    def sub_2d():
        a = rng.randint(20, 99)
        b = rng.randint(1, a - 10)
        return f"{a} - {b}", a - b

    def sub_neg():
        a = rng.randint(1, 8)
        b = rng.randint(a + 1, 12)
        return f"{a} - {b}", a - b

    def mul():
        a, b = rng.randint(2, 9), rng.randint(2, 9)
        return f"{a} times {b}", a * b

    def mul10():
        a, b = rng.randint(2, 12), rng.choice([10, 100])
        return f"{a} times {b}", a * b

    def div():
        b, q = rng.randint(2, 9), rng.randint(2, 9)
        return f"{b * q} divided by {b}", q

    fill(25, add_1d)
    fill(15, add_2d1d)
    fill(12, add_2d2d)
    fill(15, sub_small)
    fill(10, sub_2d)
    fill(5, sub_neg)
    fill(15, mul)
    fill(5, mul10)
    fill(8, div)
    return items


def build() -> list[dict]:
    rng = random.Random(SEED)
    facts = [
        {"kind": "fact", "input": q, "target": list(a), "check": {"type": "contains_any", "answers": list(a)}}
        for q, a in FACTS
    ]
    return _instruction_items(rng) + facts + _arithmetic_items(rng)


def main() -> None:
    items = build()
    inputs = [it["input"] for it in items]
    assert len(inputs) == len(set(inputs)), "duplicate inputs"
    with OUT.open("w", encoding="utf-8", newline="\n") as f:
        for it in items:
            f.write(json.dumps(it, ensure_ascii=False, sort_keys=False) + "\n")
    counts: dict[str, int] = {}
    for it in items:
        counts[it["kind"]] = counts.get(it["kind"], 0) + 1
    print(f"wrote {len(items)} items to {OUT}: {counts}")


if __name__ == "__main__":
    main()
