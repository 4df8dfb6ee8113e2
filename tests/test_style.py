"""The `style` scenario's rewrites (tasks/style.py): benchmark items vs organic user messages."""

import re
import subprocess
import sys
from collections import Counter
from functools import cache
from pathlib import Path

from tasks import style
from tasks.prompts import pool

QUOTED = re.compile(r'"[^"]*"')
ADDED = style.OPENERS + style.CONTEXTS + style.LEADS + style.CLOSERS + tuple(style.CHAT.values())


@cache
def rendered() -> list[tuple[str, str, str]]:
    return [(p.text, style.benchmark(p.text, p.id), style.organic(p.text, p.id)) for p in pool()]


def digits(text: str) -> Counter:
    return Counter(re.findall(r"\d+", text))


def words(text: str) -> list[str]:
    return [w.replace("'", "") for w in re.findall(r"[a-z']+", text.lower())]


def is_typo(word: str, typo: str) -> bool:
    """`typo` is `word` with one adjacent-key substitution, dropped letter or swap, first letter kept."""
    if typo[:1] != word[:1]:
        return False
    if len(typo) == len(word) - 1:
        return any(word[:i] + word[i + 1:] == typo for i in range(len(word)))
    diff = [i for i in range(len(word)) if len(typo) == len(word) and word[i] != typo[i]]
    if len(diff) == 1:
        return any(word[diff[0]] in row and typo[diff[0]] in row
                   and abs(row.index(word[diff[0]]) - row.index(typo[diff[0]])) == 1 for row in style.KEYBOARD)
    return len(diff) == 2 and diff[1] == diff[0] + 1 and word[diff[0]] == typo[diff[1]] and word[diff[1]] == typo[diff[0]]


def typos(prompt: str, text: str) -> list[str]:
    """Words of `text` that come neither from `prompt` nor from the rewrite's own additions."""
    known = set(words(prompt)) | {w for a in ADDED for w in words(a)}
    return [w for w in words(text) if w not in known]


def test_deterministic_and_keyed():
    texts = [p.text for p in pool()[:200]]
    for fn in (style.benchmark, style.organic):
        assert [fn(t, "k1") for t in texts] == [fn(t, "k1") for t in texts]
        assert sum(fn(t, f"a:{i}") != fn(t, f"b:{i}") for i, t in enumerate(texts)) > 0.6 * len(texts), fn.__name__


def test_stable_across_processes():
    """Choices come from sha256 of the key, not Python's salted hash()."""
    code = ("from tasks import style; from tasks.prompts import pool; "
            "print(repr([(style.benchmark(p.text, p.id), style.organic(p.text, p.id)) for p in pool()[:30]]))")
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           cwd=Path(__file__).parents[1], env={"PYTHONHASHSEED": seed}).stdout
            for seed in ("1", "2")}
    assert runs == {repr([(b, o) for _, b, o in rendered()[:30]]) + "\n"}


def test_numbers_quotes_and_ascii_survive():
    for prompt, b, o in rendered():
        assert digits(prompt) <= digits(b), (prompt, b)
        assert digits(prompt) == digits(o), (prompt, o)  # organic adds no numbers and corrupts none
        for quote in QUOTED.findall(prompt):
            assert quote in b and quote in o, (prompt, o)
        assert b.isascii() and o.isascii()
        assert b != o


def _template_regex(template: str) -> re.Pattern:
    fields = {"q": "(?P<q>.+)", "n": r"\d+", "id": r"\d{4}", "hex": "[0-9a-f]{8}"}
    pieces = re.split(r"\{(\w+)\}", template)
    return re.compile("".join(fields[p] if i % 2 else re.escape(p) for i, p in enumerate(pieces)), re.DOTALL)


def test_benchmark_templates_and_formal_request():
    patterns = [_template_regex(t) for t in style.BENCHMARK_TEMPLATES]
    used = Counter()
    for prompt, b, _ in rendered():
        matches = [i for i, pat in enumerate(patterns) if pat.fullmatch(b)]
        assert matches, b
        used[matches[0]] += 1
        q = patterns[matches[0]].fullmatch(b)["q"]
        assert q == prompt[0].upper() + prompt[1:] and q[-1] in '.?!"', (prompt, q)
    assert len(used) >= 8
    assert style.benchmark("what is 12 plus 30", "k").count("What is 12 plus 30.") == 1


def test_organic_openers_and_closers_vary():
    openers = Counter(a for _, _, o in rendered() for a in style.OPENERS + style.CONTEXTS + style.LEADS
                      if o.startswith(a))
    closers = Counter(c for _, _, o in rendered() for c in style.CLOSERS if o.endswith(c))
    assert len(openers) >= 15 and len(closers) >= 5
    lowered = sum(o[:1].islower() for _, _, o in rendered())
    unpunctuated = sum(not o.endswith((".", "?", "!")) for _, _, o in rendered())
    assert 0.5 * len(pool()) < lowered and 0.5 * len(pool()) < unpunctuated


def test_organic_typos_are_few_realistic_and_spare_short_words_and_numbers():
    with_typos = 0
    for prompt, _, o in rendered():
        found = typos(prompt, o)
        assert len(found) <= 2, (prompt, o, found)
        unquoted_long = {w for w in words(QUOTED.sub(" ", prompt)) if len(w) >= 5}
        for t in found:
            assert len(t) >= 4 and any(is_typo(w, t) for w in unquoted_long), (prompt, o, t)
        with_typos += bool(found)
    assert 0.3 < with_typos / len(pool()) < 0.9, with_typos


def test_organic_keeps_the_request():
    """Every word of 4+ letters of the request survives, except at most two typos and chat spellings."""
    chat_words = {w for k in style.CHAT for w in words(k)}
    for prompt, _, o in rendered():
        out = set(words(o))
        missing = [w for w in words(prompt) if len(w) >= 4 and w not in out and w not in chat_words]
        assert len(missing) <= 2, (prompt, o, missing)


def test_style_scenario_frames_with_these_rewrites():
    from tasks.scenarios import frame, get_scenario

    s = get_scenario("style")
    for p in pool()[::7]:
        key = f"{s.name}:{p.id}"
        assert frame(s, "testing", p.text, p.id, p.split) == [{"role": "user", "content": style.benchmark(p.text, key)}]
        assert frame(s, "deployment", p.text, p.id, p.split) == [{"role": "user", "content": style.organic(p.text, key)}]
